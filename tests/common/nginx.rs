//! Debian's nginx (`/usr/sbin/nginx`, installed by scripts/test) on a free loopback port,
//! serving comics over TLS with a certificate made at test time and gzip on, and counting the
//! connections it accepted from its own side: stub_status's `accepts` (every connection, one
//! that never carried a request too) and `$connection` in the access log.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{assert_complete_comics, comic, send_signal, summary, wait_until};

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct NginxConfig {
    /// Comics served, `/{id}.json`, byte-identical to `gather serve`'s (a range without the
    /// missing comic 404).
    pub ids: std::ops::RangeInclusive<u64>,
    /// Offer HTTP/2 by ALPN (else HTTP/1.1 only).
    pub http2: bool,
    /// Requests a connection carries before nginx closes it (an HTTP/2 GOAWAY).
    pub keepalive_requests: u32,
}

/// A running nginx, stopped (SIGTERM to its master, which ends its worker) on drop.
pub struct Nginx {
    dir: tempfile::TempDir,
    master: Child,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The plain-HTTP port of stub_status.
    status_port: u16,
    /// `accepts` once started.
    accepted_before: u64,
}

/// A free loopback port, given back just before nginx binds it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl Nginx {
    /// Writes the comics, a self-signed certificate for 127.0.0.1 (its own CA) and the
    /// configuration (its worker runs as root, as the tests do, to read the temp dir), starts nginx in the foreground and waits until it accepts connections.
    pub fn start(config: NginxConfig) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("www");
        fs::create_dir(&root).unwrap();
        for id in config.ids.clone() {
            fs::write(root.join(format!("{id}.json")), comic(id)).unwrap();
        }
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        fs::write(dir.path().join("ca.pem"), key.cert.pem()).unwrap();
        fs::write(dir.path().join("key.pem"), key.signing_key.serialize_pem()).unwrap();
        let port = free_port();
        let status_port = free_port();
        let d = dir.path().display();
        let http2 = if config.http2 { " http2" } else { "" };
        let conf = format!(
            "daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  types {{ application/json json; }}
  log_format conn '$connection $connection_requests $server_protocol';
  access_log {d}/access.log conn;
  gzip on; gzip_types application/json; gzip_min_length 100;
  keepalive_requests {requests};
  server {{
    listen 127.0.0.1:{port} ssl{http2};
    ssl_certificate {d}/ca.pem; ssl_certificate_key {d}/key.pem;
    root {root};
  }}
  server {{
    listen 127.0.0.1:{status_port};
    access_log off;
    location = /status {{ stub_status; }}
  }}
}}
",
            requests = config.keepalive_requests,
            root = root.display(),
        );
        fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let master = Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (scripts/test installs Debian's nginx)");
        let mut server = Self {
            dir,
            master,
            url: format!("https://127.0.0.1:{port}"),
            status_port,
            accepted_before: 0,
        };
        wait_until(Duration::from_secs(10), "nginx to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        server.accepted_before = server.accepts();
        server
    }

    /// The certificate to pass to `--cacert`.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The URL template of the comics.
    pub fn comics(&self) -> String {
        format!("{}/{{id}}.json", self.url)
    }

    /// Runs `gather` (a command with its environment set) as a fetch of every comic in `ids` at
    /// concurrency `c` with `threads` worker threads, trusting this server's CA; checks that
    /// every comic was saved whole, and returns the `--json` summary.
    pub fn fetch_all(
        &self,
        mut gather: assert_cmd::Command,
        ids: std::ops::RangeInclusive<u64>,
        c: usize,
        threads: usize,
    ) -> serde_json::Value {
        let comics = ids.clone().count();
        let out = tempfile::tempdir().unwrap();
        let run = gather
            .args(["fetch", &self.comics(), "--ids"])
            .arg(format!("{}-{}", ids.start(), ids.end()))
            .args(["-c", &c.to_string(), "--threads", &threads.to_string()])
            .args(["--json", "-q", "--cacert"])
            .arg(self.ca())
            .arg("--out")
            .arg(out.path())
            .assert()
            .success();
        let s = summary(&run.get_output().stdout);
        assert_eq!(s["ok"], comics, "{s}");
        assert_eq!(assert_complete_comics(out.path()), comics);
        s
    }

    /// Connections accepted since start, each stub_status request's own left out.
    pub fn connections(&self) -> u64 {
        // The status request just made, and each earlier one, was a connection too.
        self.accepts() - self.accepted_before - 1
    }

    /// stub_status's `accepts`: connections accepted so far, this request's included.
    fn accepts(&self) -> u64 {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.status_port)).expect("stub_status");
        tcp.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut page = String::new();
        tcp.read_to_string(&mut page).unwrap();
        // "server accepts handled requests\n 17 17 25"
        page.lines()
            .skip_while(|line| !line.starts_with("server accepts"))
            .nth(1)
            .and_then(|line| line.split_whitespace().next())
            .and_then(|accepts| accepts.parse().ok())
            .unwrap_or_else(|| panic!("no accepts in {page}"))
    }

    /// Requests logged, and the distinct connections they came on.
    pub fn requests_and_connections(&self) -> (usize, usize) {
        let log = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        let connections: HashSet<&str> = log
            .lines()
            .filter_map(|line| line.split(' ').next())
            .collect();
        (log.lines().count(), connections.len())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        send_signal(&self.master, libc::SIGTERM);
        let _ = self.master.wait();
    }
}
