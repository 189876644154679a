"""gather's concurrency lab, in Python: the same jobs as the Rust workers, under asyncio,
threading and multiprocessing, so that the GIL shows in the numbers.

Bundled into the gather binary and run by `gather bench lab --python`. It reads one job as
JSON on stdin and prints what it measured as JSON on stdout:

    {"workload": "sleep" | "http" | "cpu",
     "model": "sequential" | "async" | "threads" | "processes",
     "workers": N,
     "tasks": [{"sleep": 0.1} | {"url": "http://..."} | {"primes": [from, to]}, ...]}

Only the standard library is needed; the async http job uses aiohttp when it is installed and
says so when it is not.
"""

import asyncio
import json
import multiprocessing
import os
import resource
import sys
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


def blocking_task(task):
    """Runs one task, blocking this thread while it waits. Returns (times, answer)."""
    start = time.time()
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
    return {"start": start, "first_byte": first_byte, "end": time.time()}, answer


async def async_task(task, session):
    """Runs one task as a coroutine. CPU work never awaits, so it holds the loop."""
    start = time.time()
    first_byte = None
    if "sleep" in task:
        await asyncio.sleep(task["sleep"])
        answer = 0
    elif "primes" in task:
        answer = count_primes(*task["primes"])
    else:
        async with session.get(task["url"]) as response:
            response.raise_for_status()
            first_byte = time.time()
            answer = len(await response.read())
    return {"start": start, "first_byte": first_byte, "end": time.time()}, answer


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


def own_usage():
    """This process's CPU time (user + system) and peak memory (KiB) so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    rss = own.ru_maxrss // 1024 if sys.platform == "darwin" else own.ru_maxrss
    return own.ru_utime + own.ru_stime, rss


def pool_task(task):
    """A task in a pool process: its result, and the process's own usage so far. (The parent
    cannot count its pool with RUSAGE_CHILDREN: that holds only children it has waited for,
    and under forkserver, Python 3.14's default on Linux, the pool's processes are not its
    children at all.)"""
    result = blocking_task(task)
    return result, os.getpid(), own_usage()


class Clock:
    """The job's clock: its start is taken when the timed work begins."""

    def start(self):
        self.cpu0, _ = own_usage()
        self.t0 = time.time()
        self.perf0 = time.perf_counter()


def run(job):
    model = job["model"]
    workers = max(1, job["workers"])
    tasks = job["tasks"]
    engine = {
        "sequential": "one thread, blocking calls",
        "async": "asyncio" + (" + aiohttp" if job["workload"] == "http" else ""),
        "threads": f"{workers} threads (GIL)",
        "processes": f"{workers} processes (multiprocessing)",
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
    if model == "sequential":
        clock.start()
        results = [blocking_task(t) for t in tasks]
    elif model == "async":
        results = asyncio.run(gather_all(job, clock))
    elif model == "threads":
        clock.start()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(blocking_task, tasks))
    elif model == "processes":
        clock.start()
        pool = multiprocessing.Pool(workers)
        try:
            answers = pool.map(pool_task, tasks, chunksize=1)
        finally:
            pool.close()
            pool.join()
        results = []
        for result, pid, (cpu, rss) in answers:
            results.append(result)
            # Each report is the process's usage so far: its last (largest) one counts.
            last_cpu, last_rss = workers_usage.get(pid, (0.0, 0))
            workers_usage[pid] = (max(cpu, last_cpu), max(rss, last_rss))
    else:
        raise ValueError(f"unknown model {model!r}")
    out["wall"] = time.perf_counter() - clock.perf0
    out["t0"] = clock.t0
    cpu1, own_rss = own_usage()
    # This process, and the pool's processes as each reported itself (their CPU is all the
    # job's: a pool process starts for it); peak memory summed over the processes.
    out["cpu"] = cpu1 - clock.cpu0 + sum(cpu for cpu, _ in workers_usage.values())
    out["peak_rss_kib"] = own_rss + sum(rss for _, rss in workers_usage.values())
    for times, answer in results:
        out["tasks"].append(times)
        out["result"] += answer
    return out


def main():
    job = json.load(sys.stdin)
    try:
        out = run(job)
    except Exception as e:  # the lab shows the error in the row and goes on
        out = {"t0": time.time(), "wall": 0.0, "cpu": 0.0, "peak_rss_kib": 0, "tasks": [],
               "result": 0, "error": f"{type(e).__name__}: {e}", "engine": job.get("model", "")}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
