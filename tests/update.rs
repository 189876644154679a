//! `--update`: existing files are asked about with their validators; 304 keeps them, 200
//! replaces them. Against nginx serving static files (it sends ETag and Last-Modified).

mod common;

use std::fs;
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

fn write_pages(root: &Path) -> PathBuf {
    for id in 1..=3 {
        fs::write(root.join(format!("{id}.txt")), format!("page {id}\n")).unwrap();
    }
    root.join("2.txt")
}

#[test]
fn update_against_nginx_keeps_unchanged_files_and_replaces_changed_ones() {
    let root = tempfile::tempdir().unwrap();
    let changed = write_pages(root.path());
    let Some(nginx) = Nginx::start(root.path()) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let first = fetch_update(&nginx.url, out.path());
    assert_eq!(
        (first["ok"].as_u64(), first["unchanged"].as_u64()),
        (Some(3), Some(0))
    );

    let again = fetch_update(&nginx.url, out.path());
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
    let third = fetch_update(&nginx.url, out.path());
    assert_eq!(
        (third["ok"].as_u64(), third["unchanged"].as_u64()),
        (Some(1), Some(2)),
        "{third}"
    );
    assert_eq!(
        fs::read_to_string(out.path().join("2.txt")).unwrap(),
        "page 2, edited\n"
    );
    // And the replaced file's validators are its own: asked again, it is unchanged.
    let fourth = fetch_update(&nginx.url, out.path());
    assert_eq!(fourth["unchanged"], 3, "{fourth}");
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
