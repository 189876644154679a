"""The Python peer for bench/peers.sh: asyncio + aiohttp, as the seeds would write it.

usage: peers_aiohttp.py URL_TEMPLATE FIRST LAST CONCURRENCY OUT_DIR
Fetches URL_TEMPLATE with {id} = FIRST..LAST, at most CONCURRENCY at once, each into
OUT_DIR/{id}.json. Prints nothing; exits 1 if any request failed.
"""
import asyncio
import os
import sys

import aiohttp


async def main(template, first, last, concurrency, out):
    os.makedirs(out, exist_ok=True)
    limit = asyncio.Semaphore(concurrency)
    failed = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(i):
            nonlocal failed
            async with limit:
                async with session.get(template.replace("{id}", str(i))) as response:
                    body = await response.read()
                    if response.status != 200:
                        failed += 1
                        return
            with open(os.path.join(out, f"{i}.json"), "wb") as f:
                f.write(body)

        await asyncio.gather(*(fetch(i) for i in range(first, last + 1)))
    return 1 if failed else 0


if __name__ == "__main__":
    template, first, last, concurrency, out = sys.argv[1:6]
    sys.exit(asyncio.run(main(template, int(first), int(last), int(concurrency), out)))
