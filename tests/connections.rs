//! How many connections gather opens, counted by the server (nginx, over TLS, with gzip):
//! about one per download slot, however many files.

mod common;

use common::gather;
use common::nginx::{Nginx, NginxConfig};

/// The comics served: 3,000, past the missing comic 404.
const IDS: std::ops::RangeInclusive<u64> = 1_001..=4_000;

/// Fetches every comic in [`IDS`] from `nginx` at concurrency `c` with `threads` worker
/// threads; returns the connections nginx accepted.
fn connections_for(nginx: &Nginx, c: usize, threads: usize) -> u64 {
    nginx.fetch_all(gather(), IDS, c, threads);
    let (requests, used) = nginx.requests_and_connections();
    assert_eq!(requests, IDS.count(), "requests logged");
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
    // One worker thread: its TLS handshakes take longest, and most downloads end meanwhile.
    let connections = connections_for(&nginx, C, 1);
    // curl opens C. hyper-util dials for every request that finds no idle connection; before
    // gather held back the dials a request did not need (dial.rs), it opened 2 to 3 x C here
    // (115-169 for 10,000 files), all in the first few hundred requests.
    assert!(
        connections as f64 <= 1.2 * C as f64,
        "{connections} connections for {} files at -c {C}",
        IDS.count()
    );
}

#[test]
fn http2_opens_one_connection_per_worker_and_one_per_goaway() {
    const C: usize = 64;
    const PER_CONNECTION: u32 = 500;
    let nginx = Nginx::start(NginxConfig {
        ids: IDS,
        http2: true,
        keepalive_requests: PER_CONNECTION,
    });
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let accepted = connections_for(&nginx, C, threads);
    // A connection per worker thread, and a new one each time nginx sends a GOAWAY. Before,
    // every request waiting for the first connection (or the next after a GOAWAY) dialled
    // one of its own.
    let threads = threads as u64;
    let goaways = IDS.count() as u64 / u64::from(PER_CONNECTION);
    assert!(
        accepted <= goaways + 2 * threads,
        "{accepted} connections for {} requests over HTTP/2 at -c {C}, {threads} workers",
        IDS.count()
    );
}
