//! The exporters end to end: HAR from `fetch --har`, Chrome trace from `bench --trace`, and the
//! deck opened in a real headless Chromium: every slide 1280×720, not blank, not overflowing;
//! no console message; nothing loaded; chart text of 14 px or more; one PDF page per slide; no
//! sideways scrolling at 400 px; three slides as screenshots (`target/tmp/test-deck/*.png`;
//! with `UPDATE_SCREENSHOT=1` also `docs/deck-*.png`, the README's pictures).
//!
//! Chromium is required: `scripts/test` installs it. Without it the report test fails.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TestServer, fetch_comics, gather, gather_std, send_signal};
use gather::report::charts::PALETTE;
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

fn json_file(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[test]
fn har_entries_are_each_request_with_its_headers_version_and_type() {
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let flaky = std::sync::Arc::new(AtomicUsize::new(0));
    let url = common::spawn_app(
        axum::Router::new()
            .route("/hop", get(|| async { Redirect::temporary("/json") }))
            .route(
                "/json",
                get(|| async {
                    let headers = [
                        ("content-type", "application/json"),
                        ("set-cookie", "sid=s3cret"),
                    ];
                    (headers, "{}")
                }),
            )
            .route(
                "/flaky",
                get(move || async move {
                    match flaky.fetch_add(1, Ordering::SeqCst) {
                        0 => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                        _ => "ok".into_response(),
                    }
                }),
            ),
    );
    let with_password = url.replace("http://", "http://user:s3cret@");
    let dir = tempfile::tempdir().unwrap();
    let har_path = dir.path().join("fetch.har");
    gather()
        .args([
            "fetch",
            &format!("{with_password}/{{page}}"),
            "--values",
            "hop,flaky",
        ])
        .args(["--retry-delay", "1ms", "-q", "--har"])
        .arg(&har_path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .success();
    let text = std::fs::read_to_string(&har_path).unwrap();
    // Neither the password nor the basic-auth header made of it ("user:s3cret").
    assert!(
        !text.contains("s3cret") && !text.contains("dXNlcjpzM2NyZXQ="),
        "{text}"
    );
    let har: Value = serde_json::from_str(&text).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    let seen: Vec<(String, u64)> = entries
        .iter()
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap();
            let path = url.rsplit('/').next().unwrap().to_owned();
            (path, e["response"]["status"].as_u64().unwrap())
        })
        .collect();
    // The redirect hop and its target; the failed try and its retry.
    for request in [("hop", 307), ("json", 200), ("flaky", 503), ("flaky", 200)] {
        assert!(
            seen.contains(&(request.0.to_owned(), request.1)),
            "{seen:?}"
        );
    }
    assert_eq!(entries.len(), 4, "{seen:?}");
    let header = |entry: &Value, side: &str, name: &str| -> Option<String> {
        entry[side]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| h["value"].as_str().unwrap().to_owned())
    };
    for entry in entries {
        assert_eq!(entry["response"]["httpVersion"], "HTTP/1.1", "{entry}");
        assert_eq!(
            header(entry, "request", "authorization").as_deref(),
            Some("Basic ***")
        );
        let agent = header(entry, "request", "user-agent").unwrap();
        assert!(agent.starts_with("gather/"), "{agent}");
    }
    let hop = entries
        .iter()
        .find(|e| e["response"]["status"] == 307)
        .unwrap();
    let target = hop["response"]["redirectURL"].as_str().unwrap();
    assert!(
        target.ends_with("/json") && target.contains("user:***@"),
        "{hop}"
    );
    let json = entries
        .iter()
        .find(|e| e["request"]["url"].as_str().unwrap().ends_with("/json"))
        .unwrap();
    assert_eq!(json["response"]["content"]["mimeType"], "application/json");
    assert_eq!(
        header(json, "response", "set-cookie").as_deref(),
        Some("***")
    );
    let retried = entries
        .iter()
        .find(|e| e["response"]["status"] == 503)
        .unwrap();
    assert!(
        retried["comment"].as_str().unwrap().contains("503"),
        "{retried}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["timings"]["connect"].as_f64().unwrap() >= 0.0),
        "the request that opened a connection says how long that took"
    );
}

