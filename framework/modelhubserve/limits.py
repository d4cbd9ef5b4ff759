"""What the front of each worker enforces: the limits, the client errors they give, bounded reads."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

READ_SIZE = 262144  # bytes per read (asyncio reads at most 256 KiB per recv): 5 MB in 2.8 ms, not 5.0 (64 KiB)
RATE_SLACK = 65536  # bytes a slow body may be behind min_body_rate before 408
MAX_REQUEST_LINE = 8192  # bytes; a longer request line (URL) is answered 414


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    min_body_rate: float = 16384.0  # bytes/s, after body_timeout
    keepalive_timeout: float = 5.0
    send_timeout: float = 30.0
    max_connections: int = 1000
    max_header_bytes: int = 16384
    max_body_bytes: int = 20 * 1024 * 1024 + 65536  # the upload limit plus room for multipart headers
    upload_limit: int = 20 * 1024 * 1024  # the limit that 413 answers name


class ClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_until(reader: asyncio.StreamReader, until: float) -> bytes | None:
    """Bytes from the client (b"" at its end of stream), or None when ``until`` passes first."""
    try:  # asyncio.timeout, not wait_for: no task per read
        async with asyncio.timeout(max(0.0, until - time.monotonic())):
            return await reader.read(READ_SIZE)
    except TimeoutError:
        return None


def pending(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Bytes of a next request arrived: read into the stream's buffer already, or waiting in the socket."""
    if getattr(reader, "_buffer", None):  # asyncio reads eagerly; its buffer has no public size
        return True
    transport_socket = writer.get_extra_info("socket")
    if transport_socket is None:
        return False
    try:  # asyncio's socket wrapper has no recv: peek through a duplicate of the descriptor
        with socket.fromfd(transport_socket.fileno(), socket.AF_INET, socket.SOCK_STREAM) as sock:
            return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # BlockingIOError: nothing there
        return False
