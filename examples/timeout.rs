//! The seeds' `asyncio.wait_for` example as `tokio::time::timeout`: a 5 s task with a 3 s
//! limit is cancelled at 3 s; a 1 s task finishes within it.
//!
//! Expected output:
//! ```text
//! Task timed out! (after 3.00 s)
//! Task completed (after 1.00 s)
//! ```
//! Run: `cargo run --example timeout`

use std::time::{Duration, Instant};

use tokio::time::timeout;

// lesson:begin long_running_task
async fn long_running_task(seconds: u64) -> &'static str {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    "Task completed"
}
// lesson:end long_running_task

#[tokio::main]
async fn main() {
    for seconds in [5, 1] {
        let start = Instant::now();
        // Like wait_for, timeout drops (cancels) the task when the limit passes.
        // lesson:begin wait_for
        match timeout(Duration::from_secs(3), long_running_task(seconds)).await {
            Ok(result) => print!("{result}"),
            Err(_) => print!("Task timed out!"),
        }
        // lesson:end wait_for
        println!(" (after {:.2} s)", start.elapsed().as_secs_f64());
    }
}
