//! The machine the numbers come from: cores, CPU, operating system, versions. Read once, at
//! the end of a bench, for the report.

use std::time::SystemTime;

use super::lab::PythonStatus;

/// A description of this computer and of the software that measured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    /// The CPU's model name, where the OS tells it.
    pub cpu: Option<String>,
    /// The operating system: its pretty name where known, else `linux x86_64` and the like.
    pub os: String,
    /// The kernel release, where known.
    pub kernel: Option<String>,
    /// `gather 0.1.0`, and whether it is a debug build.
    pub gather: String,
    /// The Python that ran, if any.
    pub python: Option<String>,
    /// When the report was made (RFC 3339, UTC).
    pub date: String,
}

impl Machine {
    /// Looks at this machine. `python` is what the lab found.
    pub fn detect(python: &PythonStatus) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let cpu = read("/proc/cpuinfo").and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        });
        let pretty = read("/etc/os-release").and_then(|release| {
            release
                .lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|name| name.trim_matches('"').to_owned())
        });
        let os = match pretty {
            Some(name) => format!("{name} ({})", std::env::consts::ARCH),
            None => format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        };
        let build = if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        };
        Self {
            cores: super::lab::cores(),
            cpu,
            os,
            kernel: read("/proc/sys/kernel/osrelease").map(|k| k.trim().to_owned()),
            gather: format!("gather {} ({build})", env!("CARGO_PKG_VERSION")),
            python: match python {
                PythonStatus::Ran { aiohttp, .. } => python.version_line().map(|v| {
                    format!(
                        "{v}{}",
                        if *aiohttp {
                            ", aiohttp"
                        } else {
                            ", no aiohttp"
                        }
                    )
                }),
                _ => None,
            },
            date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }
}
