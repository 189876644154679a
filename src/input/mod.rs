//! What to fetch: the URL template and its keys (ids or values), or a list of URLs from a file
//! or stdin, turned into a lazy stream of [`Item`]s.
//!
//! Nothing here collects the input whole: id ranges are iterated, and URL lists are read line
//! by line as the engine asks for more.

mod ids;
mod shard;
mod template;

pub use ids::{IdSet, IdsError};
pub use shard::{Shard, ShardBy, ShardError};
pub use template::{Part, Template, TemplateError};

use std::path::PathBuf;

use futures::stream::{self, BoxStream, StreamExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use url::Url;

/// The placeholder name a URL list uses for its key, as in `--name '{url}'`.
pub const URL_KEY: &str = "url";

/// The characters left as they are when a value is put into a URL: RFC 3986's unreserved set.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why the input could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The URL template does not parse.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The URL template has no placeholder.
    #[error(
        "URL template `{0}` has no placeholder: write one, like https://xkcd.com/{{id}}/info.0.json"
    )]
    NoPlaceholder(String),
    /// The URL template names more than one placeholder.
    #[error("URL template `{template}` has placeholders {names}; gather fills exactly one")]
    TooManyPlaceholders {
        /// The template.
        template: String,
        /// The names found, formatted.
        names: String,
    },
    /// The URL template does not make a valid URL.
    #[error("URL template `{template}` does not make a valid URL: {reason}")]
    BadUrl {
        /// The template.
        template: String,
        /// What the URL parser said.
        reason: String,
    },
    /// A scheme other than http or https.
    #[error("URL `{url}` has unsupported scheme `{scheme}` (gather fetches http and https)")]
    UnsupportedScheme {
        /// The URL or template.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The id list does not parse.
    #[error(transparent)]
    Ids(#[from] IdsError),
    /// `--values` naming the same value twice, which would fetch the same file twice.
    #[error("--values has `{0}` twice")]
    RepeatedValue(String),
    /// `--values` with an empty value.
    #[error("--values has an empty value (element {0}); every value names a file")]
    EmptyValue(usize),
    /// The URL list could not be opened.
    #[error("cannot read URL list {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One thing to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// 1-based position: the id's or value's index, or the line number in a URL list.
    pub n: u64,
    /// The placeholder's value (the id or value), or the URL itself for URL lists, with any
    /// password masked ([`redact::url`](crate::redact::url)): it names the file.
    pub key: String,
    /// The URL to fetch.
    pub url: Url,
}

#[cfg(test)]
impl Item {
    /// Item `n` with placeholder value `key`, for unit tests that look only at those two.
    pub(crate) fn with_key(n: u64, key: &str) -> Self {
        Self {
            n,
            key: key.to_owned(),
            url: Url::parse("http://h/").expect("a valid URL"),
        }
    }
}

/// An input element that is not a URL gather can fetch; reported as a failed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its position: the line number for URL lists.
    pub n: u64,
    /// The line as read.
    pub text: String,
    /// Why it was rejected.
    pub reason: String,
}

/// An element of the input stream.
pub type Entry = Result<Item, Rejected>;

/// A URL template with exactly one placeholder, checked to make http(s) URLs.
#[derive(Debug, Clone)]
pub struct UrlTemplate {
    template: Template,
    key: String,
    /// The template's fixed `scheme://host:port`, parsed once, and the length of the text it
    /// was parsed from; `None` when the placeholder may fall before the path.
    origin: Option<(Url, usize)>,
}