#[test]
fn fetch_writes_a_har_log_with_one_entry_per_request() {
    let server = TestServer::start(&["--latency", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let har_path = dir.path().join("fetch.har");
    let har_arg = har_path.to_str().unwrap();
    fetch_comics(
        &server,
        "1-12,404",
        // One request at a time to the host: the other slots' items wait, and that shows
        // as `blocked`, not as the server's `wait`.
        &["-c", "4", "--per-host", "1", "-q", "--har", har_arg],
        &dir.path().join("out"),
    )
    .code(1);
    let har = json_file(&har_path);
    assert_eq!(har["log"]["version"], "1.2");
    assert_eq!(har["log"]["creator"]["name"], "gather");
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 13, "one entry per item");
    let mut most_blocked = 0.0f64;
    for entry in entries {
        let started = entry["startedDateTime"].as_str().unwrap();
        assert!(started.ends_with('Z') && started.contains('T'), "{started}");
        let timings = &entry["timings"];
        let blocked = timings["blocked"].as_f64().unwrap();
        let wait = timings["wait"].as_f64().unwrap();
        let receive = timings["receive"].as_f64().unwrap();
        assert!(wait >= 15.0, "the server's 20 ms are waiting: {entry}");
        // Held behind the request in flight, but not more than all the others took.
        assert!(wait < 200.0, "only the server's wait is wait: {entry}");
        assert!(blocked >= 0.0 && receive >= 0.0, "{entry}");
        assert!(timings["send"] == 0 && timings["dns"] == -1);
        // Known for the request that opened a connection; -1 on a reused one.
        let connect = timings["connect"].as_f64().unwrap();
        assert!(connect == -1.0 || connect >= 0.0, "{entry}");
        let time = entry["time"].as_f64().unwrap();
        let parts = blocked + connect.max(0.0) + wait + receive;
        assert!((time - parts).abs() < 1e-9, "{entry}");
        most_blocked = most_blocked.max(blocked);
        assert_eq!(entry["request"]["method"], "GET");
    }
    assert!(
        most_blocked >= 15.0,
        "with 4 slots and one request at a time, some waited their turn: {most_blocked} ms"
    );
    let missing: Vec<&Value> = entries
        .iter()
        .filter(|e| e["response"]["status"] == 404)
        .collect();
    assert_eq!(missing.len(), 1, "comic 404 is a 404");
    assert!(
        missing[0]["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/404/info.0.json")
    );
}

#[test]
fn bench_trace_has_every_request_of_both_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.json");
    gather()
        .args(["bench", "-n", "8", "--latency", "10ms", "--trace"])
        .arg(&path)
        .assert()
        .success();
    let trace = json_file(&path);
    let events = trace["traceEvents"].as_array().unwrap();
    let complete = events.iter().filter(|e| e["ph"] == "X").count();
    assert_eq!(complete, 16);
    let concurrent_slots = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["pid"] == 2)
        .count();
    assert!(concurrent_slots > 1, "the concurrent run overlaps");
}

