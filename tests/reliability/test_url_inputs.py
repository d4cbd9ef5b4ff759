"""GET /api/predict?fileurl=...: the URL policy seen through the REST API with the server's settings.

A local HTTP server plays the remote side.  Loopback is what every test server lives on, so
the "allowed upstream" tests stand the loopback address 127.0.0.1 in for a public address and
map a fake public name (public.test) to it; every other private address stays forbidden.  The
blocked-address tests run with the real policy, unchanged.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from reliability_support import SAMPLES_DIR, error_of, labels_of

import modelhub.inputs
from modelhub import urlfetch

pytestmark = pytest.mark.model

CAT = (SAMPLES_DIR / "cat_chelsea.png").read_bytes()
TIMEOUT = 0.5
ALLOWLIST = (
    "public.test",
    "localhost",
    "127.0.0.1",
    "127.0.0.2",
    "::1",
    "10.0.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "metadata.google.internal",
    "internal.test",
    "0.0.0.0",
    "2130706433",
    "0x7f.1",
    "fd00::1",
    "::ffff:127.0.0.1",
)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/cat.png":
            self._send(200, CAT, "image/png")
        elif url.path == "/text":
            self._send(200, b"just text", "text/plain")
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/hang":
            time.sleep(5 * TIMEOUT)  # answers nothing within the fetch timeout
        elif url.path == "/forever":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\x89PNG" + bytes(65532))
            except OSError:
                pass
        elif url.path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


FAKE_DNS = {"public.test": "127.0.0.1", "metadata.google.internal": "169.254.169.254", "internal.test": "10.0.0.5"}


def fake_resolver(host: str, port: int, **kw: Any) -> list[tuple[Any, ...]]:
    if host in FAKE_DNS:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (FAKE_DNS[host], port))]
    return socket.getaddrinfo(host, port, **kw)


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let 127.0.0.1 (only) stand in for a public address, and resolve the fake names."""
    real = urlfetch.fetch_url

    def fetch(url: str, policy: Any) -> Any:
        return real(
            url,
            policy,
            resolver=fake_resolver,
            address_allowed=lambda ip: str(ip) == "127.0.0.1" or urlfetch.is_public_address(ip),
        )

    monkeypatch.setattr(modelhub.inputs, "fetch_url", fetch)


@pytest.fixture
def client(app_with: Any) -> Iterator[Any]:
    app = app_with(
        allow_url_fetch=True, url_allowlist=",".join(ALLOWLIST), url_timeout=TIMEOUT, max_upload_bytes=1_000_000
    )
    with app.test_client() as test_client:
        yield test_client


def predict_url(client: Any, url: str) -> Any:
    return client.get("/api/predict", query_string={"fileurl": url, "top": "3"})


def test_disabled_by_default(real_app: Any, upstream: int) -> None:
    with real_app.test_client() as c:
        response = predict_url(c, f"http://127.0.0.1:{upstream}/cat.png")
    assert response.status_code == 403
    assert error_of(response) == urlfetch.DISABLED_MESSAGE


def test_host_not_on_the_allowlist(client: Any) -> None:
    response = predict_url(client, "http://example.org/cat.png")
    assert response.status_code == 403
    assert "not on this server's URL allowlist" in error_of(response)


def test_allowed_fetch_predicts_like_an_upload(
    client: Any, upstream: int, loopback_is_public: None, real_api: Any
) -> None:
    response = predict_url(client, f"http://public.test:{upstream}/cat.png")
    assert response.status_code == 200, response.get_json()
    assert labels_of(response.get_json()) == labels_of(real_api.predict(CAT, top=3))


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "metadata.google.internal",
        "0.0.0.0",
        "2130706433",
        "0x7f.1",
        "[fd00::1]",
        "[::ffff:127.0.0.1]",
        "127.0.0.2",
    ],
)
def test_private_addresses_are_forbidden(client: Any, upstream: int, host: str) -> None:
    response = predict_url(client, f"http://{host}:{upstream}/cat.png")
    assert response.status_code in (400, 403), (host, response.get_json())
    message = error_of(response)
    assert "private/loopback/link-local" in message or "could not be resolved" in message, message


def test_dns_names_resolving_to_private_addresses(client: Any, upstream: int, loopback_is_public: None) -> None:
    for name in ("metadata.google.internal", "internal.test"):
        response = predict_url(client, f"http://{name}:{upstream}/cat.png")
        assert response.status_code == 403
        assert "private/loopback/link-local" in error_of(response)


