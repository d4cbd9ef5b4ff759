"""Tests for modelhub.fetch against a local HTTP server (no network access needed)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelhub.errors import ConfigError, IntegrityError
from modelhub.fetch import (
    FetchError,
    ModelFile,
    by_variant,
    default_file,
    download,
    fetch_all,
    match_by_hash,
    read_init,
    sha256_file,
    verify_file,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
OTHER_SHA = "0" * 64
DEST = "contrib_src/model/model.onnx"


@dataclass
class Server:
    """A local HTTP server; ``routes`` maps a path to (mode, body)."""

    base: str
    routes: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


def _handler(state: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            mode, body = state.routes.get(self.path, ("missing", b""))
            if mode == "missing":
                self.send_error(404, "Not Found")
                return
            if mode == "slow":
                time.sleep(2.0)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if mode == "truncated":
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(body[:1000])
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base="")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_init(root: Path, entries: list[dict[str, object]]) -> Path:
    (root / "init").mkdir(parents=True, exist_ok=True)
    path = root / "init" / "init.json"
    doc = {"docker_id": "modelhub/test:0", "external_contrib_files": entries}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def entry(url: str, sha: str = PAYLOAD_SHA, size: int | None = len(PAYLOAD), **extra: object) -> dict[str, object]:
    return {"src_url": url, "dest_file_path": DEST, "sha256": sha, "size": size, **extra}


def model_file(tmp_path: Path, server: Server, mode: str = "ok", **kw: object) -> ModelFile:
    server.routes["/model.onnx"] = (mode, PAYLOAD)
    write_init(tmp_path, [entry(f"{server.base}/model.onnx", **kw)])  # type: ignore[arg-type]
    return read_init(tmp_path)[0]


def folder_listing(file: ModelFile) -> list[str]:
    return sorted(os.listdir(file.dest.parent))


def test_download_right_hash(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server)
    assert download(f, progress=False) is True
    assert f.dest == (tmp_path / DEST).resolve()
    assert f.dest.read_bytes() == PAYLOAD
    assert folder_listing(f) == ["model.onnx"]
    assert f.dest.stat().st_mode & 0o777 == 0o644


def test_second_download_makes_no_request(tmp_path: Path, server: Server, caplog: pytest.LogCaptureFixture) -> None:
    f = model_file(tmp_path, server)
    assert download(f, progress=False) is True
    assert len(server.requests) == 1
    with caplog.at_level(logging.INFO, logger="modelhub.fetch"):
        assert download(f, progress=False) is False
    assert len(server.requests) == 1
    assert "already present" in caplog.text


def test_wrong_hash_leaves_nothing(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server, sha=OTHER_SHA)
    with pytest.raises(IntegrityError) as info:
        download(f, progress=False)
    message = str(info.value)
    assert OTHER_SHA in message and PAYLOAD_SHA in message and "model.onnx" in message
    assert "\n" not in message
    assert folder_listing(f) == []


def test_wrong_size_leaves_nothing(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server, size=len(PAYLOAD) + 1)
    with pytest.raises(IntegrityError, match="of expected"):
        download(f, progress=False)
    assert folder_listing(f) == []


def test_interrupted_download(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server, mode="truncated")
    with pytest.raises(FetchError) as info:
        download(f, progress=False)
    assert "1000 of 100000" in str(info.value)
    assert info.value.status == 502
    assert folder_listing(f) == []


def test_timeout(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server, mode="slow")
    with pytest.raises(FetchError, match="model.onnx"):
        download(f, progress=False, timeout=0.3)
    assert folder_listing(f) == []


def test_http_404(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server, mode="missing")
    with pytest.raises(FetchError, match="404"):
        download(f, progress=False)
    assert folder_listing(f) == []


def test_connection_refused(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = dataclasses.replace(f, src_url=f"http://127.0.0.1:{port}/model.onnx")
    with pytest.raises(FetchError, match="cannot download"):
        download(closed, progress=False, timeout=2)
    assert folder_listing(f) == []


def test_corrupt_dest_is_replaced(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server)
    f.dest.parent.mkdir(parents=True)
    f.dest.write_bytes(b"corrupt")
    assert download(f, progress=False) is True
    assert len(server.requests) == 1
    assert f.dest.read_bytes() == PAYLOAD


def test_corrupt_dest_removed_when_download_fails(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server, mode="missing")
    f.dest.parent.mkdir(parents=True)
    f.dest.write_bytes(b"corrupt")
    with pytest.raises(FetchError):
        download(f, progress=False)
    assert folder_listing(f) == []


def test_verify_file(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    with pytest.raises(IntegrityError, match="missing") as info:
        verify_file(path, PAYLOAD_SHA)
    assert str(path) in str(info.value)
    path.write_bytes(PAYLOAD[:1000])
    short_sha = hashlib.sha256(PAYLOAD[:1000]).hexdigest()
    with pytest.raises(IntegrityError) as info:
        verify_file(path, PAYLOAD_SHA, len(PAYLOAD))
    message = str(info.value)
    assert f"size 1000 bytes of expected {len(PAYLOAD)}" in message
    assert PAYLOAD_SHA in message and short_sha in message and "\n" not in message
    path.write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(IntegrityError, match="sha256 mismatch") as info:
        verify_file(path, PAYLOAD_SHA, len(PAYLOAD))
    assert PAYLOAD_SHA in str(info.value) and str(path) in str(info.value)
    path.write_bytes(PAYLOAD)
    verify_file(path, PAYLOAD_SHA.upper(), len(PAYLOAD))
    assert sha256_file(path) == PAYLOAD_SHA


def test_read_real_init() -> None:
    files = read_init(REPO_ROOT)
    assert [f.variant for f in files] == ["float", "int8"]
    float_file = default_file(files)
    assert float_file.variant == "float" and float_file.size == 14246826
    assert float_file.dest == REPO_ROOT / "contrib_src" / "model" / "mobilenetv2-7.onnx"
    int8 = by_variant(files, "int8")
    assert int8.name == "mobilenetv2-12-int8.onnx" and not int8.default
    assert match_by_hash(files, int8.sha256.upper()) == int8
    assert match_by_hash(files, OTHER_SHA) is None
    with pytest.raises(ConfigError, match="float, int8"):
        by_variant(files, "fp16")
    for f in files:
        assert f.src_url.startswith("https://github.com/onnx/models/raw/main/validated/")
        assert f.src_url.endswith("/" + f.name)


OUTSIDE_ENTRY = {**entry("https://x/y"), "dest_file_path": "../x.onnx"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "not found"),
        ("{not json", "invalid JSON"),
        ('{"docker_id": "x"}', "external_contrib_files"),
        ('{"external_contrib_files": [{"src_url": "https://x/y"}]}', "dest_file_path, sha256"),
        (json.dumps({"external_contrib_files": [entry("https://x/y", sha="abc")]}), "64 hex"),
        (json.dumps({"external_contrib_files": [OUTSIDE_ENTRY]}), "outside"),
    ],
)
def test_read_init_errors(tmp_path: Path, content: str | None, fragment: str) -> None:
    if content is not None:
        (tmp_path / "init").mkdir()
        (tmp_path / "init" / "init.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_init(tmp_path)
    assert "init.json" in str(info.value) and fragment in str(info.value)


def test_fetch_all_variants(tmp_path: Path, server: Server) -> None:
    other = PAYLOAD[::-1]
    server.routes["/a.onnx"] = ("ok", PAYLOAD)
    server.routes["/b.onnx"] = ("ok", other)
    write_init(
        tmp_path,
        [
            {**entry(f"{server.base}/a.onnx"), "variant": "float", "default": True},
            {
                "src_url": f"{server.base}/b.onnx",
                "dest_file_path": "contrib_src/model/b.onnx",
                "sha256": hashlib.sha256(other).hexdigest(),
                "variant": "int8",
            },
        ],
    )
    result = fetch_all(tmp_path, ["int8"], progress=False)
    assert [(f.variant, fresh) for f, fresh in result] == [("int8", True)]
    assert server.requests == ["/b.onnx"]
    result = fetch_all(tmp_path, progress=False)
    assert [(f.variant, fresh) for f, fresh in result] == [("float", True), ("int8", False)]
    with pytest.raises(ConfigError, match="known: float, int8"):
        fetch_all(tmp_path, ["fp16"])


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server)
    out = io.StringIO()
    download(f, progress=True, stream=out)
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert "100.0%" in text and "MB" in text and "MB/s" in text


def test_progress_bar_only_on_tty(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server)
    out = io.StringIO()
    download(f, stream=out)
    assert out.getvalue() == ""
    f.dest.unlink()
    tty = _TTY()
    download(f, stream=tty)
    assert "100.0%" in tty.getvalue()


def test_progress_bar_line_ended_on_error(tmp_path: Path, server: Server) -> None:
    f = model_file(tmp_path, server, mode="truncated")
    out = io.StringIO()
    with pytest.raises(FetchError):
        download(f, progress=True, stream=out)
    assert out.getvalue().startswith("\r") and out.getvalue().endswith("\n")
