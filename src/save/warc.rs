//! `--warc FILE.warc.gz`: WARC/1.1, the web archives' format (wget's `--warc-file`, the
//! Internet Archive, Common Crawl), a `warcinfo` record first and then per item a `request`
//! and a `response` record, each record its own gzip member.
//!
//! The contract of every single-file sink (`sink.rs`): an item's two records are compressed
//! first and then appended in one `write`, so a crash can leave at most one partial item, the
//! last. (A body spilled to a temp file, over 256 KiB, is not held whole: its response record
//! is compressed into an unnamed temp file beside the WARC file and copied in after the
//! request, under the same lock; a crash there too leaves only a partial last item.) Opening the file again reads it member by member, cuts the file after the last
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
use std::io::{self, BufRead, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use std::cell::RefCell;

use sha1::{Digest, Sha1};

use super::gzip;
use super::sink::{RecordHead, Recorded, SinkError, open_append};

const FLAG: &str = "--warc";

/// The header naming the item a record belongs to, so that a re-run can skip it.
const N_HEADER: &str = "WARC-Gather-N";

/// The field naming the item's own URL in a record whose `WARC-Target-URI` a redirect led to.
const ITEM_HEADER: &str = "WARC-Gather-Item-URI";

/// Response headers not stored: the body is stored decoded and whole.
const DROPPED: [&str; 3] = ["content-encoding", "transfer-encoding", "content-length"];

/// The WARC sink.
#[derive(Debug)]
pub struct Warc {
    file: Mutex<fs::File>,
    /// Where large records are compressed before they are copied in: the file's directory.
    dir: PathBuf,
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
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        Ok(Self {
            file: Mutex::new(file),
            dir,
            recorded: scan.recorded,
        })
    }

    /// Whether item `n`, fetched from `url` (redacted), is recorded already.
    pub fn contains(&self, n: u64, url: &str) -> bool {
        self.recorded.contains(n, url)
    }

    /// Whether the file held no record when it was opened.
    pub fn is_empty(&self) -> bool {
        self.recorded.is_empty()
    }

    /// Appends item `n`'s request and response records, compressed first, in one write.
    pub fn append(&self, n: u64, head: &RecordHead, body: &[u8]) -> io::Result<()> {
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::default();
        }
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { block, record, out } = scratch;
            out.clear();
            let ids = Ids::new();
            request_member(out, record, block, &ids, head, n)?;

            block.clear();
            response_head(block, head, body.len());
            record.clear();
            fields(
                record,
                "response",
                &ids.response,
                &ids.request,
                &ids.date,
                head,
                n,
            );
            digest_field(record, "WARC-Block-Digest", &[block, body]);
            digest_field(record, "WARC-Payload-Digest", &[body]);
            record_end(record, &[block, body]);
            gzip::member(out, record)?;

            let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            let written = (&*file).write_all(out);
            drop(file);
            scratch.trim();
            written
        })
    }

    /// Appends item `n`'s records, as [`append`](Self::append) does, for a body too large to
    /// hold in memory, read from `body`: its digests are computed in one pass, the response
    /// is compressed in another into an unnamed temp file beside the WARC file, which is then
    /// copied in after the request, the file locked only for the copy. A crash during the
    /// copy leaves a partial member, which the next run cuts.
    pub fn append_file(&self, n: u64, head: &RecordHead, mut body: fs::File) -> io::Result<()> {
        let len = body.metadata()?.len();
        let mut block_head = Vec::new();
        response_head(&mut block_head, head, len as usize);
        let (mut payload, mut whole) = (Sha1::new(), Sha1::new());
        whole.update(&block_head);
        let mut chunk = vec![0; 256 * 1024];
        let mut read = 0;
        loop {
            let got = body.read(&mut chunk)?;
            if got == 0 {
                break;
            }
            payload.update(&chunk[..got]);
            whole.update(&chunk[..got]);
            read += got as u64;
        }
        if read != len {
            return Err(io::Error::other(format!(
                "the body's temp file changed while read: {read} bytes of {len}"
            )));
        }
        let ids = Ids::new();
        let (mut request, mut record, mut block) = (Vec::new(), Vec::new(), Vec::new());
        request_member(&mut request, &mut record, &mut block, &ids, head, n)?;
        record.clear();
        fields(
            &mut record,
            "response",
            &ids.response,
            &ids.request,
            &ids.date,
            head,
            n,
        );
        for (name, sha) in [
            ("WARC-Block-Digest", whole),
            ("WARC-Payload-Digest", payload),
        ] {
            let mut base32 = [0; 32];
            data_encoding::BASE32.encode_mut(&sha.finalize(), &mut base32);
            record.extend_from_slice(name.as_bytes());
            record.extend_from_slice(b": sha1:");
            record.extend_from_slice(&base32);
            record.extend_from_slice(b"\r\n");
        }
        let block_len = block_head.len() as u64 + len;
        write!(record, "Content-Length: {block_len}\r\n\r\n")?;
        record.extend_from_slice(&block_head);
        body.seek(io::SeekFrom::Start(0))?;
        let mut spool = tempfile::tempfile_in(&self.dir)?;
        {
            let mut writer = io::BufWriter::with_capacity(256 * 1024, &mut spool);
            gzip::member_streamed(&mut writer, &record, &mut body.take(len), b"\r\n\r\n")?;
            writer.flush()?;
        }
        spool.seek(io::SeekFrom::Start(0))?;
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        (&*file).write_all(&request)?;
        io::copy(&mut spool, &mut &*file)?;
        Ok(())
    }
}

