//! `--warc FILE.warc.gz`: WARC/1.1, the web archives' format (wget's `--warc-file`, the
//! Internet Archive, Common Crawl), a `warcinfo` record first and then per item a `request`
//! and a `response` record, each record its own gzip member.
//!
//! The contract of every single-file sink (`sink.rs`): an item's two records are compressed
//! first and then appended in one `write`, so a crash can leave at most one partial item, the
//! last. Opening the file again reads it member by member, cuts the file after the last
//! complete `response` (so a partial member goes, and so does a `request` whose `response` is
//! the partial one), and notes the items recorded from the `WARC-Gather-N` header gather puts
//! in each of its records.
//!
//! The response block is the status line, the response headers and the body as gather saves
//! it: decoded. So `Content-Encoding` and `Transfer-Encoding` are dropped from the stored
//! headers and `Content-Length` gives the stored body's length, which is what WARC readers
//! (warcio) need for the payload to match its digest. The request block is rebuilt from the
//! method and the (redacted) URL: request line and `Host`.

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use std::cell::RefCell;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use sha1::{Digest, Sha1};

use super::sink::{RecordHead, Recorded, SinkError, open_append};

const FLAG: &str = "--warc";

/// The header naming the item a record belongs to, so that a re-run can skip it.
const N_HEADER: &str = "WARC-Gather-N";

/// Response headers not stored: the body is stored decoded and whole.
const DROPPED: [&str; 3] = ["content-encoding", "transfer-encoding", "content-length"];

/// The WARC sink.
#[derive(Debug)]
pub struct Warc {
    file: Mutex<fs::File>,
    recorded: Recorded,
}

impl Warc {
    /// Opens `path` for appending: a partial last item is cut off and the items recorded are
    /// noted, so that they are skipped; a new (or empty) file gets its `warcinfo` record.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        let io_error = |source| SinkError::Io {
            flag: FLAG,
            path: path.to_owned(),
            source,
        };
        let mut file = open_append(FLAG, path)?;
        let scan = scan(&file).map_err(|(at, reason)| SinkError::NotARecord {
            flag: FLAG,
            path: path.to_owned(),
            at: format!("byte {at}"),
            reason,
        })?;
        file.set_len(scan.whole).map_err(io_error)?;
        if scan.whole == 0 {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            file.write_all(&warcinfo(name.as_deref().unwrap_or("")))
                .map_err(io_error)?;
        }
        Ok(Self {
            file: Mutex::new(file),
            recorded: scan.recorded,
        })
    }

    /// Whether item `n` is recorded already.
    pub fn contains(&self, n: u64) -> bool {
        self.recorded.contains(n)
    }

    /// Appends item `n`'s request and response records, compressed first, in one write.
    pub fn append(&self, n: u64, head: &RecordHead, body: &[u8]) -> io::Result<()> {
        let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let (request_id, response_id) = (record_id(), record_id());
        let request = request_block(head);
        let mut response = response_head(head, body.len());
        let payload_digest = digest(&[body]);
        let block_digest = digest(&[&response, body]);
        response.extend_from_slice(body);
        let mut out = Vec::with_capacity(response.len() / 2 + 1024);
        let common = |kind: &str, id: &str, other: &str| {
            format!(
                "WARC-Type: {kind}\r\nWARC-Record-ID: {id}\r\nWARC-Date: {date}\r\n\
                 WARC-Target-URI: {}\r\nWARC-Concurrent-To: {other}\r\n{N_HEADER}: {n}\r\n\
                 Content-Type: application/http;msgtype={kind}\r\n",
                head.url
            )
        };
        let fields = format!(
            "{}WARC-Block-Digest: {}\r\n",
            common("request", &request_id, &response_id),
            digest(&[&request])
        );
        member(&mut out, &fields, &request)?;
        let fields = format!(
            "{}WARC-Block-Digest: {block_digest}\r\nWARC-Payload-Digest: {payload_digest}\r\n",
            common("response", &response_id, &request_id),
        );
        member(&mut out, &fields, &response)?;
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        (&*file).write_all(&out)
    }
}

/// What reading an existing file found.
struct Scan {
    /// Bytes of whole items (and the `warcinfo` record): the file is cut there.
    whole: u64,
    recorded: Recorded,
}

