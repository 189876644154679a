//! The cookie engine (`-b FILE`, `--cookie-jar FILE`): cookies read from a Netscape cookie
//! file (the format curl and wget read and write), cookies set by responses kept for the rest
//! of the run, and every cookie written back at the end.
//!
//! Matching (domain, path, secure, expiry) is `cookie_store`'s, RFC 6265's rules; this module
//! only reads and writes the file format. Off unless asked for: a run without it pays nothing.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cookie_store::{CookieDomain, CookieExpiration, CookieStore, RawCookie};
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use url::Url;

/// Why a cookie file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// The file cannot be read.
    #[error("cookie file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line is not a Netscape cookie line.
    #[error("cookie file {}, line {line}: {reason}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Its line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The jar cannot be written where `--cookie-jar` says.
    #[error("--cookie-jar {}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The run's cookies.
#[derive(Debug)]
pub struct Cookies {
    store: Mutex<CookieStore>,
    jar: Option<PathBuf>,
}

impl PartialEq for Cookies {
    /// Two engines are the same engine only if they are one.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Cookies {}

impl Cookies {
    /// An engine starting with the cookies of `load` (if given), written to `jar` (if given)
    /// at the end. A jar that cannot be created is an error now, before anything is fetched.
    pub fn new(load: Option<&Path>, jar: Option<&Path>) -> Result<Self, CookieError> {
        let mut store = CookieStore::new();
        if let Some(path) = load {
            let text = std::fs::read_to_string(path).map_err(|source| CookieError::Read {
                path: path.to_owned(),
                source,
            })?;
            read_netscape(&text, &mut store).map_err(|(line, reason)| CookieError::Malformed {
                path: path.to_owned(),
                line,
                reason,
            })?;
        }
        if let Some(path) = jar {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| CookieError::Write {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Ok(Self {
            store: Mutex::new(store),
            jar: jar.map(Path::to_owned),
        })
    }

    /// The `Cookie` header for a request to `url`, if any cookie matches.
    pub fn header(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::new();
        for (name, value) in store.get_request_values(url) {
            if !text.is_empty() {
                text.push_str("; ");
            }
            let _ = write!(text, "{name}={value}");
        }
        (!text.is_empty())
            .then(|| HeaderValue::from_str(&text).ok())
            .flatten()
    }

    /// Keeps the cookies a response from `url` set.
    pub fn store(&self, headers: &HeaderMap, url: &Url) {
        let mut cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|text| RawCookie::parse(text.to_owned()).ok())
            .peekable();
        if cookies.peek().is_some() {
            let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            store.store_response_cookies(cookies, url);
        }
    }

    /// Writes every unexpired cookie to the `--cookie-jar` file, if one was given: to a temp
    /// file beside it, renamed over it.
    pub fn save(&self) -> Result<(), CookieError> {
        let Some(path) = &self.jar else {
            return Ok(());
        };
        let text = {
            let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            write_netscape(&store)
        };
        let error = |source| CookieError::Write {
            path: path.clone(),
            source,
        };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let mut temp =
            tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new("."))).map_err(error)?;
        io::Write::write_all(&mut temp, text.as_bytes()).map_err(error)?;
        temp.persist(path).map_err(|e| error(e.error))?;
        Ok(())
    }
}

