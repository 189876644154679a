"""gather's concurrency lab, in Python: the same jobs as the Rust workers, under asyncio,
threading and multiprocessing, so that the GIL shows in the numbers.

Bundled into the gather binary and run by `gather bench lab --python` as `python3 lab.py`. It
reads one job as JSON on stdin and prints what it measured as JSON on stdout:

    {"workload": "sleep" | "http" | "cpu" | "spawn",
     "model": "sequential" | "async" | "threads" | "processes",
     "workers": N,
     "tasks": [{"sleep": 0.1} | {"url": "http://..."} | {"primes": [from, to]}, ...],
     "count": N}    # spawn only: start N sleeps of tasks[0] at once

Only the standard library is needed; the async http job uses aiohttp when it is installed and
says so when it is not.
"""

import asyncio
import json
import multiprocessing
import os
import platform
import resource
import sys
import sysconfig
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def is_prime(n):
    """Trial division by 2 and the odd numbers up to the square root, as in Rust."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


def count_primes(lo, hi):
    return sum(1 for n in range(lo, hi) if is_prime(n))


# Which thread of the pool runs the current task (0, 1, ...); 0 outside a pool.
lane = threading.local()


def blocking_task(task):
    """Runs one task, blocking this thread while it waits. Returns (times, answer). The thread
    runs nothing else meanwhile, so its CPU clock (time.thread_time) is the task's."""
    start, cpu0 = time.time(), time.thread_time()
    first_byte = None
    if "sleep" in task:
        time.sleep(task["sleep"])
        answer = 0
    elif "primes" in task:
        answer = count_primes(*task["primes"])
    else:
        with urllib.request.urlopen(task["url"], timeout=30) as response:
            first_byte = time.time()
            answer = len(response.read())
    times = {"start": start, "first_byte": first_byte, "end": time.time(),
             "cpu": time.thread_time() - cpu0, "worker": getattr(lane, "id", 0)}
    return times, answer


async def async_task(task, session):
    """Runs one task as a coroutine. CPU work never awaits, so it holds the loop (and its
    thread CPU time is its own); a sleep or http task shares the thread, and its cpu is None."""
    start = time.time()
    first_byte = cpu = None
    if "sleep" in task:
        await asyncio.sleep(task["sleep"])
        answer = 0
    elif "primes" in task:
        cpu0 = time.thread_time()
        answer = count_primes(*task["primes"])
        cpu = time.thread_time() - cpu0
    else:
        async with session.get(task["url"]) as response:
            response.raise_for_status()
            first_byte = time.time()
            answer = len(await response.read())
    return {"start": start, "first_byte": first_byte, "end": time.time(), "cpu": cpu, "worker": 0}, answer


async def gather_all(job, clock):
    """Runs every task at once on this thread's loop. The aiohttp session is made before
    `clock` starts, as the Rust side builds its clients before timing."""
    if job["workload"] != "http":
        clock.start()
        return await asyncio.gather(*(async_task(t, None) for t in job["tasks"]))
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        clock.start()
        return await asyncio.gather(*(async_task(t, session) for t in job["tasks"]))


def thread_pool(workers):
    """A pool of `workers` threads, each knowing its index as lane.id."""
    ids = iter(range(workers))
    lock = threading.Lock()

    def take_id():
        with lock:
            lane.id = next(ids)

    return ThreadPoolExecutor(max_workers=workers, initializer=take_id)


async def spawn_tasks(n, secs, clock):
    """spawn, async: n sleeps at once, each an asyncio task, on one loop."""
    clock.start()
    await asyncio.gather(*(asyncio.sleep(secs) for _ in range(n)))
    return n


