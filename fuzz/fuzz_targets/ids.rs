//! `IdSet::parse` (`1-200,250,300-310`).
#![no_main]

use std::collections::HashSet;

use gather::input::IdSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(list) = std::str::from_utf8(data) else {
        return;
    };
    match IdSet::parse(list) {
        Ok(set) => {
            assert!(!set.is_empty());
            let len = set.len();
            assert!(len >= 1);
            // Display writes a list that parses back to the same set.
            let written = set.to_string();
            assert_eq!(
                IdSet::parse(&written).as_ref(),
                Ok(&set),
                "{list:?} -> {written:?}"
            );
            if len <= 100_000 {
                // Ids come in the order written: ascending inside each element, and never twice.
                let ids: Vec<u64> = set.clone().into_iter_ids().collect();
                assert_eq!(ids.len() as u64, len, "{list:?}");
                let distinct: HashSet<u64> = ids.iter().copied().collect();
                assert_eq!(distinct.len(), ids.len(), "{list:?} repeats an id");
                let descents = ids.windows(2).filter(|w| w[1] <= w[0]).count();
                let elements = list.split(',').count();
                assert!(descents < elements, "{list:?}");
            } else {
                let mut ids = set.into_iter_ids();
                let first: Vec<u64> = ids.by_ref().take(1000).collect();
                assert_eq!(first.len(), 1000);
            }
        }
        Err(error) => {
            // Every error names the list as given.
            assert!(error.to_string().contains(list), "{error}");
        }
    }
});
