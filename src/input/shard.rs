//! `--shard K/N`: a deterministic share of the input, so that N machines (a Kubernetes Indexed
//! Job, a Slurm array, plain ssh) each fetch their part into the same layout.
//!
//! Items are dealt round-robin by position: shard K of N takes items K, K+N, K+2N, ... (1-based).
//! Every machine reading the same input makes the same partition, with no coordination.

use std::fmt;
use std::str::FromStr;

/// Why a shard could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard `{0}`: write K/N with 1 <= K <= N, e.g. 1/4 (shards are numbered from 1)")]
pub struct ShardError(String);

/// Shard K of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    k: u64,
    n: u64,
}

impl Shard {
    /// Whether the item at 1-based `position` belongs to this shard.
    pub fn contains(&self, position: u64) -> bool {
        position.saturating_sub(1) % self.n == self.k - 1
    }

    /// How many of the first `total` positions this shard takes.
    pub fn share_of(&self, total: u64) -> u64 {
        total / self.n + u64::from(total % self.n >= self.k)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ShardError(text.to_owned());
        let (k, n) = text.split_once('/').ok_or_else(error)?;
        let k: u64 = k.trim().parse().map_err(|_| error())?;
        let n: u64 = n.trim().parse().map_err(|_| error())?;
        if k == 0 || k > n {
            return Err(error());
        }
        Ok(Self { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_positions() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for position in 1..=100 {
            let owners = shards.iter().filter(|s| s.contains(position)).count();
            assert_eq!(owners, 1, "position {position}");
        }
        assert!(shards[0].contains(1) && shards[1].contains(2) && shards[0].contains(4));
        let shares: Vec<u64> = shards.iter().map(|s| s.share_of(100)).collect();
        assert_eq!(shares, vec![34, 33, 33]);
        for total in 0..20 {
            let counted = |s: &Shard| (1..=total).filter(|&p| s.contains(p)).count() as u64;
            for shard in &shards {
                assert_eq!(shard.share_of(total), counted(shard), "{shard} of {total}");
            }
        }
    }

    #[test]
    fn rejects_bad_shards() {
        for bad in ["0/3", "4/3", "1", "1/0", "a/b", "-1/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/5".parse::<Shard>().unwrap().to_string(), "2/5");
    }
}