impl UrlTemplate {
    /// Parses and checks a URL template such as `https://xkcd.com/{id}/info.0.json`.
    pub fn parse(source: &str) -> Result<Self, InputError> {
        let template = Template::parse(source)?;
        // Errors name the template, with any password masked.
        let shown = || crate::redact::url(source).into_owned();
        let key = match template.placeholders().as_slice() {
            [] => return Err(InputError::NoPlaceholder(shown())),
            [one] => (*one).to_owned(),
            many => {
                return Err(InputError::TooManyPlaceholders {
                    template: shown(),
                    names: many
                        .iter()
                        .map(|n| format!("{{{n}}}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        let origin = fixed_origin(&template);
        let this = Self {
            template,
            key,
            origin,
        };
        let sample = this.render("1").map_err(|e| InputError::BadUrl {
            template: shown(),
            reason: e.to_string(),
        })?;
        check_scheme(&sample).map_err(|scheme| InputError::UnsupportedScheme {
            url: shown(),
            scheme,
        })?;
        Ok(this)
    }

    /// The placeholder's name, e.g. `id`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    /// The URL for one value; the value is percent-encoded as a URL component.
    ///
    /// When the template's origin is fixed, only the rest (path, query, fragment) is parsed,
    /// against the origin parsed once: the URL standard resolves a path that starts with one
    /// `/` exactly as it parses the whole, and the host, whose IDNA processing is the dearest
    /// part, is not parsed again. W3 (callgrind, user instructions per item): 63.9k -> 59.6k.
    pub fn render(&self, value: &str) -> Result<Url, url::ParseError> {
        let text = self.text(value);
        match &self.origin {
            Some((origin, len)) if is_path_absolute(&text[*len..]) => origin.join(&text[*len..]),
            _ => Url::parse(&text),
        }
    }

    /// The URL's text for one value, before it is parsed: the value percent-encoded as a URL
    /// component in place of the placeholder.
    pub fn text(&self, value: &str) -> String {
        self.template.render(|_, out| {
            out.extend(utf8_percent_encode(value, URL_COMPONENT));
        })
    }

    /// The file extension the URL's last path segment suggests (`.json` for `.../info.0.json`),
    /// or "" when it has none.
    pub fn extension(&self) -> &str {
        let source = self.template.source();
        let path = source.split(['?', '#']).next().unwrap_or(source);
        let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
        let Some((_, last)) = after_scheme.rsplit_once('/') else {
            return "";
        };
        match last.rfind('.') {
            Some(dot)
                if last.len() - dot <= 8
                    && last[dot + 1..].chars().all(|c| c.is_ascii_alphanumeric())
                    && dot + 1 < last.len() =>
            {
                &last[dot..]
            }
            _ => "",
        }
    }
}

/// The parsed `scheme://authority` that every URL of `template` starts with, and its length in
/// the template's text, when the first part of the template holds all of it up to a `/`.
///
/// None when the first part does not start with a scheme and `://`, when a placeholder may be
/// in the authority, when the template has a tab or line break (the URL parser drops those, so
/// a `/` could come to follow another), or when the authority ends in a space or control
/// character (trimmed from the origin alone, not from the whole).
fn fixed_origin(template: &Template) -> Option<(Url, usize)> {
    if template.source().contains(['\t', '\n', '\r']) {
        return None;
    }
    let Some(Part::Literal(first)) = template.parts().first() else {
        return None;
    };
    let scheme_end = first.find("://")?;
    let scheme = first[..scheme_end].trim_start_matches(|c: char| c <= ' ');
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = scheme_end + "://".len();
    let end = authority + first[authority..].find(['/', '\\', '?', '#'])?;
    let origin = &first[..end];
    if !is_scheme || !first[end..].starts_with('/') || origin.ends_with(|c: char| c <= ' ') {
        return None;
    }
    let url = Url::parse(origin).ok()?;
    (url.path() == "/" && url.query().is_none()).then_some((url, end))
}

/// Whether `rest`, which starts where the origin ends, is a path starting with exactly one `/`:
/// `//host` or `/\\host` would be read as another authority.
fn is_path_absolute(rest: &str) -> bool {
    let mut chars = rest.chars();
    chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'))
}

/// The keys a template is filled with.
#[derive(Debug, Clone)]
pub enum Keys {
    /// Numeric ids.
    Ids(IdSet),
    /// String values, in order.
    Values(Vec<String>),
}

impl Keys {
    /// Checks a `--values` list: no value may be empty or repeated.
    pub fn values(values: Vec<String>) -> Result<Self, InputError> {
        if let Some(i) = values.iter().position(String::is_empty) {
            return Err(InputError::EmptyValue(i + 1));
        }
        let mut seen = std::collections::HashSet::with_capacity(values.len());
        if let Some(repeated) = values.iter().find(|v| !seen.insert(v.as_str())) {
            return Err(InputError::RepeatedValue(repeated.clone()));
        }
        Ok(Self::Values(values))
    }
}

/// Where a URL list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// Standard input (`--input -`).
    Stdin,
    /// A file.
    File(PathBuf),
}

/// Everything `gather fetch` will fetch.
#[derive(Debug, Clone)]
pub enum Source {
    /// A template filled with each key in turn.
    Template {
        /// The URL template.
        template: UrlTemplate,
        /// Its keys.
        keys: Keys,
    },
    /// One URL per line; blank lines and lines starting with `#` are skipped.
    List(ListSource),
}

impl Source {
    /// The placeholder name items' keys answer to in a `--name` template.
    pub fn key_name(&self) -> &str {
        match self {
            Source::Template { template, .. } => template.key(),
            Source::List(_) => URL_KEY,
        }
    }

    /// The extension default file names get.
    pub fn extension(&self) -> &str {
        match self {
            Source::Template { template, .. } => template.extension(),
            Source::List(_) => "",
        }
    }

    /// How many items there will be, when that is known without reading the input.
    pub fn len_hint(&self) -> Option<u64> {
        match self {
            Source::Template {
                keys: Keys::Ids(ids),
                ..
            } => Some(ids.len()),
            Source::Template {
                keys: Keys::Values(values),
                ..
            } => Some(values.len() as u64),
            Source::List(_) => None,
        }
    }

    /// Opens the input and returns it as a lazy stream of entries.
    pub async fn open(self) -> Result<BoxStream<'static, Entry>, InputError> {
        Ok(match self {
            Source::Template { template, keys } => {
                let render = move |(i, key): (usize, String)| {
                    let n = i as u64 + 1;
                    match template.render(&key) {
                        Ok(url) => Ok(Item { n, key, url }),
                        Err(e) => Err(Rejected {
                            n,
                            reason: format!("not a valid URL: {e}"),
                            text: key,
                        }),
                    }
                };
                match keys {
                    Keys::Ids(ids) => stream::iter(
                        ids.into_iter_ids()
                            .map(|id| id.to_string())
                            .enumerate()
                            .map(render),
                    )
                    .boxed(),
                    Keys::Values(values) => {
                        stream::iter(values.into_iter().enumerate().map(render)).boxed()
                    }
                }
            }
            Source::List(ListSource::Stdin) => url_lines(tokio::io::stdin()),
            Source::List(ListSource::File(path)) => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|source| InputError::Open { path, source })?;
                url_lines(file)
            }
        })
    }
}

/// Longest line read from a URL list, in bytes, not counting its newline; a longer one is
/// rejected, so memory stays bounded.
pub const MAX_LINE: usize = 64 * 1024;

/// Reads one URL per line, lazily. A UTF-8 byte-order mark that starts the input is dropped.
/// Blank lines and `#` comments are skipped; a line that is not
/// an http(s) URL, or longer than [`MAX_LINE`], becomes a [`Rejected`] entry; a read error ends
/// the stream with one.
///
/// [`Source::open`] uses this for URL lists; it is public so that the fuzz target (`fuzz/`) can
/// drive it from memory.
pub fn url_lines(reader: impl AsyncRead + Unpin + Send + 'static) -> BoxStream<'static, Entry> {
    let state = (BufReader::with_capacity(64 * 1024, reader), 0u64, false);
    stream::unfold(state, |(mut reader, mut n, done)| async move {
        if done {
            return None;
        }
        let mut line = Vec::new();
        loop {
            line.clear();
            n += 1;
            let reject = |text: String, reason: String| Rejected {
                n,
                text,
                reason: format!("line {n}: {reason}"),
            };
            match read_line(&mut reader, &mut line).await {
                Ok(Line::End) => return None,
                Ok(Line::Whole) => {}
                Ok(Line::TooLong) => {
                    let head = String::from_utf8_lossy(&line[..80]).into_owned();
                    let reason = format!("longer than {MAX_LINE} bytes");
                    return Some((Err(reject(head, reason)), (reader, n, false)));
                }
                Err(e) => {
                    let reason = format!("reading the URL list failed: {e}");
                    return Some((Err(reject(String::new(), reason)), (reader, n, true)));
                }
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                let reason = "not UTF-8".to_owned();
                return Some((Err(reject(text, reason)), (reader, n, false)));
            };
            // A byte-order mark, as some Windows editors start a UTF-8 file with.
            let text = if n == 1 {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            return Some((parse_list_url(n, text), (reader, n, false)));
        }
    })
    .boxed()
}

/// How reading one line ended.
enum Line {
    /// A line (with or without its newline) is in the buffer.
    Whole,
    /// The line was longer than [`MAX_LINE`]: the buffer holds its start, the rest was skipped.
    TooLong,
    /// End of input.
    End,
}

/// Reads a line of at most [`MAX_LINE`] bytes (and its newline) into `line`, skipping the rest
/// of a longer one.
async fn read_line(
    reader: &mut (impl AsyncBufReadExt + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<Line> {
    // One byte over the limit: a line of exactly MAX_LINE bytes still fits with its newline,
    // and a longer one shows as MAX_LINE + 1 bytes with no newline.
    let n = (&mut *reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', line)
        .await?;
    if n == 0 {
        return Ok(Line::End);
    }
    if n <= MAX_LINE || line.ends_with(b"\n") {
        return Ok(Line::Whole);
    }
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let n = (&mut *reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut rest)
            .await?;
        if n == 0 || rest.ends_with(b"\n") {
            return Ok(Line::TooLong);
        }
    }
}

fn parse_list_url(n: u64, text: &str) -> Entry {
    let reject = |reason: String| Rejected {
        n,
        text: text.to_owned(),
        reason: format!("line {n}: {reason}"),
    };
    let url = Url::parse(text).map_err(|e| reject(format!("not a valid URL: {e}")))?;
    check_scheme(&url).map_err(|scheme| {
        reject(format!(
            "unsupported scheme `{scheme}` (gather fetches http and https)"
        ))
    })?;
    Ok(Item {
        n,
        // The key names the file: no password goes to disk.
        key: crate::redact::url(text).into_owned(),
        url,
    })
}

/// `Ok` for http and https, else the scheme.
fn check_scheme(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_template_needs_one_placeholder_and_http() {
        assert!(matches!(
            UrlTemplate::parse("https://x/none"),
            Err(InputError::NoPlaceholder(_))
        ));
        assert!(matches!(
            UrlTemplate::parse("https://x/{a}/{b}"),
            Err(InputError::TooManyPlaceholders { .. })
        ));
        assert!(matches!(
            UrlTemplate::parse("ftp://x/{id}"),
            Err(InputError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            UrlTemplate::parse("no-scheme/{id}"),
            Err(InputError::BadUrl { .. })
        ));
        assert!(UrlTemplate::parse("https://x/{id}/{id}.json").is_ok());
    }

    #[test]
    fn values_are_percent_encoded() {
        let t = UrlTemplate::parse("http://h/search?q={name}").unwrap();
        assert_eq!(
            t.render("Your Name&x=/..").unwrap().as_str(),
            "http://h/search?q=Your%20Name%26x%3D%2F.."
        );
    }

    #[test]
    fn urls_parsed_against_the_fixed_origin_are_the_urls_parsed_whole() {
        let templates = [
            "http://h/{id}",
            "https://xkcd.com/{id}/info.0.json",
            "http://127.0.0.1:8080/{id}",
            "http://user:pw@h:81/a/{id}?x=1#f",
            "HTTP://H.Example:80/{id}",
            "http://h/./../{id}/..",
            "http://h//{id}",
            "http://h/\\{id}",
            "http://h\\{id}",
            "http://h?q={id}",
            "http://h#/{id}",
            "http://h/?a=/b&q={id}",
            " http://h/{id} ",
            "http://h /{id}",
            "http://h\t/{id}",
            "http://h/\t/{id}",
            "http://ex%41mple.com/{id}",
            "http://[::1]:9/{id}",
            "http://0x7f.1/{id}",
            "http://münchen.de/{id}",
            "http://xn--mnchen-3ya.de/{id}/",
            "http://h:99999/{id}",
            "http:///h/{id}",
            "http:h:/x://y/{id}",
            "\u{1}http:h/x://y/{id}",
            " 1http://h/{id}",
            "http://{id}/x",
            "http://h{id}/",
            "https://h/{id}{id}",
        ];
        let values = [
            "1", "", ".", "..", "a b", "é", "%2F", "x/y", "\\", "\t", "?#",
        ];
        let mut fixed = 0;
        for source in templates {
            let Ok(template) = UrlTemplate::parse(source) else {
                continue;
            };
            fixed += usize::from(template.origin.is_some());
            for value in values {
                let whole = Url::parse(&template.text(value));
                assert_eq!(template.render(value), whole, "{source:?} with {value:?}");
            }
        }
        assert!(fixed >= 10, "{fixed} templates had a fixed origin");
    }

    #[test]
    fn extension_comes_from_the_last_segment() {
        let ext = |s| UrlTemplate::parse(s).unwrap().extension().to_owned();
        assert_eq!(ext("https://xkcd.com/{id}/info.0.json"), ".json");
        assert_eq!(ext("https://h/search?q={name}"), "");
        assert_eq!(ext("https://h/{id}.html?x=1.2"), ".html");
        assert_eq!(ext("https://h.example.com/{id}"), "");
        assert_eq!(ext("https://h/{id}/"), "");
    }

    #[tokio::test]
    async fn url_lists_stream_and_reject_bad_lines() {
        let text = "http://a/1\n\n# comment\nftp://b/2\r\nnot a url\nhttps://c/3";
        let entries: Vec<Entry> = url_lines(text.as_bytes()).collect().await;
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].as_ref().unwrap().n, 1);
        assert!(entries[1].as_ref().unwrap_err().reason.contains("scheme"));
        assert_eq!(entries[2].as_ref().unwrap_err().n, 5);
        assert_eq!(entries[3].as_ref().unwrap().url.as_str(), "https://c/3");
    }

    #[tokio::test]
    async fn overlong_lines_are_rejected_and_skipped() {
        let text = format!(
            "http://a/1\nhttp://b/{}\nhttp://c/3\n",
            "x".repeat(3 * MAX_LINE)
        );
        let text: &'static str = Box::leak(text.into_boxed_str());
        let entries: Vec<Entry> = url_lines(text.as_bytes()).collect().await;
        assert_eq!(entries.len(), 3);
        let rejected = entries[1].as_ref().unwrap_err();
        assert!(
            rejected.reason.contains("line 2: longer than"),
            "{}",
            rejected.reason
        );
        assert_eq!(entries[2].as_ref().unwrap().url.as_str(), "http://c/3");
    }

    /// Found by the `url_list` fuzz target: a line of exactly `MAX_LINE` bytes was rejected as
    /// "longer than" `MAX_LINE` (input: 65,536 × `x` and a newline).
    #[tokio::test]
    async fn lines_of_exactly_max_line_bytes_are_read() {
        let url = |len: usize| format!("http://a/{}", "x".repeat(len - "http://a/".len()));
        let text = format!(
            "{}\n{}\n{}",
            url(MAX_LINE),
            url(MAX_LINE + 1),
            url(MAX_LINE)
        );
        let text: &'static str = Box::leak(text.into_boxed_str());
        let entries: Vec<Entry> = url_lines(text.as_bytes()).collect().await;
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].as_ref().unwrap().key.len(), MAX_LINE);
        let rejected = entries[1].as_ref().unwrap_err();
        assert!(
            rejected.reason.contains("line 2: longer than"),
            "{}",
            rejected.reason
        );
        // The last line, with no newline.
        assert_eq!(entries[2].as_ref().unwrap().key.len(), MAX_LINE);
    }

    #[test]
    fn values_must_be_distinct() {
        let values = |v: &[&str]| Keys::values(v.iter().map(|s| s.to_string()).collect());
        assert!(matches!(values(&["a", "b", "a"]), Err(InputError::RepeatedValue(v)) if v == "a"));
        assert!(values(&["a", "b"]).is_ok());
    }
}
