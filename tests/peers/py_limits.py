#!/usr/bin/env python3
"""Interop peer: a Python `websockets` client that probes an echo server's
size limits with incompressible messages.

Usage: py_limits.py URL [--deflate] [--mem-level N] CASE...

Each CASE is `SIZExFRAMES`: one binary message of SIZE seeded pseudo-random
bytes, sent in FRAMES frames of about equal size (1: a single frame), on a
fresh connection to `URL/SIZExFRAMES`.  For each case one line reports what
happened, for the caller to judge:

    RESULT <case> echo             the identical message came back
    RESULT <case> closed <code>    the server closed (code, or `none`)
    RESULT <case> error <what>     anything else (wrong echo, timeout, ...)

and, with compression, `NEGOTIATED <case> <Sec-WebSocket-Extensions>`.
Exit status 0 once every case has a RESULT line, 2 on bad usage.
See README.md.
"""

import argparse
import asyncio
import random
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

CASE_TIMEOUT = 20.0  # seconds, per case
MAX_SIZE = 64 * 1024 * 1024


def parse_case(case: str) -> tuple[int, int]:
    size, _, frames = case.partition("x")
    return int(size), int(frames or 1)


def fragments(data: bytes, count: int) -> list[bytes]:
    return [data[len(data) * i // count : len(data) * (i + 1) // count] for i in range(count)]


async def run_case(url: str, case: str, deflate: bool, mem_level: int) -> str:
    size, frames = parse_case(case)
    message = random.Random(size).randbytes(size)
    extensions = [ClientPerMessageDeflateFactory(compress_settings={"memLevel": mem_level})] if deflate else None
    try:
        async with asyncio.timeout(CASE_TIMEOUT):
            async with connect(
                f"{url}/{case}",
                compression=None,
                extensions=extensions,
                max_size=MAX_SIZE,
                ping_interval=None,
                close_timeout=5,
            ) as ws:
                if deflate:
                    agreed = ws.response.headers.get("Sec-WebSocket-Extensions") or "none"
                    print(f"NEGOTIATED {case} {agreed}", flush=True)
                try:
                    # An iterable sends one frame per item, then an empty
                    # final continuation frame.
                    await ws.send(message if frames == 1 else fragments(message, frames))
                    echo = await ws.recv()
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd is not None else "none"
                    return f"closed {code}"
                if echo != message:
                    return f"error echo of {len(echo)} bytes differs"
                return "echo"
    except TimeoutError:
        return f"error timed out after {CASE_TIMEOUT}s"
    except Exception as error:  # connection refused, protocol error, ...
        return f"error {type(error).__name__}: {error}"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("cases", nargs="+", metavar="CASE")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--mem-level", type=int, default=5, help="zlib memLevel for compressing (default 5)")
    args = parser.parse_args()
    try:
        for case in args.cases:
            parse_case(case)
    except ValueError:
        parser.error("a CASE is SIZExFRAMES, e.g. 262144x1")
    for case in args.cases:
        outcome = await run_case(args.url, case, args.deflate, args.mem_level)
        print(f"RESULT {case} {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
