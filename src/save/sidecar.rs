//! `--update`'s validators where the file system has no user xattrs: one append-only file in
//! the output directory, `.gather-validators`, with a line per file saved.
//!
//! A line is appended right after its file got its name, and says what that file was then:
//! its size, modification and change times (to the nanosecond) and inode, beside the `ETag`
//! and `Last-Modified` its server sent. An entry is trusted only while the file under that
//! name still has exactly that size, those times and that inode. A crash between the link and
//! the line leaves the file without an entry; a file replaced or edited since (a new inode, or
//! at least a new ctime, which `utimes` cannot set back) no longer matches its entry. Either
//! way it is fetched again in full: whatever is in this file, however old, cut or mixed up,
//! it can cost a download but never make a wrong 304. Nothing here must ever be trusted
//! without that match. (What it cannot see: an edit of the same size that keeps the inode and
//! lands within the same timestamp tick as the link, on file systems with coarse ctimes.)
//!
//! A line, fields separated by tabs, each text percent-encoded (controls and `%`):
//! `1 NAME SIZE MTIME CTIME INODE ETAG LAST-MODIFIED CRC32`, times as `SECONDS.NANOSECONDS`,
//! a missing validator empty, the CRC-32 (hex) over everything before it. A partial last line
//! (a killed run) or a line that fails its CRC is ignored. The latest line for a name wins.
//!
//! Memory: only an index from a hash of each name to where its latest line starts, read when
//! the run begins (sorted, 16 bytes a name: a sidecar of 1,000,000 lines adds 16 MB to the
//! peak RSS); a lookup reads that one line back (`pread`). Lines this run appends are not
//! looked up again in it. A run holds the file with one writer (a mutex over the appends, a
//! line per `write`). Across runs an exclusive `flock` marks the one that may rewrite the
//! file: it cuts a partial last line and, when the file holds more than twice as many lines
//! as names, compacts it (each name's latest line, if its file still matches, into a temp file
//! renamed over it). Other runs in the same directory meanwhile read and append but never
//! rewrite; an append lost to another run's compaction costs a download.

use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufRead, Read, Seek, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::temp::new_named;
use super::validators::Validators;

/// The sidecar's file name. A saved file's name never starts with a dot (`naming.rs`), and the
/// output directory's scan does not count it as a saved file (`temp.rs`).
pub(super) const SIDECAR: &str = ".gather-validators";

/// The format of a line, its first field.
const VERSION: &str = "1";

/// Longest line written or read back: a name is at most 240 bytes, validators are short.
const MAX_LINE: usize = 4096;

/// Bytes percent-encoded in a field: tabs and newlines (with every control) and `%` itself.
const FIELD: &AsciiSet = &CONTROLS.add(b'%');

/// What a file is, as far as telling whether it changed goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: u64,
}

impl Stamp {
    /// The stamp of a file, from its metadata.
    pub(super) fn of(metadata: &fs::Metadata) -> Self {
        Self {
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
            inode: metadata.ino(),
        }
    }

    /// The part of the stamp a file keeps from its temp file to its name, as text: its size
    /// and mtime (`SIZE SECONDS.NANOSECONDS`). Linking or renaming the file, or setting an
    /// xattr on it, changes its ctime; its inode goes with its xattrs. This is what the
    /// validators kept as xattrs are checked against (`validators.rs`).
    pub(super) fn content(&self) -> String {
        let (size, (seconds, nanos)) = (self.size, self.mtime);
        format!("{size} {seconds}.{nanos:09}")
    }
}

/// One line, parsed.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    stamp: Stamp,
    validators: Validators,
}

/// The validators of one output directory's files, kept beside them.
#[derive(Debug)]
pub(super) struct Sidecar {
    dir: PathBuf,
    /// Opened for reading and appending.
    file: fs::File,
    /// Held for each append: one writer.
    appending: Mutex<()>,
    /// Where each name's latest line started when the run began.
    index: Index,
    hasher: RandomState,
    /// Whether this run holds the file's lock (and so may rewrite it).
    holder: bool,
    /// Whether a failed append was reported already.
    warned: AtomicBool,
}

