#!/usr/bin/env python3
"""Interop peer: a WebSocket over HTTP/2 (RFC 8441) client built from Python
`h2` (HTTP/2) and `wsproto` (WebSocket framing, permessage-deflate), none of
it shared with the Rust stack under test.

Usage: py_h2_client.py URL [--deflate] [--protocol NAME] [--get PATH]

URL is ws://HOST:PORT/PATH of an echo server speaking HTTP/2 with prior
knowledge (cleartext). The client checks that the server's SETTINGS carry
SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, opens an extended CONNECT (:protocol
websocket) to PATH offering permessage-deflate (--deflate) and a subprotocol
(--protocol), echoes text and binary messages of 0 to 1 MiB, counts from the
raw DATA bytes how many of the server's messages had RSV1 set, sends
`PATH?` plain GET requests on the same connection while the WebSocket is
open (--get), closes with 4000 "bye from h2", and checks that the server
answers with the same code and then ends its side of the stream with
END_STREAM (no RST_STREAM). Each check prints `ok   <what>`; the first
failure prints `FAIL <what>` and exits 1.
"""

import argparse
import random
import socket
import sys
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import PerMessageDeflate

# The checks and text of the websockets client beside this script.
from py_client import CheckFailed, check, ok, text_of_size

TIMEOUT = 30.0
SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


class FrameScanner:
    """Reads WebSocket frame headers from the server's byte stream (unmasked
    frames) to see the RSV1 bits that wsproto does not report."""

    def __init__(self) -> None:
        self.buffer = b""
        self.skip = 0
        self.messages = 0
        self.compressed = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.skip:
                n = min(self.skip, len(self.buffer))
                self.buffer = self.buffer[n:]
                self.skip -= n
                if self.skip:
                    return
            if len(self.buffer) < 2:
                return
            first, second = self.buffer[0], self.buffer[1]
            length, head = second & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, head = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, head = int.from_bytes(self.buffer[2:10], "big"), 10
            if first & 0x0F in (1, 2):
                self.messages += 1
                self.compressed += bool(first & 0x40)
            self.buffer = self.buffer[head:]
            self.skip = length


