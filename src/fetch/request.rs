//! What each request carries beyond its URL: the method (`-X`), headers (`-H`, `-A`, `-u`,
//! `--oauth2-bearer`, `--netrc`) and body (`-d`, `--json-body`), with the item's placeholder
//! and `{n}` filled in per item.
//!
//! Everything is checked when the spec is built, before anything is fetched; per item only
//! the fills are rendered. It does no I/O once built.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cookies::{CookieError, Cookies};
use base64::Engine as _;
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::input::Item;
use crate::save::N_KEY;

/// Why the request options are unusable.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// `-H` without `Name: value`.
    #[error("--header `{0}`: write it as 'Name: value'")]
    NoColon(String),
    /// `-H` with a name HTTP does not allow.
    #[error("--header `{0}`: `{1}` is not a header name")]
    BadName(String, String),
    /// A header value with control characters.
    #[error("--header `{0}`: the value has characters a header cannot carry")]
    BadValue(String),
    /// `-X` with something that is not an HTTP method.
    #[error("--request `{0}` is not an HTTP method (a token such as GET, POST, PATCH)")]
    BadMethod(String),
    /// `-u` without a colon.
    #[error("--user `{0}`: write it as user:password")]
    NoPassword(String),
    /// `--data @FILE` that cannot be read.
    #[error("--data @{}", .path.display())]
    DataFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A cookie file that cannot be read or parsed, or a jar that cannot be written.
    #[error(transparent)]
    Cookies(#[from] CookieError),
    /// A netrc file that cannot be read or parsed.
    #[error("--netrc-file {}: {reason}", .path.display())]
    Netrc {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Text with the item's placeholder (`{id}`, `{name}`, `{url}`) and `{n}` to fill in. Only
/// those two are placeholders: other braces (a JSON body's) are literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fill {
    parts: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Key,
    N,
}

impl Fill {
    fn parse(text: &str, key_name: &str) -> Self {
        let key = format!("{{{key_name}}}");
        let n = format!("{{{N_KEY}}}");
        let mut parts = Vec::new();
        let mut rest = text;
        loop {
            let next = [(&key, Piece::Key), (&n, Piece::N)]
                .into_iter()
                .filter_map(|(token, piece)| rest.find(token.as_str()).map(|at| (at, token, piece)))
                .min_by_key(|(at, ..)| *at);
            let Some((at, token, piece)) = next else {
                if !rest.is_empty() {
                    parts.push(Piece::Text(rest.to_owned()));
                }
                return Self { parts };
            };
            if at > 0 {
                parts.push(Piece::Text(rest[..at].to_owned()));
            }
            parts.push(piece);
            rest = &rest[at + token.len()..];
        }
    }

    fn is_fixed(&self) -> bool {
        self.parts.iter().all(|part| matches!(part, Piece::Text(_)))
    }

    fn render(&self, item: &Item) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Piece::Text(text) => out.push_str(text),
                Piece::Key => out.push_str(&item.key),
                Piece::N => out.push_str(&item.n.to_string()),
            }
        }
        out
    }
}

/// Credentials for hosts, from a netrc file (`machine HOST login USER password PASS`, and a
/// `default` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    machines: Vec<(Option<String>, String, String)>,
}

impl Netrc {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, RequestError> {
        let bad = |reason: String| RequestError::Netrc {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::parse(&text).map_err(bad)
    }

    /// Parses netrc text: whitespace-separated tokens; `macdef` bodies (up to a blank line)
    /// are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut machines = Vec::new();
        let mut lines = text.lines();
        let mut tokens: Vec<String> = Vec::new();
        while let Some(line) = lines.next() {
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                if word.starts_with('#') && tokens.is_empty() {
                    break;
                }
                if word == "macdef" {
                    words.next();
                    // The macro's body runs to the next blank line.
                    for body in lines.by_ref() {
                        if body.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                tokens.push(word.to_owned());
            }
        }
        let mut tokens = tokens.into_iter();
        let mut current: Option<(Option<String>, Option<String>, Option<String>)> = None;
        let mut finish = |entry: Option<(Option<String>, Option<String>, Option<String>)>| {
            if let Some((host, login, password)) = entry {
                machines.push((
                    host,
                    login.unwrap_or_default(),
                    password.unwrap_or_default(),
                ));
            }
        };
        while let Some(token) = tokens.next() {
            let mut value = |what: &str| {
                tokens
                    .next()
                    .ok_or_else(|| format!("`{what}` at the end of the file has no value"))
            };
            match token.as_str() {
                "machine" => {
                    finish(current.take());
                    current = Some((Some(value("machine")?), None, None));
                }
                "default" => {
                    finish(current.take());
                    current = Some((None, None, None));
                }
                "login" | "password" | "account" => {
                    let word = value(&token)?;
                    let Some(entry) = current.as_mut() else {
                        return Err(format!("`{token}` before any `machine`"));
                    };
                    match token.as_str() {
                        "login" => entry.1 = Some(word),
                        "password" => entry.2 = Some(word),
                        _ => {}
                    }
                }
                other => return Err(format!("unexpected `{other}`")),
            }
        }
        finish(current.take());
        Ok(Self { machines })
    }

