"""What a front and its connections exchange with the app: whole requests, responses, their heads on the wire.

Also :class:`Front`, what a connection (:mod:`.connection`) needs of the front that holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from .accesslog import Exchange
from .limits import Limits

_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_SET_BY_FRONT = frozenset({"content-length", "x-request-id"})


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


class OwnResponse(WireResponse):
    """An answer of the server itself (HTTP layer, health while loading): the app did not see the request."""


def wire_request(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    peer: tuple[str, int],
    local: tuple[str, int],
    request_id: str,
    received: float,
    http_version: str,
) -> WireRequest:
    """The app's view of a parsed request: Latin-1 text headers, the client's X-Request-ID replaced by ours."""
    text = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers if n != b"x-request-id"]
    text.append(("x-request-id", request_id))
    return WireRequest(
        method.decode("latin-1"), target.decode("latin-1"), text, body, peer, local, http_version, received
    )


def response_head(response: WireResponse, request_id: str, close: bool) -> bytes:
    """Status line and headers: the app's, then Content-Length, X-Request-ID and, when closing, Connection.

    Raises ValueError for a header that would break the head (a line break in it, or not Latin-1).
    """
    lines = [f"HTTP/1.1 {response.status} {response.reason or _PHRASES.get(response.status, '')}"]
    for name, value in response.headers:
        lower = name.lower()
        if lower not in _SET_BY_FRONT and not (close and lower == "connection"):
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(response.body)}")
    lines.append(f"X-Request-ID: {request_id}")
    if close:
        lines.append("Connection: close")
    lines.append("\r\n")
    head = "\r\n".join(lines)
    if head.count("\n") != len(lines) or head.count("\r") != len(lines) or "\0" in head:
        raise ValueError(f"a response header holds a line break or NUL: {response.headers!r}")
    return head.encode("latin-1")


class Front(Protocol):
    """What a connection needs of its front (:class:`modelhubserve.front.Front`)."""

    handler: Callable[[WireRequest], WireResponse]
    limits: Limits
    on_close: Callable[[], None] | None
    on_done: Callable[[Exchange], None] | None
    open: int
    in_flight: int
    closing: bool
    connections: set[Any]  # its open connections (modelhubserve.connection.Connection)

    def error_response(self, status: int, message: str) -> OwnResponse: ...
