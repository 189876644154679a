//! Id sets such as `1-200,250,300-310`: parsed once, iterated lazily, never expanded into a list.

use std::fmt;

/// Why an id set could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdsError {
    /// Nothing, or an empty element such as `1,,2`.
    #[error("id list `{0}` has an empty element (write ranges like 1-200,250,300-310)")]
    Empty(String),
    /// An element that is not a number or a range of numbers.
    #[error("id list `{list}`: `{element}` is not a number or a range like 1-200")]
    NotANumber {
        /// The whole list as given.
        list: String,
        /// The offending element.
        element: String,
    },
    /// A range whose end is below its start.
    #[error("id list `{list}`: range `{element}` is reversed (write {end}-{start})")]
    Reversed {
        /// The whole list as given.
        list: String,
        /// The offending element.
        element: String,
        /// Its start.
        start: u64,
        /// Its end.
        end: u64,
    },
    /// Two elements that share ids, which would fetch the same file twice.
    #[error("id list `{list}`: `{first}` and `{second}` overlap")]
    Overlap {
        /// The whole list as given.
        list: String,
        /// One element.
        first: String,
        /// The other.
        second: String,
    },
}

/// A set of ids: inclusive ranges in the order written, pairwise disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdSet {
    ranges: Vec<(u64, u64)>,
}

impl IdSet {
    /// Parses a comma-separated list of ids and inclusive ranges (`1-200,250,300-310`).
    pub fn parse(list: &str) -> Result<Self, IdsError> {
        let mut ranges = Vec::new();
        for element in list.split(',') {
            let element = element.trim();
            if element.is_empty() {
                return Err(IdsError::Empty(list.to_owned()));
            }
            let number = |text: &str| {
                text.trim()
                    .parse::<u64>()
                    .map_err(|_| IdsError::NotANumber {
                        list: list.to_owned(),
                        element: element.to_owned(),
                    })
            };
            let range = match element.split_once('-') {
                Some((start, end)) => (number(start)?, number(end)?),
                None => {
                    let id = number(element)?;
                    (id, id)
                }
            };
            if range.1 < range.0 {
                return Err(IdsError::Reversed {
                    list: list.to_owned(),
                    element: element.to_owned(),
                    start: range.0,
                    end: range.1,
                });
            }
            ranges.push(range);
        }
        let set = Self { ranges };
        set.check_disjoint(list)?;
        Ok(set)
    }

    /// An id set of one range, `start..=end`.
    pub fn range(start: u64, end: u64) -> Self {
        Self {
            ranges: vec![(start.min(end), end.max(start))],
        }
    }

    /// The first `count` ids from 1 on, leaving `skip` out.
    pub fn first_except(count: u64, skip: u64) -> Self {
        if count == 0 {
            return Self { ranges: Vec::new() };
        }
        if skip == 0 || skip > count {
            return Self::range(1, count);
        }
        let mut ranges = Vec::with_capacity(2);
        if skip > 1 {
            ranges.push((1, skip - 1));
        }
        ranges.push((skip + 1, count + 1));
        Self { ranges }
    }

    fn check_disjoint(&self, list: &str) -> Result<(), IdsError> {
        let mut sorted = self.ranges.clone();
        sorted.sort_unstable();
        for pair in sorted.windows(2) {
            let [(a0, a1), (b0, b1)] = [pair[0], pair[1]];
            if b0 <= a1 {
                return Err(IdsError::Overlap {
                    list: list.to_owned(),
                    first: range_text(a0, a1),
                    second: range_text(b0, b1),
                });
            }
        }
        Ok(())
    }

    /// How many ids the set holds (saturating at `u64::MAX`).
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .fold(0u64, |n, &(a, b)| n.saturating_add(b - a).saturating_add(1))
    }

    /// Whether the set is empty (a parsed set never is).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ids in the order written, owning the set.
    pub fn into_iter_ids(self) -> impl Iterator<Item = u64> + Send + 'static {
        self.ranges.into_iter().flat_map(|(a, b)| a..=b)
    }
}

fn range_text(a: u64, b: u64) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

impl fmt::Display for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.ranges.iter().map(|&(a, b)| range_text(a, b)).collect();
        f.write_str(&texts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ranges_in_order() {
        let set = IdSet::parse("5-7, 1,10-10").unwrap();
        assert_eq!(
            set.clone().into_iter_ids().collect::<Vec<_>>(),
            vec![5, 6, 7, 1, 10]
        );
        assert_eq!(set.len(), 5);
        assert_eq!(set.to_string(), "5-7,1,10");
    }

    #[test]
    fn huge_ranges_stay_lazy() {
        let set = IdSet::parse("0-18446744073709551615").unwrap();
        assert_eq!(set.len(), u64::MAX);
        assert_eq!(set.into_iter_ids().take(2).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn first_except_leaves_one_id_out() {
        let ids = |set: IdSet| set.into_iter_ids().collect::<Vec<_>>();
        assert_eq!(ids(IdSet::first_except(3, 404)), vec![1, 2, 3]);
        assert_eq!(ids(IdSet::first_except(4, 2)), vec![1, 3, 4, 5]);
        assert_eq!(ids(IdSet::first_except(2, 1)), vec![2, 3]);
        assert_eq!(IdSet::first_except(500, 404).len(), 500);
    }

    #[test]
    fn rejects_bad_lists() {
        assert!(matches!(IdSet::parse(""), Err(IdsError::Empty(_))));
        assert!(matches!(IdSet::parse("1,,2"), Err(IdsError::Empty(_))));
        assert!(matches!(
            IdSet::parse("a-3"),
            Err(IdsError::NotANumber { .. })
        ));
        assert!(matches!(
            IdSet::parse("-3"),
            Err(IdsError::NotANumber { .. })
        ));
        assert!(matches!(
            IdSet::parse("1-2-3"),
            Err(IdsError::NotANumber { .. })
        ));
        assert!(matches!(
            IdSet::parse("200-1"),
            Err(IdsError::Reversed {
                start: 200,
                end: 1,
                ..
            })
        ));
        assert!(matches!(
            IdSet::parse("1-5,3-7"),
            Err(IdsError::Overlap { .. })
        ));
        assert!(matches!(
            IdSet::parse("99999999999999999999"),
            Err(IdsError::NotANumber { .. })
        ));
    }
}