impl Sidecar {
    /// Opens (or creates) the sidecar in `dir` and notes where each name's latest line is.
    /// Unless another run holds it, a partial last line is cut and a file of more than twice
    /// as many lines as names compacted.
    pub(super) fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join(SIDECAR);
        let (file, holder) = open_locked(&path)?;
        let hasher = RandomState::new();
        let scan = Scan::read(&file, &hasher)?;
        let names = scan.index.len();
        let mut sidecar = Self {
            dir: dir.to_owned(),
            file,
            appending: Mutex::new(()),
            index: scan.index,
            hasher,
            holder,
            warned: AtomicBool::new(false),
        };
        tracing::debug!(
            lines = scan.lines,
            names,
            holder = sidecar.holder,
            "opened {}",
            path.display()
        );
        if sidecar.holder {
            if scan.lines > 2 * names {
                sidecar.compact(&path)?;
            } else if scan.whole < sidecar.file.metadata()?.len() {
                sidecar.file.set_len(scan.whole)?;
            }
        }
        Ok(sidecar)
    }

    /// The validators recorded for the file `name`, whose metadata is `metadata`, if its
    /// entry matches it exactly; else none. Entries are those there when the run began: a
    /// name saved twice in one run is fetched in full the second time.
    pub(super) fn get(&self, name: &str, metadata: &fs::Metadata) -> Option<Validators> {
        let offset = self.index.get(self.hasher.hash_one(name))?;
        let mut buffer = [0u8; MAX_LINE];
        let mut len = 0;
        while len < buffer.len() {
            match self.file.read_at(&mut buffer[len..], offset + len as u64) {
                Ok(0) => break,
                Ok(read) => len += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        let end = buffer[..len].iter().position(|&b| b == b'\n')?;
        let entry = parse(&buffer[..end])?;
        (entry.name == name && entry.stamp == Stamp::of(metadata)).then_some(entry.validators)
    }

    /// Records `validators` for the file just linked as `name`, open as `file`: its stamp is
    /// taken now, after the link. A failure is logged, not returned: the file is saved, and
    /// without its entry it is only fetched in full next time.
    pub(super) fn put(&self, name: &str, file: &fs::File, validators: &Validators) {
        if let Err(e) = self.try_put(name, file, validators)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "cannot record validators in {}: {e}; such files are fetched in full next time",
                self.dir.join(SIDECAR).display()
            );
        }
    }

    fn try_put(&self, name: &str, file: &fs::File, validators: &Validators) -> io::Result<()> {
        let stamp = Stamp::of(&file.metadata()?);
        let Some(line) = format_line(name, stamp, validators) else {
            tracing::debug!(name, "validators too long for the sidecar: not stored");
            return Ok(());
        };
        let _one_writer = self.appending.lock().unwrap_or_else(|e| e.into_inner());
        // One write of the whole line, to a file opened for appending: a crash leaves at most
        // a partial last line, and another run's lines never land inside it.
        (&self.file).write_all(&line)
    }

    /// Rewrites the file with each name's latest line whose file still matches it: into a
    /// temp file, locked before it is renamed over the sidecar.
    fn compact(&mut self, path: &Path) -> io::Result<()> {
        let (temp, temp_path) = new_named(&self.dir)?.into_parts();
        temp.try_lock().map_err(io::Error::from)?;
        let mut kept = Vec::with_capacity(self.index.len());
        let mut out = io::BufWriter::new(&temp);
        let mut written = 0u64;
        let mut reader = io::BufReader::with_capacity(1 << 16, &self.file);
        reader.seek(io::SeekFrom::Start(0))?;
        let mut line = Vec::new();
        let mut offset = 0u64;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break;
            }
            let at = offset;
            offset += read as u64;
            let Some(entry) = parse(&line[..read - 1]) else {
                continue;
            };
            let hash = self.hasher.hash_one(&entry.name);
            let current = fs::symlink_metadata(self.dir.join(&entry.name));
            if self.index.get(hash) == Some(at)
                && current.is_ok_and(|metadata| Stamp::of(&metadata) == entry.stamp)
            {
                out.write_all(&line)?;
                kept.push((hash, written));
                written += read as u64;
            }
        }
        out.flush()?;
        drop(out);
        let names = self.index.len();
        temp_path.persist(path).map_err(|e| e.error)?;
        // Appends from now on go to the end, as with the file it replaces.
        let flags = rustix::fs::fcntl_getfl(&temp)?;
        rustix::fs::fcntl_setfl(&temp, flags | rustix::fs::OFlags::APPEND)?;
        tracing::debug!(names, kept = kept.len(), "compacted {}", path.display());
        self.file = temp;
        self.index = Index::latest(kept);
        Ok(())
    }
}