/// The record ids of an item's request and response, and their date.
struct Ids {
    request: String,
    response: String,
    date: String,
}

impl Ids {
    fn new() -> Self {
        Self {
            request: record_id(),
            response: record_id(),
            date: warc_date(),
        }
    }
}

/// Appends item `n`'s request record to `out` as a gzip member, built in `record` and `block`.
fn request_member(
    out: &mut Vec<u8>,
    record: &mut Vec<u8>,
    block: &mut Vec<u8>,
    ids: &Ids,
    head: &RecordHead,
    n: u64,
) -> io::Result<()> {
    block.clear();
    request_block(block, head);
    record.clear();
    fields(
        record,
        "request",
        &ids.request,
        &ids.response,
        &ids.date,
        head,
        n,
    );
    digest_field(record, "WARC-Block-Digest", &[block]);
    record_end(record, &[block]);
    gzip::member(out, record)
}

/// Buffers a thread reuses from item to item: the block being built, the record as text,
/// and the item's two gzip members.
#[derive(Default)]
struct Scratch {
    block: Vec<u8>,
    record: Vec<u8>,
    out: Vec<u8>,
}

impl Scratch {
    /// Buffers kept between items are at most this large: a large body's are let go.
    const KEEP: usize = 1024 * 1024;

    fn trim(&mut self) {
        for buffer in [&mut self.block, &mut self.record, &mut self.out] {
            if buffer.capacity() > Self::KEEP {
                *buffer = Vec::new();
            }
        }
    }
}

/// Starts a request or response record of item `n`: `WARC/1.1` and the fields both share.
fn fields(
    record: &mut Vec<u8>,
    kind: &str,
    id: &str,
    other: &str,
    date: &str,
    head: &RecordHead,
    n: u64,
) {
    for part in [
        "WARC/1.1\r\nWARC-Type: ",
        kind,
        "\r\nWARC-Record-ID: ",
        id,
        "\r\nWARC-Date: ",
        date,
        "\r\nWARC-Target-URI: ",
        &head.url,
        "\r\nWARC-Concurrent-To: ",
        other,
        "\r\n",
        N_HEADER,
        ": ",
    ] {
        record.extend_from_slice(part.as_bytes());
    }
    write!(
        record,
        "{n}\r\nContent-Type: application/http;msgtype={kind}\r\n"
    )
    .expect("writing to memory");
    if let Some(item_url) = &head.item_url {
        for part in [ITEM_HEADER, ": ", item_url, "\r\n"] {
            record.extend_from_slice(part.as_bytes());
        }
    }
}

/// A `name: sha1:…` field with the digest of `parts`.
fn digest_field(record: &mut Vec<u8>, name: &str, parts: &[&[u8]]) {
    record.extend_from_slice(name.as_bytes());
    record.extend_from_slice(b": sha1:");
    record.extend_from_slice(&sha1_base32(parts));
    record.extend_from_slice(b"\r\n");
}

/// Ends a record: `Content-Length`, the block made of `parts`, and the two CRLFs after it.
fn record_end(record: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    write!(record, "Content-Length: {len}\r\n\r\n").expect("writing to memory");
    record.reserve(len + 4);
    for part in parts {
        record.extend_from_slice(part);
    }
    record.extend_from_slice(b"\r\n\r\n");
}

