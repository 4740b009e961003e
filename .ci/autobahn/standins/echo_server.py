#!/usr/bin/env python3
"""Stand-in echo server for checking the harness (not the system under test).

usage: python echo_server.py 127.0.0.1:PORT   (needs `pip install websockets`)
Echoes every text/binary message back unchanged, no compression.
"""
import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def main(addr):
    host, port = addr.rsplit(":", 1)
    async with serve(echo, host, int(port), compression=None, max_size=2**26,
                     max_queue=None, ping_interval=None, close_timeout=2):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
