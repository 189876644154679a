//! The output directory: file names, skip-if-present, and atomic saving.
//!
//! Nothing else writes into `--out`. A body is written to a temporary file in the same
//! directory (`.gather-PID@HOST.XXXXXX.part`) and renamed over its final name only once it is
//! complete, so a file under its final name is always whole. A temp file dropped before commit
//! is deleted; one left by a killed run is removed by the next run on the same host (on Linux,
//! where a process's liveness can be told); a shared `--out` never loses another host's
//! temp files.

mod naming;

pub use naming::{N_KEY, NameError, Naming};

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tempfile::{NamedTempFile, TempPath};
use tokio::io::AsyncWriteExt;

use crate::input::Item;

/// Bodies up to this size are kept in memory and written at commit, inline; larger ones are
/// streamed to their temp file (through the blocking pool) as they arrive, so memory stays
/// bounded per request.
const SPILL_AT: usize = 256 * 1024;

const TEMP_PREFIX: &str = ".gather-";
const TEMP_SUFFIX: &str = ".part";

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
}

/// The output directory of a fetch.
#[derive(Debug, Clone)]
pub struct OutputDir {
    dir: Arc<Path>,
    naming: Naming,
    force: bool,
}

impl OutputDir {
    /// Creates `dir` if needed, checks that files can be created in it, and removes temp files
    /// left there by runs that were killed.
    pub fn open(dir: &Path, naming: Naming, force: bool) -> Result<Self, SetupError> {
        fs::create_dir_all(dir).map_err(|source| SetupError::Create {
            path: dir.to_owned(),
            source,
        })?;
        new_temp(dir).map_err(|source| SetupError::NotWritable {
            path: dir.to_owned(),
            source,
        })?;
        let removed = remove_stale_temps(dir);
        if removed > 0 {
            tracing::info!(removed, dir = %dir.display(), "removed temp files of killed runs");
        }
        Ok(Self {
            dir: dir.into(),
            naming,
            force,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file name an item is saved under.
    pub fn file_name(&self, item: &Item) -> String {
        self.naming.file_name(item)
    }

    /// Whether an item can be skipped: its file exists (and so is complete) and `--force` is off.
    pub fn should_skip(&self, name: &str) -> bool {
        // One stat on a local directory: cheaper than a hop to the blocking pool.
        !self.force && fs::symlink_metadata(self.dir.join(name)).is_ok()
    }

    /// Starts a new file; nothing is visible under a final name until [`AtomicFile::commit`].
    pub fn create(&self) -> AtomicFile {
        AtomicFile {
            dir: Arc::clone(&self.dir),
            replace: self.force,
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
    dir: Arc<Path>,
    /// Whether commit may replace a file of the same name (`--force`).
    replace: bool,
    buffer: Vec<u8>,
    spilled: Option<(tokio::fs::File, TempPath)>,
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

    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.len += chunk.len() as u64;
        if let Some((file, _)) = &mut self.spilled {
            return file.write_all(chunk).await;
        }
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= SPILL_AT {
            let dir = Arc::clone(&self.dir);
            let buffer = std::mem::take(&mut self.buffer);
            let (file, path) = tokio::task::spawn_blocking(move || {
                Ok::<_, io::Error>(temp_with(&dir, &buffer)?.into_parts())
            })
            .await
            .map_err(io::Error::other)??;
            self.spilled = Some((tokio::fs::File::from_std(file), path));
        }
        Ok(())
    }

    /// Runs `check` over the bytes written so far: in memory, or read back from the temp file
    /// on the blocking pool.
    pub async fn check<T: Send + 'static>(
        &mut self,
        check: fn(&mut dyn io::Read) -> T,
    ) -> io::Result<T> {
        let Some((file, path)) = &mut self.spilled else {
            return Ok(check(&mut self.buffer.as_slice()));
        };
        file.flush().await?;
        let path = path.to_path_buf();
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
        let target = self.dir.join(name);
        let len = self.len;
        let replace = self.replace;
        let persist = move |temp: TempPath| {
            if replace {
                temp.persist(&target)
            } else {
                temp.persist_noclobber(&target)
            }
            .map_err(|e| e.error)
        };
        match self.spilled {
            Some((mut file, path)) => {
                file.flush().await?;
                drop(file);
                tokio::task::spawn_blocking(move || persist(path))
                    .await
                    .map_err(io::Error::other)??;
            }
            None => {
                // A body that fit in memory is saved right here, on the runtime thread: a few
                // small syscalls, cheaper than a hop to the blocking pool and back. Measured on
                // 100,000 files to tmpfs: 3.65-4.02 s -> 2.83-3.04 s wall, sys time 4.1 -> 2.7 s,
                // context switches 270k -> 80k; to disk, no slower (50.5 s vs 48.5 s side by side).
                persist(temp_with(&self.dir, &self.buffer)?.into_temp_path())?;
            }
        }
        Ok(len)
    }
}

/// This process's temp-file prefix: `.gather-PID@HOST.`
fn temp_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("{TEMP_PREFIX}{}@{}.", std::process::id(), host_name()))
}

/// The host name, made safe for a file name.
fn host_name() -> String {
    let name = gethostname::gethostname();
    let name: String = name
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "_".to_owned()
    } else {
        name
    }
}

fn new_temp(dir: &Path) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(temp_prefix()).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        // tempfile's default is 0600; saved files should get the usual 0666 & !umask.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// A new temp file in `dir` holding `bytes`.
fn temp_with(dir: &Path, bytes: &[u8]) -> io::Result<NamedTempFile> {
    let mut temp = new_temp(dir)?;
    temp.write_all(bytes)?;
    Ok(temp)
}

/// Removes `.gather-PID@HOST.*.part` files of this host whose process is gone; returns how
/// many.
fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let host = format!("@{}.", host_name());
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix(TEMP_PREFIX)
            .filter(|_| name.ends_with(TEMP_SUFFIX))
            .and_then(|rest| rest.split_once('@'))
            .filter(|(_, rest)| rest.starts_with(&host[1..]))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether a process with this id runs on this host. Where that cannot be told, every
/// process counts as alive, so no temp file of a running fetch is ever removed.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(names(tmp.path()).len(), 2, "the spilled temp file exists");
        assert_eq!(large.commit("large").await.unwrap(), 500_000);
        assert_eq!(names(tmp.path()), vec!["large", "small"]);
        assert_eq!(
            fs::read(tmp.path().join("large")).unwrap(),
            vec![7u8; 500_000]
        );
        assert!(out.should_skip("large"));
        assert!(!out.should_skip("other"));
    }

    #[tokio::test]
    async fn check_reads_memory_and_spilled_bodies() {
        fn count(body: &mut dyn io::Read) -> usize {
            io::copy(body, &mut io::sink()).unwrap() as usize
        }
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
        let removed = remove_stale_temps(tmp.path());
        assert_eq!(removed, usize::from(cfg!(target_os = "linux")));
        assert!(mine.exists() && other_host.exists() && other.exists());
        assert_eq!(dead.exists(), !cfg!(target_os = "linux"));
    }
}
