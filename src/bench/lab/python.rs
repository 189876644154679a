//! The Python side of the lab: finds `python3`, writes the bundled script (`python/lab.py`,
//! compiled into the binary) to a temporary directory, and runs jobs with it.

use std::path::PathBuf;
use std::process::Command;

/// The bundled script.
const SCRIPT: &str = include_str!("../../../python/lab.py");

/// The interpreter the lab runs.
const PYTHON: &str = "python3";

/// Whether and how the Python side ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonStatus {
    /// `--python` was not given.
    NotRequested,
    /// `--python` was given, but there is no usable `python3`.
    Missing(String),
    /// Python ran.
    Ran {
        /// Its version, e.g. `3.11.7`.
        version: String,
        /// Whether aiohttp could be imported (the async http job needs it).
        aiohttp: bool,
    },
}

impl PythonStatus {
    /// Looks for `python3` on the PATH and asks it its version and about aiohttp.
    pub fn probe() -> Self {
        let probe = "import sys, importlib.util\n\
                     print(sys.version.split()[0], importlib.util.find_spec('aiohttp') is not None)";
        match Command::new(PYTHON).args(["-c", probe]).output() {
            Err(e) => PythonStatus::Missing(format!("cannot run {PYTHON}: {e}")),
            Ok(out) if !out.status.success() => PythonStatus::Missing(format!(
                "{PYTHON} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let mut words = text.split_whitespace();
                let version = words.next().unwrap_or("unknown").to_owned();
                if !version.starts_with('3') {
                    return PythonStatus::Missing(format!("{PYTHON} is Python {version}"));
                }
                PythonStatus::Ran {
                    version,
                    aiohttp: words.next() == Some("True"),
                }
            }
        }
    }
}

/// The script, written out for the interpreter; removed on drop.
pub(super) struct Script {
    dir: tempfile::TempDir,
}

impl Script {
    /// Writes the script to a fresh temporary directory. A file, not `-c`: multiprocessing
    /// workers started by spawn or forkserver import the main module from its path.
    pub(super) fn write() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("gather-lab-").tempdir()?;
        std::fs::write(dir.path().join("lab.py"), SCRIPT)?;
        Ok(Self { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("lab.py")
    }

    /// `python3 lab.py`, ready for a job on stdin.
    pub(super) fn command(&self) -> Command {
        let mut command = Command::new(PYTHON);
        command.arg(self.path());
        command
    }
}
