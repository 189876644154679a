//! `--shard auto` on a real scheduler: a private one-node Slurm cluster (munged, slurmctld and
//! slurmd from Debian, in a temporary directory, on ports chosen at run time) runs job arrays
//! of `gather fetch` against `gather serve` on loopback. Every item is saved once and
//! byte-identical, the shards' summaries add up (`gather summary merge`), and a task requeued
//! in the middle of its run finishes its share.
//!
//! It needs root (slurmd runs jobs as their user) and two CPUs (two tasks at once); elsewhere
//! it says so and does nothing. `scripts/test` installs `slurmctld slurmd slurm-client munge`.

mod common;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, assert_complete_comics, files, gather, summary};

/// A one-node Slurm cluster of this test's own, stopped (every daemon killed and reaped) on
/// drop, even when the test fails.
struct Cluster {
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
}

/// A port free on loopback now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn hostname() -> String {
    let out = Command::new("hostname").output().expect("hostname runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Cluster {
    /// Starts munged, slurmctld and slurmd, and waits until the node takes jobs; `None` where
    /// the machine cannot run Slurm (not root, or fewer than 2 CPUs).
    fn start() -> Option<Self> {
        // SAFETY: geteuid has no preconditions and no effects.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: slurmd must run jobs as root here; the Slurm test is skipped");
            return None;
        }
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        if cpus < 2 {
            eprintln!("{cpus} CPU: the Slurm test needs 2 tasks at once; skipped");
            return None;
        }
        for daemon in [
            "/usr/sbin/munged",
            "/usr/sbin/slurmctld",
            "/usr/sbin/slurmd",
        ] {
            assert!(
                Path::new(daemon).exists(),
                "{daemon} is missing: ./scripts/test installs slurmctld slurmd slurm-client munge"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("gather-slurm-")
            .tempdir()
            .unwrap();
        // munged refuses a socket directory others cannot reach: 0755 here (the temp dir's
        // parent, /tmp, is world-searchable).
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let path = |name: &str| dir.path().join(name);
        for sub in ["munge", "state", "spool", "log", "out", "res"] {
            fs::create_dir(path(sub)).unwrap();
            fs::set_permissions(path(sub), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let key: Vec<u8> = (0..1024).map(|_| rand::random::<u8>()).collect();
        fs::write(path("munge/key"), key).unwrap();
        fs::set_permissions(path("munge/key"), fs::Permissions::from_mode(0o600)).unwrap();
        let mut cluster = Cluster {
            daemons: Vec::new(),
            dir,
        };
        let munge = cluster.dir.path().join("munge");
        cluster.spawn(Command::new("/usr/sbin/munged").args([
            "--foreground",
            "--force",
            &format!("--key-file={}", munge.join("key").display()),
            &format!("--socket={}", munge.join("sock").display()),
            &format!("--pid-file={}", munge.join("pid").display()),
            &format!("--log-file={}", munge.join("log").display()),
            &format!("--seed-file={}", munge.join("seed").display()),
        ]));
        wait_for(Duration::from_secs(10), "munged's socket", || {
            munge.join("sock").exists()
        });
        let host = hostname();
        let d = cluster.dir.path().display().to_string();
        let conf = format!(
            "ClusterName=gathertest\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld}\n\
             SlurmdPort={slurmd}\n\
             AuthType=auth/munge\n\
             AuthInfo=socket={d}/munge/sock,cred_expire=5\n\
             CredType=cred/munge\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             StateSaveLocation={d}/state\n\
             SlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\n\
             SlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/log/slurmctld.log\n\
             SlurmdLogFile={d}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\n\
             MpiDefault=none\n\
             SwitchType=switch/none\n\
             ReturnToService=2\n\
             JobRequeue=1\n\
             KillWait=5\n\
             SchedulerType=sched/backfill\n\
             SchedulerParameters=sched_interval=1\n\
             JobCompType=jobcomp/none\n\
             AccountingStorageType=accounting_storage/none\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus}\n\
             PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            ctld = free_port(),
            slurmd = free_port(),
            cpus = std::thread::available_parallelism().map_or(1, usize::from),
        );
        fs::write(cluster.conf(), conf).unwrap();
        let conf = cluster.conf();
        cluster.spawn(
            Command::new("/usr/sbin/slurmctld")
                .args(["-D", "-i", "-f"])
                .arg(&conf),
        );
        cluster.spawn(
            Command::new("/usr/sbin/slurmd")
                .args(["-D", "-f"])
                .arg(&conf),
        );
        wait_for(Duration::from_secs(30), "the node to be idle", || {
            let out = cluster.run("sinfo", &["-h", "-o", "%t"]);
            String::from_utf8_lossy(&out.stdout).trim() == "idle"
        });
        Some(cluster)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spawn(&mut self, command: &mut Command) {
        let child = command
            .env("SLURM_CONF", self.conf())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        self.daemons.push(child);
    }

    /// Runs a Slurm client command against this cluster.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    /// Submits `script` as an array of `tasks` and returns the job id.
    fn submit_array(&self, tasks: u32, script: &Path, extra: &[&str]) -> String {
        let array = format!("--array=1-{tasks}");
        let output = format!("--output={}/res_%a.json", self.path("res").display());
        let mut args = vec!["--parsable", "--requeue", array.as_str(), output.as_str()];
        args.extend_from_slice(extra);
        let script = script.to_str().unwrap();
        args.push(script);
        let out = self.run("sbatch", &args);
        assert!(out.status.success(), "sbatch: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The states of the array's tasks, e.g. `["COMPLETED", "RUNNING"]`.
    fn states(&self, job: &str) -> Vec<String> {
        let out = self.run("scontrol", &["-o", "show", "job", job]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                line.split_whitespace()
                    .find_map(|field| field.strip_prefix("JobState="))
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Waits until every task of `job` has ended, and returns their states.
    fn wait(&self, job: &str, tasks: usize) -> Vec<String> {
        let mut states = Vec::new();
        wait_for(Duration::from_secs(90), "the array to finish", || {
            states = self.states(job);
            states.len() == tasks
                && states.iter().all(|s| {
                    !matches!(
                        s.as_str(),
                        "PENDING" | "RUNNING" | "COMPLETING" | "REQUEUED" | "CONFIGURING"
                    )
                })
        });
        states
    }

    /// What the daemons logged, for a failure's message.
    fn logs(&self) -> String {
        ["log/slurmctld.log", "log/slurmd.log"]
            .iter()
            .map(|name| {
                let text = fs::read_to_string(self.path(name)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "== {name}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Jobs first (their gathers), then the daemons.
        let _ = self.run("scancel", &["--full", "--user=root"]);
        for child in self.daemons.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A job script: `gather fetch` of `ids` from `template` with `--shard auto`.
fn job_script(
    dir: &Path,
    name: &str,
    template: &str,
    ids: &str,
    out: &Path,
    extra: &str,
) -> PathBuf {
    let script = dir.join(name);
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {gather} fetch '{template}' --ids {ids} --shard auto --out {out} --json -q {extra}\n",
            gather = env!("CARGO_BIN_EXE_gather"),
            out = out.display(),
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The summaries the array's tasks printed, `res_1.json`, ...
fn summaries(cluster: &Cluster) -> Vec<PathBuf> {
    files(&cluster.path("res"))
        .into_iter()
        .map(|name| cluster.path("res").join(name))
        .collect()
}

#[test]
fn a_slurm_array_fetches_every_item_once_and_a_requeued_task_finishes_its_share() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let start = Instant::now();

    // Four shards of 600 comics: comic 404 is a 404, which --fail-exit 0 lets the task end
    // COMPLETED; the summary still counts it as failed.
    let server = TestServer::start(&["--latency", "20ms"]);
    let out = cluster.path("out");
    let script = job_script(
        cluster.dir.path(),
        "fetch.sh",
        &server.comics(),
        "1-600",
        &out,
        "-c 4 --fail-exit 0",
    );
    let job = cluster.submit_array(4, &script, &[]);
    let states = cluster.wait(&job, 4);
    assert!(
        states.iter().all(|s| s == "COMPLETED"),
        "{states:?}\n{}",
        cluster.logs()
    );
    assert_eq!(assert_complete_comics(&out), 599);
    let results = summaries(&cluster);
    assert_eq!(results.len(), 4, "{results:?}");
    let mut requests = 0;
    for path in &results {
        let shard = summary(&fs::read(path).unwrap());
        assert!(shard["shard"].as_str().unwrap().ends_with("/4"), "{shard}");
        requests += shard["requests"].as_u64().unwrap();
    }
    // No item fetched twice: one request per item, 404 included.
    assert_eq!(requests, 600);
    let merged = gather()
        .args(["summary", "merge", "--json"])
        .args(&results)
        .assert()
        .code(1); // the 404
    let merged = summary(&merged.get_output().stdout);
    assert_eq!(
        (merged["ok"].as_u64(), merged["failed"].as_u64()),
        (Some(599), Some(1))
    );
    assert_eq!(merged["missing"], serde_json::json!([]));
    assert_eq!(merged["failures"][0]["status"], 404);
    assert!(merged["span_secs"].as_f64().unwrap() > 0.0);
    eprintln!(
        "4-task array of 600 comics: {:.1} s",
        start.elapsed().as_secs_f64()
    );

    // Requeued mid-run: two shards of 200 slow comics; task 1 is requeued once it has saved
    // some, and then finishes its share, skipping what it saved before.
    let slow = TestServer::start(&["--latency", "100ms"]);
    let out = cluster.path("out-requeue");
    let script = job_script(
        cluster.dir.path(),
        "slow.sh",
        &slow.comics(),
        "1-200",
        &out,
        "-c 2",
    );
    for old in summaries(&cluster) {
        fs::remove_file(old).unwrap();
    }
    let job = cluster.submit_array(2, &script, &[]);
    // Shard 1 of 2 takes the odd ids.
    let saved_by_task_1 = || {
        files(&out)
            .iter()
            .filter_map(|name| name.strip_suffix(".json")?.parse::<u64>().ok())
            .filter(|id| id % 2 == 1)
            .count()
    };
    wait_for(Duration::from_secs(30), "task 1 to save 10 comics", || {
        saved_by_task_1() >= 10
    });
    let task = format!("{job}_1");
    let requeue = cluster.run("scontrol", &["requeue", &task]);
    assert!(requeue.status.success(), "{requeue:?}");
    // A requeued task waits for its old launch credential to expire (cred_expire: 5 s
    // here, 120 s by default) before it starts again.
    let states = cluster.wait(&job, 2);
    assert!(
        states.iter().all(|s| s == "COMPLETED"),
        "{states:?}\n{}",
        cluster.logs()
    );
    // Every comic whole, and no temp file left by the task that was stopped.
    assert_eq!(assert_complete_comics(&out), 200);
    let first = summary(&fs::read(cluster.path("res").join("res_1.json")).unwrap());
    assert_eq!(first["shard"], "1/2");
    assert!(first["skipped"].as_u64().unwrap() >= 10, "{first}");
    assert_eq!(
        first["ok"].as_u64().unwrap() + first["skipped"].as_u64().unwrap(),
        100,
        "{first}"
    );
    eprintln!("whole Slurm test: {:.1} s", start.elapsed().as_secs_f64());
}
