"""Requests and responses between the front and its worker processes: length-prefixed pickles on a socket pair.

Both ends are this program's own processes (the front forks the workers), so pickle is safe here;
nothing a client sends is ever unpickled by itself: a client's bytes travel as ``bytes`` values.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from dataclasses import dataclass
from typing import Any

_LENGTH = struct.Struct("!I")


@dataclass
class WireRequest:
    """A complete request, as the front read it: the worker turns it into a WSGI environ."""

    method: str
    target: str  # the request target as sent, e.g. "/api/predict?top=5"
    headers: list[tuple[str, str]]  # names lower-case, Latin-1 text
    body: bytes
    client: tuple[str, int]
    server: tuple[str, int]
    http_version: str
    received: float  # time.monotonic() when the front had the request head: the request deadline starts there


@dataclass
class WireResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    retire: bool = False  # the worker holds work it could not stop: replace it


def pack(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next value from a worker; ``asyncio.IncompleteReadError`` when it is gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))


def send_frame(sock: socket.socket, value: Any) -> None:
    sock.sendall(pack(value))


def recv_frame(sock: socket.socket) -> Any:
    """The next value from the front; ``EOFError`` when the front is gone."""
    (length,) = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
    return pickle.loads(_recv_exactly(sock, length))


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            raise EOFError("the front closed its end")
        received += count
    return bytes(buffer)