fn chromium(profile: &Path) -> Command {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/test, which installs it (apt-get install chromium)"
    );
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Runs chromium with `args` on `url`; its stdout, after checking that it logged no console
/// message.
fn chromium_run(profile: &Path, args: &[String], url: &str) -> String {
    let output = chromium(profile)
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium failed: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Each `<figure class="chart" id="...">` of `dom` and its SVG's data elements: bars (`<rect>`
/// filled with a colour of the charts' palette) and lines (`<polyline>` stroked with one).
/// Axes, gridlines and labels are drawn in other colours and do not count, so a chart without
/// data counts 0.
fn charts(dom: &str) -> Vec<(String, usize)> {
    let colors: Vec<String> = PALETTE
        .iter()
        .map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
        .collect();
    dom.split("<figure class=\"chart\" id=\"")
        .skip(1)
        .map(|rest| {
            let id = rest.split('"').next().unwrap_or_default().to_owned();
            let figure = rest.split("</figure>").next().unwrap_or_default();
            let svg = figure
                .split_once("<svg")
                .and_then(|(_, svg)| svg.split_once("</svg>"))
                .map_or("", |(svg, _)| svg);
            let data = svg
                .split('<')
                .filter(|element| {
                    let element = element.split('>').next().unwrap_or_default();
                    colors.iter().any(|c| {
                        (element.starts_with("rect ") && element.contains(&format!("fill=\"{c}\"")))
                            || (element.starts_with("polyline ")
                                && element.contains(&format!("stroke=\"{c}\"")))
                    })
                })
                .count();
            (id, data)
        })
        .collect()
}

/// Every value of attribute `attr` (`src`, `href`) in `html`, with the tag it is in.
fn attributes(html: &str, attr: &str) -> Vec<(String, String)> {
    let needle = format!(" {attr}=\"");
    html.split(&needle)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|pair| {
            let tag = pair[0]
                .rsplit('<')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            let value = pair[1].split('"').next().unwrap_or_default().to_owned();
            (tag, value)
        })
        .collect()
}

/// A script that measures the deck as laid out and writes the results, as JSON, into
/// `<pre id="probe">`, for `--dump-dom` to carry out: the viewport, each slide's box and
/// whether its content overflows it, the smallest chart text as rendered, the label nearest
/// the top of each lanes chart, the page's width, and every resource the page loaded.
const PROBE: &str = r#"<script>
(function () {
  var slides = Array.prototype.map.call(document.querySelectorAll("section.slide"), function (s) {
    var frame = s.querySelector(".frame");
    var r = frame.getBoundingClientRect();
    var visible = Array.prototype.filter.call(frame.querySelectorAll("*"), function (e) {
      var b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0;
    }).length;
    return { id: s.id, width: r.width, height: r.height,
             overflow: frame.scrollHeight > frame.clientHeight + 1 || frame.scrollWidth > frame.clientWidth + 1,
             text: frame.innerText.trim().length, visible: visible };
  });
  var smallest = 1000, smallestIn = "";
  var tops = {};
  document.querySelectorAll("figure.chart").forEach(function (f) {
    var svg = f.querySelector("svg");
    var scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    var best = null;
    svg.querySelectorAll("text").forEach(function (t) {
      var px = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (px < smallest) { smallest = px; smallestIn = f.id + ": " + t.textContent; }
      var y = t.getBoundingClientRect().top;
      if (/^(#\d+|(part|request|sleep|thread|process|worker) \d+|thread M\d)$/.test(t.textContent.trim()) && (best === null || y < best.y)) {
        best = { y: y, label: t.textContent.trim() };
      }
    });
    if (best) tops[f.id] = best.label;
  });
  var titled = Array.prototype.every.call(document.querySelectorAll("svg"), function (svg) {
    return svg.querySelector("title") && svg.querySelector("title").textContent.length > 0
      && svg.querySelector("desc") && svg.querySelector("desc").textContent.length > 0;
  });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    viewport: [innerWidth, innerHeight], slides: slides, smallestText: smallest,
    smallestIn: smallestIn, topLabels: tops, svgsTitled: titled,
    pageWidth: document.documentElement.scrollWidth,
    tooWide: Array.prototype.filter.call(document.querySelectorAll("body *"), function (e) {
      return e.getBoundingClientRect().right > innerWidth + 1;
    }).slice(0, 5).map(function (e) {
      return e.tagName + "." + e.className + " in " + (e.closest("section") || {}).id;
    }),
    resources: performance.getEntriesByType("resource").map(function (e) { return e.name; })
  });
  document.body.appendChild(out);
})();
</script>"#;

