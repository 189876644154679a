//! The seeds' Task 1: three sleeps of 1, 2 and 3 seconds, awaited one after another (about
//! 6 s), then started together with `tokio::join!`, the Rust `asyncio.gather` (about 3 s).
//!
//! Expected output (times vary by a few milliseconds):
//! ```text
//! awaited in turn: Time Taken 6.00 s
//! joined: Time Taken 3.00 s
//! ```
//! Run: `cargo run --example sleep_gather`

use std::time::{Duration, Instant};

// lesson:begin sleep_coro
async fn sleep_coro(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}
// lesson:end sleep_coro

#[tokio::main]
async fn main() {
    let start = Instant::now();
    // lesson:begin sleep_in_turn
    // A Rust future, like a Python coroutine object, does nothing until it is awaited.
    let (one, two, three) = (sleep_coro(1), sleep_coro(2), sleep_coro(3));
    one.await;
    two.await;
    three.await;
    // lesson:end sleep_in_turn
    println!(
        "awaited in turn: Time Taken {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    // lesson:begin sleep_gathered
    tokio::join!(sleep_coro(1), sleep_coro(2), sleep_coro(3));
    // lesson:end sleep_gathered
    println!("joined: Time Taken {:.2} s", start.elapsed().as_secs_f64());
}
