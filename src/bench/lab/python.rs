//! The Python side of the lab: asks an interpreter its version, whether aiohttp is there and
//! whether it runs with the GIL, and finds a free-threaded CPython (`python3.14t`, …) on the
//! PATH to run as its own row group.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter the lab runs unless `--python PATH` names another.
pub const DEFAULT_PYTHON: &str = "python3";

/// Free-threaded builds' names, newest first, looked for on the PATH.
const FREE_THREADED: [&str; 3] = ["python3.14t", "python3.13t", "python3t"];

/// Whether and how the Python side ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonStatus {
    /// Python was not asked for.
    NotRequested,
    /// Python was asked for, but the interpreter is not usable.
    Missing(String),
    /// Python ran.
    Ran {
        /// Its version, e.g. `3.11.7`.
        version: String,
        /// Whether aiohttp could be imported (the async http job needs it).
        aiohttp: bool,
        /// Whether the GIL is on (`sys._is_gil_enabled()`; always on before 3.13).
        gil: bool,
        /// multiprocessing's start method: `fork`, `forkserver` or `spawn`.
        start_method: String,
        /// The interpreter.
        interpreter: PathBuf,
    },
}

/// What the probe asks: one line of JSON.
const PROBE: &str = "import sys, json, importlib.util, multiprocessing\n\
gil = getattr(sys, '_is_gil_enabled', lambda: True)()\n\
print(json.dumps({'version': sys.version.split()[0], 'gil': bool(gil),\n\
 'aiohttp': importlib.util.find_spec('aiohttp') is not None,\n\
 'start_method': multiprocessing.get_start_method()}))";

impl PythonStatus {
    /// Asks `python3` on the PATH.
    pub fn probe() -> Self {
        Self::probe_at(Path::new(DEFAULT_PYTHON))
    }

    /// Asks `interpreter` its version, whether aiohttp imports, whether the GIL is on and
    /// multiprocessing's start method.
    pub fn probe_at(interpreter: &Path) -> Self {
        let name = interpreter.display();
        let out = match Command::new(interpreter).args(["-c", PROBE]).output() {
            Err(e) => return PythonStatus::Missing(format!("cannot run {name}: {e}")),
            Ok(out) => out,
        };
        if !out.status.success() {
            return PythonStatus::Missing(format!(
                "{name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let answer: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(answer) => answer,
            Err(_) => {
                return PythonStatus::Missing(format!(
                    "{name} is not a Python 3 that the lab can use: {}",
                    String::from_utf8_lossy(&out.stdout).trim()
                ));
            }
        };
        let text = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
        let version = text("version");
        if !version.starts_with('3') {
            return PythonStatus::Missing(format!("{name} is Python {version}"));
        }
        PythonStatus::Ran {
            version,
            aiohttp: answer["aiohttp"] == true,
            gil: answer["gil"] != false,
            start_method: text("start_method"),
            interpreter: interpreter.to_owned(),
        }
    }

    /// `CPython 3.11.7`, `CPython 3.14.0, free-threaded`: for tables and the deck.
    pub fn version_line(&self) -> Option<String> {
        match self {
            PythonStatus::Ran { version, gil, .. } => Some(format!(
                "CPython {version}{}",
                if *gil { "" } else { ", no GIL" }
            )),
            _ => None,
        }
    }

    /// Whether it ran without the GIL.
    pub fn free_threaded(&self) -> bool {
        matches!(self, PythonStatus::Ran { gil: false, .. })
    }
}

/// A free-threaded CPython on the PATH that really runs without the GIL, if there is one.
pub fn free_threaded_on_path() -> Option<PythonStatus> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| FREE_THREADED.map(|name| dir.join(name)))
        .filter(|candidate| candidate.is_file())
        .map(|candidate| PythonStatus::probe_at(&candidate))
        .find(PythonStatus::free_threaded)
}