    /// The login and password for `host`: its `machine` entry, else the `default` one.
    pub fn find(&self, host: &str) -> Option<(&str, &str)> {
        let entry = self
            .machines
            .iter()
            .find(|(machine, ..)| machine.as_deref() == Some(host))
            .or_else(|| self.machines.iter().find(|(machine, ..)| machine.is_none()))?;
        Some((&entry.1, &entry.2))
    }
}

/// The request options as given on the command line, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct RequestArgs {
    /// `-X`.
    pub method: Option<String>,
    /// `-H`, in order.
    pub headers: Vec<String>,
    /// `-A`.
    pub user_agent: Option<String>,
    /// `-u user:password`.
    pub user: Option<String>,
    /// `--oauth2-bearer`.
    pub bearer: Option<String>,
    /// A netrc file to take credentials from (`--netrc`, `--netrc-file`).
    pub netrc: Option<PathBuf>,
    /// `-d`: the body, or `@FILE`.
    pub data: Option<String>,
    /// `--json-body`.
    pub json_body: bool,
    /// `--retry-all`.
    pub retry_all: bool,
    /// `-b`: `NAME=VALUE[; ...]` sent as is, or a Netscape cookie file to start from.
    pub cookie: Option<String>,
    /// `--cookie-jar`: where the run's cookies are written at the end.
    pub cookie_jar: Option<PathBuf>,
}

/// How every request is made: checked once, rendered per item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    method: Method,
    headers: Vec<(HeaderName, Fill)>,
    body: Option<Fill>,
    netrc: Option<Netrc>,
    cookies: Option<Arc<Cookies>>,
    /// Whether non-idempotent requests are retried after any transient failure.
    retry_all: bool,
}

impl Default for RequestSpec {
    fn default() -> Self {
        Self {
            method: Method::GET,
            headers: Vec::new(),
            body: None,
            netrc: None,
            cookies: None,
            retry_all: false,
        }
    }
}

/// One item's request: the method, headers and body, rendered.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The method.
    pub method: Method,
    /// Headers sent on top of the client's.
    pub headers: HeaderMap,
    /// The body, if any.
    pub body: Option<Bytes>,
}

impl RequestSpec {
    /// Checks `args`; `key_name` is the template's placeholder (`id`, `name`, `url`).
    pub fn new(args: RequestArgs, key_name: &str) -> Result<Self, RequestError> {
        let mut headers = Vec::new();
        let mut header = |name: HeaderName, value: &str, given: &str| {
            let fill = Fill::parse(value, key_name);
            if fill.is_fixed() && HeaderValue::from_str(value).is_err() {
                return Err(RequestError::BadValue(
                    crate::redact::header(name.as_str(), given).into_owned(),
                ));
            }
            headers.push((name, fill));
            Ok(())
        };
        if let Some(agent) = &args.user_agent {
            header(reqwest::header::USER_AGENT, agent, agent)?;
        }
        if let Some(user) = &args.user {
            if !user.contains(':') {
                return Err(RequestError::NoPassword(crate::redact::MASK.to_owned()));
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(user);
            header(AUTHORIZATION, &format!("Basic {encoded}"), "Basic ***")?;
        }
        if let Some(token) = &args.bearer {
            header(AUTHORIZATION, &format!("Bearer {token}"), "Bearer ***")?;
        }
        if args.json_body {
            header(CONTENT_TYPE, "application/json", "application/json")?;
            header(
                reqwest::header::ACCEPT,
                "application/json",
                "application/json",
            )?;
        }
        // `-b NAME=VALUE` is a header; `-b FILE` starts the cookie engine (as curl).
        let cookie_file = match &args.cookie {
            Some(cookie) if cookie.contains('=') => {
                header(COOKIE, cookie, crate::redact::MASK)?;
                None
            }
            Some(file) => Some(PathBuf::from(file)),
            None => None,
        };
        for given in &args.headers {
            let Some((name, value)) = given.split_once(':') else {
                return Err(RequestError::NoColon(given.clone()));
            };
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| RequestError::BadName(given.clone(), name.to_owned()))?;
            let shown = format!(
                "{name}: {}",
                crate::redact::header(name.as_str(), value.trim())
            );
            // A later header of the same name replaces an earlier one (-H after -A, as curl):
            // `dedup` below.
            header(name, value.trim(), &shown)?;
        }
        let body = match args.data.as_deref() {
            None => None,
            Some(data) => Some(Fill::parse(
                &match data.strip_prefix('@') {
                    Some(path) => {
                        std::fs::read_to_string(path).map_err(|source| RequestError::DataFile {
                            path: path.into(),
                            source,
                        })?
                    }
                    None => data.to_owned(),
                },
                key_name,
            )),
        };
        let method = match &args.method {
            Some(method) => Method::from_bytes(method.as_bytes())
                .map_err(|_| RequestError::BadMethod(method.clone()))?,
            None if body.is_some() => Method::POST,
            None => Method::GET,
        };
        let netrc = args.netrc.as_deref().map(Netrc::load).transpose()?;
        let cookies = match (&cookie_file, &args.cookie_jar) {
            (None, None) => None,
            (load, jar) => Some(Arc::new(Cookies::new(load.as_deref(), jar.as_deref())?)),
        };
        let mut spec = Self {
            method,
            headers,
            body,
            netrc,
            cookies,
            retry_all: args.retry_all,
        };
        spec.dedup();
        Ok(spec)
    }

