"""The seeds' xkcd lesson in Python: download comics one after another, then all at once with
asyncio.gather and aiohttp, saving each comic's JSON to its own file.

Bundled into the gather binary and run by `gather bench --python`, against the same server
and on the same comics as gather's own runs. It reads one job as JSON on stdin:

    {"comics": [[1, "http://127.0.0.1:PORT/1/info.0.json"], [2, ...], ...],
     "out": "DIR", "runs": ["sequential", "concurrent"], "concurrency": 200}

and prints what it measured as JSON on stdout: per run, the client, the wall time, the
comics saved and failed, and each request's start and end (unix times) for a waterfall.
Blocking requests use `requests` when it is installed, else `urllib.request`; the
concurrent run needs aiohttp and says so when it is missing.
"""

import asyncio
import contextlib
import json
import os
import sys
import time

try:
    import requests
except ImportError:
    requests = None
    import urllib.request


def get(url):
    """One blocking GET: the body, or an error for a status that is not 2xx."""
    if requests is not None:
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        return response.content
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def save(out, comic_id, body):
    """Create a file with a unique name and paste the JSON contents in it."""
    with open(os.path.join(out, f"{comic_id}.json"), "wb") as file:
        file.write(body)


# The seeds' two ways. `timed(comic_id)` notes when each request started and ended.


def download_one_by_one(comics, out, timed):
    for comic_id, url in comics:
        with timed(comic_id):
            body = get(url)
            save(out, comic_id, body)


async def download(session, comic_id, url, out, timed):
    with timed(comic_id):
        async with session.get(url) as response:
            response.raise_for_status()
            body = await response.read()
        save(out, comic_id, body)


async def download_all_at_once(comics, out, timed, session):
    await asyncio.gather(
        *(download(session, comic_id, url, out, timed) for comic_id, url in comics)
    )


# Timing and reporting.


class Waterfall:
    """Each request's start and end (unix times), and the first failure."""

    def __init__(self):
        self.requests = []
        self.failed = 0
        self.first_error = None

    @contextlib.contextmanager
    def timed(self, comic_id):
        start = time.time()
        ok = True
        try:
            yield
        except Exception as e:  # a failed comic is counted, and the others go on
            ok = False
            self.failed += 1
            self.first_error = self.first_error or f"comic {comic_id}: {type(e).__name__}: {e}"
        self.requests.append([comic_id, start, time.time(), ok])


def blocking_client():
    if requests is not None:
        return f"requests {requests.__version__}"
    return "urllib.request"


def run_sequential(job, out):
    waterfall = Waterfall()
    t0 = time.time()
    start = time.perf_counter()
    download_one_by_one(job["comics"], out, waterfall.timed)
    return report("sequential", blocking_client(), 1, t0, time.perf_counter() - start, waterfall)


def run_concurrent(job, out):
    try:
        import aiohttp
    except ImportError:
        return {"mode": "concurrent", "client": "aiohttp",
                "error": "aiohttp is not installed (pip install aiohttp)"}

    async def timed_run():
        # No cap but the job's: aiohttp's default connector allows 100 connections at once.
        connector = aiohttp.TCPConnector(limit=job["concurrency"])
        # The session is made before the clock starts, as gather builds its clients first.
        async with aiohttp.ClientSession(connector=connector) as session:
            waterfall = Waterfall()
            t0 = time.time()
            start = time.perf_counter()
            await download_all_at_once(job["comics"], out, waterfall.timed, session)
            return t0, time.perf_counter() - start, waterfall

    t0, wall, waterfall = asyncio.run(timed_run())
    client = f"aiohttp {aiohttp.__version__}"
    return report("concurrent", client, job["concurrency"], t0, wall, waterfall)


def report(mode, client, concurrency, t0, wall, waterfall):
    return {
        "mode": mode,
        "client": client,
        "concurrency": concurrency,
        "t0": t0,
        "wall": wall,
        "ok": len(waterfall.requests) - waterfall.failed,
        "failed": waterfall.failed,
        "first_error": waterfall.first_error,
        "requests": waterfall.requests,
    }


def main():
    job = json.load(sys.stdin)
    runs = []
    for mode in job["runs"]:
        out = os.path.join(job["out"], mode)
        os.makedirs(out, exist_ok=True)
        try:
            run = run_sequential if mode == "sequential" else run_concurrent
            runs.append(run(job, out))
        except Exception as e:  # gather shows the error in the row and goes on
            runs.append({"mode": mode, "error": f"{type(e).__name__}: {e}"})
    json.dump({"python": sys.version.split()[0], "runs": runs}, sys.stdout)


if __name__ == "__main__":
    main()