/// Reads Netscape cookie lines into `store`: `DOMAIN FLAG PATH SECURE EXPIRES NAME VALUE`,
/// tab-separated; `#` lines are comments except `#HttpOnly_` ones. `Err`: a line number and
/// what is wrong with it.
fn read_netscape(text: &str, store: &mut CookieStore) -> Result<(), (usize, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [domain, subdomains, path, secure, expires, name, rest @ ..] = fields.as_slice() else {
            return Err((
                line_no,
                format!("{} tab-separated fields, not 7", fields.len()),
            ));
        };
        let value = rest.first().copied().unwrap_or_default();
        let flag = |field: &str, what: &str| match field {
            "TRUE" => Ok(true),
            "FALSE" => Ok(false),
            other => Err((line_no, format!("{what} is `{other}`, not TRUE or FALSE"))),
        };
        let subdomains = flag(subdomains, "the subdomain flag")?;
        let secure = flag(secure, "the secure flag")?;
        let expires: i64 = expires
            .parse()
            .map_err(|_| (line_no, format!("the expiry `{expires}` is not a number")))?;
        if expires != 0 && expires <= now {
            continue;
        }
        let host = domain.trim_start_matches('.');
        let mut cookie = format!("{name}={value}; Path={path}");
        if subdomains {
            let _ = write!(cookie, "; Domain={host}");
        }
        if expires != 0 {
            let _ = write!(cookie, "; Max-Age={}", expires - now);
        }
        if secure {
            cookie.push_str("; Secure");
        }
        if http_only {
            cookie.push_str("; HttpOnly");
        }
        let url = Url::parse(&format!("https://{host}{path}"))
            .map_err(|e| (line_no, format!("`{domain}` and `{path}`: {e}")))?;
        store
            .parse(&cookie, &url)
            .map_err(|e| (line_no, e.to_string()))?;
    }
    Ok(())
}

/// The store as a Netscape cookie file, as curl writes it.
fn write_netscape(store: &CookieStore) -> String {
    let mut text = String::from(
        "# Netscape HTTP Cookie File\n# Written by gather; the format curl and wget read.\n\n",
    );
    for cookie in store.iter_unexpired() {
        let (domain, subdomains) = match &cookie.domain {
            CookieDomain::HostOnly(host) => (host.clone(), "FALSE"),
            CookieDomain::Suffix(suffix) => (format!(".{suffix}"), "TRUE"),
            CookieDomain::NotPresent | CookieDomain::Empty => continue,
        };
        let expires = match &cookie.expires {
            CookieExpiration::AtUtc(at) => at.unix_timestamp(),
            CookieExpiration::SessionEnd => 0,
        };
        let prefix = if cookie.http_only().unwrap_or(false) {
            "#HttpOnly_"
        } else {
            ""
        };
        let secure = if cookie.secure().unwrap_or(false) {
            "TRUE"
        } else {
            "FALSE"
        };
        let _ = writeln!(
            text,
            "{prefix}{domain}\t{subdomains}\t{}\t{secure}\t{expires}\t{}\t{}",
            String::from(&cookie.path),
            cookie.name(),
            cookie.value(),
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netscape_lines_round_trip_and_match_by_domain_and_path() {
        let mut store = CookieStore::new();
        read_netscape(
            "# Netscape HTTP Cookie File\n\
             .example.org\tTRUE\t/\tFALSE\t0\tsid\tabc\n\
             #HttpOnly_host.test\tFALSE\t/api\tFALSE\t4102444800\tk\tv\n\
             old.test\tFALSE\t/\tFALSE\t1\tgone\tx\n",
            &mut store,
        )
        .unwrap();
        let values = |url: &str| {
            store
                .get_request_values(&Url::parse(url).unwrap())
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(values("http://a.example.org/x"), ["sid=abc"]);
        assert_eq!(values("http://host.test/api/1"), ["k=v"]);
        assert!(values("http://host.test/other").is_empty());
        let written = write_netscape(&store);
        assert!(written.contains(".example.org\tTRUE\t/\tFALSE\t0\tsid\tabc\n"));
        assert!(written.contains("#HttpOnly_host.test\tFALSE\t/api\tFALSE\t4102444800\tk\tv\n"));
        assert!(!written.contains("gone"));
    }

    #[test]
    fn malformed_lines_are_named() {
        let mut store = CookieStore::new();
        let mut error = |text| read_netscape(text, &mut store).unwrap_err();
        assert_eq!(error("\nnot a cookie line\n").0, 2);
        assert!(error("a\tMAYBE\t/\tFALSE\t0\tn\tv").1.contains("MAYBE"));
        assert!(error("a\tTRUE\t/\tFALSE\tsoon\tn\tv").1.contains("soon"));
    }
}