    /// Keeps only the last header of each name, in the order they were given.
    fn dedup(&mut self) {
        let mut kept: Vec<(HeaderName, Fill)> = Vec::new();
        for (name, fill) in self.headers.drain(..) {
            kept.retain(|(kept_name, _)| *kept_name != name);
            kept.push((name, fill));
        }
        self.headers = kept;
    }

    /// The method of every request.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The cookie engine, if `-b FILE` or `--cookie-jar` started one.
    pub fn cookies(&self) -> Option<&Cookies> {
        self.cookies.as_deref()
    }

    /// Whether the default: a GET with no headers or body of its own.
    pub fn is_plain(&self) -> bool {
        self.method == Method::GET
            && self.headers.is_empty()
            && self.body.is_none()
            && self.netrc.is_none()
    }

    /// Whether a request that failed after it may have reached the server can be sent again:
    /// idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) can, others only with
    /// `--retry-all`.
    pub fn may_repeat(&self) -> bool {
        self.retry_all || self.method.is_idempotent()
    }

    /// The request for `item`, sent to `url`. `Err` names a header whose filled-in value
    /// cannot be sent.
    pub fn prepare(&self, item: &Item, url: &Url) -> Result<Prepared, String> {
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        if let Some(netrc) = &self.netrc
            && url.username().is_empty()
            && !self.headers.iter().any(|(name, _)| name == AUTHORIZATION)
            && let Some((login, password)) = url.host_str().and_then(|host| netrc.find(host))
        {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
            if let Ok(value) = HeaderValue::from_str(&format!("Basic {encoded}")) {
                headers.insert(AUTHORIZATION, value);
            }
        }
        for (name, fill) in &self.headers {
            let value = HeaderValue::from_str(&fill.render(item))
                .map_err(|_| format!("header {name}: the filled-in value cannot be sent"))?;
            headers.insert(name.clone(), value);
        }
        Ok(Prepared {
            method: self.method.clone(),
            headers,
            body: self
                .body
                .as_ref()
                .map(|fill| Bytes::from(fill.render(item))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u64, key: &str) -> Item {
        Item::with_key(n, key)
    }

    #[test]
    fn only_the_placeholder_and_n_are_filled() {
        let fill = Fill::parse(r#"{"id": {id}, "n": {n}, "x": {x}}"#, "id");
        assert_eq!(
            fill.render(&item(3, "42")),
            r#"{"id": 42, "n": 3, "x": {x}}"#
        );
        assert!(Fill::parse("plain {other}", "id").is_fixed());
    }

    #[test]
    fn netrc_finds_the_machine_or_the_default() {
        let netrc = Netrc::parse(
            "# comment\nmachine a.example login alice password s3cret\n\
             macdef init\ncd /\n\ndefault login anon password x\n",
        )
        .unwrap();
        assert_eq!(netrc.find("a.example"), Some(("alice", "s3cret")));
        assert_eq!(netrc.find("b.example"), Some(("anon", "x")));
        assert!(Netrc::parse("machine").is_err());
        assert!(Netrc::parse("login x").is_err());
        assert!(Netrc::parse("machine a frobnicate b").is_err());
    }

    #[test]
    fn bad_options_are_refused() {
        let spec = |args: RequestArgs| RequestSpec::new(args, "id");
        let headers = |h: &str| RequestArgs {
            headers: vec![h.to_owned()],
            ..RequestArgs::default()
        };
        assert!(matches!(
            spec(headers("NoColon")),
            Err(RequestError::NoColon(_))
        ));
        assert!(matches!(
            spec(headers("Bad Name: x")),
            Err(RequestError::BadName(..))
        ));
        let method = RequestArgs {
            method: Some("GET ME".to_owned()),
            ..RequestArgs::default()
        };
        assert!(matches!(spec(method), Err(RequestError::BadMethod(_))));
        let posted = spec(RequestArgs {
            data: Some("a=1".to_owned()),
            ..RequestArgs::default()
        })
        .unwrap();
        assert_eq!(posted.method, Method::POST);
        assert!(!posted.may_repeat());
    }
}
