"""What the front of each worker enforces: the limits and the client errors they give."""

from __future__ import annotations

from dataclasses import dataclass

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
