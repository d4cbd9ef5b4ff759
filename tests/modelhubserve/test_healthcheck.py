"""The image's HEALTHCHECK command: ready (0) only on a 200 from /v2/health/ready at MODELHUB_HOST:PORT."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from modelhubserve.healthcheck import main, probe_url
from support import free_port

from modelhub.settings import load_settings


class _Ready(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(self.status if self.path == "/v2/health/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:80/v2/health/ready"),
        ("::", "http://[::1]:80/v2/health/ready"),
        ("10.1.2.3", "http://10.1.2.3:80/v2/health/ready"),
        ("fd00::5", "http://[fd00::5]:80/v2/health/ready"),
    ],
)
def test_probe_url_follows_the_server_settings(host: str, url: str) -> None:
    assert probe_url(load_settings({}, {"MODELHUB_HOST": host, "MODELHUB_PORT": "80"})) == url


def test_ready_server(server: int, capsys: pytest.CaptureFixture[str]) -> None:
    _Ready.status, _Ready.paths = 200, []
    assert main([], {"MODELHUB_HOST": "0.0.0.0", "MODELHUB_PORT": str(server)}) == 0
    assert _Ready.paths == ["/v2/health/ready"]
    assert capsys.readouterr().out.startswith(f"ready: http://127.0.0.1:{server}/")


def test_loading_server_is_not_ready(server: int, capsys: pytest.CaptureFixture[str]) -> None:
    _Ready.status = 503
    assert main([], {"MODELHUB_HOST": "127.0.0.1", "MODELHUB_PORT": str(server)}) == 1
    assert capsys.readouterr().out.strip().endswith(": 503")


def test_nothing_listening(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([], {"MODELHUB_PORT": str(free_port())}) == 1
    assert "not ready" in capsys.readouterr().out


def test_bad_settings_are_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([], {"MODELHUB_PORT": "eighty"}) == 1
    assert "setting port: cannot read 'eighty'" in capsys.readouterr().err
