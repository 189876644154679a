//! URL lists (`--input FILE`), line by line: `gather::input::url_lines` against a model of what
//! its docs promise. Lines can be padded to around `MAX_LINE` bytes to probe the length limit.
#![no_main]

use futures::StreamExt;
use gather::input::{MAX_LINE, url_lines};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Ending {
    Lf,
    CrLf,
    /// No newline: the input ends here (only meaningful for the last line).
    Eof,
}

#[derive(Arbitrary, Debug)]
struct Line {
    text: Vec<u8>,
    /// Pad with `x` to `MAX_LINE - 8 + pad` bytes before the ending.
    pad: Option<u8>,
    ending: Ending,
}

#[derive(Debug, PartialEq)]
enum Expected {
    Url(String),
    NotAUrl,
    TooLong,
    NotUtf8,
}

fuzz_target!(|lines: Vec<Line>| {
    let mut input = Vec::new();
    for line in &lines {
        let start = input.len();
        input.extend(line.text.iter().filter(|&&b| b != b'\n'));
        if let Some(pad) = line.pad {
            let target = MAX_LINE - 8 + usize::from(pad % 16);
            let have = input.len() - start;
            input.extend(std::iter::repeat_n(b'x', target.saturating_sub(have)));
        }
        match line.ending {
            Ending::Lf => input.push(b'\n'),
            Ending::CrLf => input.extend(b"\r\n"),
            Ending::Eof => break,
        }
    }

    // The model: a line is the bytes up to a newline (or the end); one longer than MAX_LINE is
    // rejected; so is one that is not UTF-8; blank and `#` lines are skipped; the rest must be
    // http(s) URLs.
    let mut expected = Vec::new();
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if input.ends_with(b"\n") || input.is_empty() {
        pieces.pop();
    }
    for (i, piece) in pieces.iter().enumerate() {
        let n = i as u64 + 1;
        let outcome = if piece.len() > MAX_LINE {
            Expected::TooLong
        } else {
            match std::str::from_utf8(piece) {
                Err(_) => Expected::NotUtf8,
                Ok(text) => {
                    let text = text.trim();
                    if text.is_empty() || text.starts_with('#') {
                        continue;
                    }
                    match url::Url::parse(text) {
                        Ok(url) if matches!(url.scheme(), "http" | "https") => {
                            Expected::Url(text.to_owned())
                        }
                        _ => Expected::NotAUrl,
                    }
                }
            }
        };
        expected.push((n, outcome));
    }

    let entries: Vec<_> =
        futures::executor::block_on(url_lines(std::io::Cursor::new(input)).collect());
    let got: Vec<(u64, Expected)> = entries
        .iter()
        .map(|entry| match entry {
            Ok(item) => {
                assert!(matches!(item.url.scheme(), "http" | "https"));
                (item.n, Expected::Url(item.key.clone()))
            }
            Err(rejected) => {
                let kind = if rejected.reason.contains("longer than") {
                    assert!(rejected.text.len() <= 4 * 80, "{}", rejected.text.len());
                    Expected::TooLong
                } else if rejected.reason.contains("not UTF-8") {
                    Expected::NotUtf8
                } else {
                    Expected::NotAUrl
                };
                assert!(
                    rejected
                        .reason
                        .starts_with(&format!("line {}: ", rejected.n))
                );
                (rejected.n, kind)
            }
        })
        .collect();
    assert_eq!(got, expected);
});