class H2WebSocket:
    def __init__(self, url: str, deflate: bool, protocol: str | None) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.authority = parsed.netloc
        self.path = parsed.path or "/"
        if parsed.query:
            self.path += "?" + parsed.query
        self.sock = socket.create_connection((parsed.hostname, parsed.port or 80), TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.deflate = PerMessageDeflate() if deflate else None
        self.protocol = protocol
        self.ws: Connection | None = None
        self.stream_id: int | None = None
        self.scanner = FrameScanner()
        self.response_headers: dict[str, str] | None = None
        self.ws_events: list = []
        self.stream_ended = False
        self.stream_reset = None
        self.remote_settings: dict = {}
        self.plain: dict[int, dict] = {}

    # --- HTTP/2 plumbing ----------------------------------------------------
    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def read(self) -> None:
        """Reads once from the socket and handles every HTTP/2 event."""
        data = self.sock.recv(1 << 16)
        if not data:
            raise CheckFailed("the server closed the TCP connection")
        for event in self.h2.receive_data(data):
            self.handle(event)
        self.flush()

    def handle(self, event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            for code, setting in event.changed_settings.items():
                self.remote_settings[code] = setting.new_value
        elif isinstance(event, h2.events.ResponseReceived):
            headers = dict(event.headers)
            if event.stream_id == self.stream_id:
                self.response_headers = headers
            elif event.stream_id in self.plain:
                self.plain[event.stream_id]["status"] = headers[":status"]
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.stream_id == self.stream_id and event.data:
                if self.ws.state is ConnectionState.CLOSED:
                    raise CheckFailed(f"{len(event.data)} bytes after the closing handshake")
                self.scanner.feed(event.data)
                self.ws.receive_data(event.data)
                self.ws_events.extend(self.ws.events())
            elif event.stream_id in self.plain:
                self.plain[event.stream_id]["body"] += event.data
        elif isinstance(event, h2.events.StreamEnded):
            if event.stream_id == self.stream_id:
                self.stream_ended = True
            elif event.stream_id in self.plain:
                self.plain[event.stream_id]["done"] = True
        elif isinstance(event, h2.events.StreamReset):
            if event.stream_id == self.stream_id:
                self.stream_reset = event.error_code
            elif event.stream_id in self.plain:
                raise CheckFailed(f"GET stream reset: {event.error_code!r}")
        elif isinstance(event, h2.events.ConnectionTerminated):
            raise CheckFailed(f"the server sent GOAWAY: {event.error_code!r}")

    def send_data(self, data: bytes, end_stream: bool = False) -> None:
        """Sends DATA within the flow-control windows, reading meanwhile."""
        while data:
            window = min(
                self.h2.local_flow_control_window(self.stream_id),
                self.h2.max_outbound_frame_size,
            )
            if window <= 0:
                self.read()
                continue
            chunk, data = data[:window], data[window:]
            self.h2.send_data(self.stream_id, chunk, end_stream=end_stream and not data)
            self.flush()
        if end_stream and not data:
            self.flush()

    # --- the checks ---------------------------------------------------------
    def handshake_settings(self) -> None:
        self.h2.initiate_connection()
        self.flush()
        enable = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
        while enable not in self.remote_settings:
            self.read()
        check(
            self.remote_settings[enable] == 1,
            "the server's SETTINGS carry SETTINGS_ENABLE_CONNECT_PROTOCOL = 1",
        )

    def connect(self) -> None:
        self.stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", self.path),
            (":authority", self.authority),
            ("sec-websocket-version", "13"),
        ]
        if self.protocol:
            headers.append(("sec-websocket-protocol", self.protocol))
        if self.deflate:
            offer = self.deflate.offer()
            value = self.deflate.name if offer is True else f"{self.deflate.name}; {offer}"
            headers.append(("sec-websocket-extensions", value))
        self.h2.send_headers(self.stream_id, headers, end_stream=False)
        self.flush()
        while self.response_headers is None:
            if self.stream_reset is not None:
                raise CheckFailed(f"the CONNECT was reset: {self.stream_reset!r}")
            self.read()
        status = self.response_headers.get(":status")
        check(status == "200", f"extended CONNECT answered {status}")
        extensions = []
        agreed = self.response_headers.get("sec-websocket-extensions")
        if agreed:
            check(self.deflate is not None, f"agreed extensions: {agreed}")
            self.deflate.finalize(agreed)
            extensions.append(self.deflate)
        elif self.deflate:
            raise CheckFailed("permessage-deflate offered but not agreed")
        chosen = self.response_headers.get("sec-websocket-protocol")
        check(chosen == self.protocol, f"subprotocol chosen: {chosen}")
        self.ws = Connection(ConnectionType.CLIENT, extensions=extensions)

    def next_ws_event(self):
        while not self.ws_events:
            if self.stream_reset is not None:
                raise CheckFailed(f"the WebSocket's stream was reset: {self.stream_reset!r}")
            if self.stream_ended:
                raise CheckFailed("the WebSocket's stream ended early")
            self.read()
        return self.ws_events.pop(0)

    def next_message(self):
        parts, kind = [], None
        while True:
            event = self.next_ws_event()
            if isinstance(event, Ping):
                self.send_data(self.ws.send(event.response()))
                continue
            if not isinstance(event, (TextMessage, BytesMessage)):
                raise CheckFailed(f"expected a message, got {event!r}")
            kind = type(event)
            parts.append(event.data)
            if event.message_finished:
                return ("" if kind is TextMessage else b"").join(parts)

    def echo(self, message) -> None:
        event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
        self.send_data(self.ws.send(event))
        echoed = self.next_message()
        kind = "text" if isinstance(message, str) else "binary"
        size = len(message.encode()) if isinstance(message, str) else len(message)
        if type(echoed) is not type(message) or echoed != message:
            raise CheckFailed(f"{kind} message of {size} bytes came back changed")
        ok(f"echoed a {kind} message of {size} bytes")

    def plain_get(self, path: str) -> None:
        stream_id = self.h2.get_next_available_stream_id()
        self.plain[stream_id] = {"status": None, "body": b"", "done": False}
        self.h2.send_headers(
            stream_id,
            [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", self.authority)],
            end_stream=True,
        )
        self.flush()
        while not self.plain[stream_id]["done"]:
            self.read()
        answer = self.plain[stream_id]
        check(answer["status"] == "200", f"GET {path} on the same connection: {answer['status']} {answer['body']!r}")

    def close(self) -> None:
        self.send_data(self.ws.send(CloseConnection(code=4000, reason="bye from h2")))
        event = self.next_ws_event()
        while isinstance(event, Ping):
            event = self.next_ws_event()
        check(
            isinstance(event, CloseConnection) and event.code == 4000,
            f"the server answered the Close with {event!r}",
        )
        while not self.stream_ended and self.stream_reset is None:
            self.read()
        check(
            self.stream_ended and self.stream_reset is None,
            "the server ended its side of the stream with END_STREAM, no RST_STREAM",
        )
        # Our side ends too (RFC 8441 §6: END_STREAM is TCP's FIN).
        self.h2.end_stream(self.stream_id)
        self.flush()
        ok("our side of the stream ended")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--protocol")
    parser.add_argument("--get")
    args = parser.parse_args()
    rng = random.Random(8441)
    try:
        client = H2WebSocket(args.url, args.deflate, args.protocol)
        client.handshake_settings()
        client.connect()
        for size in SIZES:
            client.echo(text_of_size(size))
            client.echo(rng.randbytes(size))
            client.echo(bytes(size))
            if args.get:
                client.plain_get(args.get)
        client.close()
        scanner = client.scanner
        ok(f"server messages with RSV1 set: {scanner.compressed} of {scanner.messages}")
        if args.deflate:
            check(scanner.compressed > 0, "the server compressed messages on the wire")
        else:
            check(scanner.compressed == 0, "nothing compressed without the extension")
    except CheckFailed as failure:
        print(f"FAIL {failure}", flush=True)
        return 1
    except (OSError, h2.exceptions.ProtocolError) as error:
        print(f"FAIL {type(error).__name__}: {error}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
