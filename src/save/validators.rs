//! `--update`'s validators: a saved file's `ETag` and `Last-Modified`, kept as extended
//! attributes of the file itself (`user.gather.etag`, `user.gather.last-modified`), or, where
//! the file system has no user xattrs, in the output directory's sidecar (`sidecar.rs`).
//!
//! Xattrs are set on the temp file before it gets its name, so a file and its validators appear
//! together or not at all: a crash can never leave validators that describe other content.
//! With them goes `user.gather.stamp`, the file's size and mtime once its body is written, and
//! they are trusted only while the file still has both: a file edited since (its xattrs stay)
//! is fetched again, not kept on a 304. (What that cannot see: an edit of the same size within
//! the same mtime tick, or one whose mtime was set back.) A
//! sidecar entry is written after the link, with what the file then is (size, times, inode),
//! and trusted only while the file still is exactly that. Which of the two a run uses is
//! probed once, on a temp file in the output directory ([`Store::open`]).
//! A file without validators (saved without `--update`, or whose entry no longer matches) is
//! simply fetched again in full: a missing validator costs a download, never a wrong file.

use std::fs;
use std::io;
use std::path::Path;

use rustix::fs::XattrFlags;

use super::sidecar::{Sidecar, Stamp};
use super::temp::TempDir;

const ETAG: &str = "user.gather.etag";
const LAST_MODIFIED: &str = "user.gather.last-modified";
/// The file's size and mtime when the validators were set ([`Stamp::content`]).
const STAMP: &str = "user.gather.stamp";
/// Set on a temp file to learn whether the output directory takes user xattrs.
const PROBE: &str = "user.gather.probe";

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

    /// The validators stored on the file at `path`, whose `lstat` is `metadata`: empty if it
    /// has none, no xattrs, or a size or mtime other than when they were stored (an edit).
    pub fn read(path: &Path, metadata: &fs::Metadata) -> Self {
        let get = |name: &str| {
            let mut buffer = vec![0u8; 1024];
            let len = rustix::fs::getxattr(path, name, &mut buffer).ok()?;
            buffer.truncate(len);
            String::from_utf8(buffer).ok()
        };
        if get(STAMP) != Some(Stamp::of(metadata).content()) {
            return Self::default();
        }
        Self {
            etag: get(ETAG),
            last_modified: get(LAST_MODIFIED),
        }
    }

    /// Stores these validators on `file`, whose body is written whole, with its stamp. A file
    /// system without user xattrs stores nothing (the file is then fetched again in full next
    /// time); other errors are errors.
    pub(super) fn write(&self, file: &fs::File) -> io::Result<()> {
        let stamp = Stamp::of(&file.metadata()?).content();
        let values = [
            (ETAG, self.etag.as_deref()),
            (LAST_MODIFIED, self.last_modified.as_deref()),
            (STAMP, Some(&stamp)),
        ];
        for (name, value) in values {
            let Some(value) = value else { continue };
            match rustix::fs::fsetxattr(file, name, value.as_bytes(), XattrFlags::empty()) {
                Ok(()) => {}
                Err(e) if refused(e) => {
                    tracing::debug!("no user xattrs here ({e}): validators not stored");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Whether an xattr call failed because the file system takes no user xattrs.
fn refused(e: rustix::io::Errno) -> bool {
    e == rustix::io::Errno::NOTSUP || e == rustix::io::Errno::PERM
}

/// Where one run keeps the validators of its output directory's files.
#[derive(Debug)]
pub(super) enum Store {
    /// On each file, as user xattrs.
    Xattrs,
    /// In the sidecar: the file system has no user xattrs.
    Sidecar(Sidecar),
}

impl Store {
    /// Probes the output directory `dir` once, with a temp file from `temps`: xattrs if one
    /// can be set on it, else the sidecar (opened, read, maybe compacted). Any other failure
    /// of the probe leaves xattrs in use (each file's then says what is wrong).
    pub(super) fn open(dir: &Path, temps: &TempDir) -> io::Result<Self> {
        let probe = temps.create()?;
        match rustix::fs::fsetxattr(&probe.file, PROBE, b"1", XattrFlags::empty()) {
            Ok(()) => Ok(Self::Xattrs),
            Err(e) if refused(e) => {
                tracing::debug!(dir = %dir.display(), "no user xattrs ({e}): validators kept in the sidecar");
                Ok(Self::Sidecar(Sidecar::open(dir)?))
            }
            Err(e) => {
                tracing::debug!(dir = %dir.display(), "xattr probe failed ({e}): xattrs assumed");
                Ok(Self::Xattrs)
            }
        }
    }

    /// The validators of the file at `path`, named `name`, whose `lstat` is `metadata`:
    /// empty when it has none, or its sidecar entry does not match it.
    pub(super) fn read(&self, path: &Path, name: &str, metadata: &fs::Metadata) -> Validators {
        match self {
            Self::Xattrs => Validators::read(path, metadata),
            Self::Sidecar(sidecar) => sidecar.get(name, metadata).unwrap_or_default(),
        }
    }

    /// Stores `validators` with a temp file before it gets its name: as xattrs.
    pub(super) fn before_link(&self, validators: &Validators, file: &fs::File) -> io::Result<()> {
        match self {
            Self::Xattrs => validators.write(file),
            Self::Sidecar(_) => Ok(()),
        }
    }

    /// Stores `validators` once the file has its name: in the sidecar, with the file's stamp
    /// as it is now.
    pub(super) fn after_link(&self, validators: &Validators, name: &str, file: &fs::File) {
        match self {
            Self::Xattrs => {}
            Self::Sidecar(sidecar) => sidecar.put(name, file, validators),
        }
    }

    /// Whether validators go to the sidecar.
    #[cfg(test)]
    pub(super) fn is_sidecar(&self) -> bool {
        matches!(self, Self::Sidecar(_))
    }
}
