//! The CPU workload: count the primes below a bound by trial division, split into parts of
//! about equal cost. Deliberately naive: it is the seeds' "function that takes a significant
//! amount of time", not a sieve.

/// Whether `n` is prime, by trial division by 2 and the odd numbers up to its square root.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// How many primes are in `from..to`.
pub fn count_primes(from: u64, to: u64) -> u64 {
    (from..to).filter(|&n| is_prime(n)).count() as u64
}

/// Splits `0..below` into `parts` contiguous ranges of about equal cost.
///
/// Testing `n` costs about √n, so the work up to `x` grows like x^1.5: the boundaries sit at
/// `below · (i / parts)^(2/3)`.
pub fn split(below: u64, parts: usize) -> Vec<(u64, u64)> {
    let parts = parts.max(1);
    let bound = |i: usize| -> u64 {
        if i == parts {
            below
        } else {
            (below as f64 * (i as f64 / parts as f64).powf(2.0 / 3.0)) as u64
        }
    };
    (0..parts)
        .map(|i| (bound(i), bound(i + 1)))
        .filter(|(from, to)| from < to)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_primes() {
        assert_eq!(count_primes(0, 100), 25);
        assert_eq!(count_primes(0, 10_000), 1229);
    }

    #[test]
    fn parts_cover_the_range_once() {
        let parts = split(10_000, 7);
        assert_eq!(parts.first().map(|p| p.0), Some(0));
        assert_eq!(parts.last().map(|p| p.1), Some(10_000));
        assert!(parts.windows(2).all(|w| w[0].1 == w[1].0));
        let total: u64 = parts.iter().map(|&(a, b)| count_primes(a, b)).sum();
        assert_eq!(total, 1229);
        assert_eq!(split(3, 8).len(), 3);
    }
}
