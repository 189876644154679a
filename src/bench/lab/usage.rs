//! CPU time and peak memory of this process, from `getrusage(2)`.

use std::time::Duration;

/// CPU time and peak memory so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// User plus system time of this process and of the children it has waited for.
    pub cpu: Duration,
    /// Peak resident memory of this process alone, in KiB.
    pub peak_rss_kib: u64,
}

/// This process's usage now. Zero where the platform has no `getrusage`.
pub fn now() -> Usage {
    #[cfg(unix)]
    {
        let own = rusage(libc::RUSAGE_SELF);
        let children = rusage(libc::RUSAGE_CHILDREN);
        match (own, children) {
            (Some(own), Some(children)) => Usage {
                cpu: cpu_time(&own) + cpu_time(&children),
                peak_rss_kib: max_rss_kib(&own),
            },
            _ => Usage::default(),
        }
    }
    #[cfg(not(unix))]
    {
        Usage::default()
    }
}

#[cfg(unix)]
fn rusage(who: libc::c_int) -> Option<libc::rusage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given, which points to
    // one; it is read only when the call succeeded.
    let ok = unsafe { libc::getrusage(who, usage.as_mut_ptr()) } == 0;
    // SAFETY: zeroed is a valid `rusage` (plain integers), and on success the kernel filled it.
    ok.then(|| unsafe { usage.assume_init() })
}

#[cfg(unix)]
fn cpu_time(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(unix)]
fn max_rss_kib(usage: &libc::rusage) -> u64 {
    let max = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    // Linux counts KiB; macOS counts bytes.
    if cfg!(target_os = "macos") {
        max / 1024
    } else {
        max
    }
}

/// CPU time this thread has used so far (`CLOCK_THREAD_CPUTIME_ID`); `None` where the
/// platform does not tell.
pub fn thread_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one `timespec` into the pointer, which points to one.
        let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
        ok.then(|| {
            Duration::new(
                u64::try_from(ts.tv_sec).unwrap_or(0),
                u32::try_from(ts.tv_nsec).unwrap_or(0),
            )
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// This process's resident memory now, in KiB (Linux: `/proc/self/statm`); `None` elsewhere.
pub fn rss_now_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no memory effects; it returns -1 for an unknown name.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()? / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_the_cpu_time_of_a_busy_loop() {
        let before = now();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        // Spin until 50 ms of CPU time show, for at most 2 s: a busy machine only makes it
        // take longer; a usage that does not count CPU time never gets there.
        let used = loop {
            for i in 0..10_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            let used = now().cpu.saturating_sub(before.cpu);
            if used >= Duration::from_millis(50) || start.elapsed() > Duration::from_secs(2) {
                break used;
            }
        };
        let elapsed = start.elapsed();
        assert!(used >= Duration::from_millis(50), "{used:?} in {elapsed:?}");
        // One spinning thread (and the test harness's others) cannot use more than the
        // machine's cores for that long.
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as u32;
        assert!(
            used <= elapsed * cores + Duration::from_millis(20),
            "{used:?} in {elapsed:?}"
        );
        assert!(now().peak_rss_kib > 0);
    }

    #[test]
    fn thread_cpu_counts_this_thread_only() {
        let before = thread_cpu().unwrap();
        // Another thread spinning does not count here.
        std::thread::spawn(|| {
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_millis(100) {
                std::hint::spin_loop();
            }
        })
        .join()
        .unwrap();
        let idle = thread_cpu().unwrap() - before;
        assert!(idle < Duration::from_millis(50), "{idle:?}");
        // Spinning here does count: until 60 ms show, for at most 2 s.
        let start = std::time::Instant::now();
        while thread_cpu().unwrap() - before < Duration::from_millis(60)
            && start.elapsed() < Duration::from_secs(2)
        {
            std::hint::spin_loop();
        }
        let busy = thread_cpu().unwrap() - before;
        assert!(busy >= Duration::from_millis(60), "{busy:?} vs {idle:?}");
        assert!(rss_now_kib().unwrap() > 0);
    }
}