/// The deck at `deck` with the probe, measured in a viewport of exactly `width` × `height`: an
/// `<iframe>` of that size in a larger window, so the window's decorations and its minimum
/// width (500 px) do not count.
fn probe(profile: &Path, deck: &Path, width: u32, height: u32) -> Value {
    let html = std::fs::read_to_string(deck).unwrap();
    let probed = html.replace("</body>", &format!("{PROBE}</body>"));
    let srcdoc = probed.replace('&', "&amp;").replace('"', "&quot;");
    let frame = format!(
        "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"deck\" width=\"{width}\" \
         height=\"{height}\" style=\"border:0;display:block\" srcdoc=\"{srcdoc}\" \
         onload=\"var r = document.createElement('pre'); r.id = 'result'; \
         r.textContent = this.contentDocument.getElementById('probe').textContent; \
         document.body.appendChild(r)\"></iframe></body></html>"
    );
    let page = deck.with_extension(format!("probe-{width}.html"));
    std::fs::write(&page, frame).unwrap();
    let dom = chromium_run(
        profile,
        &[
            format!("--window-size={},{}", width.max(1280) + 100, height + 300),
            "--dump-dom".to_owned(),
        ],
        &format!("file://{}", page.display()),
    );
    let json = dom
        .rsplit("<pre id=\"result\">")
        .next()
        .and_then(|rest| rest.split("</pre>").next())
        .filter(|_| dom.contains("<pre id=\"result\">"))
        .unwrap_or_else(|| panic!("no probe results in {}", page.display()));
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let value: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(value["viewport"], serde_json::json!([width, height]));
    value
}

/// Pages in the PDF at `path`.
fn pdf_pages(path: &Path) -> usize {
    let info = Command::new("pdfinfo").arg(path).output();
    if let Ok(info) = info
        .map_err(drop)
        .and_then(|o| if o.status.success() { Ok(o) } else { Err(()) })
    {
        let text = String::from_utf8_lossy(&info.stdout);
        if let Some(pages) = text.lines().find_map(|l| l.strip_prefix("Pages:")) {
            return pages.trim().parse().unwrap();
        }
    }
    // Without poppler: count the page objects (`/Type /Page`, not `/Pages`).
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    text.match_indices("/Type /Page")
        .filter(|(i, m)| !text[i + m.len()..].starts_with('s'))
        .count()
}

/// Screenshots slide `id` alone at 1280×720 into `png`.
fn screenshot(profile: &Path, deck: &Path, id: &str, png: &Path) {
    let html = std::fs::read_to_string(deck).unwrap();
    let alone = deck.with_extension(format!("{id}.html"));
    let style = format!("section.slide:not(#{id}) {{ display: none }}</style>");
    std::fs::write(&alone, html.replacen("</style>", &style, 1)).unwrap();
    let _ = std::fs::remove_file(png);
    chromium_run(
        profile,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,720".to_owned(),
        ],
        &format!("file://{}", alone.display()),
    );
    let bytes = std::fs::read(png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{id}: not a PNG");
    // A blank 1280×720 PNG is a few KB; a slide with text and charts is tens.
    assert!(bytes.len() > 20_000, "{id}: {} bytes, blank?", bytes.len());
}

