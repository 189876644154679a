//! gather runs many I/O-bound jobs at once and shows, measured, what concurrency buys.
//!
//! # Layout
//! - [`input`]: URL templates, id sets, URL lists, streamed as items.
//! - [`fetch`]: the HTTP client, the concurrent engine, the run summary.
//! - [`save`]: file names and atomic saving into the output directory.
//! - [`serve`]: the local xkcd-like API.
//! - [`bench`](mod@bench): the sequential-vs-concurrent experiment and the concurrency lab.
//! - [`report`]: summaries, tables, progress, Chrome traces, HAR and the HTML report.
//! - [`timeline`]: per-task spans on concurrency slots, shared by bench, lab and reports.
//! - [`redact`]: how credentials in URLs and secret headers look when printed or written.
//! - [`cli`] and [`app`]: the command line and running its commands.
#![deny(missing_docs)]

pub mod app;
pub mod bench;
pub mod cli;
pub mod duration;
pub mod fetch;
pub mod input;
pub mod rate;
pub mod redact;
pub mod report;
pub mod save;
pub mod serve;
pub mod timeline;