@pytest.mark.parametrize(
    "target,status,said",
    [
        ("http://127.0.0.2:{port}/cat.png", 403, "private/loopback/link-local"),
        ("http://169.254.169.254/latest/meta-data/", 403, "private/loopback/link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", 403, "private/loopback/link-local"),
        ("http://internal.test:{port}/cat.png", 403, "private/loopback/link-local"),
        ("http://[::1]:{port}/cat.png", 403, "private/loopback/link-local"),
        ("file:///etc/passwd", 400, "only http and https"),
        ("gopher://public.test/", 400, "only http and https"),
        ("http://example.org/cat.png", 403, "allowlist"),
        ("/redirect?to=/redirect%3Fto%3D/redirect%253Fto%253D/redirect", 502, "too many redirects"),
    ],
)
def test_redirects_are_checked_hop_by_hop(
    client: Any, upstream: int, loopback_is_public: None, target: str, status: int, said: str
) -> None:
    from urllib.parse import quote

    url = f"http://public.test:{upstream}/redirect?to={quote(target.format(port=upstream), safe='')}"
    response = predict_url(client, url)
    assert response.status_code == status, response.get_json()
    assert said in error_of(response)


def test_redirect_to_an_allowed_target_works(client: Any, upstream: int, loopback_is_public: None) -> None:
    url = f"http://public.test:{upstream}/redirect?to=/cat.png"
    assert predict_url(client, url).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://public.test/cat.png",
        "gopher://public.test:70/",
        "data:image/png;base64,AAAA",
        "javascript:alert(1)",
        "dict://public.test:11211/",
        "//public.test/cat.png",
        "cat.png",
        "http://user:pw@public.test/cat.png",
        "http://public.test/ cat.png",
        "http:///cat.png",
    ],
)
def test_bad_urls_are_400(client: Any, url: str) -> None:
    response = predict_url(client, url)
    assert response.status_code == 400, (url, response.get_json())
    error_of(response)


def test_server_that_never_answers_is_504_within_the_timeout(
    client: Any, upstream: int, loopback_is_public: None
) -> None:
    started = time.monotonic()
    response = predict_url(client, f"http://public.test:{upstream}/hang")
    took = time.monotonic() - started
    assert response.status_code == 504
    assert "did not answer in time" in error_of(response) or "took too long" in error_of(response)
    assert took < 4 * TIMEOUT


def test_server_that_streams_forever_is_cut_at_the_size_cap(
    client: Any, upstream: int, loopback_is_public: None
) -> None:
    response = predict_url(client, f"http://public.test:{upstream}/forever")
    assert response.status_code == 413
    assert error_of(response) == "the remote file is larger than the limit of 1000000 bytes"


def test_declared_huge_body_is_refused_from_the_header(client: Any, upstream: int, loopback_is_public: None) -> None:
    started = time.monotonic()
    response = predict_url(client, f"http://public.test:{upstream}/huge-declared")
    assert response.status_code == 413
    assert time.monotonic() - started < TIMEOUT


def test_upstream_errors(client: Any, upstream: int, loopback_is_public: None) -> None:
    missing = predict_url(client, f"http://public.test:{upstream}/missing.png")
    assert missing.status_code == 502
    assert "HTTP status 404" in error_of(missing)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = predict_url(client, f"http://public.test:{port}/cat.png")
    assert refused.status_code == 502
    assert "could not fetch" in error_of(refused)


def test_fetched_non_image_is_415(client: Any, upstream: int, loopback_is_public: None) -> None:
    response = predict_url(client, f"http://public.test:{upstream}/text")
    assert response.status_code == 415
    assert "text/plain" in error_of(response)


def test_server_keeps_serving_after_url_failures(
    client: Any, upstream: int, loopback_is_public: None, real_app: Any
) -> None:
    for path in ("/hang", "/forever", "/missing"):
        assert predict_url(client, f"http://public.test:{upstream}{path}").status_code >= 400
    assert predict_url(client, f"http://public.test:{upstream}/cat.png").status_code == 200


def test_fetch_helper_is_reached_only_through_the_policy(monkeypatch: pytest.MonkeyPatch, app_with: Any) -> None:
    """With fetching disabled no socket is opened at all."""
    opened: list[Any] = []
    monkeypatch.setattr(urlfetch._PinnedConnection, "connect", lambda self: opened.append(self))
    with app_with().test_client() as c:
        assert predict_url(c, "http://public.test/cat.png").status_code == 403
    assert opened == []
