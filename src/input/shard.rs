//! `--shard K/N`: a deterministic share of the input, so that N machines (a Kubernetes Indexed
//! Job, a Slurm array, plain ssh) each fetch their part into the same layout.
//!
//! Two partitions, the same on every machine that reads the same input, with no coordination:
//! - by position (the default): shard K of N takes items K, K+N, K+2N, ... (1-based). Even
//!   shares, but an item inserted into a list moves every item after it to another shard.
//! - by key: shard K takes the items whose key (the id, the value, or the URL of a list) hashes
//!   to K. Shares are even only on average, but an item stays on its shard however the list
//!   around it grows: re-running a grown list fetches only the new items.
//!
//! `--shard auto` takes K and N from the scheduler: see [`Shard::from_env`].

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Why a shard could not be parsed or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// `K/N` is not a shard.
    #[error(
        "--shard `{0}`: write K/N with 1 <= K <= N, e.g. 1/4 (shards are numbered from 1), or auto"
    )]
    Syntax(String),
    /// `--shard auto` found no scheduler's variables.
    #[error(
        "--shard auto: no scheduler's variables found: set by Slurm (SLURM_ARRAY_TASK_ID, with SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MIN and _MAX) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with --shard-count N or GATHER_SHARD_COUNT)"
    )]
    NoScheduler,
    /// A scheduler's variable does not make a shard.
    #[error("--shard auto: {0}")]
    Scheduler(String),
}

/// How items are dealt to shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShardBy {
    /// Round-robin by position.
    #[default]
    Position,
    /// By a stable hash of the item's key.
    Key,
}

/// Shard K of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    k: u64,
    n: u64,
    by: ShardBy,
}

impl Shard {
    /// Shard `k` of `n` (1-based), dealt `by` position or key.
    pub fn new(k: u64, n: u64, by: ShardBy) -> Result<Self, ShardError> {
        if k == 0 || k > n {
            return Err(ShardError::Syntax(format!("{k}/{n}")));
        }
        Ok(Self { k, n, by })
    }

    /// The same shard, dealt `by` position or key.
    pub fn by(self, by: ShardBy) -> Self {
        Self { by, ..self }
    }

    /// Whether the item at 1-based `position` with `key` belongs to this shard.
    pub fn contains(&self, position: u64, key: &str) -> bool {
        let slot = match self.by {
            ShardBy::Position => position.saturating_sub(1),
            ShardBy::Key => key_hash(key),
        };
        slot % self.n == self.k - 1
    }

    /// How many of the first `total` positions this shard takes, when that is known without
    /// reading the items (by position).
    pub fn share_of(&self, total: u64) -> Option<u64> {
        (self.by == ShardBy::Position).then(|| total / self.n + u64::from(total % self.n >= self.k))
    }

    /// K and N from a scheduler's environment (`var` looks a variable up):
    /// - Slurm job arrays: K from `SLURM_ARRAY_TASK_ID`, counted from
    ///   `SLURM_ARRAY_TASK_MIN` in steps of `SLURM_ARRAY_TASK_STEP` (default 1); N from
    ///   `SLURM_ARRAY_TASK_COUNT`, else from `_MIN`, `_MAX` and the step. `--array=1-8`,
    ///   `0-7` and `0-14:2` are all 8 shards.
    /// - Kubernetes Indexed Jobs: K is `JOB_COMPLETION_INDEX` + 1 (it counts from 0); N is
    ///   `count` (`--shard-count`), else `GATHER_SHARD_COUNT`: Kubernetes does not pass
    ///   `completions` to the pod, so the Job's spec must say it again.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        count: Option<u64>,
    ) -> Result<Self, ShardError> {
        let number = |name: &str| -> Result<Option<u64>, ShardError> {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        ShardError::Scheduler(format!("{name}={v} is not a whole number"))
                    })
                })
                .transpose()
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let n = match (count, number("SLURM_ARRAY_TASK_COUNT")?) {
                (Some(n), _) | (None, Some(n)) => n,
                (None, None) => match number("SLURM_ARRAY_TASK_MAX")? {
                    Some(max) if max >= min => (max - min) / step + 1,
                    _ => {
                        return Err(ShardError::Scheduler(
                            "SLURM_ARRAY_TASK_ID is set, but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX".to_owned(),
                        ));
                    }
                },
            };
            if id < min || (id - min) % step != 0 {
                return Err(ShardError::Scheduler(format!(
                    "SLURM_ARRAY_TASK_ID={id} is not in the array {min}, {}, ... (step {step})",
                    min + step
                )));
            }
            let k = (id - min) / step + 1;
            return Self::new(k, n, ShardBy::Position).map_err(|_| {
                ShardError::Scheduler(format!(
                    "array task {id} is shard {k}, past the {n} the array has (an array with gaps, like --array=1,3,8, needs --shard K/N)"
                ))
            });
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let n = match count {
                Some(n) => n,
                None => number("GATHER_SHARD_COUNT")?.ok_or_else(|| {
                    ShardError::Scheduler(
                        "JOB_COMPLETION_INDEX is set: give the Job's completions as --shard-count N or GATHER_SHARD_COUNT".to_owned(),
                    )
                })?,
            };
            return Self::new(index + 1, n, ShardBy::Position).map_err(|_| {
                ShardError::Scheduler(format!(
                    "JOB_COMPLETION_INDEX={index} is past the {n} completions given"
                ))
            });
        }
        Err(ShardError::NoScheduler)
    }
}

