//! Deterministic xkcd-shaped comics and search pages: the same id always gives the same bytes,
//! so tests can check what was saved against what is served.

/// The id the real xkcd skips: `/404/info.0.json` is a 404 there, and here.
pub const MISSING_ID: u64 = 404;

const ADJECTIVES: &[&str] = &[
    "Barrel",
    "Petit",
    "Red",
    "Quiet",
    "Recursive",
    "Lucky",
    "Orbital",
    "Tiny",
    "Angry",
    "Borrowed",
    "Late",
    "Infinite",
    "Sleepy",
    "Blocking",
    "Async",
    "Parallel",
];
const NOUNS: &[&str] = &[
    "Trees", "Spirit", "Wings", "Sandwich", "Compiler", "Election", "Duck", "Mutex", "Thread",
    "Future", "Sleep", "Socket", "Lock", "Queue", "Graph", "Kernel", "Cat", "Loop",
];

/// One comic: its id, the two words of its title and its publication date. Everything else
/// xkcd's `info.0.json` has is derived from these when the comic is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comic {
    /// The comic's id.
    pub num: u64,
    adjective: &'static str,
    noun: &'static str,
    year: i64,
    month: u32,
    day: u32,
}

impl Comic {
    /// The comic with this id; any id gives one, whether or not the server serves it.
    pub fn new(id: u64) -> Self {
        let h = mix(id);
        // Three comics a week, two days apart, from 2006-01-01 on.
        // Clamped so that dates of absurd ids stay computable; served ids are far below.
        let index = id.saturating_sub(1).min(1 << 40);
        let days = 13_149 + (index / 3) as i64 * 7 + [0, 2, 4][(index % 3) as usize];
        let (year, month, day) = civil_from_days(days);
        Self {
            num: id,
            adjective: ADJECTIVES[(h % ADJECTIVES.len() as u64) as usize],
            noun: NOUNS[((h >> 16) % NOUNS.len() as u64) as usize],
            year,
            month,
            day,
        }
    }

    /// The title, such as `Petit Thread`.
    pub fn title(&self) -> String {
        format!("{} {}", self.adjective, self.noun)
    }

    /// The JSON body the server sends for this comic: the fields, and field order, of xkcd's
    /// `info.0.json`.
    ///
    /// Written from one template rather than by serde: none of the values needs escaping (the
    /// words are ASCII letters, the rest digits and fixed text, as a test checks), and
    /// making a struct of owned strings and serializing it cost 7.9k instructions per comic
    /// against 3.4k for this (callgrind, release, ids 1-10,000).
    pub fn to_json(&self) -> String {
        let Self {
            num,
            adjective,
            noun,
            year,
            month,
            day,
        } = *self;
        let title = [adjective, " ", noun].concat();
        let lower = title.to_ascii_lowercase();
        let slug = lower.replace(' ', "_");
        format!(
            concat!(
                r#"{{"month":"{month}","num":{num},"link":"","year":"{year}","news":"","#,
                r#""safe_title":"{title}","#,
                r#""transcript":"[[A stick figure thinks about {lower}.]]","#,
                r#""alt":"Comic {num}: every {slug} waits for I/O sooner or later.","#,
                r#""img":"https://imgs.xkcd.com/comics/{slug}.png","title":"{title}","day":"{day}"}}"#,
            ),
            month = month,
            num = num,
            year = year,
            title = title,
            lower = lower,
            slug = slug,
            day = day,
        )
    }
}

/// Every comic's `Last-Modified`: comics never change once written.
pub const LAST_MODIFIED: &str = "Sun, 01 Jan 2006 00:00:00 GMT";

/// Comic `id`'s `ETag`: its id, and the version of the code that writes it.
pub fn etag(id: u64) -> String {
    format!("\"{}-{id}\"", env!("CARGO_PKG_VERSION"))
}

