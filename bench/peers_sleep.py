"""The Python peer for W4 in bench/peers.sh: N concurrent asyncio sleeps of 1 s.

usage: peers_sleep.py TASKS
"""
import asyncio
import sys


async def main(tasks):
    await asyncio.gather(*(asyncio.sleep(1) for _ in range(tasks)))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