def spawn_threads(n, secs):
    """spawn, threads: n OS threads, each sleeping."""
    threads = [threading.Thread(target=time.sleep, args=(secs,)) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return n


def own_usage():
    """This process's CPU time (user + system) and peak memory (KiB) so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    rss = own.ru_maxrss // 1024 if sys.platform == "darwin" else own.ru_maxrss
    return own.ru_utime + own.ru_stime, rss


def current_rss_kib():
    """This process's resident memory now (VmRSS), in KiB; 0 where there is no /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pool_task(task):
    """A task in a pool process: its result, and the process's own usage so far. (The parent
    cannot count its pool with RUSAGE_CHILDREN: that holds only children it has waited for,
    and under forkserver, Python 3.14's default on Linux, the pool's processes are not its
    children at all.)"""
    try:
        result = blocking_task(task)
    except Exception as e:  # sent back as text: not every exception pickles (HTTPError)
        raise RuntimeError(f"{type(e).__name__}: {e}") from None
    return result, os.getpid(), own_usage()


def gil_enabled():
    """False on a free-threaded build running without the GIL."""
    return sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True


def version():
    free = " free-threaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    return f"{platform.python_implementation()} {platform.python_version()}{free}"


class Clock:
    """The job's clock: its start is taken when the timed work begins."""

    def start(self):
        self.baseline_rss = current_rss_kib()
        self.cpu0, _ = own_usage()
        self.t0 = time.time()
        self.perf0 = time.perf_counter()


def check(job):
    """Why the job cannot run, or None."""
    if not isinstance(job, dict):
        return "the job is not a JSON object"
    model, workload = job.get("model"), job.get("workload")
    if model == "async-mt":
        return "asyncio runs one event loop on one thread; use threads or processes"
    if model not in ("sequential", "async", "threads", "processes"):
        return f"unknown model {model!r}"
    if workload not in ("sleep", "http", "cpu", "spawn"):
        return f"unknown workload {workload!r}"
    tasks = job.get("tasks")
    if not isinstance(tasks, list) or not all(
            isinstance(t, dict) and len(t) == 1 and t.keys() & {"sleep", "url", "primes"} for t in tasks):
        return 'tasks must be a list of {"sleep": S}, {"url": U} or {"primes": [from, to]}'
    if workload == "spawn":
        if model not in ("async", "threads"):
            return "spawn starts its tasks all at once: use async or threads"
        if len(tasks) != 1 or "sleep" not in tasks[0] or not isinstance(job.get("count"), int):
            return 'spawn takes one {"sleep": S} task and a count'
    return None


def run(job):
    model = job["model"]
    workers = max(1, job.get("workers") or 1)
    tasks = job["tasks"]
    threads = job["count"] if job["workload"] == "spawn" else workers
    engine = {
        "sequential": "one thread, blocking calls",
        "async": "asyncio" + (" + aiohttp" if job["workload"] == "http" else ""),
        "threads": f"{threads} threads ({'GIL' if gil_enabled() else 'no GIL'})",
        "processes": f"{workers} processes (multiprocessing, {multiprocessing.get_start_method()})",
    }[model]
    out = {"engine": engine, "tasks": [], "result": 0, "error": None}
    if model == "async" and job["workload"] == "http":
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            out.update(t0=time.time(), wall=0.0, cpu=0.0, peak_rss_kib=0, engine="asyncio")
            out["error"] = "aiohttp is not installed (pip install aiohttp)"
            return out
    clock = Clock()
    workers_usage = {}
    results = []
    if job["workload"] == "spawn":
        secs, count = tasks[0]["sleep"], job["count"]
        if model == "async":
            out["result"] = asyncio.run(spawn_tasks(count, secs, clock))
        else:
            clock.start()
            out["result"] = spawn_threads(count, secs)
    elif model == "sequential":
        clock.start()
        results = [blocking_task(t) for t in tasks]
    elif model == "async":
        results = asyncio.run(gather_all(job, clock))
    elif model == "threads":
        clock.start()
        with thread_pool(workers) as pool:
            results = list(pool.map(blocking_task, tasks))
    elif model == "processes":
        clock.start()
        pool = multiprocessing.Pool(workers)
        try:
            answers = pool.map(pool_task, tasks, chunksize=1)
        finally:
            pool.close()
            pool.join()
        for result, pid, (cpu, rss) in answers:
            results.append(result)
            # Each report is the process's usage so far: its last (largest) one counts.
            last_cpu, last_rss = workers_usage.get(pid, (0.0, 0))
            workers_usage[pid] = (max(cpu, last_cpu), max(rss, last_rss))
        # The pool's processes, numbered in pid order.
        index = {pid: i for i, pid in enumerate(sorted(workers_usage))}
        for (times, _), (_, pid, _) in zip(results, answers):
            times["worker"] = index[pid]
    out["wall"] = time.perf_counter() - clock.perf0
    out["t0"] = clock.t0
    out["baseline_rss_kib"] = clock.baseline_rss
    cpu1, own_rss = own_usage()
    # This process, and the pool's processes as each reported itself (their CPU is all the
    # job's: a pool process starts for it); peak memory summed over the processes.
    out["cpu"] = cpu1 - clock.cpu0 + sum(cpu for cpu, _ in workers_usage.values())
    out["peak_rss_kib"] = own_rss + sum(rss for _, rss in workers_usage.values())
    for times, answer in results:
        out["tasks"].append(times)
        out["result"] += answer
    return out


def failed(why):
    """The answer to a job that could not run."""
    return {"t0": time.time(), "wall": 0.0, "cpu": 0.0, "peak_rss_kib": 0, "baseline_rss_kib": 0, "tasks": [],
            "result": 0, "error": why, "engine": ""}


def main():
    try:
        job = json.load(sys.stdin)
        error = check(job)
    except ValueError as e:
        error = f"cannot read the job: {e}"
    try:
        out = failed(error) if error else run(job)
    except Exception as e:  # the lab shows the error in the row and goes on
        out = failed(f"{type(e).__name__}: {e}")
    out["version"] = version()
    out["gil"] = gil_enabled()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
