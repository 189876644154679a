//! The output directory: file names, skip-if-present, and atomic saving.
//!
//! Nothing else writes into `--out`. A body is written to a temp file in the same directory
//! (unnamed where the system allows, else `.gather-PID@HOST.XXXXXX.part`; see `temp.rs`) and
//! given its final name only once it is complete, so a file under its final name is always
//! whole. A temp file dropped before commit is deleted; a named one left by a killed run is
//! removed by the next run on the same host (on Linux, where a process's liveness can be
//! told); a shared `--out` never loses another host's temp files. With `--update` on a file
//! system without user xattrs, the validators' sidecar `.gather-validators` is there too
//! (`sidecar.rs`); it is never an item.

mod gzip;
mod lines;
mod naming;
mod sidecar;
mod sink;
mod temp;
mod validators;
mod warc;

pub use lines::JsonLines;
pub use naming::{N_KEY, NameError, Naming};
pub use sink::{RecordHead, Sink, SinkError};
pub use validators::Validators;
pub use warc::Warc;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use temp::{Temp, TempDir, scan};
use validators::Store;

use crate::input::Item;

/// Bodies up to this size are kept in memory and written at commit, inline; larger ones are
/// streamed to their temp file (through the blocking pool) as they arrive, so memory stays
/// bounded per request.
const SPILL_AT: usize = 256 * 1024;