#[test]
fn the_deck_presents_prints_and_loads_nothing_in_chromium() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-deck");
    std::fs::create_dir_all(&out).unwrap();
    let deck = out.join("deck.html");
    let mut bench = gather();
    bench
        .args(["bench", "-n", "20", "--latency", "20ms"])
        .args(["--lesson-scale", "0.02", "--report"])
        .arg(&deck);
    let has_python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_python {
        bench.arg("--python");
    }
    bench.assert().success();
    let html = std::fs::read_to_string(&deck).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.len() <= 1_000_000, "{} bytes: over 1 MB", html.len());

    // Nothing to load: no src at all; hrefs only to slides, data: URLs, or plain links.
    assert!(
        attributes(&html, "src").is_empty(),
        "the deck must load nothing"
    );
    for (tag, href) in attributes(&html, "href") {
        assert!(
            href.starts_with('#')
                || href.starts_with("data:")
                || (tag == "a" && href.starts_with("https://")),
            "<{tag} href={href:?}> may load something"
        );
    }
    // Every SVG opens with its title and description.
    for svg in html.split("<svg").skip(1) {
        let head = &svg[..svg.len().min(600)];
        assert!(
            head.contains("role=\"img\"><title>") && head.contains("<desc>"),
            "an SVG without a title: {head}"
        );
    }
    // The slides of a talk, in order.
    let ids: Vec<String> = html
        .split("<section class=\"slide\" id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or_default().to_owned())
        .collect();
    let position = |id: &str| {
        ids.iter()
            .position(|i| i == id)
            .unwrap_or_else(|| panic!("no slide {id} in {ids:?}"))
    };
    let order = [
        "title",
        "question",
        "demo-sleep",
        "demo-count",
        "demo-tasks",
        "demo-wait-for",
        "demo-search",
        "xkcd",
        "sweep",
        "gil",
        "event-loop",
        "go",
        "cpp",
        "js",
        "use-cases",
        "decision",
        "appendix-columns",
        "appendix-machine",
        "sources",
    ];
    for pair in order.windows(2) {
        assert!(
            position(pair[0]) < position(pair[1]),
            "{pair:?} out of order"
        );
    }
    assert!(
        html.contains("--lesson-scale 0.02 --report"),
        "the command line is recorded"
    );

    let profile = tempfile::tempdir().unwrap();
    // At 1280×720: every slide fills the screen, none is blank, none overflows.
    let wide = probe(profile.path(), &deck, 1280, 720);
    let slides = wide["slides"].as_array().unwrap();
    assert_eq!(slides.len(), ids.len());
    for slide in slides {
        let id = slide["id"].as_str().unwrap();
        assert_eq!(
            (slide["width"].as_f64(), slide["height"].as_f64()),
            (Some(1280.0), Some(720.0)),
            "slide {id} is not 1280×720"
        );
        assert!(
            slide["text"].as_u64().unwrap() > 40 && slide["visible"].as_u64().unwrap() > 3,
            "slide {id} is blank: {slide}"
        );
        assert_eq!(slide["overflow"], false, "slide {id} overflows: {slide}");
    }
    let smallest = wide["smallestText"].as_f64().unwrap();
    assert!(
        smallest >= 14.0 - 0.01,
        "chart text of {smallest} px: {}",
        wide["smallestIn"]
    );
    assert_eq!(wide["svgsTitled"], true);
    assert_eq!(wide["resources"], serde_json::json!([]), "loaded something");
    // The first request is drawn at the top, and so is its label.
    assert_eq!(wide["topLabels"]["chart-waterfall-sequential"], "#1");
    if has_python {
        let top = &wide["topLabels"]["chart-lanes-python-cpu-threads"];
        assert!(top == "thread 1" || top == "part 1", "{top}");
    }
    // Go's slide: its measured speedups, or the sketch (its first lane at the top).
    if html.contains("id=\"chart-sketch-go\"") {
        assert_eq!(wide["topLabels"]["chart-sketch-go"], "thread M1");
    } else {
        assert!(
            html.contains("id=\"chart-speedup-go\""),
            "Go's slide has no chart"
        );
    }

    // At 400 px wide: no horizontal scrolling.
    let narrow = probe(profile.path(), &deck, 400, 800);
    assert!(
        narrow["pageWidth"].as_u64().unwrap() <= 400,
        "scrolls sideways at 400 px: {} wide, {}",
        narrow["pageWidth"],
        narrow["tooWide"]
    );

    // Every chart has its data.
    let dom = chromium_run(
        profile.path(),
        &["--dump-dom".to_owned()],
        &format!("file://{}", deck.display()),
    );
    let charts = charts(&dom);
    let chart_ids: Vec<&str> = charts.iter().map(|(id, _)| id.as_str()).collect();
    for expected in [
        "chart-waterfall-sequential",
        "chart-waterfall-concurrent",
        "chart-in-flight",
        "chart-sweep",
        "chart-lanes-rust-http-async",
        "chart-speedup-sleep",
        "chart-speedup-http",
        "chart-speedup-cpu",
        "chart-memory",
    ] {
        assert!(
            chart_ids.contains(&expected),
            "{expected} missing from {chart_ids:?}"
        );
    }
    for (id, count) in &charts {
        let least = match id.as_str() {
            // Two segments per request: until the first byte, then to the end.
            "chart-waterfall-sequential" | "chart-waterfall-concurrent" => 2 * 20,
            "chart-in-flight" => 1,
            _ => 3,
        };
        assert!(
            *count >= least,
            "chart {id} has {count} data elements, want {least}"
        );
    }

    // Print to PDF: one landscape page per slide.
    let pdf = out.join("deck.pdf");
    let _ = std::fs::remove_file(&pdf);
    chromium_run(
        profile.path(),
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_owned(),
        ],
        &format!("file://{}", deck.display()),
    );
    assert_eq!(pdf_pages(&pdf), ids.len(), "pages in {}", pdf.display());

    // Three slides as pictures, for the README.
    let mut shots = vec![("title", "deck-title.png"), ("xkcd", "deck-xkcd.png")];
    if has_python {
        shots.push(("gil", "deck-gil.png"));
    }
    for (id, name) in shots {
        let png = out.join(name);
        screenshot(profile.path(), &deck, id, &png);
        if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::copy(&png, docs.join(name)).unwrap();
        }
    }
}

