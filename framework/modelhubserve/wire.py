"""A complete request as the front read it, and the response the app gave: what the front and the app exchange."""

from __future__ import annotations

from dataclasses import dataclass

import h11


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


def wire_request(
    request: h11.Request,
    body: bytes,
    peer: tuple[str, int],
    local: tuple[str, int],
    request_id: str,
    received: float,
) -> WireRequest:
    """The app's view of a request h11 parsed: Latin-1 text headers, the client's X-Request-ID replaced by ours."""
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers if n != b"x-request-id"]
    headers.append(("x-request-id", request_id))
    return WireRequest(
        request.method.decode("latin-1"),
        request.target.decode("latin-1"),
        headers,
        body,
        (str(peer[0]), int(peer[1])),
        (str(local[0]), int(local[1])),
        request.http_version.decode("ascii"),
        received,
    )
