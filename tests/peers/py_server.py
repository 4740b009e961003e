#!/usr/bin/env python3
"""Interop peer: a Python `websockets` echo server with a few test commands.

Usage: py_server.py [--deflate] [--cert CERT.pem --key KEY.pem]

Listens on 127.0.0.1 on an ephemeral port and prints `LISTENING <port>` once
ready; with --cert and --key it speaks TLS (wss://) with that certificate.  Exits on SIGTERM/SIGINT or when stdin reaches EOF, so that it never
outlives the test that spawned it.  See README.md for the commands.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Awaitable

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConcurrencyError, ConnectionClosed, ProtocolError

MAX_SIZE = 64 * 1024 * 1024
PONG_TIMEOUT = 10.0  # seconds to wait for the pong answering `cmd:ping`


def split_fragments(data: bytes, count: int) -> list[bytes]:
    """Split `data` into `count` roughly equal byte ranges.  Boundaries may
    fall inside a UTF-8 code point: reassembly must cope with that."""
    return [data[len(data) * i // count : len(data) * (i + 1) // count] for i in range(count)]


def handshake_info(ws: ServerConnection) -> str:
    headers: dict[str, str] = {}
    for name, value in ws.request.headers.raw_items():
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return json.dumps({"path": ws.request.path, "headers": headers})


async def report_pong(ws: ServerConnection, payload: str, pong_received: Awaitable[float]) -> None:
    try:
        await asyncio.wait_for(pong_received, PONG_TIMEOUT)
        await ws.send(f"pong:{payload}")
    except TimeoutError:
        await ws.send(f"error:no pong for ping {payload!r} within {PONG_TIMEOUT}s")
    except ConnectionClosed:
        pass


async def run_command(ws: ServerConnection, command: str, tasks: set[asyncio.Task]) -> None:
    name, _, args = command.removeprefix("cmd:").partition(":")
    try:
        if name == "close":
            code, _, reason = args.partition(":")
            await ws.close(int(code), reason)
        elif name == "ping":
            pong_received = await ws.ping(args.encode())
            # Wait for the pong in the background so that echoing goes on.
            task = asyncio.create_task(report_pong(ws, args, pong_received))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif name == "fragments":
            count, _, text = args.partition(":")
            if int(count) < 1:
                raise ValueError(f"invalid fragment count {count}")
            # An iterable of bytes with text=True: one frame per item, then an
            # empty final continuation frame.
            await ws.send(split_fragments(text.encode(), int(count)), text=True)
        elif name == "headers":
            await ws.send(handshake_info(ws))
        else:
            await ws.send(f"error:unknown command {command!r}")
    except (ValueError, ProtocolError, ConcurrencyError) as error:
        await ws.send(f"error:bad command {command!r}: {error}")


async def handler(ws: ServerConnection) -> None:
    tasks: set[asyncio.Task] = set()
    try:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path).query)
        for greeting in query.get("greet", []):
            await ws.send(greeting)
        async for message in ws:
            if isinstance(message, str) and message.startswith("cmd:"):
                await run_command(ws, message, tasks)
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass  # includes clients that vanish without a close frame
    finally:
        for task in tasks:
            task.cancel()


def select_subprotocol(ws: ServerConnection, offered: list[str]) -> str | None:
    return "chat" if "chat" in offered else None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deflate", action="store_true", help="enable permessage-deflate")
    parser.add_argument("--cert", help="serve TLS with this certificate (PEM)")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    args = parser.parse_args()
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    tls = None
    if args.cert is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    # Exit when the parent closes our stdin (or dies).  A daemon thread, as a
    # blocking read cannot be cancelled; os.read on the raw descriptor, as a
    # thread blocked inside sys.stdin would hold its lock at shutdown.
    def wait_for_stdin_eof() -> None:
        while os.read(sys.stdin.fileno(), 65536):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin_eof, daemon=True).start()

    async with serve(
        handler,
        "127.0.0.1",
        0,
        compression="deflate" if args.deflate else None,
        max_size=MAX_SIZE,
        ping_interval=None,
        select_subprotocol=select_subprotocol,
        ssl=tls,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
