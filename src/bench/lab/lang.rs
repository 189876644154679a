//! The lab's languages: which models each runs, where its worker comes from, and what its
//! toolchain is. Rust's worker is gather itself (`gather lab-worker`); the others' sources are
//! compiled into the binary, written to a cache directory keyed by the source's hash and the
//! toolchain's version, and built there on first use (Go with `go build`, C++ with `g++`; the
//! Python and JavaScript scripts need no build). A missing toolchain or a failed build takes
//! out that language's rows only, with one line saying why.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::job::Model;

/// Which language ran a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Runtime {
    /// gather itself.
    #[serde(rename = "rust")]
    Rust,
    /// CPython with the GIL (the bundled script).
    #[serde(rename = "python")]
    Python,
    /// A free-threaded CPython (3.13t, 3.14t) running without the GIL.
    #[serde(rename = "python-nogil")]
    PythonNoGil,
    /// Go.
    #[serde(rename = "go")]
    Go,
    /// C++20 with standalone asio.
    #[serde(rename = "cpp")]
    Cpp,
    /// JavaScript on Node.js.
    #[serde(rename = "js")]
    Js,
}

impl Runtime {
    /// Every language, in table order.
    pub const ALL: [Runtime; 6] = [
        Runtime::Rust,
        Runtime::Python,
        Runtime::PythonNoGil,
        Runtime::Go,
        Runtime::Cpp,
        Runtime::Js,
    ];

    /// The name in tables and JSON: `rust`, `python`, `python-nogil`, `go`, `cpp`, `js`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Rust => "rust",
            Runtime::Python => "python",
            Runtime::PythonNoGil => "python-nogil",
            Runtime::Go => "go",
            Runtime::Cpp => "cpp",
            Runtime::Js => "js",
        }
    }

    /// The models this language's worker runs, in table order.
    pub fn models(self) -> &'static [Model] {
        use Model::*;
        match self {
            Runtime::Rust | Runtime::Cpp => &[Sequential, Async, AsyncMt, Threads, Processes],
            // asyncio has one loop per thread; JavaScript's event loop is one thread.
            Runtime::Python | Runtime::PythonNoGil | Runtime::Js => {
                &[Sequential, Async, Threads, Processes]
            }
            // Go has no threads of its own to offer: goroutines are multiplexed onto OS threads
            // by the runtime, GOMAXPROCS of them running Go code at once (async and async-mt).
            Runtime::Go => &[Sequential, Async, AsyncMt, Processes],
        }
    }

    /// The models of the spawn workload (many tasks at once): the language's lightweight task,
    /// and OS threads where the language has them.
    pub fn spawn_models(self) -> &'static [Model] {
        match self {
            Runtime::Rust | Runtime::Cpp | Runtime::Python | Runtime::PythonNoGil => {
                &[Model::Async, Model::Threads]
            }
            // A worker thread is a whole V8 isolate: not a task to start by the thousand.
            Runtime::Go | Runtime::Js => &[Model::Async],
        }
    }

    /// Whether the language has no GIL to keep its threads from computing in parallel.
    pub fn threads_compute_in_parallel(self) -> bool {
        self != Runtime::Python
    }
}

/// A language as named on the command line (`--langs`); `python` takes in a free-threaded
/// Python found beside the usual one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Rust.
    Rust,
    /// Python (and a free-threaded one, if found).
    Python,
    /// Go.
    Go,
    /// C++.
    Cpp,
    /// JavaScript (Node.js).
    Js,
}

impl Lang {
    /// Every language, in table order.
    pub const ALL: [Lang; 5] = [Lang::Rust, Lang::Python, Lang::Go, Lang::Cpp, Lang::Js];

    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Go => "go",
            Lang::Cpp => "cpp",
            Lang::Js => "js",
        }
    }

    /// The language named `name`, if any.
    pub fn parse(name: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// The Go worker's source.
const GO_SOURCE: &str = include_str!("../../../lab/go/main.go");
/// The C++ worker's source.
const CPP_SOURCE: &str = include_str!("../../../lab/cpp/worker.cpp");
/// The JavaScript worker's source.
const JS_SOURCE: &str = include_str!("../../../lab/js/worker.js");
/// The Python worker's source.
const PYTHON_SOURCE: &str = include_str!("../../../python/lab.py");

/// The C++ build, as shown in the table's header (`-o` and the paths come after).
pub const CPP_BUILD: &str = "g++ -O2 -std=c++20 -pthread";
/// The Go build, as shown in the table's header.
pub const GO_BUILD: &str = "go build";

/// A worker ready to take jobs: the command that starts it.
#[derive(Debug, Clone)]
pub struct Worker {
    program: PathBuf,
    args: Vec<OsString>,
}

impl Worker {
    /// A fresh command that starts the worker, ready for a job on stdin.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        command
    }
}

