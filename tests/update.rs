//! `--update`: existing files are asked about with their validators; 304 keeps them, 200
//! replaces them. Against nginx serving static files (it sends ETag and Last-Modified) and
//! `gather serve`; with the validators as xattrs (the temp dir's file system) and, on ramfs,
//! which takes no user xattrs, in the sidecar `.gather-validators`. ramfs is mounted for the
//! test, which needs root (as CI runs); elsewhere the sidecar tests are skipped.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{gather, summary, wait_until};

/// nginx serving `root` on a free loopback port, from a config in a temp dir; stopped on drop.
struct Nginx {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(root: &Path) -> Option<Self> {
        let nginx = Path::new("/usr/sbin/nginx");
        if !nginx.exists() {
            eprintln!("skipped: no /usr/sbin/nginx");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        // A free port: bound, read, released, then given to nginx.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let config = format!(
            "daemon off; master_process off; pid {d}/pid; error_log {d}/error.log;
             events {{}}
             http {{
               access_log off;
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
               server {{ listen 127.0.0.1:{port}; root {}; }}
             }}",
            root.display()
        );
        let conf = dir.path().join("nginx.conf");
        fs::write(&conf, config).unwrap();
        let child = Command::new(nginx)
            .args(["-e", &format!("{d}/error.log"), "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        wait_until(Duration::from_secs(10), "nginx listens", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(Self {
            child,
            url,
            _dir: dir,
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fetch_update(url: &str, out: &Path) -> serde_json::Value {
    let output = gather()
        .args(["fetch", &format!("{url}/{{id}}.txt"), "--ids", "1-3"])
        .args(["--out", out.to_str().unwrap(), "--update", "--json", "-q"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    summary(&output.stdout)
}

/// Pages 1 to 3; the third is 300 KiB, more than gather keeps in memory before a temp file.
fn write_pages(root: &Path) -> PathBuf {
    for id in 1..=2 {
        fs::write(root.join(format!("{id}.txt")), format!("page {id}\n")).unwrap();
    }
    fs::write(root.join("3.txt"), "page 3\n".repeat(300 * 1024 / 7)).unwrap();
    root.join("2.txt")
}

#[test]
fn update_against_nginx_keeps_unchanged_files_and_replaces_changed_ones() {
    let out = tempfile::tempdir().unwrap();
    nginx_update(out.path());
}

#[test]
fn update_against_nginx_without_xattrs_keeps_validators_in_the_sidecar() {
    let Some(out) = Ramfs::mount() else {
        return;
    };
    if nginx_update(out.path()) {
        assert!(out.path().join(SIDECAR).exists());
    }
}

/// Three pages from nginx into `out` with `--update`, one of them edited at the source.
/// False when there is no nginx to run.
fn nginx_update(out: &Path) -> bool {
    let root = tempfile::tempdir().unwrap();
    let changed = write_pages(root.path());
    let Some(nginx) = Nginx::start(root.path()) else {
        return false;
    };
    let first = fetch_update(&nginx.url, out);
    assert_eq!(
        (first["ok"].as_u64(), first["unchanged"].as_u64()),
        (Some(3), Some(0))
    );

    let again = fetch_update(&nginx.url, out);
    assert_eq!(again["unchanged"], 3, "{again}");
    assert_eq!(again["ok"], 0, "{again}");
    assert_eq!(again["requests"], 3);

    // A new body, and a Last-Modified a few seconds on: only that file is fetched again.
    fs::write(&changed, "page 2, edited\n").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    fs::File::options()
        .write(true)
        .open(&changed)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let third = fetch_update(&nginx.url, out);
    assert_eq!(
        (third["ok"].as_u64(), third["unchanged"].as_u64()),
        (Some(1), Some(2)),
        "{third}"
    );
    assert_eq!(
        fs::read_to_string(out.join("2.txt")).unwrap(),
        "page 2, edited\n"
    );
    // And the replaced file's validators are its own: asked again, it is unchanged.
    let fourth = fetch_update(&nginx.url, out);
    assert_eq!(fourth["unchanged"], 3, "{fourth}");
    true
}

#[test]
fn a_file_without_validators_is_fetched_again_in_full() {
    let root = tempfile::tempdir().unwrap();
    write_pages(root.path());
    let Some(nginx) = Nginx::start(root.path()) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    // Saved without --update: no validators stored.
    gather()
        .args([
            "fetch",
            &format!("{}/{{id}}.txt", nginx.url),
            "--ids",
            "1-3",
        ])
        .args(["--out", out.path().to_str().unwrap(), "-q"])
        .assert()
        .success();
    fs::write(out.path().join("1.txt"), "stale\n").unwrap();
    let again = fetch_update(&nginx.url, out.path());
    assert_eq!(again["ok"], 3, "{again}");
    assert_eq!(
        fs::read_to_string(out.path().join("1.txt")).unwrap(),
        "page 1\n"
    );
}

#[test]
fn update_against_gather_serve_gets_304s() {
    let server = common::TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let run = || {
        let output = gather()
            .args(["fetch", &server.comics(), "--ids", "1-50"])
            .args([
                "--out",
                out.path().to_str().unwrap(),
                "--update",
                "--json",
                "-q",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        summary(&output.stdout)
    };
    assert_eq!(run()["ok"], 50);
    let again = run();
    assert_eq!(
        (again["ok"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(50)),
        "{again}"
    );
    common::assert_complete_comics(out.path());
    // The text summary says so too.
    let text = gather()
        .args(["fetch", &server.comics(), "--ids", "1-50", "--update"])
        .args(["--out", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&text.stderr);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("0 saved, 50 unchanged") || stderr.contains("0 saved, 50 unchanged"),
        "{stdout}{stderr}"
    );
}

/// The sidecar's name in the output directory.
const SIDECAR: &str = ".gather-validators";

#[test]
fn with_xattrs_a_file_edited_on_disk_is_fetched_again_not_kept() {
    let server = common::TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let update = ["--update"];
    assert_eq!(
        counts(&comics(&server, "1-6", &update, out.path())),
        [6, 0, 0]
    );
    assert!(
        !out.path().join(SIDECAR).exists(),
        "the temp dir's file system takes user xattrs: the validators are on the files"
    );
    // 2.json: appended to (`echo x >> 2.json`), its xattrs, ETag and all, still on it.
    // 4.json: other bytes of the same size, with another modification time.
    let two = out.path().join("2.json");
    fs::OpenOptions::new()
        .append(true)
        .open(&two)
        .unwrap()
        .write_all(b"x\n")
        .unwrap();
    let four = out.path().join("4.json");
    let modified = fs::metadata(&four).unwrap().modified().unwrap();
    fs::write(&four, common::comic(4).to_uppercase()).unwrap();
    fs::File::options()
        .write(true)
        .open(&four)
        .unwrap()
        .set_modified(modified - Duration::from_secs(3600))
        .unwrap();

    let again = comics(&server, "1-6", &update, out.path());
    assert_eq!(counts(&again), [2, 4, 0], "{again}");
    assert_eq!(again["requests"], 6);
    for id in 1..=6 {
        assert_eq!(
            fs::read_to_string(out.path().join(format!("{id}.json"))).unwrap(),
            common::comic(id),
            "{id}.json is the server's again"
        );
    }
    let third = comics(&server, "1-6", &update, out.path());
    assert_eq!(counts(&third), [0, 6, 0], "{third}");
}

/// A fresh ramfs, a real file system without user xattrs, mounted on a temp dir for one test
/// and unmounted on drop. None (the test is skipped) when not root.
struct Ramfs {
    dir: tempfile::TempDir,
}

impl Ramfs {
    fn mount() -> Option<Self> {
        // SAFETY: geteuid has no preconditions and no effects.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: not root, so no ramfs (a file system without user xattrs)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let target = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated strings that outlive the call; no data argument.
        let mounted = unsafe {
            libc::mount(
                c"ramfs".as_ptr(),
                target.as_ptr(),
                c"ramfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(
            mounted,
            0,
            "mount -t ramfs: {}",
            std::io::Error::last_os_error()
        );
        let ramfs = Self { dir };
        // What the tests rely on: this file system refuses user xattrs.
        let probe = ramfs.path().join("probe");
        fs::write(&probe, "").unwrap();
        let path = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated strings and a one-byte value, all outliving the call.
        let set = unsafe {
            libc::setxattr(
                path.as_ptr(),
                c"user.probe".as_ptr(),
                b"1".as_ptr().cast(),
                1,
                0,
            )
        };
        let error = std::io::Error::last_os_error();
        assert!(
            set != 0 && error.raw_os_error() == Some(libc::EOPNOTSUPP),
            "ramfs was expected to refuse user xattrs: {set}, {error}"
        );
        fs::remove_file(&probe).unwrap();
        Some(ramfs)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated string outliving the call.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// `gather fetch` of comics `ids` from `server` into `out`, with `extra` options; its summary.
fn comics(server: &common::TestServer, ids: &str, extra: &[&str], out: &Path) -> serde_json::Value {
    let output = gather()
        .args(["fetch", &server.comics(), "--ids", ids, "--json", "-q"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    summary(&output.stdout)
}

fn counts(summary: &serde_json::Value) -> [u64; 3] {
    ["ok", "unchanged", "skipped"].map(|key| summary[key].as_u64().unwrap())
}

/// Every comic in `out` is whole, and nothing else is there but the sidecar.
fn assert_comics_and_sidecar(out: &Path, count: usize) {
    let names = common::files(out);
    assert!(names.iter().any(|name| name == SIDECAR), "{names:?}");
    let comics = common::files(out)
        .into_iter()
        .filter(|name| name != SIDECAR)
        .count();
    assert_eq!(comics, count);
    for id in 1..=count as u64 {
        assert_eq!(
            fs::read_to_string(out.join(format!("{id}.json"))).unwrap(),
            common::comic(id),
            "{id}.json"
        );
    }
}

fn sidecar_lines(out: &Path) -> usize {
    fs::read_to_string(out.join(SIDECAR))
        .unwrap()
        .lines()
        .count()
}

#[test]
fn without_xattrs_a_second_update_gets_304s_from_the_sidecar() {
    let Some(out) = Ramfs::mount() else {
        return;
    };
    let server = common::TestServer::start(&[]);
    let update = ["--update"];
    assert_eq!(
        counts(&comics(&server, "1-50", &update, out.path())),
        [50, 0, 0]
    );
    assert_eq!(sidecar_lines(out.path()), 50);
    let again = comics(&server, "1-50", &update, out.path());
    assert_eq!(counts(&again), [0, 50, 0], "{again}");
    assert_eq!(again["requests"], 50);
    assert_eq!(sidecar_lines(out.path()), 50, "a 304 appends nothing");
    assert_comics_and_sidecar(out.path(), 50);

    // Without --update, every file is there and skipped; the sidecar is no item.
    let plain = comics(&server, "1-50", &[], out.path());
    assert_eq!(counts(&plain), [0, 0, 50], "{plain}");
    assert_eq!(plain["requests"], 0);
    // More items: only the new ones are fetched, and recorded.
    let more = comics(&server, "1-60", &update, out.path());
    assert_eq!(counts(&more), [10, 50, 0], "{more}");
    assert_eq!(sidecar_lines(out.path()), 60);
    assert_comics_and_sidecar(out.path(), 60);
}

#[test]
fn without_xattrs_a_file_changed_on_disk_is_fetched_again_not_kept() {
    let Some(out) = Ramfs::mount() else {
        return;
    };
    let server = common::TestServer::start(&[]);
    let update = ["--update"];
    assert_eq!(
        counts(&comics(&server, "1-20", &update, out.path())),
        [20, 0, 0]
    );

    // 3.json: other bytes of the same size, its modification time set back as it was: only
    // its change time tells. 5.json: longer. 7.json: replaced by another file (a new inode),
    // same bytes, same times.
    let edit = |id: u64, body: &str| {
        let path = out.path().join(format!("{id}.json"));
        let modified = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&path, body).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    };
    edit(3, &common::comic(3).to_uppercase());
    edit(5, &format!("{} ", common::comic(5)));
    let seven = out.path().join("7.json");
    let modified = fs::metadata(&seven).unwrap().modified().unwrap();
    fs::copy(&seven, out.path().join("copy")).unwrap();
    fs::rename(out.path().join("copy"), &seven).unwrap();
    fs::File::options()
        .write(true)
        .open(&seven)
        .unwrap()
        .set_modified(modified)
        .unwrap();

    let again = comics(&server, "1-20", &update, out.path());
    assert_eq!(counts(&again), [3, 17, 0], "{again}");
    assert_comics_and_sidecar(out.path(), 20);
    let third = comics(&server, "1-20", &update, out.path());
    assert_eq!(counts(&third), [0, 20, 0], "{third}");
}

#[test]
fn without_xattrs_a_cut_or_damaged_sidecar_costs_downloads_only() {
    let Some(out) = Ramfs::mount() else {
        return;
    };
    let server = common::TestServer::start(&[]);
    let update = ["--update"];
    assert_eq!(
        counts(&comics(&server, "1-10", &update, out.path())),
        [10, 0, 0]
    );
    // A run killed in the middle of its last line, after a line that was damaged.
    let path = out.path().join(SIDECAR);
    let mut text = fs::read(&path).unwrap();
    let first_tab = text.iter().position(|&b| b == b'\t').unwrap();
    text[first_tab + 1] ^= 0x20;
    text.truncate(text.len() - 5);
    fs::write(&path, &text).unwrap();

    let again = comics(&server, "1-10", &update, out.path());
    assert_eq!(counts(&again), [2, 8, 0], "{again}");
    assert_comics_and_sidecar(out.path(), 10);
    assert!(
        fs::read(&path).unwrap().ends_with(b"\n"),
        "the partial line was cut"
    );
    let third = comics(&server, "1-10", &update, out.path());
    assert_eq!(counts(&third), [0, 10, 0], "{third}");
}