/// `WARC-Date`, now, to the second: formatted once a second per thread.
fn warc_date() -> String {
    thread_local! {
        static LAST: RefCell<(u64, String)> = RefCell::default();
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|(last, text)| {
        if *last != second || text.is_empty() {
            *last = second;
            *text = humantime::format_rfc3339_seconds(now).to_string();
        }
        text.clone()
    })
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
                // The item's own URL: where redirects led elsewhere, its own field says it.
                let url = field(ITEM_HEADER).or_else(|| field("WARC-Target-URI"));
                recorded.mark(n, url.unwrap_or_default());
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
fn member(out: &mut Vec<u8>, fields: &str, block: &[u8]) -> io::Result<()> {
    let mut record = Vec::with_capacity(fields.len() + block.len() + 64);
    record.extend_from_slice(b"WARC/1.1\r\n");
    record.extend_from_slice(fields.as_bytes());
    record_end(&mut record, &[block]);
    gzip::member(out, &record)
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
fn request_block(block: &mut Vec<u8>, head: &RecordHead) {
    let (host, target) = host_and_target(&head.url);
    let method = if head.method.is_empty() {
        "GET"
    } else {
        &head.method
    };
    for part in [
        method,
        " ",
        target,
        " ",
        version(head),
        "\r\nHost: ",
        host,
        "\r\n\r\n",
    ] {
        block.extend_from_slice(part.as_bytes());
    }
}

/// A URL's `host[:port]` (without userinfo) and its request target (path and query), read
/// from the text: the URL is one `url` serialized (and perhaps redacted), so the path is
/// there and a default port is not.
fn host_and_target(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let target = target.split_once('#').map_or(target, |(target, _)| target);
    (host, if target.is_empty() { "/" } else { target })
}

/// The response's HTTP version, `HTTP/1.1` if unknown.
fn version(head: &RecordHead) -> &str {
    if head.version.is_empty() {
        "HTTP/1.1"
    } else {
        &head.version
    }
}

/// The status line and headers of the response as stored, up to the body.
fn response_head(block: &mut Vec<u8>, head: &RecordHead, body_len: usize) {
    let reason = http::StatusCode::from_u16(head.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    write!(block, "{} {} {reason}\r\n", version(head), head.status).expect("writing to memory");
    for (name, value) in &head.headers {
        if !DROPPED
            .iter()
            .any(|dropped| name.eq_ignore_ascii_case(dropped))
        {
            for part in [name, ": ", value, "\r\n"] {
                block.extend_from_slice(part.as_bytes());
            }
        }
    }
    write!(block, "Content-Length: {body_len}\r\n\r\n").expect("writing to memory");
}

/// `sha1:` and the base32 of the SHA-1 of `parts`, as wget and warcio write digests.
#[cfg(test)]
fn digest(parts: &[&[u8]]) -> String {
    let base32 = sha1_base32(parts);
    format!(
        "sha1:{}",
        std::str::from_utf8(&base32).expect("base32 is ASCII")
    )
}

/// The base32 of the SHA-1 of `parts`.
fn sha1_base32(parts: &[&[u8]]) -> [u8; 32] {
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part);
    }
    let mut base32 = [0; 32];
    data_encoding::BASE32.encode_mut(&sha.finalize(), &mut base32);
    base32
}

/// A new `<urn:uuid:…>`, a random (version 4) UUID.
fn record_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut id = String::with_capacity(47);
    id.push_str("<urn:uuid:");
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id.push('>');
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(url: &str) -> RecordHead {
        RecordHead {
            url: url.to_owned(),
            item_url: None,
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
    fn host_and_target_are_read_as_url_reads_them() {
        for text in [
            "http://h:8/a?x=1",
            "http://127.0.0.1:36441/3/info.0.json",
            "https://example.com",
            "https://user:***@example.com:8443/p/a%20b?q=%C3%A9&r#frag",
            "http://***@[::1]:8080/?",
            "http://xn--bcher-kva.example/",
        ] {
            let url = url::Url::parse(text).unwrap();
            let host = match url.port() {
                Some(port) => format!("{}:{port}", url.host_str().unwrap()),
                None => url.host_str().unwrap().to_owned(),
            };
            let target = match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            };
            assert_eq!(
                host_and_target(url.as_str()),
                (host.as_str(), target.as_str()),
                "{text}"
            );
        }
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
        assert!(warc.contains(3, "http://h:8/a?x=1") && warc.contains(70, "http://h:8/b"));
        assert!(
            !warc.contains(5, "http://h:8/c"),
            "the cut item is not recorded"
        );
        assert!(
            !warc.contains(3, "http://h:8/b"),
            "another URL is another job's item"
        );
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