/// Opens `path`, created if missing, and takes its lock unless another run holds it. The lock
/// is taken on the file the path names: one renamed over it meanwhile (compacted by another
/// run) is opened again. A file system without `flock` leaves this run the holder.
fn open_locked(path: &Path) -> io::Result<(fs::File, bool)> {
    let open = || {
        fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
    };
    for _ in 0..3 {
        let file = open()?;
        let holder = match file.try_lock() {
            Ok(()) => true,
            Err(fs::TryLockError::WouldBlock) => false,
            Err(fs::TryLockError::Error(e)) => {
                tracing::debug!("no lock on {}: {e}", path.display());
                true
            }
        };
        let named = fs::metadata(path)?;
        if named.ino() == file.metadata()?.ino() {
            return Ok((file, holder));
        }
    }
    // Replaced three times over while opening: read and append, but leave it alone.
    Ok((open()?, false))
}

/// Where each name's latest line starts, by a hash of the name (random per run; two names of
/// one hash only cost one of them its entry): sorted, 16 bytes a name, looked up by binary
/// search.
#[derive(Debug, Default)]
struct Index(Vec<(u64, u64)>);

impl Index {
    /// From `(hash, offset)` pairs: the last offset of each hash.
    fn latest(mut pairs: Vec<(u64, u64)>) -> Self {
        pairs.sort_unstable_by_key(|&(hash, offset)| (hash, std::cmp::Reverse(offset)));
        pairs.dedup_by_key(|&mut (hash, _)| hash);
        Self(pairs)
    }

    fn get(&self, hash: u64) -> Option<u64> {
        let at = self.0.binary_search_by_key(&hash, |&(hash, _)| hash).ok()?;
        Some(self.0[at].1)
    }

    /// How many names.
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// What a first read of the sidecar found.
struct Scan {
    index: Index,
    /// Complete lines, valid or not.
    lines: usize,
    /// Bytes up to the end of the last complete line.
    whole: u64,
}

impl Scan {
    fn read(file: &fs::File, hasher: &RandomState) -> io::Result<Self> {
        let mut scan = Self {
            index: Index::default(),
            lines: 0,
            whole: 0,
        };
        // Counted first, so the index is allocated once, at its size.
        let mut pairs = Vec::with_capacity(count_lines(file)?);
        let mut reader = io::BufReader::with_capacity(1 << 16, file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break;
            }
            scan.lines += 1;
            if let Some(name) = parse_name(&line[..read - 1]) {
                pairs.push((hasher.hash_one(&*name), scan.whole));
            }
            scan.whole += read as u64;
        }
        scan.index = Index::latest(pairs);
        Ok(scan)
    }
}

