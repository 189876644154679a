//! The seeds' `count()` demo: three counts that each wait a second between "one" and "two".
//! Joined as async tasks they interleave and take about 1 s; run with a blocking
//! `std::thread::sleep` they run one after another and take about 3 s.
//!
//! Expected output:
//! ```text
//! one
//! one
//! one
//! two
//! two
//! two
//! async: time elapsed: 1.00 seconds
//! one
//! two
//! one
//! two
//! one
//! two
//! blocking: time elapsed: 3.00 seconds
//! ```
//! Run: `cargo run --example count`

use std::time::{Duration, Instant};

// lesson:begin count
async fn count() {
    println!("one");
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("two");
}
// lesson:end count

// lesson:begin count_blocking
fn count_blocking() {
    println!("one");
    std::thread::sleep(Duration::from_secs(1));
    println!("two");
}
// lesson:end count_blocking

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let start = Instant::now();
    // lesson:begin count_gathered
    tokio::join!(count(), count(), count());
    // lesson:end count_gathered
    println!(
        "async: time elapsed: {:.2} seconds",
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    // lesson:begin count_in_turn
    for _ in 0..3 {
        count_blocking();
    }
    // lesson:end count_in_turn
    println!(
        "blocking: time elapsed: {:.2} seconds",
        start.elapsed().as_secs_f64()
    );
}