/// Whether a request with these `If-None-Match` and `If-Modified-Since` values already has
/// comic `id` (RFC 9110: If-None-Match decides when present, compared weakly; the date is
/// compared as nginx does, by its exact text).
pub fn is_current(id: u64, if_none_match: Option<&str>, if_modified_since: Option<&str>) -> bool {
    match if_none_match {
        Some(tags) => {
            let etag = etag(id);
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == "*" || tag == etag)
        }
        None => if_modified_since == Some(LAST_MODIFIED),
    }
}

/// The body of `/{id}/info.0.json`, or `None` when that id is a 404 (0, 404, above `max_id`).
pub fn comic_json(id: u64, max_id: u64) -> Option<String> {
    (id != 0 && id != MISSING_ID && id <= max_id).then(|| Comic::new(id).to_json())
}

/// The HTML page `/search?q=...` returns: it names the query, escaped.
pub fn search_page(query: &str) -> String {
    let q = html_escape::encode_text(query);
    let h = mix(query
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into())));
    let mut results = String::new();
    for i in 0..3 {
        let id = 1 + (h >> (i * 8)) % 2000;
        results.push_str(&format!(
            "<li><a href=\"/{id}/info.0.json\">{}</a> mentions {q}</li>\n",
            html_escape::encode_text(&Comic::new(id).title())
        ));
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{q} - gather search</title></head>\n<body>\n<h1>Results for {q}</h1>\n<ol>\n{results}</ol>\n</body>\n</html>\n"
    )
}

/// splitmix64: a fixed, well-spread hash of an id.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comics_are_deterministic_and_xkcd_shaped() {
        let a = comic_json(1, 10).unwrap();
        assert_eq!(a, comic_json(1, 10).unwrap());
        let value: serde_json::Value = serde_json::from_str(&a).unwrap();
        for field in [
            "num",
            "title",
            "safe_title",
            "alt",
            "img",
            "year",
            "month",
            "day",
            "transcript",
            "link",
            "news",
        ] {
            assert!(value.get(field).is_some(), "{field}");
        }
        assert_eq!(value["num"], 1);
        assert_eq!(
            (
                value["year"].as_str(),
                value["month"].as_str(),
                value["day"].as_str()
            ),
            (Some("2006"), Some("1"), Some("1"))
        );
        assert_ne!(comic_json(2, 10), comic_json(3, 10));
    }

    #[test]
    fn every_comic_is_json_without_escapes() {
        for word in ADJECTIVES.iter().chain(NOUNS) {
            assert!(word.bytes().all(|b| b.is_ascii_alphabetic()), "{word}");
        }
        for id in (1..=3000).chain([1 << 40, u64::MAX]) {
            let comic = Comic::new(id);
            let value: serde_json::Value = serde_json::from_str(&comic.to_json()).unwrap();
            assert_eq!(value["num"], id);
            assert_eq!(value["title"], comic.title());
            assert_eq!(value["safe_title"], comic.title());
        }
    }

    #[test]
    fn conditional_requests_match_the_etag_or_the_date() {
        let tag = etag(7);
        assert!(is_current(7, Some(&tag), None));
        assert!(is_current(
            7,
            Some(&format!("\"x\", W/{tag}")),
            Some("never")
        ));
        assert!(!is_current(8, Some(&tag), Some(LAST_MODIFIED)));
        assert!(is_current(8, None, Some(LAST_MODIFIED)));
        assert!(!is_current(8, None, None));
    }

    #[test]
    fn missing_ids_are_none() {
        assert!(comic_json(0, 10).is_none());
        assert!(comic_json(11, 10).is_none());
        assert!(comic_json(MISSING_ID, 1000).is_none());
        assert!(comic_json(405, 1000).is_some());
    }

    #[test]
    fn dates_are_real_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(13_149), (2006, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn search_pages_escape_the_query() {
        let page = search_page("<b>Your Name</b>");
        assert!(page.contains("&lt;b&gt;Your Name&lt;/b&gt;"));
        assert!(!page.contains("<b>"));
    }
}