/// Why the output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `--out` could not be created.
    #[error("cannot create output directory {path}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `--out` exists but files cannot be created in it.
    #[error("cannot write in output directory {path}")]
    NotWritable {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `--update` on a file system without user xattrs, and its sidecar cannot be used.
    #[error("cannot use {path}, where --update keeps validators on this file system")]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The output directory of a fetch.
#[derive(Debug, Clone)]
pub struct OutputDir {
    temps: Arc<TempDir>,
    dir: Arc<Path>,
    naming: Naming,
    force: bool,
    /// `--update`: existing files are asked about, and replaced when they changed; where their
    /// validators are kept.
    store: Option<Arc<Store>>,
    /// Whether the directory held no saved file when the run began.
    fresh: bool,
    /// `--jsonl` or `--warc`: records go there instead of files, keyed by the item's `n`.
    lines: Option<Arc<Sink>>,
}

impl OutputDir {
    /// Creates `dir` if needed, checks that files can be created in it, and removes temp files
    /// left there by runs that were killed.
    pub fn open(dir: &Path, naming: Naming, force: bool) -> Result<Self, SetupError> {
        Self::open_with(dir, naming, force, false)
    }

    /// [`open`](Self::open), and with `update` existing files are not skipped but replaced
    /// when their item is saved again, each with its [`Validators`].
    pub fn open_with(
        dir: &Path,
        naming: Naming,
        force: bool,
        update: bool,
    ) -> Result<Self, SetupError> {
        fs::create_dir_all(dir).map_err(|source| SetupError::Create {
            path: dir.to_owned(),
            source,
        })?;
        let temps =
            TempDir::open(dir, force || update).map_err(|source| SetupError::NotWritable {
                path: dir.to_owned(),
                source,
            })?;
        let scan = scan(dir);
        if scan.removed > 0 {
            tracing::info!(removed = scan.removed, dir = %dir.display(), "removed temp files of killed runs");
        }
        let store = update
            .then(|| Store::open(dir, &temps))
            .transpose()
            .map_err(|source| SetupError::Sidecar {
                path: dir.join(sidecar::SIDECAR),
                source,
            })?;
        Ok(Self {
            temps: Arc::new(temps),
            dir: dir.into(),
            naming,
            force,
            store: store.map(Arc::new),
            fresh: !scan.saved_files,
            lines: None,
        })
    }

    /// Records go to `sink` instead of files (`dir` then only holds large bodies' temp files
    /// while they download).
    pub fn with_sink(mut self, sink: impl Into<Sink>) -> Self {
        self.lines = Some(Arc::new(sink.into()));
        self
    }

    /// Whether records go to a single-file sink: each needs its [`RecordHead`].
    pub fn wants_head(&self) -> bool {
        self.lines.is_some()
    }

    /// Whether the record head keeps every response header (`--warc`).
    pub fn wants_all_headers(&self) -> bool {
        self.lines
            .as_ref()
            .is_some_and(|sink| sink.wants_all_headers())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file name an item is saved under.
    /// With `--jsonl` or `--warc`, the record's key: the item's `n`.
    pub fn file_name(&self, item: &Item) -> String {
        match &self.lines {
            Some(_) => item.n.to_string(),
            None => self.naming.file_name(item),
        }
    }

    /// Whether an item, fetched from `url`, can be skipped: its file exists (and so is
    /// complete), or its record from that URL, and `--force` is off.
    ///
    /// In a directory that was empty when the run began, nothing is looked up: only this run
    /// saves there, and a commit never replaces a file, so a repeated name ends as skipped at
    /// commit. That saves a `stat` per item (W3 to tmpfs: 6% of the client's CPU time).
    pub fn should_skip(&self, name: &str, url: &url::Url) -> bool {
        if let Some(sink) = &self.lines {
            // Recorded under this `n` from this URL: a file of another job's records (other
            // ids, another template) does not make this job's items skipped.
            return !self.force
                && !sink.is_empty()
                && name
                    .parse()
                    .is_ok_and(|n| sink.contains(n, &crate::redact::url(url.as_str())));
        }
        // One stat on a local directory: cheaper than a hop to the blocking pool.
        !self.force
            && self.store.is_none()
            && !self.fresh
            && fs::symlink_metadata(self.dir.join(name)).is_ok()
    }

    /// With `--update`, the validators of the file saved as `name`, if it exists.
    pub fn validators(&self, name: &str) -> Option<Validators> {
        let store = self.store.as_ref().filter(|_| !self.fresh)?;
        let path = self.dir.join(name);
        let metadata = fs::symlink_metadata(&path).ok()?;
        Some(store.read(&path, name, &metadata))
    }

    /// Whether saved files get their validators (`--update`).
    pub fn keeps_validators(&self) -> bool {
        self.store.is_some()
    }

    /// Starts a new file; nothing is visible under a final name until [`AtomicFile::commit`].
    pub fn create(&self) -> AtomicFile {
        AtomicFile {
            temps: Arc::clone(&self.temps),
            replace: self.force || self.store.is_some(),
            store: self.store.clone(),
            validators: None,
            lines: self.lines.clone(),
            head: None,
            buffer: Vec::new(),
            spilled: None,
            len: 0,
        }
    }
}

/// A file being written: in memory while small, then in a temp file. Dropping it before
/// [`commit`](AtomicFile::commit) leaves nothing behind.
#[derive(Debug)]
pub struct AtomicFile {
    temps: Arc<TempDir>,
    /// Whether commit may replace a file of the same name (`--force`, `--update`).
    replace: bool,
    /// `--update`: where validators are kept.
    store: Option<Arc<Store>>,
    /// Stored with the file: as xattrs before it gets its name, or in the sidecar after.
    validators: Option<Validators>,
    /// `--jsonl` or `--warc`: the sink, and what the record says besides the body.
    lines: Option<Arc<Sink>>,
    head: Option<RecordHead>,
    buffer: Vec<u8>,
    spilled: Option<Temp<tokio::fs::File>>,
    len: u64,
}

impl AtomicFile {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `validators` with the file (`--update`): as xattrs set before it gets its
    /// name, or in the sidecar once it has it.
    pub fn set_validators(&mut self, validators: Validators) {
        self.validators = (!validators.is_empty()).then_some(validators);
    }

    /// What this item's `--jsonl` or `--warc` record says besides its body.
    pub fn set_head(&mut self, head: RecordHead) {
        self.head = Some(head);
    }

    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.len += chunk.len() as u64;
        if let Some(temp) = &mut self.spilled {
            return temp.file.write_all(chunk).await;
        }
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= SPILL_AT {
            let temps = Arc::clone(&self.temps);
            let buffer = std::mem::take(&mut self.buffer);
            let temp = tokio::task::spawn_blocking(move || temps.create_with(&buffer))
                .await
                .map_err(io::Error::other)??;
            self.spilled = Some(temp.map_file(tokio::fs::File::from_std));
        }
        Ok(())
    }

    /// Runs `check` over the bytes written so far: in memory, or read back from the temp file
    /// on the blocking pool.
    pub async fn check<T: Send + 'static>(
        &mut self,
        check: fn(&mut dyn io::Read) -> T,
    ) -> io::Result<T> {
        let Some(temp) = &mut self.spilled else {
            return Ok(check(&mut self.buffer.as_slice()));
        };
        temp.file.flush().await?;
        let path = temp.path();
        tokio::task::spawn_blocking(move || {
            let file = fs::File::open(path)?;
            Ok(check(&mut io::BufReader::new(file)))
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Makes the file visible as `name`, atomically; returns its size.
    ///
    /// Without `--force` an existing file is never replaced: if one appeared under `name`
    /// since the run checked (a repeated item, or another process), the error is
    /// [`io::ErrorKind::AlreadyExists`] and that file stays as it is.
    pub async fn commit(self, name: &str) -> io::Result<u64> {
        let Self {
            temps,
            replace,
            store,
            validators,
            lines,
            head,
            buffer,
            spilled,
            len,
        } = self;
        if let Some(lines) = lines {
            let n = name.parse().map_err(io::Error::other)?;
            let head = head.unwrap_or_default();
            match spilled {
                Some(temp) => {
                    let temp = temp.into_std().await?;
                    tokio::task::spawn_blocking(move || {
                        // Read from the start through a handle of its own; `temp` lives (and
                        // so does its file) until the record is written.
                        let body = fs::File::open(temp.path())?;
                        lines.append_file(n, &head, body)
                    })
                    .await
                    .map_err(io::Error::other)??;
                }
                None => lines.append(n, &head, &buffer)?,
            }
            return Ok(len);
        }
        let validators = validators.zip(store);
        match spilled {
            Some(temp) => {
                let temp = temp.into_std().await?;
                let name = name.to_owned();
                tokio::task::spawn_blocking(move || {
                    if let Some((validators, store)) = &validators {
                        store.before_link(validators, &temp.file)?;
                    }
                    let file = temps.commit(temp, &name, replace)?;
                    if let Some((validators, store)) = &validators {
                        store.after_link(validators, &name, &file);
                    }
                    io::Result::Ok(())
                })
                .await
                .map_err(io::Error::other)??;
            }
            None => {
                // A body that fit in memory is saved right here, on the runtime thread: a few
                // small syscalls, cheaper than a hop to the blocking pool and back. Measured on
                // 100,000 files to tmpfs: 3.65-4.02 s -> 2.83-3.04 s wall, sys time 4.1 -> 2.7 s,
                // context switches 270k -> 80k; to disk, no slower (50.5 s vs 48.5 s side by side).
                let temp = temps.create_with(&buffer)?;
                if let Some((validators, store)) = &validators {
                    store.before_link(validators, &temp.file)?;
                }
                let file = temps.commit(temp, name, replace)?;
                if let Some((validators, store)) = &validators {
                    store.after_link(validators, name, &file);
                }
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::save::temp::{host_name, temp_prefix};

    /// The URL an item of the files sink was fetched from: not looked at there.
    fn any_url() -> url::Url {
        "http://127.0.0.1/".parse().unwrap()
    }

    fn out(dir: &Path) -> OutputDir {
        OutputDir::open(dir, Naming::new(None, "id", ".json").unwrap(), false).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn count(body: &mut dyn io::Read) -> usize {
        io::copy(body, &mut io::sink()).unwrap() as usize
    }

    #[tokio::test]
    async fn small_and_large_files_commit_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let out = out(tmp.path());
        let mut small = out.create();
        small.write(b"hello").await.unwrap();
        assert_eq!(small.commit("small").await.unwrap(), 5);

        let chunk = vec![7u8; 100_000];
        let mut large = out.create();
        for _ in 0..5 {
            large.write(&chunk).await.unwrap();
        }
        assert!(
            large.spilled.is_some(),
            "the large body went to a temp file"
        );
        assert!(
            !tmp.path().join("large").exists(),
            "no final name before commit"
        );
        assert_eq!(large.check(count).await.unwrap(), 500_000);
        assert_eq!(large.commit("large").await.unwrap(), 500_000);
        assert_eq!(names(tmp.path()), vec!["large", "small"]);
        assert_eq!(
            fs::read(tmp.path().join("large")).unwrap(),
            vec![7u8; 500_000]
        );
        let next_run = super::tests::out(tmp.path());
        assert!(next_run.should_skip("large", &any_url()));
        assert!(!next_run.should_skip("other", &any_url()));
    }

    #[tokio::test]
    async fn check_reads_memory_and_spilled_bodies() {
        let tmp = tempfile::tempdir().unwrap();
        let out = out(tmp.path());
        let mut small = out.create();
        small.write(b"hello").await.unwrap();
        assert_eq!(small.check(count).await.unwrap(), 5);
        let mut large = out.create();
        large.write(&vec![1u8; SPILL_AT + 10]).await.unwrap();
        large.write(b"tail").await.unwrap();
        assert_eq!(large.check(count).await.unwrap(), SPILL_AT + 14);
    }

    #[tokio::test]
    async fn commit_never_replaces_a_file_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("taken"), b"first").unwrap();
        let mut file = out(tmp.path()).create();
        file.write(b"second").await.unwrap();
        let error = file.commit("taken").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(names(tmp.path()), vec!["taken"], "the temp file is gone");
        assert_eq!(fs::read(tmp.path().join("taken")).unwrap(), b"first");

        let forced = OutputDir::open(tmp.path(), Naming::new(None, "id", ".json").unwrap(), true);
        let mut file = forced.unwrap().create();
        file.write(b"second").await.unwrap();
        file.commit("taken").await.unwrap();
        assert_eq!(fs::read(tmp.path().join("taken")).unwrap(), b"second");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn temp_files_are_unnamed_where_the_system_allows_and_named_with_force() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = out(tmp.path());
        let forced = OutputDir::open(tmp.path(), Naming::new(None, "id", ".json").unwrap(), true);
        // ext4 and tmpfs, where tests run, support O_TMPFILE.
        assert!(plain.temps.is_unnamed());
        assert!(!forced.unwrap().temps.is_unnamed());
        assert!(names(tmp.path()).is_empty(), "the probe leaves nothing");
    }

    #[tokio::test]
    async fn a_fresh_directory_is_not_looked_up_and_still_never_clobbered() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = out(tmp.path());
        for body in [&b"first"[..], b"second"] {
            assert!(
                !fresh.should_skip("x", &any_url()),
                "nothing was there when the run began"
            );
            let mut file = fresh.create();
            file.write(body).await.unwrap();
            let _ = file.commit("x").await;
        }
        assert_eq!(fs::read(tmp.path().join("x")).unwrap(), b"first");
        assert!(
            out(tmp.path()).should_skip("x", &any_url()),
            "a new run looks it up"
        );
    }

    #[test]
    fn the_sidecar_is_not_a_saved_file() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(sidecar::SIDECAR), b"").unwrap();
        let out = out(tmp.path());
        assert!(out.fresh, "a directory holding only the sidecar is fresh");
        assert!(!scan(tmp.path()).saved_files);
        fs::write(tmp.path().join("1.json"), b"{}").unwrap();
        assert!(scan(tmp.path()).saved_files);
    }

    #[test]
    fn update_keeps_validators_as_xattrs_where_the_file_system_takes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let naming = Naming::new(None, "id", ".json").unwrap();
        let update = OutputDir::open_with(tmp.path(), naming, false, true).unwrap();
        // ext4 and tmpfs, where tests run, take user xattrs (ramfs, which does not, is
        // tests/update.rs's).
        assert!(!update.store.as_ref().unwrap().is_sidecar());
        assert!(names(tmp.path()).is_empty(), "the probe leaves nothing");
    }

    #[tokio::test]
    async fn dropped_files_leave_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let out = out(tmp.path());
        let mut file = out.create();
        file.write(&vec![1u8; SPILL_AT * 2]).await.unwrap();
        drop(file);
        assert!(names(tmp.path()).is_empty());
    }

    #[test]
    fn stale_temps_of_dead_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let host = host_name();
        // Pid 2^22+1 is above Linux's largest pid_max, so no live process has it.
        let dead = tmp.path().join(format!(".gather-4194305@{host}.abc.part"));
        let mine = tmp.path().join(format!("{}abc.part", temp_prefix()));
        let other_host = tmp.path().join(".gather-4194305@elsewhere-x.abc.part");
        let other = tmp.path().join("keep.part");
        for path in [&dead, &mine, &other_host, &other] {
            fs::write(path, b"x").unwrap();
        }
        let removed = scan(tmp.path()).removed;
        assert_eq!(removed, usize::from(cfg!(target_os = "linux")));
        assert!(mine.exists() && other_host.exists() && other.exists());
        assert_eq!(dead.exists(), !cfg!(target_os = "linux"));
    }
}