/// Reads `file` gzip member by gzip member. A member that ends early is the tail a killed
/// run was writing; anything else that is not a WARC record is an error, `(offset, why)`:
/// such a file is not gather's to cut.
fn scan(file: &fs::File) -> Result<Scan, (u64, String)> {
    let mut reader = Counting {
        inner: io::BufReader::with_capacity(256 * 1024, file),
        at: 0,
    };
    let mut recorded = Recorded::default();
    // The end of the last complete response (or warcinfo): the file is cut there.
    let mut whole = 0;
    let mut record = Vec::new();
    loop {
        let start = reader.at;
        match reader.fill_buf() {
            Ok([]) => break,
            Ok(_) => {}
            Err(e) => return Err((start, e.to_string())),
        }
        record.clear();
        let read = flate2::bufread::GzDecoder::new(&mut reader).read_to_end(&mut record);
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && gzip_at(file, start) => {
                tracing::info!(
                    at = start,
                    "--warc: cutting a partial record a killed run left"
                );
                return Ok(Scan { whole, recorded });
            }
            Err(e) => return Err((start, e.to_string())),
        }
        let fields = parse_fields(&record).map_err(|why| (start, why))?;
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let n = field(N_HEADER).map(str::parse::<u64>);
        match (field("WARC-Type"), n) {
            (Some("request"), Some(Ok(_))) => {}
            (Some("response"), Some(Ok(n))) => {
                recorded.mark(n);
                whole = reader.at;
            }
            (Some("warcinfo"), _) => whole = reader.at,
            (kind, _) => {
                return Err((
                    start,
                    format!("a {} record without {N_HEADER}", kind.unwrap_or("typeless")),
                ));
            }
        }
    }
    // A request whose response never came is cut too.
    Ok(Scan { whole, recorded })
}

/// Whether a gzip member begins at `at` (or too little is left to tell): a short file that is
/// not gzip at all is not taken for a partial record.
fn gzip_at(file: &fs::File, at: u64) -> bool {
    use std::io::Seek;
    let mut magic = [0u8; 2];
    let read = file.try_clone().and_then(|mut f| {
        f.seek(io::SeekFrom::Start(at))?;
        f.read(&mut magic)
    });
    match read {
        Ok(2) => magic == [0x1f, 0x8b],
        Ok(1) => magic[0] == 0x1f,
        _ => false,
    }
}

/// A record's header fields, checked to be a WARC record's.
fn parse_fields(record: &[u8]) -> Result<Vec<(String, String)>, String> {
    let end = record
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the header")?;
    let text = std::str::from_utf8(&record[..end]).map_err(|e| e.to_string())?;
    let mut lines = text.split("\r\n");
    if !lines.next().is_some_and(|v| v.starts_with("WARC/")) {
        return Err("not a WARC record".to_owned());
    }
    Ok(lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// A [`BufRead`] that counts the bytes consumed: where the next gzip member begins.
struct Counting<R> {
    inner: R,
    at: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.at += read as u64;
        Ok(read)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.at += amount as u64;
        self.inner.consume(amount);
    }
}

/// Appends one record, `WARC/1.1`, `fields` (each ending in CRLF), `Content-Length`, the
/// block and the two CRLFs that end a record, as one gzip member.
///
/// The deflate state is kept per thread and reset for each member: a new one per member (as
/// `GzEncoder` makes) cost W3 a second of CPU in allocating and zeroing its tables.
fn member(out: &mut Vec<u8>, fields: &str, block: &[u8]) -> io::Result<()> {
    thread_local! {
        static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    }
    let mut record = Vec::with_capacity(fields.len() + block.len() + 64);
    write!(
        record,
        "WARC/1.1\r\n{fields}Content-Length: {}\r\n\r\n",
        block.len()
    )?;
    record.extend_from_slice(block);
    record.extend_from_slice(b"\r\n\r\n");
    // The gzip header: deflate, no name or time, unknown OS.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        loop {
            out.reserve(record.len() / 2 + 64);
            let input = &record[deflate.total_in() as usize..];
            match deflate.compress_vec(input, out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    })?;
    let mut crc = Crc::new();
    crc.update(&record);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    Ok(())
}

/// The first record of a file: who wrote it.
fn warcinfo(file_name: &str) -> Vec<u8> {
    let block = format!(
        "software: gather/{}\r\nformat: WARC File Format 1.1\r\n\
         conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let fields = format!(
        "WARC-Type: warcinfo\r\nWARC-Record-ID: {}\r\nWARC-Date: {}\r\n\
         WARC-Filename: {file_name}\r\nContent-Type: application/warc-fields\r\n",
        record_id(),
        humantime::format_rfc3339_seconds(SystemTime::now()),
    );
    let mut out = Vec::new();
    member(&mut out, &fields, block.as_bytes()).expect("writing to memory");
    out
}