/// How many newlines `file` holds, read from its start.
fn count_lines(file: &fs::File) -> io::Result<usize> {
    let mut reader = file;
    let mut buffer = vec![0u8; 1 << 16];
    let mut lines = 0;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => lines += buffer[..read].iter().filter(|&&b| b == b'\n').count(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    reader.rewind()?;
    Ok(lines)
}

/// The line recording `validators` for the file `name` stamped `stamp`; none if it would be
/// longer than [`MAX_LINE`].
fn format_line(name: &str, stamp: Stamp, validators: &Validators) -> Option<Vec<u8>> {
    let field = |text: &str| utf8_percent_encode(text, FIELD).to_string();
    let optional = |value: &Option<String>| value.as_deref().map(field).unwrap_or_default();
    let Stamp {
        size,
        mtime,
        ctime,
        inode,
    } = stamp;
    let body = format!(
        "{VERSION}\t{}\t{size}\t{}.{:09}\t{}.{:09}\t{inode}\t{}\t{}",
        field(name),
        mtime.0,
        mtime.1,
        ctime.0,
        ctime.1,
        optional(&validators.etag),
        optional(&validators.last_modified),
    );
    let line = format!("{body}\t{:08x}\n", crc(body.as_bytes()));
    (line.len() <= MAX_LINE).then(|| line.into_bytes())
}

fn crc(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// The fields of a line (without its newline) whose CRC checks, past the version.
fn checked_fields(line: &[u8]) -> Option<std::str::Split<'_, char>> {
    let line = std::str::from_utf8(line).ok()?;
    let (body, sum) = line.rsplit_once('\t')?;
    if sum.len() != 8 || u32::from_str_radix(sum, 16).ok()? != crc(body.as_bytes()) {
        return None;
    }
    let mut fields = body.split('\t');
    (fields.next()? == VERSION).then_some(fields)
}

fn decode(field: &str) -> Option<String> {
    percent_decode_str(field)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// Only the name of a line that checks: enough to index it.
fn parse_name(line: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    percent_decode_str(checked_fields(line)?.next()?)
        .decode_utf8()
        .ok()
}

fn parse(line: &[u8]) -> Option<Entry> {
    let mut fields = checked_fields(line)?;
    let mut next = || fields.next();
    let name = decode(next()?)?;
    let size = next()?.parse().ok()?;
    let time = |field: &str| {
        let (seconds, nanos) = field.split_once('.')?;
        Some((seconds.parse().ok()?, nanos.parse().ok()?))
    };
    let mtime = time(next()?)?;
    let ctime = time(next()?)?;
    let inode = next()?.parse().ok()?;
    let optional = |field: &str| match field {
        "" => Some(None),
        field => decode(field).map(Some),
    };
    let etag = optional(next()?)?;
    let last_modified = optional(next()?)?;
    if next().is_some() {
        return None;
    }
    Some(Entry {
        name,
        stamp: Stamp {
            size,
            mtime,
            ctime,
            inode,
        },
        validators: Validators {
            etag,
            last_modified,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validators(etag: &str) -> Validators {
        Validators {
            etag: Some(etag.to_owned()),
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
        }
    }

    /// Saves `name` with `body` as a commit does, and records it in `sidecar`.
    fn save(dir: &Path, sidecar: &Sidecar, name: &str, body: &str, etag: &str) {
        fs::write(dir.join(name), body).unwrap();
        let file = fs::File::open(dir.join(name)).unwrap();
        sidecar.put(name, &file, &validators(etag));
    }

    fn get(dir: &Path, sidecar: &Sidecar, name: &str) -> Option<Validators> {
        sidecar.get(name, &fs::symlink_metadata(dir.join(name)).ok()?)
    }

    fn lines(dir: &Path) -> usize {
        fs::read_to_string(dir.join(SIDECAR))
            .unwrap()
            .lines()
            .count()
    }

    #[test]
    fn lines_round_trip_with_awkward_text() {
        let stamp = Stamp {
            size: 7,
            mtime: (-5, 3),
            ctime: (1_700_000_000, 999_999_999),
            inode: u64::MAX,
        };
        let validators = Validators {
            etag: Some("W/\"a\tb%\"".to_owned()),
            last_modified: None,
        };
        let name = "tab\there\nand%25 ü";
        let line = format_line(name, stamp, &validators).unwrap();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let entry = parse(&line[..line.len() - 1]).unwrap();
        assert_eq!(
            entry,
            Entry {
                name: name.to_owned(),
                stamp,
                validators,
            }
        );
        assert_eq!(parse_name(&line[..line.len() - 1]).unwrap(), name);
    }

    #[test]
    fn a_line_that_fails_its_crc_or_is_cut_is_ignored() {
        let stamp = Stamp {
            size: 1,
            mtime: (1, 1),
            ctime: (1, 1),
            inode: 1,
        };
        let line = format_line("a", stamp, &validators("\"x\"")).unwrap();
        let body = &line[..line.len() - 1];
        assert!(parse(body).is_some());
        let mut flipped = body.to_vec();
        flipped[4] ^= 1;
        assert!(parse(&flipped).is_none());
        for cut in 1..body.len() {
            assert!(parse(&body[..cut]).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn an_entry_is_trusted_only_while_its_file_is_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let sidecar = Sidecar::open(dir).unwrap();
        save(dir, &sidecar, "a", "first", "\"1\"");
        save(dir, &sidecar, "b", "other", "\"2\"");
        assert_eq!(
            get(dir, &sidecar, "a"),
            None,
            "a run looks up the entries there when it began"
        );

        // The next run reads what this one wrote.
        drop(sidecar);
        let sidecar = Sidecar::open(dir).unwrap();
        assert_eq!(get(dir, &sidecar, "a"), Some(validators("\"1\"")));
        assert_eq!(get(dir, &sidecar, "b"), Some(validators("\"2\"")));
        assert_eq!(get(dir, &sidecar, "c"), None, "never recorded");

        // Edited in place with the same size, its mtime set back: the ctime tells.
        let path = dir.join("a");
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&path, "FIRST").unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(get(dir, &sidecar, "a"), None);

        // Replaced by another file: another inode.
        fs::write(dir.join("new"), "other").unwrap();
        fs::rename(dir.join("new"), dir.join("b")).unwrap();
        assert_eq!(get(dir, &sidecar, "b"), None);
    }

    #[test]
    fn a_partial_last_line_is_ignored_and_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let sidecar = Sidecar::open(dir).unwrap();
        save(dir, &sidecar, "a", "first", "\"1\"");
        save(dir, &sidecar, "b", "second", "\"2\"");
        drop(sidecar);
        // A run killed in the middle of the second line.
        let path = dir.join(SIDECAR);
        let len = fs::metadata(&path).unwrap().len();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let sidecar = Sidecar::open(dir).unwrap();
        assert_eq!(get(dir, &sidecar, "a"), Some(validators("\"1\"")));
        assert_eq!(get(dir, &sidecar, "b"), None);
        assert_eq!(fs::read(&path).unwrap().last(), Some(&b'\n'), "cut");
        save(dir, &sidecar, "c", "third", "\"3\"");
        drop(sidecar);
        let sidecar = Sidecar::open(dir).unwrap();
        assert_eq!(get(dir, &sidecar, "c"), Some(validators("\"3\"")));
        assert_eq!(lines(dir), 2);
    }

    #[test]
    fn the_latest_line_wins_and_compaction_keeps_only_live_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let sidecar = Sidecar::open(dir).unwrap();
        save(dir, &sidecar, "gone", "x", "\"g\"");
        save(dir, &sidecar, "replaced", "y", "\"r\"");
        let mut saves = 0;
        let mut save_a = |sidecar: Sidecar| {
            fs::remove_file(dir.join("a")).ok();
            save(
                dir,
                &sidecar,
                "a",
                &format!("v{saves}"),
                &format!("\"{saves}\""),
            );
            drop(sidecar);
            let sidecar = Sidecar::open(dir).unwrap();
            assert_eq!(
                get(dir, &sidecar, "a"),
                Some(validators(&format!("\"{saves}\"")))
            );
            saves += 1;
            sidecar
        };
        let mut sidecar = sidecar;
        for _ in 0..4 {
            sidecar = save_a(sidecar);
        }
        fs::remove_file(dir.join("gone")).unwrap();
        fs::write(dir.join("new"), "y").unwrap();
        fs::rename(dir.join("new"), dir.join("replaced")).unwrap();
        drop(sidecar);
        // 6 lines for 3 names: no compaction yet.
        let sidecar = Sidecar::open(dir).unwrap();
        assert_eq!(lines(dir), 6);
        // 7 lines for 3 names: compacted to the one entry whose file still matches.
        let sidecar = save_a(sidecar);
        assert_eq!(lines(dir), 1);
        assert_eq!(get(dir, &sidecar, "a"), Some(validators("\"4\"")));
        // The compacted file is appended to, and read back, as before.
        save(dir, &sidecar, "b", "new", "\"b\"");
        drop(sidecar);
        let sidecar = Sidecar::open(dir).unwrap();
        assert_eq!(get(dir, &sidecar, "a"), Some(validators("\"4\"")));
        assert_eq!(get(dir, &sidecar, "b"), Some(validators("\"b\"")));
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [SIDECAR, "a", "b", "replaced"], "no temp file left");
    }

    #[test]
    fn a_second_run_in_the_directory_reads_and_appends_but_never_rewrites() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let first = Sidecar::open(dir).unwrap();
        assert!(first.holder);
        for round in 0..3 {
            fs::remove_file(dir.join("a")).ok();
            save(dir, &first, "a", &format!("v{round}"), "\"a\"");
        }
        let second = Sidecar::open(dir).unwrap();
        assert!(!second.holder);
        assert_eq!(lines(dir), 3, "not compacted under another run");
        assert_eq!(get(dir, &second, "a"), Some(validators("\"a\"")));
        save(dir, &second, "b", "b", "\"b\"");
        save(dir, &first, "c", "c", "\"c\"");
        drop((first, second));
        let third = Sidecar::open(dir).unwrap();
        assert!(third.holder);
        for name in ["a", "b", "c"] {
            assert!(get(dir, &third, name).is_some(), "{name}");
        }
    }
}
