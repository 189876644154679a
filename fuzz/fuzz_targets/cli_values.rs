//! The small option parsers: `--shard K/N` and durations (`--timeout 1.5s`).
//!
//! Input: the text to parse; its first byte picks the parser.
#![no_main]

use gather::duration;
use gather::input::Shard;
use libfuzzer_sys::fuzz_target;

fn check_shard(text: &str) {
    let Ok(shard) = text.parse::<Shard>() else {
        return;
    };
    let written = shard.to_string();
    assert_eq!(
        written.parse::<Shard>(),
        Ok(shard),
        "{text:?} -> {written:?}"
    );
    let (k, n) = written.split_once('/').unwrap();
    let (k, n): (u64, u64) = (k.parse().unwrap(), n.parse().unwrap());
    assert!(1 <= k && k <= n, "{text:?}");
    for position in [1, 2, k, n, n.saturating_add(k), u64::MAX] {
        assert_eq!(
            shard.contains(position),
            (position - 1) % n == k - 1,
            "{shard} {position}"
        );
    }
    for total in [0, 1, k, n, u64::MAX] {
        let share = shard.share_of(total);
        assert!(share <= total);
    }
    if n <= 64 {
        // The shards of N partition the positions, and share_of counts them.
        let shards: Vec<Shard> = (1..=n)
            .map(|j| format!("{j}/{n}").parse().unwrap())
            .collect();
        for position in 1..=3 * n + 1 {
            assert_eq!(shards.iter().filter(|s| s.contains(position)).count(), 1);
        }
        for total in [0, 1, n - 1, n, 3 * n + 1, u64::MAX] {
            let sum: u64 = shards.iter().map(|s| s.share_of(total)).sum();
            assert_eq!(sum, total, "{n} shards of {total}");
        }
        let counted = (1..=3 * n + 1).filter(|&p| shard.contains(p)).count() as u64;
        assert_eq!(shard.share_of(3 * n + 1), counted);
    }
}

fn check_duration(text: &str) {
    match duration::parse(text) {
        Ok(parsed) => {
            // A bare number other than 0 needs a unit.
            let trimmed = text.trim();
            if trimmed.parse::<f64>().is_ok() {
                assert_eq!(trimmed, "0", "{text:?} parsed as {parsed:?}");
            }
        }
        Err(error) => assert!(error.to_string().contains(text.trim())),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which % 2 == 0 {
        check_shard(text);
    } else {
        check_duration(text);
    }
});
