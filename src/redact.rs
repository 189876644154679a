//! Keeping secrets out of what gather prints and writes: the one place that decides how a URL's
//! credentials (`http://user:pass@host/`) and a secret header's value look once they leave the
//! process (stderr, `--json`, HAR, traces, progress, file names).
//!
//! It only rewrites text: it never sees a request, and what is sent is not changed.

use std::borrow::Cow;

/// What stands for a secret.
pub const MASK: &str = "***";

/// `url` with the password of its userinfo masked: `http://user:***@host/`. A userinfo with no
/// password is masked whole (`http://***@host/`), since a lone name is often a token (as in
/// `https://TOKEN@host/`). Text with no userinfo comes back as it is, borrowed.
///
/// Works on any text, parsed or not, so that rejected input lines are masked too: the userinfo
/// is what lies between `://` and the last `@` before the authority ends (`/`, `\`, `?` or `#`),
/// as URL parsers read it.
pub fn url(url: &str) -> Cow<'_, str> {
    // Most URLs have no `@` at all: one memchr tells.
    if !url.contains('@') {
        return Cow::Borrowed(url);
    }
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let authority = scheme_end + "://".len();
    let end = url[authority..]
        .find(['/', '\\', '?', '#'])
        .map_or(url.len(), |i| authority + i);
    let Some(at) = url[authority..end].rfind('@').map(|i| authority + i) else {
        return Cow::Borrowed(url);
    };
    let userinfo = &url[authority..at];
    let masked = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:{MASK}"),
        None => MASK.to_owned(),
    };
    Cow::Owned(format!("{}{masked}{}", &url[..authority], &url[at..]))
}

/// [`url()`] for an owned string: the same string back when there is nothing to mask.
pub fn url_owned(text: String) -> String {
    match url(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(masked) => masked,
    }
}

/// Whether a header's value is a secret: `Authorization`, `Proxy-Authorization`, `Cookie` and
/// `Set-Cookie`.
pub fn is_secret_header(name: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ]
    .iter()
    .any(|secret| name.eq_ignore_ascii_case(secret))
}

/// A header's value as it may be written: masked for [secret headers](is_secret_header), keeping
/// an `Authorization` scheme (`Basic ***`) as a hint of what was sent.
pub fn header<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if !is_secret_header(name) {
        return Cow::Borrowed(value);
    }
    match value.split_once(' ') {
        Some((scheme, _)) if name.to_ascii_lowercase().ends_with("authorization") => {
            Cow::Owned(format!("{scheme} {MASK}"))
        }
        _ => Cow::Borrowed(MASK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_masked_and_the_rest_kept() {
        let cases = [
            ("http://user:pass@host/p?q#f", "http://user:***@host/p?q#f"),
            ("https://token@host:8443/", "https://***@host:8443/"),
            ("http://u:p:q@h", "http://u:***@h"),
            ("http://u:p@x@h/a@b", "http://u:***@h/a@b"),
            ("http://host/a@b", "http://host/a@b"),
            ("http://host?x=a@b", "http://host?x=a@b"),
            ("http://u:p@h\\x", "http://u:***@h\\x"),
            ("not a url u:p@h", "not a url u:p@h"),
            ("http://:pass@h/", "http://:***@h/"),
            ("", ""),
        ];
        for (given, expected) in cases {
            assert_eq!(url(given), expected, "{given}");
        }
        assert!(matches!(url("http://h/p"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_masked_url_parses_as_the_same_resource() {
        let masked = url("http://user:secret@127.0.0.1:8080/x");
        let parsed = url::Url::parse(&masked).unwrap();
        assert_eq!(parsed.username(), "user");
        assert_eq!(parsed.password(), Some("***"));
        assert_eq!(parsed.path(), "/x");
    }

    #[test]
    fn secret_headers_are_masked() {
        assert_eq!(header("Authorization", "Basic dTpw"), "Basic ***");
        assert_eq!(header("proxy-authorization", "Bearer x.y.z"), "Bearer ***");
        assert_eq!(header("Authorization", "opaque"), "***");
        assert_eq!(header("Cookie", "sid=1; a=b"), "***");
        assert_eq!(header("set-cookie", "sid=1"), "***");
        assert_eq!(header("Content-Type", "text/html"), "text/html");
    }
}