#[test]
fn the_lab_deck_tells_the_seeds_200_comics_and_records_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let deck = dir.path().join("lab deck.html");
    gather()
        .args([
            "bench",
            "lab",
            "--workloads",
            "sleep",
            "-n",
            "3",
            "--sleep",
            "10ms",
        ])
        .args(["--latency", "2ms", "--lesson-scale", "0.01", "--report"])
        .arg(&deck)
        .assert()
        .success();
    let html = std::fs::read_to_string(&deck).unwrap();
    assert!(
        html.contains("200 comics: one at a time"),
        "the xkcd story is 200 comics"
    );
    assert!(
        html.contains("a simulated xkcd"),
        "the server is named as simulated"
    );
    // The exact command, the path with a space quoted for a shell.
    assert!(
        html.contains("--lesson-scale 0.01 --report &#39;") || html.contains("--report &#x27;"),
        "{}",
        html.split("<pre><code>").last().unwrap_or_default()
    );
}

/// Starts `gather ARGS`, sends SIGINT once a line of its stderr contains `when` (or after
/// 800 ms, time enough to install its signal handler, when `when` is empty), and returns its
/// exit code and whole stderr.
fn interrupt_when(args: &[&str], when: &str) -> (Option<i32>, String) {
    let mut child = gather_std()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    if when.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(800));
    }
    while !text.contains(when) {
        assert!(
            stderr.read_line(&mut text).unwrap() > 0,
            "gather ended before saying {when:?}: {text}"
        );
    }
    send_signal(&child, libc::SIGINT);
    stderr.read_to_string(&mut text).unwrap();
    (child.wait().unwrap().code(), text)
}

#[test]
fn an_interrupted_bench_writes_no_report_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let trace = dir.path().join("trace.json");
    let path = report.to_str().unwrap();
    // Ctrl-C in the bench itself: 4 requests of 2 s one after another.
    let (code, stderr) = interrupt_when(
        &["bench", "-n", "4", "--latency", "2s", "--report", path],
        "",
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!report.exists(), "a report after Ctrl-C: {stderr}");
    // Ctrl-C in the lab that the report runs after the bench.
    let (code, stderr) = interrupt_when(
        &["bench", "-n", "2", "--latency", "10ms", "--report", path],
        "running the lab for the report",
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!report.exists(), "a report after Ctrl-C: {stderr}");
    // Ctrl-C in `bench lab --report`: its trace is still written, its report not.
    let (code, stderr) = interrupt_when(
        &[
            "bench",
            "lab",
            "--workloads",
            "sleep",
            "-n",
            "3",
            "--sleep",
            "3s",
        ]
        .into_iter()
        .chain(["--report", path, "--trace", trace.to_str().unwrap()])
        .collect::<Vec<_>>(),
        "",
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!report.exists(), "a report after Ctrl-C: {stderr}");
}
