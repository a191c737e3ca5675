"""Test clients: an event collector over ``socketio.AsyncClient`` and a raw WebSocket Socket.IO client.

The raw client speaks HTTP/1.1 + RFC 6455 by hand so a test can see exactly what the server
negotiates and sends (extensions, RSV1 bits), and can stop reading altogether (a slow client).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from array import array
from collections.abc import Callable
from typing import Any

import socketio


class Collector:
    """Records ``stream:event`` / ``stream:events`` / ``session:status`` / ``sessions:changed``."""

    def __init__(self, client: socketio.AsyncClient, *, keep_payloads: bool = True) -> None:
        self.client = client
        #: False: keep only each event's seq and type (for streams of many MB).
        self.keep_payloads = keep_payloads
        self._seqs: dict[str, array[int]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.batches = 0
        self.singles = 0
        self.statuses: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        client.on("stream:event", self._on_event)
        client.on("stream:events", self._on_events)
        client.on("session:status", self._on_status)
        client.on("sessions:changed", self._on_changed)

    def _on_event(self, data: dict[str, Any]) -> None:
        self.singles += 1
        if self.keep_payloads:
            self.events.setdefault(data["sessionId"], []).append(data["event"])
        else:
            self._seqs.setdefault(data["sessionId"], array("q")).append(data["event"]["seq"])
        self._changed.set()

    def _on_events(self, data: dict[str, Any]) -> None:
        self.batches += 1
        if self.keep_payloads:
            self.events.setdefault(data["sessionId"], []).extend(data["events"])
        else:
            self._seqs.setdefault(data["sessionId"], array("q")).extend(e["seq"] for e in data["events"])
        self._changed.set()

    def _on_status(self, data: dict[str, Any]) -> None:
        self.statuses.append(data)
        self._changed.set()

    def _on_changed(self, data: dict[str, Any]) -> None:
        self.changes.append(data)
        self._changed.set()

    def seqs(self, session_id: str) -> list[int]:
        if not self.keep_payloads:
            return list(self._seqs.get(session_id, ()))
        return [e["seq"] for e in self.events.get(session_id, [])]

    def count(self, session_id: str) -> int:
        return (
            len(self._seqs.get(session_id, ()))
            if not self.keep_payloads
            else len(self.events.get(session_id, ()))
        )

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        async def run() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(run(), timeout)


# --------------------------------------------------------------------------- raw WebSocket


class RawSocketIO:
    """A minimal Socket.IO-over-WebSocket client on a plain TCP socket."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response_headers: dict[str, str]
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.response_headers = response_headers

    @classmethod
    async def open(
        cls,
        port: int,
        *,
        offer_deflate: bool = True,
        rcvbuf: int | None = None,
        path: str = "/socket.io/?EIO=4&transport=websocket",
    ) -> RawSocketIO:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Set before connect so the TCP window is small from the start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**24)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in status + " ":
            raise ConnectionError(f"upgrade refused: {status}")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return cls(reader, writer, headers)

    async def read_frame(self) -> tuple[bool, int, bytes]:
        """(rsv1, opcode, payload) of the next frame."""
        b1, b2 = await self.reader.readexactly(2)
        length = b2 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        if b2 & 0x80:
            await self.reader.readexactly(4)  # servers never mask, but be lenient
        payload = await self.reader.readexactly(length)
        return bool(b1 & 0x40), b1 & 0x0F, payload

    async def read_text(self) -> str:
        while True:
            _rsv1, opcode, payload = await self.read_frame()
            if opcode == 1:
                text = payload.decode()
                if text == "2":  # engine.io ping
                    await self.send_text("3")
                    continue
                return text
            if opcode == 8:
                raise ConnectionError("closed by server")

    def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    async def send_text(self, text: str) -> None:
        self.send_frame(1, text.encode())
        await self.writer.drain()

    async def handshake(self, token: str | None) -> str:
        """engine.io open + Socket.IO connect; returns the Socket.IO sid."""
        opened = await self.read_text()
        assert opened.startswith("0{"), opened
        auth = json.dumps({"token": token}) if token is not None else ""
        await self.send_text("40" + auth)
        reply = await self.read_text()
        if not reply.startswith("40"):
            raise ConnectionRefusedError(reply)
        return json.loads(reply[2:])["sid"]

    async def emit(self, event: str, data: Any, ack_id: int | None = None) -> None:
        await self.send_text(f"42{'' if ack_id is None else ack_id}" + json.dumps([event, data]))

    def close(self) -> None:
        self.writer.transport.abort()
