//! Crash-safe resume: `kill -9` at random points never leaves a partial file under a final
//! name, and re-running the same command completes the set.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{
    TestServer, assert_complete_comics, assert_whole_comics, files, gather_std, send_signal,
    wait_until,
};
use rand::{Rng, SeedableRng};

/// 2,000 ids without comic 404.
const IDS: &str = "1-403,405-2001";
const COUNT: usize = 2000;

/// Starts the fetch, waits until at least `saved` files exist (or it ends), and kills it.
/// Returns whether it was killed before finishing.
fn kill_9_after(server: &TestServer, out: &std::path::Path, saved: usize) -> bool {
    let mut child = gather_std()
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            IDS,
            "-c",
            "16",
            "-q",
            "--out",
        ])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut finished = false;
    wait_until(Duration::from_secs(60), "files to appear", || {
        finished = child.try_wait().unwrap().is_some();
        finished || files(out).len() >= saved
    });
    if !finished {
        send_signal(&child, libc::SIGKILL);
    }
    child.wait().unwrap();
    !finished
}

#[test]
fn kill_9_at_random_points_then_rerun_completes_byte_identical() {
    let server = TestServer::start(&["--latency", "1ms..10ms"]);
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut kills = 0;
    for trial in 0..5 {
        let out = tempfile::tempdir().unwrap();
        // Three kills at increasing random points, then a run to the end.
        let mut points: Vec<usize> = (0..3).map(|_| rng.random_range(1..COUNT)).collect();
        points.sort_unstable();
        for point in points {
            kills += usize::from(kill_9_after(&server, out.path(), point));
            // Whatever is under a final name is whole; temp files of the killed run may remain.
            assert_whole_comics(out.path());
        }
        let status = gather_std()
            .args(["fetch", &server.comics(), "--ids", IDS, "-q", "--out"])
            .arg(out.path())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "trial {trial}: {status}");
        // Complete, byte-identical, and no temp file left behind.
        assert_eq!(assert_complete_comics(out.path()), COUNT, "trial {trial}");
    }
    eprintln!("{kills} of 15 kill points landed mid-run; 5 sets of {COUNT} files complete");
    assert!(
        kills >= 10,
        "most kill points landed mid-run: {kills} of 15"
    );
}
