//! Debian's tinyproxy (`/usr/bin/tinyproxy`, installed by scripts/test) on a free loopback
//! port, in the foreground, with a log of the connections it made: an HTTP proxy as users meet
//! one. It tunnels HTTPS with CONNECT to any port, and it closes each client connection after
//! a response without saying `Connection: close`, so a client's next request on that
//! connection meets a stale one.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{send_signal, wait_until};

/// A running tinyproxy, stopped (SIGTERM) on drop.
pub struct Tinyproxy {
    dir: tempfile::TempDir,
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Tinyproxy {
    /// Starts tinyproxy and waits until it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path().join("tinyproxy.log");
        // No ConnectPort line: CONNECT to every port is allowed.
        let conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 200\n\
             LogFile \"{}\"\nLogLevel Connect\nDisableViaHeader Yes\n",
            log.display()
        );
        let conf_path = dir.path().join("tinyproxy.conf");
        fs::write(&conf_path, conf).unwrap();
        let child = Command::new("/usr/bin/tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy starts (scripts/test installs Debian's tinyproxy)");
        wait_until(Duration::from_secs(10), "tinyproxy to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Self {
            dir,
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The log lines that name a request it served (`Request (file descriptor N): GET ...`,
    /// `CONNECT ...`).
    pub fn requests(&self, method: &str) -> usize {
        fs::read_to_string(self.dir.path().join("tinyproxy.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("Request (file descriptor"))
            .filter(|line| line.contains(&format!("): {method} ")))
            .count()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        send_signal(&self.child, libc::SIGTERM);
        let _ = self.child.wait();
    }
}
