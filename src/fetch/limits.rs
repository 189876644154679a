//! Client-side limits on top of `--concurrency`: a request rate (`--rate`), a cap on
//! requests in flight to any one host (`--per-host`), the cap the open-file limit puts on
//! downloads at once ([`descriptor_cap`]), and the [`Control`] that counts how requests end
//! and, with `-c auto`, tunes the concurrency from them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use super::adaptive::{Control, Ended, Request, Slot};
use super::item::ItemError;
use crate::rate::Rate;

/// The limits every attempt passes through. Without a rate or a per-host cap it costs
/// nothing.
#[derive(Debug, Default)]
pub struct Limits {
    rate: Option<DefaultDirectRateLimiter>,
    per_host: Option<PerHost>,
    control: Option<Arc<Control>>,
}

#[derive(Debug)]
struct PerHost {
    limit: usize,
    hosts: Mutex<HashMap<(String, u16), Arc<Semaphore>>>,
}

/// Permission to send one request; dropping it frees the host's slot. Give it the request's
/// result with [`Pass::finish`] for the [`Control`] to learn from.
#[derive(Debug)]
pub struct Pass {
    _host: Option<OwnedSemaphorePermit>,
    request: Option<(Arc<Control>, Request)>,
}

impl Pass {
    /// Tells the control how the request ended.
    pub fn finish<T>(self, result: &Result<T, ItemError>) {
        let Some((control, request)) = self.request else {
            return;
        };
        let ended = match result {
            Ok(_) => Ended::Status(200),
            Err(error) => match error.status() {
                Some(status) => Ended::Status(status.as_u16()),
                None if matches!(error, ItemError::Request(e) if e.is_timeout()) => Ended::TimedOut,
                None => Ended::Failed,
            },
        };
        control.ended(request, ended);
    }
}

impl Limits {
    /// Requests spaced evenly to at most `rate`, and at most `per_host` in flight per host.
    pub fn new(rate: Option<Rate>, per_host: Option<usize>) -> Self {
        Self {
            rate: rate.map(|rate| RateLimiter::direct(rate.quota(false))),
            per_host: per_host.map(|limit| PerHost {
                limit: limit.max(1),
                hosts: Mutex::default(),
            }),
            control: None,
        }
    }

    /// These limits, reporting every request to `control` (and, with `-c auto`, holding each
    /// item to its adaptive limit: [`Limits::slot`]).
    pub fn with_control(self, control: Option<Arc<Control>>) -> Self {
        Self { control, ..self }
    }

    /// Waits for an item's slot under `-c auto`'s limit; `None` at once otherwise.
    pub async fn slot(&self, url: &Url) -> Option<Slot> {
        self.control.as_ref()?.slot(url).await
    }

    /// Waits until a request to `url` may go.
    pub async fn pass(&self, url: &Url) -> Pass {
        let permit = match &self.per_host {
            Some(per_host) => {
                let key = (
                    url.host_str().unwrap_or_default().to_owned(),
                    url.port_or_known_default().unwrap_or(0),
                );
                let semaphore = {
                    let mut hosts = per_host.hosts.lock().unwrap_or_else(|e| e.into_inner());
                    super::per_host(&mut hosts, key, || Semaphore::new(per_host.limit))
                };
                // The semaphore is never closed, so acquiring cannot fail.
                semaphore.acquire_owned().await.ok()
            }
            None => None,
        };
        // The rate is taken after the host slot, so a slot's wait is not spent idle.
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        Pass {
            _host: permit,
            request: self
                .control
                .as_ref()
                .map(|control| (Arc::clone(control), control.request(url))),
        }
    }
}

/// Descriptors one download may hold at once: its connection and its temp file.
const FDS_PER_DOWNLOAD: u64 = 2;

/// Descriptors kept aside besides those already open: each worker's runtime (its epoll and
/// wake-up descriptors), the blocking pool's files, `--har`, and some slack.
const FDS_RESERVED: u64 = 16;
const FDS_PER_THREAD: u64 = 3;

/// The most downloads `threads` worker threads can run at once under the process's open-file
/// limit (`ulimit -n`), when that is fewer than `concurrency`; `None` when the limit allows
/// `concurrency` or cannot be read.
///
/// Each download holds up to two descriptors (its connection and its file). Past the limit,
/// connects and saves would fail with "Too many open files"; those still fail as transient
/// errors, for the surplus connections that can remain beyond the cap.
pub fn descriptor_cap(concurrency: usize, threads: usize) -> Option<usize> {
    let (soft, _hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    let open = open_descriptors()?;
    let reserved = open + FDS_RESERVED + FDS_PER_THREAD * threads as u64;
    let cap = (soft.saturating_sub(reserved) / FDS_PER_DOWNLOAD).max(1);
    usize::try_from(cap).ok().filter(|&cap| cap < concurrency)
}

/// How many descriptors this process has open.
fn open_descriptors() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // The listing's own descriptor is counted too: one to spare.
        Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Some(FDS_RESERVED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn per_host_caps_each_host_separately() {
        let limits = Limits::new(None, Some(2));
        let a: Url = "http://a.test/1".parse().unwrap();
        let b: Url = "http://b.test/1".parse().unwrap();
        let held = [limits.pass(&a).await, limits.pass(&a).await];
        // A third for host a waits; host b is free.
        let third = tokio::time::timeout(Duration::from_millis(50), limits.pass(&a)).await;
        assert!(third.is_err(), "host a is full");
        let _b = limits.pass(&b).await;
        drop(held);
        let _a = limits.pass(&a).await;
    }

    #[tokio::test]
    async fn hosts_are_forgotten_when_unused_but_a_busy_one_keeps_its_count() {
        let limits = Limits::new(None, Some(1));
        let busy: Url = "http://busy.test/".parse().unwrap();
        let held = limits.pass(&busy).await;
        for n in 0..3 * super::super::MAX_HOSTS {
            let url: Url = format!("http://host-{n}.test/").parse().unwrap();
            drop(limits.pass(&url).await);
        }
        let kept = limits
            .per_host
            .as_ref()
            .unwrap()
            .hosts
            .lock()
            .unwrap()
            .len();
        assert!(kept <= super::super::MAX_HOSTS, "{kept} hosts kept");
        // The busy host's one slot is still taken.
        let again = tokio::time::timeout(Duration::from_millis(50), limits.pass(&busy)).await;
        assert!(again.is_err(), "busy.test is still full");
        drop(held);
    }

    #[tokio::test]
    async fn rate_spaces_requests() {
        let limits = Limits::new(Some("20/s".parse().unwrap()), None);
        let url: Url = "http://a.test/".parse().unwrap();
        let start = Instant::now();
        for _ in 0..5 {
            let _ = limits.pass(&url).await;
        }
        // The first goes at once, the next four 50 ms apart (governor's own clock, not tokio's).
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
    }
}
