//! The one `{name}` template parser, as URL templates and `--name` templates use it.
//!
//! Input: the template's bytes (UTF-8), optionally followed by a 0xFF byte and a value (read
//! lossily) to render the template with. 0xFF never occurs in UTF-8, so seeds are easy to write.
#![no_main]

use gather::input::{Part, Template, TemplateError, UrlTemplate};
use gather::save::Naming;
use libfuzzer_sys::fuzz_target;

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_template(source: &str) {
    match Template::parse(source) {
        Ok(template) => {
            assert_eq!(template.source(), source);
            // The parts are the source exactly: writing them back (braces in literals doubled)
            // gives the template as written.
            let mut written = String::new();
            let mut previous_literal = false;
            for part in template.parts() {
                match part {
                    Part::Literal(text) => {
                        assert!(!text.is_empty(), "empty literal in {source:?}");
                        assert!(!previous_literal, "two literals in a row in {source:?}");
                        previous_literal = true;
                        written.push_str(&text.replace('{', "{{").replace('}', "}}"));
                    }
                    Part::Placeholder(name) => {
                        assert!(is_identifier(name), "placeholder {name:?} in {source:?}");
                        previous_literal = false;
                        written.push('{');
                        written.push_str(name);
                        written.push('}');
                    }
                }
            }
            assert_eq!(written, source);
            // Rendering fills exactly the placeholders, and nothing else changes.
            let literals: String = template.literals().collect();
            assert_eq!(template.render(|_, _| {}), literals);
            let placeholders = template
                .parts()
                .iter()
                .filter(|p| matches!(p, Part::Placeholder(_)))
                .count();
            let rendered = template.render(|_, out| out.push('\u{1}'));
            assert_eq!(
                rendered.matches('\u{1}').count() - literals.matches('\u{1}').count(),
                placeholders
            );
            let names = template.placeholders();
            for (i, name) in names.iter().enumerate() {
                assert!(!names[..i].contains(name), "placeholders() repeats {name}");
            }
        }
        Err(error) => {
            // The error points at the offending text and quotes the template.
            match &error {
                TemplateError::Unclosed { template, at } => {
                    assert_eq!(template, source);
                    assert!(
                        source[*at..].starts_with('{'),
                        "Unclosed at {at} in {source:?}"
                    );
                }
                TemplateError::Unopened { template, at } => {
                    assert_eq!(template, source);
                    assert!(
                        source[*at..].starts_with('}'),
                        "Unopened at {at} in {source:?}"
                    );
                }
                TemplateError::BadName { template, name } => {
                    assert_eq!(template, source);
                    assert!(!is_identifier(name));
                    assert!(
                        source.contains(&format!("{{{name}}}")),
                        "BadName {name:?} in {source:?}"
                    );
                }
            }
            assert!(error.to_string().contains(source));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (template, value) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], Some(String::from_utf8_lossy(&data[i + 1..]))),
        None => (data, None),
    };
    let Ok(source) = std::str::from_utf8(template) else {
        return;
    };
    check_template(source);

    // As a URL template: on success every rendered URL is http(s), whatever the value, and
    // the same URL as its text parsed whole (render may parse only the part after the origin).
    match UrlTemplate::parse(source) {
        Ok(url_template) => {
            let parsed = Template::parse(source).expect("a URL template is a template");
            assert_eq!(parsed.placeholders(), vec![url_template.key()]);
            let ext = url_template.extension();
            assert!(
                ext.is_empty()
                    || (ext.starts_with('.')
                        && ext.len() >= 2
                        && ext.len() <= 8
                        && ext[1..].chars().all(|c| c.is_ascii_alphanumeric())),
                "extension {ext:?} of {source:?}"
            );
            let values = ["1", "x", "../..", "a b/?#%{}", "\0", "é"];
            for value in values.iter().copied().chain(value.as_deref()) {
                let rendered = url_template.render(value);
                let whole = url::Url::parse(&url_template.text(value));
                assert_eq!(rendered, whole, "{source:?} with {value:?}");
                if let Ok(url) = rendered {
                    assert!(
                        matches!(url.scheme(), "http" | "https"),
                        "{source:?} with {value:?} gives {url}"
                    );
                }
            }
            // Its extension makes a usable default file name.
            let naming = Naming::new(None, url_template.key(), ext);
            assert!(naming.is_ok(), "default naming for {source:?}: {naming:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }

    // As a `--name` template.
    for key in ["id", "name", "url"] {
        if let Err(error) = Naming::new(Some(source), key, "") {
            let _ = error.to_string();
        }
    }
});
