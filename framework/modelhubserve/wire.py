"""A complete request as the front read it, and the response the app gave: what the front and the app exchange."""

from __future__ import annotations

from dataclasses import dataclass


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
