#!/usr/bin/env python3
"""Interop peer: a Python `websockets` client that exercises an echo server.

Usage: py_client.py URL SCENARIO [--deflate] [--offer PARAMS] [--ca CA.pem]

The server at URL must echo every text and binary message unchanged, answer
pings, and echo the close code and reason.  Each check prints one line; the
exit status is 0 only if every check passed.  See README.md for the contract.
"""

import argparse
import asyncio
import itertools
import random
import ssl
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

SCENARIO_TIMEOUT = 30.0  # seconds, per scenario
CLOSE_TIMEOUT = 10.0  # how long websockets waits for the server to drop TCP
CLEAN_CLOSE_BUDGET = 5.0  # a clean closing handshake must finish within this
MAX_SIZE = 64 * 1024 * 1024

SIZES = [0, 125, 126, 65535, 65536, 1048576, 1048577]

# Characters of 1, 2, 3 and 4 UTF-8 bytes, so that text messages exercise
# UTF-8 validation, including code points cut at frame boundaries.
TEXT_ALPHABET = "The quick brown fox jumps over the lazy dog. é ü ß € ✓ 漢字 😀 🎉 "


class CheckFailed(Exception):
    pass


def ok(message: str) -> None:
    print(f"ok   {message}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
    ok(message)


def text_of_size(nbytes: int) -> str:
    """Deterministic mixed ASCII / multi-byte text whose UTF-8 encoding is
    exactly `nbytes` long."""
    chars = []
    used = 0
    i = 0
    while used < nbytes:
        char = TEXT_ALPHABET[i % len(TEXT_ALPHABET)]
        i += 1
        width = len(char.encode())
        if used + width > nbytes:
            char, width = "x", 1
        chars.append(char)
        used += width
    return "".join(chars)


def bytes_of_size(nbytes: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(nbytes)


def describe(message: str | bytes) -> str:
    kind = "text" if isinstance(message, str) else "binary"
    size = len(message.encode()) if isinstance(message, str) else len(message)
    return f"{kind} message of {size} bytes"


async def expect_echo(ws: ClientConnection, sent: str | bytes, label: str) -> None:
    received = await ws.recv()
    if type(received) is not type(sent):
        raise CheckFailed(f"{label}: sent {describe(sent)}, got {describe(received)}")
    if received != sent:
        raise CheckFailed(f"{label}: echo differs from what was sent ({describe(received)})")
    ok(f"{label}: echoed {describe(sent)}")


# Scenarios ------------------------------------------------------------------


async def scenario_sizes(ws: ClientConnection) -> None:
    for size in SIZES:
        text = text_of_size(size)
        await ws.send(text)
        await expect_echo(ws, text, f"sizes: text {size}")

        data = bytes_of_size(size, seed=size)
        await ws.send(data)
        await expect_echo(ws, data, f"sizes: binary {size}")


async def scenario_fragmented(ws: ClientConnection) -> None:
    # websockets sends each item of an iterable as one frame, then a final
    # empty continuation frame with FIN set.
    fragments = ["Hello, ", "fragmented ", "wörld € ", "😀", ""]
    await ws.send(fragments)
    await expect_echo(ws, "".join(fragments), "fragmented: text (str fragments)")

    # Split multi-byte code points across frames: '€' is e2 82 ac and '😀' is
    # f0 9f 98 80.  Each fragment alone is invalid UTF-8; the whole is valid.
    encoded = "a€b😀c".encode()
    cuts = [0, 2, 3, 6, 8, len(encoded)]
    pieces = [encoded[start:end] for start, end in itertools.pairwise(cuts)]
    await ws.send(pieces, text=True)
    await expect_echo(ws, encoded.decode(), "fragmented: text split inside code points")

    blobs = [bytes_of_size(1000, seed=i) for i in range(5)] + [b""]
    await ws.send(blobs)
    await expect_echo(ws, b"".join(blobs), "fragmented: binary")

    big = [text_of_size(70000)] * 3
    await ws.send(big)
    await expect_echo(ws, "".join(big), "fragmented: text with 70000-byte fragments")

    # A ping sent between two fragments of the same message: the server must
    # answer it and still reassemble the message.
    pong_waiters = []

    async def fragments_with_ping():
        yield b"before ping, "
        pong_waiters.append(await ws.ping(b"mid-fragment"))
        yield b"after ping"

    await ws.send(fragments_with_ping())
    await expect_echo(ws, b"before ping, after ping", "fragmented: ping between fragments")
    await pong_waiters[0]
    ok("fragmented: pong for ping sent between fragments")


async def scenario_ping(ws: ClientConnection) -> None:
    # websockets completes the waiter only for a pong carrying the same payload.
    for payload in [b"hello-ping", b"", bytes(range(125))]:
        pong = await ws.ping(payload)
        await pong
        ok(f"ping: pong with the same {len(payload)}-byte payload")

    await ws.send("message around a ping")
    pong = await ws.ping(b"interleaved")
    await expect_echo(ws, "message around a ping", "ping: message sent before a ping")
    await pong
    ok("ping: pong after a message")


async def scenario_close(ws: ClientConnection) -> None:
    await ws.send("before close")
    await expect_echo(ws, "before close", "close: message before close")

    started = time.monotonic()
    await ws.close(4000, "bye from peer")
    elapsed = time.monotonic() - started

    close_rcvd = ws.protocol.close_rcvd
    check(close_rcvd is not None, "close: server sent a close frame")
    check(close_rcvd.code == 4000, f"close: server echoed code {close_rcvd.code} (want 4000)")
    # RFC 6455 §5.5.1: the echo typically repeats the code; the reason is optional.
    check(
        close_rcvd.reason in ("", "bye from peer"),
        f"close: server echoed reason {close_rcvd.reason!r} (want '' or 'bye from peer')",
    )
    check(
        elapsed < CLEAN_CLOSE_BUDGET,
        f"close: handshake and TCP close took {elapsed:.3f}s (limit {CLEAN_CLOSE_BUDGET}s)",
    )


async def scenario_compressible(ws: ClientConnection) -> None:
    # First the same 16 KiB of random bytes twice: alone they do not
    # compress, but with context takeover (and a window of 32 KiB) the
    # second copy is a back-reference to the first.
    noise = bytes_of_size(16384, seed=16384)
    for label in ["compressible: random 16 KiB", "compressible: the same random 16 KiB again"]:
        await ws.send(noise)
        await expect_echo(ws, noise, label)
    repeated = ("wsmachine compresses this line well. " * 1800)[:65536]
    await ws.send(repeated)
    await expect_echo(ws, repeated, "compressible: highly compressible 64 KiB text")
    for size in [1, 125, 126, 65536, 1048577]:
        text = text_of_size(size)
        await ws.send(text)
        await expect_echo(ws, text, f"compressible: text {size}")
        data = bytes(size)
        await ws.send(data)
        await expect_echo(ws, data, f"compressible: binary zeros {size}")
    data = bytes_of_size(100_000, seed=7)
    await ws.send(data)
    await expect_echo(ws, data, "compressible: incompressible binary 100000")
    pieces = [repeated[:1000], repeated[1000:40000], repeated[40000:]]
    await ws.send(pieces)
    await expect_echo(ws, repeated, "compressible: fragmented 64 KiB text")


async def scenario_vanish(ws: ClientConnection) -> None:
    await ws.send("about to vanish")
    await expect_echo(ws, "about to vanish", "vanish: message before vanishing")
    ws.transport.abort()  # drop TCP without a close frame
    ok("vanish: connection aborted without a close frame")


async def scenario_many(ws: ClientConnection) -> None:
    count = 1000
    messages = [f"message {i:04d} ✓" for i in range(count)]

    async def send_all():
        for message in messages:
            await ws.send(message)

    sender = asyncio.create_task(send_all())
    for i, expected in enumerate(messages):
        received = await ws.recv()
        if received != expected:
            raise CheckFailed(f"many: echo #{i} is {received!r}, want {expected!r}")
    await sender
    ok(f"many: {count} echoes received in order")


SCENARIOS = {
    "sizes": scenario_sizes,
    "fragmented": scenario_fragmented,
    "ping": scenario_ping,
    "close": scenario_close,
    "vanish": scenario_vanish,
    "many": scenario_many,
    "compressible": scenario_compressible,
}
ALL = ["sizes", "fragmented", "ping", "close", "many"]


def deflate_offer(params: str) -> ClientPerMessageDeflateFactory:
    """`server_no_context_takeover; client_max_window_bits=10` as websockets'
    client extension factory."""
    kwargs: dict[str, bool | int] = {}
    for param in filter(None, (p.strip() for p in params.split(";"))):
        name, _, value = param.partition("=")
        kwargs[name.strip()] = int(value) if value else True
    # The default is to offer client_max_window_bits without a value.
    kwargs.setdefault("client_max_window_bits", True)
    return ClientPerMessageDeflateFactory(**kwargs, compress_settings={"memLevel": 5})


async def run_scenario(
    url: str, name: str, deflate: bool, offer: str | None, tls: ssl.SSLContext | None
) -> None:
    if offer is not None:
        compression = {"compression": None, "extensions": [deflate_offer(offer)]}
    else:
        compression = {"compression": "deflate" if deflate else None}
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT):
            async with connect(
                url,
                **compression,
                max_size=MAX_SIZE,
                ping_interval=None,
                close_timeout=CLOSE_TIMEOUT,
                **({"ssl": tls} if tls is not None else {}),
            ) as ws:
                if deflate or offer is not None:
                    agreed = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
                    check("permessage-deflate" in agreed, f"{name}: server did not accept permessage-deflate")
                    ok(f"{name}: permessage-deflate negotiated ({agreed})")
                    ok(f"{name}: in force {ws.protocol.extensions[0]!r}")
                await SCENARIOS[name](ws)
    except TimeoutError:
        raise CheckFailed(f"{name}: timed out after {SCENARIO_TIMEOUT}s") from None
    except CheckFailed:
        raise
    except Exception as error:  # connection refused, closed, protocol error, ...
        raise CheckFailed(f"{name}: {type(error).__name__}: {error}") from error


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--deflate", action="store_true", help="enable permessage-deflate")
    parser.add_argument(
        "--offer",
        metavar="PARAMS",
        help="offer permessage-deflate with these parameters ('server_no_context_takeover; client_max_window_bits=10')",
    )
    parser.add_argument("--ca", metavar="CA.pem", help="for wss://: trust only this certificate (PEM)")
    args = parser.parse_args()
    tls = None
    if args.ca is not None:
        tls = ssl.create_default_context(cafile=args.ca)

    names = ALL if args.scenario == "all" else [args.scenario]
    try:
        for name in names:
            await run_scenario(args.url, name, args.deflate, args.offer, tls)
    except CheckFailed as failure:
        print(f"FAIL {failure}", flush=True)
        return 1
    print(f"py_client: all checks passed ({', '.join(names)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
