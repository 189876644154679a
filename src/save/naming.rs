//! File names for items: from the `--name` template (or the default `{key}{ext}`), with every
//! substituted value made into a safe, single path component.
//!
//! Values are percent-encoded byte by byte outside a small safe set, so the mapping is
//! injective (two different values never share a file name) and no value can contain `/`, `\`,
//! NUL, or start with a dot. Names too long for a file system are shortened with a hash.

use std::fmt::Write;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::input::{Item, Part, Template, TemplateError};

/// Bytes kept as they are in a file name; everything else becomes `%XX`. `~` is not among
/// them: it marks names shortened with a hash, which no value can then imitate.
const NAME_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b',')
    .remove(b'+')
    .remove(b'=')
    .remove(b'@');

/// Longest file name written; most file systems allow 255 bytes.
const MAX_NAME: usize = 240;

/// The placeholder for an item's 1-based position.
pub const N_KEY: &str = "n";

/// Why a `--name` template cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    /// The template does not parse.
    #[error("--name")]
    Template(#[from] TemplateError),
    /// A placeholder other than the item's key or `{n}`.
    #[error("--name `{template}` uses {{{name}}}; it can use {{{key}}} and {{n}}")]
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The unknown name.
        name: String,
        /// The key's name.
        key: String,
    },
    /// No placeholder at all: every item would write the same file.
    #[error(
        "--name `{template}` has no placeholder, so every item would write the same file; use {{{key}}} or {{n}}"
    )]
    Constant {
        /// The template.
        template: String,
        /// The key's name.
        key: String,
    },
    /// `{n}` next to the key with only digits between: `{n}{id}` gives `112` for n=1, id=12
    /// and for n=11, id=2.
    #[error(
        "--name `{template}`: put a separator such as `-` between {{n}} and {{{key}}}, or different items can get the same name"
    )]
    Ambiguous {
        /// The template.
        template: String,
        /// The key's name.
        key: String,
    },
    /// Literal text that would leave the output directory or make a hidden or temp file.
    #[error("--name `{0}` must name a file inside --out: no `/`, `\\` or NUL, and no leading `.`")]
    Unsafe(String),
}

/// Turns items into file names.
#[derive(Debug, Clone)]
pub struct Naming {
    template: Template,
    key: String,
}

impl Naming {
    /// A naming from a `--name` template, or the default `{key}{extension}` when none is given.
    pub fn new(name: Option<&str>, key: &str, extension: &str) -> Result<Self, NameError> {
        let default;
        let source = match name {
            Some(name) => name,
            None => {
                default = format!(
                    "{{{key}}}{}",
                    extension.replace('{', "{{").replace('}', "}}")
                );
                &default
            }
        };
        let template = Template::parse(source)?;
        let placeholders = template.placeholders();
        if let Some(unknown) = placeholders.iter().find(|&&p| p != key && p != N_KEY) {
            return Err(NameError::UnknownPlaceholder {
                template: source.to_owned(),
                name: (*unknown).to_owned(),
                key: key.to_owned(),
            });
        }
        if placeholders.is_empty() {
            return Err(NameError::Constant {
                template: source.to_owned(),
                key: key.to_owned(),
            });
        }
        let starts_with_dot =
            matches!(template.parts().first(), Some(Part::Literal(t)) if t.starts_with('.'));
        if starts_with_dot || template.literals().any(|t| t.contains(['/', '\\', '\0'])) {
            return Err(NameError::Unsafe(source.to_owned()));
        }
        if digits_only_between_placeholders(&template) {
            return Err(NameError::Ambiguous {
                template: source.to_owned(),
                key: key.to_owned(),
            });
        }
        Ok(Self {
            template,
            key: key.to_owned(),
        })
    }

    /// The file name for one item: a single, safe path component.
    pub fn file_name(&self, item: &Item) -> String {
        let name = self.template.render(|placeholder, out| {
            if placeholder == self.key {
                out.extend(utf8_percent_encode(&item.key, NAME_SAFE));
            } else {
                write!(out, "{}", item.n).expect("writing to a String cannot fail");
            }
        });
        finish(name)
    }
}

