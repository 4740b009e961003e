#!/usr/bin/env python3
"""Stand-in fuzzingserver client for checking the harness (not the system under test).

usage: python autobahn_client.py ws://127.0.0.1:PORT AGENT   (needs `pip install websockets`)
/getCaseCount, then /runCase?case=N&agent=AGENT echoing every message, then
/updateReports?agent=AGENT. Every connection is bounded by a timeout.
"""
import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

OPTS = dict(compression=None, max_size=2**26, max_queue=None, ping_interval=None,
            close_timeout=2, open_timeout=10, proxy=None)
CASE_TIMEOUT = 60


async def run_case(url):
    try:
        async with connect(url, **OPTS) as ws:
            async for msg in ws:
                await ws.send(msg)
    except (ConnectionClosed, InvalidHandshake, OSError):
        pass  # many cases end in a protocol error on purpose


async def main(base, agent):
    async with connect(base + "/getCaseCount", **OPTS) as ws:
        count = int(await asyncio.wait_for(ws.recv(), 10))
    print("case count:", count, flush=True)
    for n in range(1, count + 1):
        try:
            await asyncio.wait_for(run_case("%s/runCase?case=%d&agent=%s" % (base, n, agent)), CASE_TIMEOUT)
        except asyncio.TimeoutError:
            print("case %d timed out" % n, flush=True)
    async with connect("%s/updateReports?agent=%s" % (base, agent), **OPTS) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except ConnectionClosed:
            pass
    print("reports updated", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
