//! How many connections gather opens, counted by the server (nginx, over TLS, with gzip):
//! about one per download slot, however many files.

mod common;

use common::nginx::{Nginx, NginxConfig};
use common::{assert_complete_comics, gather, summary};

/// The comics served: 3,000, past the missing comic 404.
const IDS: std::ops::RangeInclusive<u64> = 1_001..=4_000;

/// Fetches every comic in [`IDS`] from `nginx` at concurrency `c`, with a worker thread per
/// core; returns the connections nginx accepted.
fn connections_for(nginx: &Nginx, c: usize) -> u64 {
    let comics = IDS.count() as u64;
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args(["fetch", &nginx.comics(), "--ids"])
        .arg(format!("{}-{}", IDS.start(), IDS.end()))
        .args(["-c", &c.to_string(), "--json", "--cacert"])
        .arg(nginx.ca())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    assert_eq!(s["ok"], comics, "{s}");
    assert_eq!(assert_complete_comics(out.path()), comics as usize);
    let (requests, used) = nginx.requests_and_connections();
    assert_eq!(requests, comics as usize, "requests logged");
    let accepted = nginx.connections();
    assert!(accepted >= used as u64, "{accepted} accepted, {used} used");
    accepted
}

#[test]
fn http1_over_tls_with_gzip_opens_about_one_connection_per_slot() {
    const C: usize = 64;
    let nginx = Nginx::start(NginxConfig {
        ids: IDS,
        http2: false,
        keepalive_requests: 1_000,
    });
    let connections = connections_for(&nginx, C);
    assert!(
        connections as f64 <= 1.2 * C as f64,
        "{connections} connections for {} files at -c {C}",
        IDS.count()
    );
}
