"""Tests for modelhub.urlfetch: SSRF guards, redirects, size and time limits.

Servers bind 127.0.0.1 on ephemeral ports in daemon threads.  Since 127.0.0.1 is (rightly)
refused by the default address check, tests that need a successful fetch inject a resolver that
maps made-up names to 127.0.0.1 and an ``address_allowed`` that admits 127.0.0.1 only.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelhub.errors import BadRequest, Forbidden, PayloadTooLarge
from modelhub.urlfetch import (
    DISABLED_MESSAGE,
    FetchPolicy,
    UpstreamError,
    UpstreamTimeout,
    fetch_url,
    host_allowed,
    is_public_address,
)

LOOPBACK = ipaddress.ip_address("127.0.0.1")
FAKE_DNS = {"images.test": "127.0.0.1", "other.test": "127.0.0.1", "internal.test": "10.0.0.1"}


def fake_resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    if host not in FAKE_DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (FAKE_DNS[host], port))]


def loopback_ok(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip == LOOPBACK or is_public_address(ip)


def policy(**kwargs: Any) -> FetchPolicy:
    defaults: dict[str, Any] = {
        "enabled": True,
        "allowlist": ("images.test", "other.test", "internal.test"),
        "timeout": 2.0,
    }
    defaults.update(kwargs)
    return FetchPolicy(**defaults)


def local_fetch(url: str, pol: FetchPolicy | None = None) -> tuple[bytes, str | None]:
    return fetch_url(url, pol or policy(), resolver=fake_resolver, address_allowed=loopback_ok)


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 driven by a per-test handler function."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.requests: list[dict[str, str]] = []
        self.stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                outer.requests.append({"path": self.path, "host": self.headers.get("Host", "")})
                try:
                    handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], Server]]:
    servers: list[Server] = []

    def start(handle: Callable[[BaseHTTPRequestHandler], None]) -> Server:
        server = Server(handle)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fefe", False),  # teredo with client 127.0.1.1
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("::ffff:8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_host_allowed() -> None:
    assert host_allowed("Images.Test", ("images.test",))
    assert host_allowed("a.b.example.org", (".example.org",))
    assert not host_allowed("example.org", (".example.org",))
    assert not host_allowed("badexample.org", (".example.org",))
    assert not host_allowed("images.test.evil", ("images.test",))
    assert not host_allowed("anything", ())


def test_disabled_policy_is_forbidden() -> None:
    with pytest.raises(Forbidden) as info:
        fetch_url("https://images.test/cat.jpg", FetchPolicy())
    assert info.value.status == 403
    assert str(info.value) == DISABLED_MESSAGE
    assert "MODELHUB_ALLOW_URL_FETCH=1" in str(info.value)


@pytest.mark.parametrize("url", ["ftp://images.test/cat.jpg", "file:///etc/passwd", "gopher://images.test/", "cat.jpg"])
def test_other_schemes_are_bad_requests(url: str) -> None:
    with pytest.raises(BadRequest) as info:
        local_fetch(url)
    assert info.value.status == 400


def test_userinfo_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="user name or password"):
        local_fetch("http://user:pw@images.test/cat.jpg")


@pytest.mark.parametrize("allowlist", [(), ("images.test",)])
def test_host_not_on_allowlist_is_forbidden(allowlist: tuple[str, ...]) -> None:
    with pytest.raises(Forbidden, match="evil.test"):
        local_fetch("http://evil.test/cat.jpg", policy(allowlist=allowlist))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_loopback_on_allowlist_is_still_forbidden(host: str) -> None:
    with pytest.raises(Forbidden, match="private/loopback/link-local"):
        fetch_url(f"http://{host}:9/cat.jpg", policy(allowlist=(host,)))


def test_name_resolving_to_loopback_is_forbidden() -> None:
    with pytest.raises(Forbidden, match="private/loopback/link-local"):
        fetch_url("http://images.test/cat.jpg", policy(), resolver=fake_resolver)


def test_dns_failure_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="could not be resolved"):
        local_fetch("http://nowhere.test/cat.jpg", policy(allowlist=("nowhere.test",)))


def test_successful_fetch_pins_address_and_sends_host(serve: Any) -> None:
    server = serve(lambda h: send(h, 200, b"\x89PNG fake image", {"Content-Type": "image/png"}))
    body, content_type = local_fetch(f"http://images.test:{server.port}/img/cat.png?size=2")
    assert body == b"\x89PNG fake image"
    assert content_type == "image/png"
    assert server.requests == [{"path": "/img/cat.png?size=2", "host": f"images.test:{server.port}"}]


def test_redirect_is_followed_and_rechecked(serve: Any) -> None:
    target = serve(lambda h: send(h, 200, b"moved image", {"Content-Type": "image/jpeg"}))
    server = serve(lambda h: send(h, 302, headers={"Location": f"http://other.test:{target.port}/final.jpg"}))
    assert local_fetch(f"http://images.test:{server.port}/start") == (b"moved image", "image/jpeg")
    assert target.requests == [{"path": "/final.jpg", "host": f"other.test:{target.port}"}]


def test_redirect_to_private_address_is_forbidden(serve: Any) -> None:
    server = serve(lambda h: send(h, 301, headers={"Location": "http://internal.test/latest/meta-data/"}))
    with pytest.raises(Forbidden, match="internal.test"):
        local_fetch(f"http://images.test:{server.port}/start")


def test_redirect_to_other_scheme_is_bad_request(serve: Any) -> None:
    server = serve(lambda h: send(h, 307, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(BadRequest):
        local_fetch(f"http://images.test:{server.port}/start")


def test_redirect_loop_stops_after_max_redirects(serve: Any) -> None:
    server = serve(lambda h: send(h, 302, headers={"Location": "/again"}))
    with pytest.raises(UpstreamError, match="too many redirects") as info:
        local_fetch(f"http://images.test:{server.port}/start", policy(max_redirects=3))
    assert info.value.status == 502
    assert len(server.requests) == 4


def test_silent_server_times_out() -> None:
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel accepts the connection; nobody ever answers
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as info:
            local_fetch(f"http://images.test:{port}/cat.jpg", policy(timeout=0.5))
        assert info.value.status == 504
        assert time.monotonic() - started < 1.5
    finally:
        listener.close()


def test_slow_drip_hits_total_deadline(serve: Any) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        h.wfile.flush()
        while not server.stop.is_set():  # one byte well within the per-read timeout, forever
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)

    server = serve(drip)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        local_fetch(f"http://images.test:{server.port}/cat.jpg", policy(timeout=0.4))
    assert time.monotonic() - started < 2.5


def test_endless_stream_is_too_large(serve: Any) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"%x\r\n%s\r\n" % (8192, b"a" * 8192)
        while not server.stop.is_set():
            h.wfile.write(chunk)

    server = serve(endless)
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge) as info:
        local_fetch(f"http://images.test:{server.port}/cat.jpg", policy(max_bytes=100_000))
    assert info.value.status == 413
    assert time.monotonic() - started < 2


def test_content_length_over_limit_is_refused_before_reading(serve: Any) -> None:
    def big(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(10**9))
        h.end_headers()
        h.wfile.flush()
        server.stop.wait(5)  # never sends the body: reading it would time out instead

    server = serve(big)
    with pytest.raises(PayloadTooLarge, match="100000 bytes"):
        local_fetch(f"http://images.test:{server.port}/cat.jpg", policy(max_bytes=100_000, timeout=5))


def test_upstream_404_is_upstream_error(serve: Any) -> None:
    server = serve(lambda h: send(h, 404, b"secret body text"))
    with pytest.raises(UpstreamError, match="404") as info:
        local_fetch(f"http://images.test:{server.port}/missing.jpg")
    assert "secret body text" not in str(info.value)


def test_connection_refused_is_upstream_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamError):
        local_fetch(f"http://images.test:{port}/cat.jpg")


def test_https_to_plain_server_is_upstream_error(serve: Any) -> None:
    server = serve(lambda h: send(h, 200, b"not tls"))
    with pytest.raises(UpstreamError, match="images.test"):
        local_fetch(f"https://images.test:{server.port}/cat.jpg")


@pytest.mark.parametrize("url", ["http://evil.test\\.images.test/x", "http://ima ges.test/", "http://[::1/"])
def test_malformed_hosts_are_bad_requests(url: str) -> None:
    with pytest.raises(BadRequest):
        local_fetch(url, policy(allowlist=(".images.test", "images.test")))