/// The request as gather sent it, rebuilt: request line and `Host`.
fn request_block(head: &RecordHead) -> Vec<u8> {
    let (host, target) = match url::Url::parse(&head.url) {
        Ok(url) => {
            let host = match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_owned(),
                (None, _) => String::new(),
            };
            let mut target = url.path().to_owned();
            if let Some(query) = url.query() {
                target.push('?');
                target.push_str(query);
            }
            (host, target)
        }
        Err(_) => (String::new(), "/".to_owned()),
    };
    let method = if head.method.is_empty() {
        "GET"
    } else {
        &head.method
    };
    let version = if head.version.is_empty() {
        "HTTP/1.1"
    } else {
        &head.version
    };
    format!("{method} {target} {version}\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// The status line and headers of the response as stored, up to the body.
fn response_head(head: &RecordHead, body_len: usize) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(head.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let version = if head.version.is_empty() {
        "HTTP/1.1"
    } else {
        &head.version
    };
    let mut text = format!("{version} {} {reason}\r\n", head.status);
    for (name, value) in &head.headers {
        if !DROPPED.contains(&name.to_ascii_lowercase().as_str()) {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    text.push_str(&format!("Content-Length: {body_len}\r\n\r\n"));
    text.into_bytes()
}

/// `sha1:` and the base32 of the SHA-1 of `parts`, as wget and warcio write digests.
fn digest(parts: &[&[u8]]) -> String {
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part);
    }
    format!("sha1:{}", data_encoding::BASE32.encode(&sha.finalize()))
}

/// A new `<urn:uuid:…>`, a random (version 4) UUID.
fn record_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "<urn:uuid:{}-{}-{}-{}-{}>",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(url: &str) -> RecordHead {
        RecordHead {
            url: url.to_owned(),
            status: 200,
            version: "HTTP/1.1".to_owned(),
            method: "GET".to_owned(),
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("content-encoding".to_owned(), "gzip".to_owned()),
            ],
        }
    }

    fn records(path: &Path) -> Vec<String> {
        let bytes = fs::read(path).unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        text.split("WARC/1.1\r\n")
            .skip(1)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn digests_are_sha1_base32() {
        // The SHA-1 of "abc", a9993e36…, in base32.
        assert_eq!(
            digest(&[b"a", b"bc"]),
            "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5"
        );
        let id = record_id();
        assert!(id.starts_with("<urn:uuid:") && id.len() == 47, "{id}");
    }

    #[test]
    fn items_append_as_request_and_response_and_a_partial_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.warc.gz");
        let warc = Warc::open(&path).unwrap();
        warc.append(3, &head("http://h:8/a?x=1"), b"{\"a\":1}")
            .unwrap();
        warc.append(70, &head("http://h:8/b"), b"[]").unwrap();
        drop(warc);
        let text = records(&path);
        assert_eq!(
            text.len(),
            5,
            "warcinfo, then request and response per item"
        );
        assert!(text[0].starts_with("WARC-Type: warcinfo"));
        assert!(text[1].contains("GET /a?x=1 HTTP/1.1\r\nHost: h:8\r\n"));
        assert!(text[2].contains("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"));
        assert!(
            !text[2].contains("gzip"),
            "Content-Encoding is dropped: the body is decoded"
        );
        let whole = fs::metadata(&path).unwrap().len();

        // A killed run: an item whose response member is cut short.
        let mut tail = Vec::new();
        member(
            &mut tail,
            "WARC-Type: request\r\nWARC-Gather-N: 5\r\n",
            b"GET",
        )
        .unwrap();
        let request_len = tail.len();
        member(
            &mut tail,
            "WARC-Type: response\r\nWARC-Gather-N: 5\r\n",
            b"HTTP",
        )
        .unwrap();
        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&tail[..request_len + 20]).unwrap();
        drop(file);
        let warc = Warc::open(&path).unwrap();
        assert!(warc.contains(3) && warc.contains(70) && !warc.contains(5));
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            whole,
            "the whole item is cut"
        );
        warc.append(5, &head("http://h/c"), b"").unwrap();
        drop(warc);
        assert_eq!(records(&path).len(), 7);

        for text in [&b"not gzip at all"[..], b"tiny"] {
            fs::write(&path, text).unwrap();
            assert!(matches!(
                Warc::open(&path),
                Err(SinkError::NotARecord { .. })
            ));
            assert_eq!(fs::read(&path).unwrap(), text, "left as it was");
        }
    }
}