/// Where a language stands for this run.
#[derive(Debug, Clone)]
pub enum Toolchain {
    /// Ready: its worker, the toolchain's version, and how it was built (if it was).
    Ready {
        /// Starts the worker.
        worker: Worker,
        /// `go1.19.8`, `g++ 12.2.0`, `node v20.20.2`, `CPython 3.11.7`, `rustc …`.
        version: String,
        /// The build command, for compiled languages.
        build: Option<String>,
    },
    /// Not on this machine: what to install.
    Missing(String),
    /// The worker did not build: the compiler's message.
    BuildFailed {
        /// The toolchain's version.
        version: String,
        /// The build command.
        build: String,
        /// What the compiler said (its last lines).
        message: String,
    },
}

impl Toolchain {
    /// The worker, when the language can run.
    pub fn worker(&self) -> Option<&Worker> {
        match self {
            Toolchain::Ready { worker, .. } => Some(worker),
            _ => None,
        }
    }

    /// The toolchain's version, when known.
    pub fn version(&self) -> Option<&str> {
        match self {
            Toolchain::Ready { version, .. } | Toolchain::BuildFailed { version, .. } => {
                Some(version)
            }
            Toolchain::Missing(_) => None,
        }
    }
}

/// The cache the built workers live in: `GATHER_CACHE_DIR`, else `$XDG_CACHE_HOME/gather`,
/// else `~/.cache/gather`, else a `gather-cache` directory under the temporary directory.
pub fn cache_dir() -> PathBuf {
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("GATHER_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("gather");
    }
    if let Some(home) = env("HOME") {
        return PathBuf::from(home).join(".cache").join("gather");
    }
    std::env::temp_dir().join("gather-cache")
}

