"""Fetching an input image from a URL, guarded against server-side request forgery.

Off unless a :class:`FetchPolicy` enables it.  Every URL, including each redirect target, is
checked from scratch: scheme, no userinfo, host on the allowlist, and every address the host
resolves to must be public.  The connection then goes to the checked address itself (no second
DNS lookup, so DNS rebinding cannot swap it), with the original ``Host`` header and, for https,
certificate verification against the original host name.  Size and time are bounded: per-read
timeouts, a total deadline, ``Content-Length`` and a streamed byte limit.  Response bodies are
never logged or echoed.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urljoin

from modelhub.errors import Forbidden, ModelHubError, PayloadTooLarge

from .urlcheck import FetchPolicy, IPAddress, Resolver, Target, host_allowed, is_public_address, resolve_checked

__all__ = [
    "DISABLED_MESSAGE",
    "FetchPolicy",
    "UpstreamError",
    "UpstreamTimeout",
    "fetch_url",
    "host_allowed",
    "is_public_address",
]

logger = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_SIZE = 64 * 1024
USER_AGENT = "modelhub-urlfetch/1.0"
DISABLED_MESSAGE = (
    "fetching URLs is disabled on this server; start it with MODELHUB_ALLOW_URL_FETCH=1 and "
    "MODELHUB_URL_ALLOWLIST=host1,host2 to allow it"
)


class UpstreamTimeout(ModelHubError):
    status = 504


class UpstreamError(ModelHubError):
    status = 502


class _Deadline:
    """A total time budget; when it runs out, the current socket is shut down to unblock reads."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            raise UpstreamTimeout("the remote server took too long to send the file")
        return left

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                try:  # the plain socket method: for TLS sockets this cuts the fd without touching the TLS state
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def cancel(self) -> None:
        self._timer.cancel()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to an already checked address; the host name is only used for Host and TLS."""

    def __init__(self, target: Target, timeout: float, deadline: _Deadline) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target, self._timeout, self._deadline = target, timeout, deadline
        if target.scheme == "https":
            self.default_port = 443  # so the Host header leaves out the default port

    def connect(self) -> None:
        error: OSError = OSError("no address to connect to")
        for family, sockaddr in self._target.addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(min(self._timeout, self._deadline.remaining()))
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                if isinstance(exc, TimeoutError):
                    raise
                error = exc
                continue
            sock.settimeout(self._timeout)
            if self._target.scheme == "https":
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self._target.host, do_handshake_on_connect=False)
            self.sock = sock
            self._deadline.attach(sock)
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()  # under the deadline too; close() on the connection cleans up on failure
            return
        raise error


def _read_body(response: http.client.HTTPResponse, policy: FetchPolicy, deadline: _Deadline) -> bytes:
    length_header = response.getheader("Content-Length")
    if length_header is not None and length_header.strip().isdigit() and int(length_header) > policy.max_bytes:
        raise PayloadTooLarge(f"the remote file is larger than the limit of {policy.max_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        deadline.remaining()
        chunk = response.read(CHUNK_SIZE)
        if not chunk:
            break
        total += len(chunk)
        if total > policy.max_bytes:
            raise PayloadTooLarge(f"the remote file is larger than the limit of {policy.max_bytes} bytes")
        chunks.append(chunk)
    deadline.remaining()  # a shut-down socket looks like a normal end of an unsized body
    return b"".join(chunks)


def fetch_url(
    url: str,
    policy: FetchPolicy,
    *,
    resolver: Resolver = socket.getaddrinfo,
    address_allowed: Callable[[IPAddress], bool] = is_public_address,
) -> tuple[bytes, str | None]:
    """Fetch ``url`` under ``policy``; return the body and the Content-Type header (or None)."""
    if not policy.enabled:
        raise Forbidden(DISABLED_MESSAGE)
    deadline = _Deadline(3 * policy.timeout)
    started = time.monotonic()
    try:
        for hop in range(policy.max_redirects + 1):
            target = resolve_checked(url, policy, resolver, address_allowed)
            conn = _PinnedConnection(target, policy.timeout, deadline)
            response: http.client.HTTPResponse | None = None
            try:
                conn.request(
                    "GET",
                    target.path,
                    headers={"User-Agent": USER_AGENT, "Accept": "image/*, */*;q=0.5", "Connection": "close"},
                )
                response = conn.getresponse()
                if response.status in REDIRECT_STATUSES:
                    location = response.getheader("Location")
                    if not location:
                        raise UpstreamError(f"the remote server answered {response.status} without a Location")
                    logger.debug("url fetch %s:%d: redirect %d", target.host, target.port, response.status)
                    url = urljoin(url, location.strip())
                    continue
                if not 200 <= response.status < 300:
                    raise UpstreamError(f"the remote server answered with HTTP status {response.status}")
                body = _read_body(response, policy, deadline)
                content_type = response.getheader("Content-Type")
                took = time.monotonic() - started
                logger.debug(
                    "url fetch %s:%d: %d bytes, %.3fs, %d redirects", target.host, target.port, len(body), took, hop
                )
                return body, content_type
            except ModelHubError:
                if deadline.expired:
                    raise UpstreamTimeout("the remote server took too long to send the file") from None
                raise
            except TimeoutError:
                raise UpstreamTimeout("the remote server did not answer in time") from None
            except ssl.SSLCertVerificationError:
                raise UpstreamError(f"the TLS certificate of {target.host!r} could not be verified") from None
            except (OSError, http.client.HTTPException) as exc:
                if deadline.expired:
                    raise UpstreamTimeout("the remote server took too long to send the file") from None
                raise UpstreamError(f"could not fetch from {target.host!r}: {type(exc).__name__}") from None
            finally:
                deadline.attach(None)
                if response is not None:
                    response.close()  # releases the socket's file object; unread data is dropped
                conn.close()
        raise UpstreamError(f"too many redirects (more than {policy.max_redirects})")
    finally:
        deadline.cancel()