/// Whether two different placeholders stand with nothing but digits between them. `{n}` is
/// all digits, so any other separator tells where it ends, and names stay distinct.
fn digits_only_between_placeholders(template: &Template) -> bool {
    let mut previous: Option<&str> = None;
    let mut between = String::new();
    for part in template.parts() {
        match part {
            Part::Literal(text) => between.push_str(text),
            Part::Placeholder(name) => {
                if previous.is_some_and(|p| p != name)
                    && between.chars().all(|c| c.is_ascii_digit())
                {
                    return true;
                }
                previous = Some(name);
                between.clear();
            }
        }
    }
    false
}

/// Makes a rendered name safe as a whole: not empty, no leading dot, not too long.
fn finish(mut name: String) -> String {
    if name.is_empty() {
        name.push_str("%00");
    } else if name.starts_with('.') {
        name.replace_range(..1, "%2E");
    }
    if name.len() <= MAX_NAME {
        return name;
    }
    // Keep a short extension, cut the rest, and add a hash of the whole name so that
    // shortened names stay distinct.
    let ext = name
        .rfind('.')
        .filter(|&dot| name.len() - dot <= 16)
        .map_or("", |dot| &name[dot..]);
    let hash = Sha256::digest(name.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let keep = MAX_NAME - ext.len() - 1 - hex.len();
    // Encoded names are ASCII, but a literal from --name may not be: cut on a char boundary.
    let mut cut = keep;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hex}{ext}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u64, key: &str) -> Item {
        Item::with_key(n, key)
    }

    #[test]
    fn default_names_use_key_and_extension() {
        let naming = Naming::new(None, "id", ".json").unwrap();
        assert_eq!(naming.file_name(&item(1, "42")), "42.json");
    }

    #[test]
    fn custom_names_use_key_and_n() {
        let naming = Naming::new(Some("page-{n}-{name}.html"), "name", "").unwrap();
        assert_eq!(
            naming.file_name(&item(3, "Your Name")),
            "page-3-Your%20Name.html"
        );
    }

    #[test]
    fn hostile_values_stay_one_component() {
        let naming = Naming::new(None, "name", "").unwrap();
        for hostile in [
            "../../etc/passwd",
            "/abs",
            "..",
            ".",
            "a\0b",
            "a\\b",
            ".hidden",
        ] {
            let name = naming.file_name(&item(1, hostile));
            assert!(!name.contains(['/', '\\', '\0']), "{name}");
            assert!(!name.starts_with('.'), "{name}");
        }
        assert_eq!(naming.file_name(&item(1, "..")), "%2E.");
    }

    #[test]
    fn names_are_injective_for_similar_values() {
        let naming = Naming::new(None, "name", "").unwrap();
        let a = naming.file_name(&item(1, "a b"));
        let b = naming.file_name(&item(1, "a%20b"));
        let c = naming.file_name(&item(1, "a_b"));
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn no_value_imitates_a_shortened_name() {
        let naming = Naming::new(None, "name", "").unwrap();
        let shortened = naming.file_name(&item(1, &"a".repeat(1000)));
        assert_ne!(naming.file_name(&item(1, &shortened)), shortened);
    }

    #[test]
    fn long_names_are_shortened_distinctly() {
        let naming = Naming::new(None, "name", ".json").unwrap();
        let long_a = "a".repeat(1000);
        let long_b = format!("{}b", "a".repeat(999));
        let a = naming.file_name(&item(1, &long_a));
        let b = naming.file_name(&item(1, &long_b));
        assert!(a.len() <= MAX_NAME && b.len() <= MAX_NAME);
        assert!(a.ends_with(".json"));
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_unsafe_or_constant_templates() {
        assert!(matches!(
            Naming::new(Some("x/{id}"), "id", ""),
            Err(NameError::Unsafe(_))
        ));
        assert!(matches!(
            Naming::new(Some(".{id}"), "id", ""),
            Err(NameError::Unsafe(_))
        ));
        assert!(matches!(
            Naming::new(Some("same.json"), "id", ""),
            Err(NameError::Constant { .. })
        ));
        assert!(matches!(
            Naming::new(Some("{other}"), "id", ""),
            Err(NameError::UnknownPlaceholder { .. })
        ));
        for ambiguous in ["{n}{id}", "{id}{n}", "{n}0{id}.json"] {
            assert!(
                matches!(
                    Naming::new(Some(ambiguous), "id", ""),
                    Err(NameError::Ambiguous { .. })
                ),
                "{ambiguous}"
            );
        }
        assert!(Naming::new(Some("{n}-{id}"), "id", "").is_ok());
        assert!(Naming::new(Some("{id}{id}"), "id", "").is_ok());
    }
}