/// The first line a command prints on stdout, or why it did not run.
fn first_line(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// The first line `program ARGS` prints, or the toolchain as missing, with the Debian
/// `package` that brings it.
fn found(program: &str, args: &[&str], package: &str) -> Result<String, Toolchain> {
    first_line(program, args).map_err(|_| {
        Toolchain::Missing(format!(
            "`{program}` not found on PATH (Debian: apt-get install {package})"
        ))
    })
}

/// The Go toolchain and its built worker.
pub fn go(cache: &Path) -> Toolchain {
    let version = match found("go", &["version"], "golang-go") {
        // `go version go1.19.8 linux/amd64`
        Ok(line) => line.split_whitespace().nth(2).unwrap_or("go").to_owned(),
        Err(missing) => return missing,
    };
    compiled(
        cache,
        "go",
        GO_SOURCE,
        "main.go",
        &version,
        GO_BUILD,
        |dir| {
            let mut command = Command::new("go");
            command
                .args(["build", "-o", "worker", "main.go"])
                .current_dir(dir)
                // A module-less build in a directory of its own, cached beside the workers.
                .env("GO111MODULE", "off")
                .env("GOCACHE", dir.join("../go-build"));
            if std::env::var_os("HOME").is_none() {
                command.env("GOPATH", dir.join("../go-path"));
            }
            command
        },
    )
}

/// The C++ toolchain (g++ and standalone asio) and its built worker.
pub fn cpp(cache: &Path) -> Toolchain {
    let version = match found("g++", &["-dumpfullversion"], "g++ libasio-dev") {
        Ok(v) => format!("g++ {v}"),
        Err(missing) => return missing,
    };
    let build = format!("{CPP_BUILD} worker.cpp");
    compiled(
        cache,
        "cpp",
        CPP_SOURCE,
        "worker.cpp",
        &version,
        &build,
        |dir| {
            let mut command = Command::new("g++");
            command
                .args(CPP_BUILD.split_whitespace().skip(1))
                .args(["-o", "worker", "worker.cpp"])
                .current_dir(dir);
            command
        },
    )
}

/// Node.js and the JavaScript worker.
pub fn js(cache: &Path) -> Toolchain {
    let version = match found("node", &["--version"], "nodejs") {
        Ok(v) => format!("node {v}"),
        Err(missing) => return missing,
    };
    script(cache, "js", JS_SOURCE, "worker.js", "node", &version)
}

/// A Python interpreter and the Python worker.
pub fn python(cache: &Path, interpreter: &Path, version: &str) -> Toolchain {
    script(
        cache,
        "python",
        PYTHON_SOURCE,
        "lab.py",
        &interpreter.as_os_str().to_string_lossy(),
        version,
    )
}

/// The Rust worker: this program, as `gather lab-worker`.
pub fn rust(exe: &Path) -> Toolchain {
    Toolchain::Ready {
        worker: Worker {
            program: exe.to_owned(),
            args: vec![super::worker::WORKER_COMMAND.into()],
        },
        version: format!("gather {}", env!("CARGO_PKG_VERSION")),
        build: None,
    }
}

/// A worker that is a script: written to the cache, run by `program`.
fn script(
    cache: &Path,
    lang: &str,
    source: &str,
    file: &str,
    program: &str,
    version: &str,
) -> Toolchain {
    match cached(cache, lang, source, file, version, "", None) {
        Ok(dir) => Toolchain::Ready {
            worker: Worker {
                program: PathBuf::from(program),
                args: vec![dir.join(file).into()],
            },
            version: version.to_owned(),
            build: None,
        },
        Err(message) => Toolchain::BuildFailed {
            version: version.to_owned(),
            build: format!("write {file}"),
            message,
        },
    }
}

/// A worker that is compiled: built in the cache on first use into `worker`.
fn compiled(
    cache: &Path,
    lang: &str,
    source: &str,
    file: &str,
    version: &str,
    build: &str,
    command: impl Fn(&Path) -> Command,
) -> Toolchain {
    match cached(cache, lang, source, file, version, build, Some(&command)) {
        Ok(dir) => Toolchain::Ready {
            worker: Worker {
                program: dir.join("worker"),
                args: Vec::new(),
            },
            version: version.to_owned(),
            build: Some(build.to_owned()),
        },
        Err(message) => Toolchain::BuildFailed {
            version: version.to_owned(),
            build: build.to_owned(),
            message,
        },
    }
}

/// The cache directory holding `file` (and, with a build `command`, the built `worker`) for
/// this source, toolchain version and build: made on first use. The directory is complete or
/// absent: it is prepared under a temporary name and renamed into place, under a lock, so that
/// lab runs at once (a test suite's) build it once and never see half of it.
fn cached(
    cache: &Path,
    lang: &str,
    source: &str,
    file: &str,
    version: &str,
    build: &str,
    command: Option<&dyn Fn(&Path) -> Command>,
) -> Result<PathBuf, String> {
    let mut hash = Sha256::new();
    for part in [lang, file, source, version, build] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let mut key = String::new();
    for byte in &hash.finalize()[..8] {
        let _ = write!(key, "{byte:02x}");
    }
    let root = cache.join("lab");
    let dir = root.join(format!("{lang}-{key}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} in {}: {e}", root.display());
    std::fs::create_dir_all(&root).map_err(|e| fail("create the cache", e))?;
    let lock = std::fs::File::create(root.join(format!("{lang}-{key}.lock")))
        .map_err(|e| fail("create a lock file", e))?;
    lock.lock().map_err(|e| fail("lock the cache", e))?;
    if dir.is_dir() {
        return Ok(dir);
    }
    let work = tempfile::Builder::new()
        .prefix(&format!(".{lang}-"))
        .tempdir_in(&root)
        .map_err(|e| fail("create a build directory", e))?;
    std::fs::write(work.path().join(file), source).map_err(|e| fail("write the source", e))?;
    if let Some(command) = command {
        let mut command = command(work.path());
        let out = command
            .output()
            .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
        if !out.status.success() {
            return Err(compiler_message(&out.stderr, &out.stdout, out.status));
        }
    }
    std::fs::rename(work.keep(), &dir).map_err(|e| fail("keep the build", e))?;
    Ok(dir)
}

/// The last lines of a failed build's output, with the exit status.
fn compiler_message(stderr: &[u8], stdout: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(if stderr.is_empty() { stdout } else { stderr });
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(6)..];
    let mut message = format!("the build failed ({status})");
    for line in tail {
        message.push_str("\n  ");
        message.push_str(line.trim_end());
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_cached_by_source_and_version() {
        let cache = tempfile::tempdir().unwrap();
        let a = cached(cache.path(), "t", "print(1)", "a.py", "v1", "", None).unwrap();
        assert_eq!(std::fs::read_to_string(a.join("a.py")).unwrap(), "print(1)");
        let again = cached(cache.path(), "t", "print(1)", "a.py", "v1", "", None).unwrap();
        assert_eq!(a, again);
        let other_version = cached(cache.path(), "t", "print(1)", "a.py", "v2", "", None).unwrap();
        assert_ne!(a, other_version);
        let other_source = cached(cache.path(), "t", "print(2)", "a.py", "v1", "", None).unwrap();
        assert_ne!(a, other_source);
    }

    #[test]
    fn a_failed_build_says_what_the_compiler_said_and_leaves_nothing() {
        let cache = tempfile::tempdir().unwrap();
        let build = |_: &Path| {
            let mut c = Command::new("sh");
            c.args(["-c", "echo 'worker.cpp:1: error: nope' >&2; exit 1"]);
            c
        };
        let err = cached(cache.path(), "t", "x", "w.cpp", "v", "b", Some(&build)).unwrap_err();
        assert!(err.contains("worker.cpp:1: error: nope"), "{err}");
        let left: Vec<_> = std::fs::read_dir(cache.path().join("lab"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn every_language_has_a_sequential_baseline() {
        for runtime in Runtime::ALL {
            assert_eq!(runtime.models()[0], Model::Sequential, "{runtime:?}");
        }
    }
}
