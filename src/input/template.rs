//! Templates with `{name}` placeholders: the URL template of `gather fetch` and the `--name`
//! file-name template share this one parser.
//!
//! Syntax: literal text with placeholders `{name}` (`name` is an identifier); `{{` and `}}`
//! stand for literal braces. This module only parses and renders; what a placeholder may be
//! filled with (URL-encoded values, sanitized file names) is the caller's business.

use std::fmt;

/// Why a template could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` with no matching `}`.
    #[error(
        "template `{template}`: `{{` at byte {at} is never closed (write `{{{{` for a literal brace)"
    )]
    Unclosed {
        /// The template as given.
        template: String,
        /// Byte offset of the opening brace.
        at: usize,
    },
    /// A `}` with no opening `{`.
    #[error(
        "template `{template}`: `}}` at byte {at} has no opening `{{` (write `}}}}` for a literal brace)"
    )]
    Unopened {
        /// The template as given.
        template: String,
        /// Byte offset of the closing brace.
        at: usize,
    },
    /// `{}` or `{not an identifier}`.
    #[error(
        "template `{template}`: `{{{name}}}` is not a placeholder name (use letters, digits and _, like {{id}})"
    )]
    BadName {
        /// The template as given.
        template: String,
        /// The text between the braces.
        name: String,
    },
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied as is.
    Literal(String),
    /// A placeholder, by name.
    Placeholder(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `source`; see the module docs for the syntax.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &source[at + 1..];
                    let close = rest.find('}').ok_or_else(|| TemplateError::Unclosed {
                        template: source.to_owned(),
                        at,
                    })?;
                    let name = &rest[..close];
                    if !is_identifier(name) {
                        // `{a{b}` reads better as an unclosed brace than as a bad name.
                        if name.contains('{') {
                            return Err(TemplateError::Unclosed {
                                template: source.to_owned(),
                                at,
                            });
                        }
                        return Err(TemplateError::BadName {
                            template: source.to_owned(),
                            name: name.to_owned(),
                        });
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(name.to_owned()));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(TemplateError::Unopened {
                        template: source.to_owned(),
                        at,
                    });
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as it was written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed pieces, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The distinct placeholder names, in order of first appearance.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Placeholder(name) = part
                && !names.contains(&name.as_str())
            {
                names.push(name);
            }
        }
        names
    }

    /// The literal text only, placeholders left out.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Literal(text) => Some(text.as_str()),
            Part::Placeholder(_) => None,
        })
    }

    /// Renders the template, asking `fill` for each placeholder's text.
    pub fn render(&self, mut fill: impl FnMut(&str, &mut String)) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(name) => fill(name, &mut out),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill_x(_: &str, out: &mut String) {
        out.push('X');
    }

    #[test]
    fn parses_placeholders_and_escapes() {
        let t = Template::parse("https://h/{id}/info.0.json?a={{b}}&c={id}").unwrap();
        assert_eq!(t.placeholders(), vec!["id"]);
        assert_eq!(t.render(fill_x), "https://h/X/info.0.json?a={b}&c=X");
    }

    #[test]
    fn keeps_multibyte_text() {
        let t = Template::parse("ü/{name}/é").unwrap();
        assert_eq!(t.render(fill_x), "ü/X/é");
    }

    #[test]
    fn no_placeholder_is_still_a_template() {
        let t = Template::parse("plain").unwrap();
        assert!(t.placeholders().is_empty());
    }

    #[test]
    fn rejects_unbalanced_and_bad_names() {
        assert!(matches!(
            Template::parse("a/{id"),
            Err(TemplateError::Unclosed { at: 2, .. })
        ));
        assert!(matches!(
            Template::parse("a/id}"),
            Err(TemplateError::Unopened { at: 4, .. })
        ));
        assert!(matches!(
            Template::parse("a/{}"),
            Err(TemplateError::BadName { .. })
        ));
        assert!(matches!(
            Template::parse("a/{1x}"),
            Err(TemplateError::BadName { .. })
        ));
        assert!(matches!(
            Template::parse("a/{a{b}"),
            Err(TemplateError::Unclosed { .. })
        ));
    }
}
