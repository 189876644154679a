//! The seeds' `create_task` scenarios with `tokio::spawn`. On a single-threaded runtime (the
//! asyncio analogue) a spawned task starts only when the code that spawned it waits.
//!
//! Expected output:
//! ```text
//! -- spawn, print, then await the task
//! I am Main
//! finished
//! I am foo
//! -- spawn, then await the task at once
//! I am Main
//! I am foo
//! finished
//! -- spawn, then sleep 0.5 s: the task runs while main sleeps
//! I am Main
//! I am foo
//! finished
//! -- two tasks interleave while main awaits the first
//! Start fetching
//! 0
//! 1
//! 2
//! 3
//! 4
//! 5
//! 6
//! 7
//! Done fetching
//! {data: 1}
//! 8
//! 9
//! -- spawn and never await: the task is dropped with the runtime
//! you placed another order
//! your Biryani is finished
//! ```
//! ("8" may come just before "Done fetching": both are due at 2 s.)
//! Run: `cargo run --example spawn_order`

use std::time::Duration;

// lesson:begin foo
async fn foo(text: &str) {
    println!("{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
}
// lesson:end foo

async fn fetch_data() -> &'static str {
    println!("Start fetching");
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("Done fetching");
    "{data: 1}"
}

async fn print_numbers() {
    for i in 0..10 {
        println!("{i}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn order(text: &str) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("Your order {text} ready to serve");
}

fn main() {
    // One runtime per scenario, so that "the program ends" is part of the last one.
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    };
    runtime().block_on(async {
        println!("-- spawn, print, then await the task");
        // lesson:begin task_print_first
        println!("I am Main");
        let task = tokio::spawn(foo("I am foo"));
        println!("finished");
        task.await.expect("foo runs");
        // lesson:end task_print_first

        println!("-- spawn, then await the task at once");
        println!("I am Main");
        tokio::spawn(foo("I am foo")).await.expect("foo runs");
        println!("finished");

        println!("-- spawn, then sleep 0.5 s: the task runs while main sleeps");
        // lesson:begin task_sleep_first
        println!("I am Main");
        let task = tokio::spawn(foo("I am foo"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!("finished");
        task.await.expect("foo runs");
        // lesson:end task_sleep_first

        println!("-- two tasks interleave while main awaits the first");
        let fetch = tokio::spawn(fetch_data());
        let numbers = tokio::spawn(print_numbers());
        let value = fetch.await.expect("fetch_data runs");
        println!("{value}");
        numbers.await.expect("print_numbers runs");
    });
    runtime().block_on(async {
        println!("-- spawn and never await: the task is dropped with the runtime");
        println!("you placed another order");
        let _never_awaited = tokio::spawn(order("Nan with paneer butter masala"));
        println!("your Biryani is finished");
    });
}
