//! `--update`'s validators: a saved file's `ETag` and `Last-Modified`, kept as extended
//! attributes of the file itself (`user.gather.etag`, `user.gather.last-modified`).
//!
//! They are set on the temp file before it gets its name, so a file and its validators appear
//! together or not at all: a crash can never leave validators that describe other content.
//! A file without them (saved without `--update`, or on a file system without user xattrs)
//! is simply fetched again in full: a missing validator costs a download, never a wrong file.

use std::fs;
use std::io;
use std::path::Path;

use rustix::fs::XattrFlags;

const ETAG: &str = "user.gather.etag";
const LAST_MODIFIED: &str = "user.gather.last-modified";

/// What a server said identifies a response's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag`, as sent.
    pub etag: Option<String>,
    /// `Last-Modified`, as sent.
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether there is nothing to ask a server with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// The validators stored on the file at `path` (empty if it has none, or no xattrs).
    pub fn read(path: &Path) -> Self {
        let get = |name: &str| {
            let mut buffer = vec![0u8; 1024];
            let len = rustix::fs::getxattr(path, name, &mut buffer).ok()?;
            buffer.truncate(len);
            String::from_utf8(buffer).ok()
        };
        Self {
            etag: get(ETAG),
            last_modified: get(LAST_MODIFIED),
        }
    }

    /// Stores these validators on `file`. A file system without user xattrs stores nothing
    /// (the file is then fetched again in full next time); other errors are errors.
    pub(super) fn write(&self, file: &fs::File) -> io::Result<()> {
        for (name, value) in [(ETAG, &self.etag), (LAST_MODIFIED, &self.last_modified)] {
            let Some(value) = value else { continue };
            match rustix::fs::fsetxattr(file, name, value.as_bytes(), XattrFlags::empty()) {
                Ok(()) => {}
                Err(e) if e == rustix::io::Errno::NOTSUP || e == rustix::io::Errno::PERM => {
                    tracing::debug!("no user xattrs here ({e}): validators not stored");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
