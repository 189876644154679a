//! The file name gather saves an item under (`Naming::file_name`, which `OutputDir::file_name`
//! returns): one safe path component, and different items never share a name.
//!
//! Input: fields separated by 0xFF bytes (never part of UTF-8):
//! `NAME_TEMPLATE 0xFF VALUE1 0xFF VALUE2 0xFF EXT 0xFF N1 N2`.
//! An empty NAME_TEMPLATE means no `--name` (the default `{key}EXT`); values and EXT are read
//! lossily; N1 and N2 are the items' 1-based positions in decimal (default 1 and 2).
#![no_main]

use gather::input::{Item, Template};
use gather::save::{N_KEY, Naming};
use libfuzzer_sys::fuzz_target;
use url::Url;

fn item(n: u64, key: &str) -> Item {
    Item {
        n,
        key: key.to_owned(),
        url: Url::parse("http://h/").unwrap(),
    }
}

fn check_safe(name: &str, what: &dyn std::fmt::Debug) {
    assert!(!name.is_empty(), "empty name for {what:?}");
    assert!(name.len() <= 240, "{} bytes for {what:?}", name.len());
    assert!(!name.contains(['/', '\\', '\0']), "{name:?} for {what:?}");
    assert!(name != "." && name != "..", "{name:?} for {what:?}");
    assert!(!name.starts_with('.'), "{name:?} for {what:?}");
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == 0xFF);
    let template = fields.next().unwrap_or_default();
    let v1 = String::from_utf8_lossy(fields.next().unwrap_or(b"a"));
    let v2 = String::from_utf8_lossy(fields.next().unwrap_or(b"b"));
    let ext = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let numbers = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let mut numbers = numbers
        .split(' ')
        .map(|n| n.parse::<u64>().ok().filter(|&n| n > 0));
    let n1 = numbers.next().flatten().unwrap_or(1);
    let n2 = numbers.next().flatten().unwrap_or(2);
    // gather never has an empty key: ids are numbers, --values refuses "", URL lists skip
    // blank lines.
    if v1.is_empty() || v2.is_empty() {
        return;
    }

    let (name, key) = if template.is_empty() {
        (None, "name".to_owned())
    } else {
        let Ok(source) = std::str::from_utf8(template) else {
            return;
        };
        // The key is the template's first placeholder other than {n}.
        let key = Template::parse(source)
            .ok()
            .and_then(|t| {
                t.placeholders()
                    .into_iter()
                    .find(|&p| p != N_KEY)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "id".to_owned());
        (Some(source), key)
    };
    let Ok(naming) = Naming::new(name, &key, &ext) else {
        return;
    };
    let source = match name {
        Some(name) => name.to_owned(),
        None => format!("{{{key}}}{}", ext.replace('{', "{{").replace('}', "}}")),
    };
    let placeholders = Template::parse(&source).unwrap().placeholders().join(",");
    let uses_key = placeholders.split(',').any(|p| p == key);
    let uses_n = placeholders.split(',').any(|p| p == N_KEY);

    let a = naming.file_name(&item(n1, &v1));
    let b = naming.file_name(&item(n2, &v2));
    check_safe(&a, &(&source, n1, &v1));
    check_safe(&b, &(&source, n2, &v2));
    // Different keys never share a name, whatever the positions; nor do different positions
    // when the name has {n}.
    if uses_key && v1 != v2 {
        assert_ne!(a, b, "{source:?}: ({n1}, {v1:?}) and ({n2}, {v2:?})");
    }
    if uses_n && n1 != n2 {
        assert_ne!(a, b, "{source:?}: ({n1}, {v1:?}) and ({n2}, {v2:?})");
    }
    // A name is a function of the item.
    assert_eq!(a, naming.file_name(&item(n1, &v1)));
    // A value that is another item's file name does not take that name.
    if uses_key && !uses_n && b != *v2 {
        assert_ne!(naming.file_name(&item(n1, &b)), b, "{source:?}: {v2:?}");
    }
});
