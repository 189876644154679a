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


async def gather_all(job):
    if job["workload"] != "http":
        return await asyncio.gather(*(async_task(t, None) for t in job["tasks"]))
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await asyncio.gather(*(async_task(t, session) for t in job["tasks"]))


def usage():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return cpu, own.ru_maxrss, children.ru_maxrss


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
    cpu0, _, _ = usage()
    out["t0"] = time.time()
    start = time.perf_counter()
    if model == "sequential":
        results = [blocking_task(t) for t in tasks]
    elif model == "async":
        results = asyncio.run(gather_all(job))
    elif model == "threads":
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(blocking_task, tasks))
    elif model == "processes":
        pool = multiprocessing.Pool(workers)
        try:
            results = pool.map(blocking_task, tasks, chunksize=1)
        finally:
            pool.close()
            pool.join()
    else:
        raise ValueError(f"unknown model {model!r}")
    out["wall"] = time.perf_counter() - start
    cpu1, own_rss, child_rss = usage()
    out["cpu"] = cpu1 - cpu0
    # ru_maxrss of the children is the largest child's; the pool ran `workers` of about that.
    extra = child_rss * workers if model == "processes" else 0
    if sys.platform == "darwin":
        own_rss, extra = own_rss // 1024, extra // 1024
    out["peak_rss_kib"] = own_rss + extra
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
