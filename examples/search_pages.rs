//! The seeds' Task 1 with downloads instead of sleeps: three search pages, for
//! `['Yash', 'KOSS', 'Your Name']`, fetched one after another and then concurrently, from the
//! built-in server (started in this process on a free port, 300 ms latency: no network needed).
//!
//! Expected output (times vary a little):
//! ```text
//! Yash: 200 OK, <h1>Results for Yash</h1>
//! KOSS: 200 OK, <h1>Results for KOSS</h1>
//! Your Name: 200 OK, <h1>Results for Your Name</h1>
//! one after another: 0.90 s
//! concurrently: 0.30 s
//! ```
//! Run: `cargo run --example search_pages`

use std::time::{Duration, Instant};

use futures::future::join_all;
use gather::fetch::{ClientConfig, build_client};
use gather::input::UrlTemplate;
use gather::serve::{Latency, ServeConfig, Server};

// lesson:begin fetch
async fn fetch(client: &reqwest::Client, search: &UrlTemplate, name: &str) -> String {
    let url = search.render(name).expect("a valid URL");
    let response = client
        .get(url)
        .send()
        .await
        .expect("the local server answers");
    let status = response.status();
    let page = response.text().await.expect("a page");
    let heading = page.lines().find(|l| l.starts_with("<h1>")).unwrap_or("");
    format!("{name}: {status}, {heading}")
}
// lesson:end fetch

#[tokio::main]
async fn main() {
    let server = Server::start(ServeConfig {
        latency: Latency::Fixed(Duration::from_millis(300)),
        ..ServeConfig::default()
    })
    .await
    .expect("the server starts");
    // `{name}` is percent-encoded when filled: "Your Name" becomes "Your%20Name".
    let search = UrlTemplate::parse(&format!("{}/search?q={{name}}", server.base_url()))
        .expect("a valid template");
    let client = build_client(&ClientConfig::default()).expect("a client");
    let names = ["Yash", "KOSS", "Your Name"];

    let start = Instant::now();
    // lesson:begin search_in_turn
    for name in names {
        println!("{}", fetch(&client, &search, name).await);
    }
    // lesson:end search_in_turn
    let sequential = start.elapsed();

    let start = Instant::now();
    // lesson:begin search_gathered
    join_all(names.map(|name| fetch(&client, &search, name))).await;
    // lesson:end search_gathered
    let concurrent = start.elapsed();

    println!("one after another: {:.2} s", sequential.as_secs_f64());
    println!("concurrently: {:.2} s", concurrent.as_secs_f64());
    server.stop().await.expect("the server stops");
}