/// A stable hash of an item's key: the first 8 bytes of its SHA-256, the same on every machine
/// and in every version of gather.
fn key_hash(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ShardError::Syntax(text.to_owned());
        let (k, n) = text.split_once('/').ok_or_else(error)?;
        let k: u64 = k.trim().parse().map_err(|_| error())?;
        let n: u64 = n.trim().parse().map_err(|_| error())?;
        Self::new(k, n, ShardBy::Position).map_err(|_| error())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn shards_partition_the_positions() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for position in 1..=100 {
            let owners = shards.iter().filter(|s| s.contains(position, "")).count();
            assert_eq!(owners, 1, "position {position}");
        }
        assert!(
            shards[0].contains(1, "") && shards[1].contains(2, "") && shards[0].contains(4, "")
        );
        let shares: Vec<u64> = shards.iter().map(|s| s.share_of(100).unwrap()).collect();
        assert_eq!(shares, vec![34, 33, 33]);
        for total in 0..20 {
            let counted = |s: &Shard| (1..=total).filter(|&p| s.contains(p, "")).count() as u64;
            for shard in &shards {
                assert_eq!(
                    shard.share_of(total),
                    Some(counted(shard)),
                    "{shard} of {total}"
                );
            }
        }
    }

    #[test]
    fn by_key_an_item_keeps_its_shard_when_the_list_grows() {
        let shards: Vec<Shard> = (1..=4)
            .map(|k| Shard::new(k, 4, ShardBy::Key).unwrap())
            .collect();
        let owner = |key: &str, position: u64| {
            let owners: Vec<u64> = shards
                .iter()
                .filter(|s| s.contains(position, key))
                .map(|s| s.k)
                .collect();
            assert_eq!(owners.len(), 1, "{key}");
            owners[0]
        };
        let keys: Vec<String> = (1..=1000).map(|i| format!("https://h/{i}")).collect();
        let before: HashMap<&str, u64> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), owner(k, i as u64 + 1)))
            .collect();
        // The same keys at other positions (a new item inserted first): same shards.
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(owner(key, i as u64 + 2), before[key.as_str()]);
        }
        // About even: each shard gets 250 +- 60 of 1000.
        for k in 1..=4 {
            let share = before.values().filter(|&&o| o == k).count();
            assert!((190..=310).contains(&share), "shard {k}: {share}");
        }
        // The hash is pinned: a change would move every item of every running job.
        assert_eq!(key_hash("42"), 0x73475cb40a568e8d);
        assert_eq!(shards[0].share_of(100), None);
    }

    #[test]
    fn rejects_bad_shards() {
        for bad in ["0/3", "4/3", "1", "1/0", "a/b", "-1/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/5".parse::<Shard>().unwrap().to_string(), "2/5");
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn auto_reads_slurm_arrays() {
        let shard = |vars: &[(&str, &str)]| Shard::from_env(env(vars), None).map(|s| s.to_string());
        let array = |id, min, max, count| {
            shard(&[
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", min),
                ("SLURM_ARRAY_TASK_MAX", max),
                ("SLURM_ARRAY_TASK_COUNT", count),
            ])
        };
        assert_eq!(array("1", "1", "8", "8").unwrap(), "1/8");
        assert_eq!(array("8", "1", "8", "8").unwrap(), "8/8");
        // --array=0-7 counts from 0.
        assert_eq!(array("0", "0", "7", "8").unwrap(), "1/8");
        // No count: from min and max.
        assert_eq!(array("3", "1", "4", "").unwrap(), "3/4");
        // --array=0-14:2
        let stepped = shard(&[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "14"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ]);
        assert_eq!(stepped.unwrap(), "4/8");
        // --array=1,3,8: three tasks, but 8 is no third shard.
        assert!(array("8", "1", "8", "3").is_err());
        assert!(array("x", "1", "8", "8").is_err());
        assert!(shard(&[("SLURM_ARRAY_TASK_ID", "2")]).is_err());
    }

    #[test]
    fn auto_reads_kubernetes_indexed_jobs() {
        let vars = [("JOB_COMPLETION_INDEX", "0")];
        assert_eq!(
            Shard::from_env(env(&vars), Some(8)).unwrap().to_string(),
            "1/8"
        );
        let with_count = [("JOB_COMPLETION_INDEX", "7"), ("GATHER_SHARD_COUNT", "8")];
        assert_eq!(
            Shard::from_env(env(&with_count), None).unwrap().to_string(),
            "8/8"
        );
        assert!(Shard::from_env(env(&vars), None).is_err(), "no count");
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "8")]), Some(8)).is_err());
        assert_eq!(
            Shard::from_env(env(&[]), Some(8)),
            Err(ShardError::NoScheduler)
        );
    }
}
