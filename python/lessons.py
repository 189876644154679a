"""The seeds' lesson demos, timed: gather runs this script for its deck (`gather bench
--report`) and shows the code between the `# lesson:begin NAME` and `# lesson:end NAME` markers
on the slides, so the code on a slide is the code that ran.

Bundled into the gather binary. It reads a job as JSON on stdin:

    {"scale": 0.1, "runs": 3, "search": "http://127.0.0.1:PORT/search?q="}

and prints what it measured as JSON on stdout: for each demo, every run's wall time and the
lines the demo printed, each with when it was printed (seconds since the demo started).

`scale` shrinks every wait: asyncio.sleep, time.sleep and wait_for's timeout are wrapped so
that the seeds' code runs unchanged, 1 s in the code taking `scale` seconds. Only the standard
library is needed; the search demo uses aiohttp, as the seed does, and says so when it is
missing.
"""

import asyncio
import io
import json
import sys
import time
from contextlib import redirect_stdout

JOB = json.load(sys.stdin)
SCALE = float(JOB["scale"])
SEARCH = JOB["search"]

_sleep, _wait_for, _time_sleep = asyncio.sleep, asyncio.wait_for, time.sleep


async def _scaled_sleep(delay, *args, **kwargs):
    return await _sleep(delay * SCALE, *args, **kwargs)


async def _scaled_wait_for(aw, timeout, **kwargs):
    return await _wait_for(aw, None if timeout is None else timeout * SCALE, **kwargs)


asyncio.sleep = _scaled_sleep
asyncio.wait_for = _scaled_wait_for
time.sleep = lambda seconds: _time_sleep(seconds * SCALE)

try:
    import aiohttp
except ImportError:
    aiohttp = None

# lesson:begin sleep_coro
async def sleep_coro(duration):
    await asyncio.sleep(duration)
# lesson:end sleep_coro


async def sleep_in_turn():
    # lesson:begin sleep_in_turn
    obj1 = sleep_coro(1)
    obj2 = sleep_coro(2)
    obj3 = sleep_coro(3)
    await obj1
    await obj2
    await obj3
    # lesson:end sleep_in_turn


async def sleep_gathered():
    obj1 = sleep_coro(1)
    obj2 = sleep_coro(2)
    obj3 = sleep_coro(3)
    # lesson:begin sleep_gathered
    await asyncio.gather(obj1, obj2, obj3)
    # lesson:end sleep_gathered


# lesson:begin count
async def count():
    print("one")
    await asyncio.sleep(1)
    print("two")

async def run():
    await asyncio.gather(count(), count(), count())
# lesson:end count


# lesson:begin count_blocking
def count_blocking():
    print("one")
    time.sleep(1)
    print("two")

def run_blocking():
    for _ in range(3):
        count_blocking()
# lesson:end count_blocking


# lesson:begin foo
async def foo(text):
    print(text)
    await asyncio.sleep(2)
# lesson:end foo


# lesson:begin task_print_first
async def main_print_first():
    print('I am Main')
    task = asyncio.create_task(foo('I am foo'))
    print('finished')
    await task
# lesson:end task_print_first


# lesson:begin task_sleep_first
async def main_sleep_first():
    print('I am Main')
    task = asyncio.create_task(foo('I am foo'))
    await asyncio.sleep(0.5)
    print('finished')
# lesson:end task_sleep_first


# lesson:begin wait_for
async def long_running_task(seconds):
    await asyncio.sleep(seconds)
    return "Task completed"

async def main_wait_for(seconds):
    try:
        result = await asyncio.wait_for(long_running_task(seconds), timeout=3)
        print(result)
    except asyncio.TimeoutError:
        print("Task timed out!")
# lesson:end wait_for


# lesson:begin fetch
async def fetch(url):
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return await response.text()
# lesson:end fetch

name_arr = ['Yash', 'KOSS', 'Your Name']


async def search_in_turn():
    # lesson:begin search_in_turn
    for name in name_arr:
        await fetch(f"{SEARCH}{name}")
    # lesson:end search_in_turn


async def search_gathered():
    # lesson:begin search_gathered
    await asyncio.gather(*(fetch(f"{SEARCH}{name}") for name in name_arr))
    # lesson:end search_gathered


class Lines(io.TextIOBase):
    """Standard output for one demo: each line it prints, with when (since `start`)."""

    def __init__(self, start):
        self.start, self.lines, self.pending = start, [], ""

    def write(self, text):
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self.lines.append([time.perf_counter() - self.start, line])
        return len(text)


# Each demo: its name, what runs it, and its wall time with zero overhead in the code's seconds.
DEMOS = [
    ("sleep.in_turn", lambda: asyncio.run(sleep_in_turn()), 6),
    ("sleep.gathered", lambda: asyncio.run(sleep_gathered()), 3),
    ("count.async", lambda: asyncio.run(run()), 1),
    ("count.blocking", run_blocking, 3),
    ("task.print_first", lambda: asyncio.run(main_print_first()), 2),
    ("task.sleep_first", lambda: asyncio.run(main_sleep_first()), 0.5),
    ("wait_for.timeout", lambda: asyncio.run(main_wait_for(5)), 3),
    ("wait_for.in_time", lambda: asyncio.run(main_wait_for(1)), 1),
    ("search.in_turn", lambda: asyncio.run(search_in_turn()), None),
    ("search.gathered", lambda: asyncio.run(search_gathered()), None),
]


def measure(name, demo):
    if name.startswith("search.") and aiohttp is None:
        return {"error": "aiohttp is not installed (pip install aiohttp)"}
    start = time.perf_counter()
    out = Lines(start)
    try:
        with redirect_stdout(out):
            demo()
    except Exception as e:  # a demo that fails spoils only its own row
        return {"error": f"{type(e).__name__}: {e}"}
    return {"wall": time.perf_counter() - start, "lines": out.lines}


def main():
    results = {name: {"expected": expected, "runs": []} for name, _, expected in DEMOS}
    for _ in range(int(JOB["runs"])):
        for name, demo, _ in DEMOS:
            run = measure(name, demo)
            if "error" in run:
                results[name]["error"] = run["error"]
            else:
                results[name]["runs"].append(run)
    versions = {"python": sys.version.split()[0]}
    if aiohttp is not None:
        versions["aiohttp"] = aiohttp.__version__
    json.dump({"versions": versions, "demos": results}, sys.stdout)


main()
