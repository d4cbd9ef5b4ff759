"""The `modelhub` command: predict, fetch and serve's start-up checks."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO_ROOT, SAMPLES_DIR, modelhub_command


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [modelhub_command(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


@pytest.mark.model
def test_predict_text_and_json(int8_model: Path, tmp_path: Path) -> None:
    shutil.copy(SAMPLES_DIR / "cat_chelsea.png", tmp_path / "cat.png")
    (tmp_path / "notes.txt").write_text("not an image")
    # Relative image paths are read from the caller's directory.
    text = run("predict", "cat.png", "--top", "3", "--model-file", str(int8_model), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].startswith("cat.png")
    assert "Egyptian cat" in text.stdout and text.stdout.count("%") == 3
    out = run("predict", "cat.png", "notes.txt", "--json", "--model-file", str(int8_model), cwd=tmp_path)
    assert out.returncode == 1  # one of the inputs failed
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first["file"] == "cat.png" and len(first["output"][0]["prediction"]) == 5
    assert second["status"] == 415 and "text/plain" in second["error"]


class _Files(http.server.BaseHTTPRequestHandler):
    payload = b""
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def layout(root: Path, url: str, sha256: str) -> None:
    (root / "init").mkdir(parents=True)
    shutil.copytree(
        REPO_ROOT / "contrib_src", root / "contrib_src", ignore=shutil.ignore_patterns("*.onnx", "__pycache__")
    )
    entry = {
        "src_url": f"{url}/m.onnx",
        "dest_file_path": "contrib_src/model/m.onnx",
        "sha256": sha256,
        "size": len(_Files.payload),
        "variant": "float",
        "default": True,
    }
    (root / "init" / "init.json").write_text(json.dumps({"docker_id": "x", "external_contrib_files": [entry]}))


def test_fetch_then_refetch_then_wrong_hash(file_server: str, tmp_path: Path) -> None:
    _Files.payload = b"model bytes " * 1000
    _Files.requests = []
    good = hashlib.sha256(_Files.payload).hexdigest()
    layout(tmp_path / "ok", file_server, good)
    env = {"MODELHUB_ROOT": str(tmp_path / "ok")}
    first = run("fetch", env=env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "ok" / "contrib_src" / "model" / "m.onnx").read_bytes() == _Files.payload
    again = run("fetch", env=env)
    assert again.returncode == 0 and "already present" in again.stderr and len(_Files.requests) == 1
    layout(tmp_path / "bad", file_server, "0" * 64)
    bad = run("fetch", env={"MODELHUB_ROOT": str(tmp_path / "bad")})
    assert bad.returncode == 2
    (line,) = [text for text in bad.stderr.splitlines() if text.startswith("modelhub: error:")]
    assert "0" * 64 in line and good in line
    assert not list((tmp_path / "bad" / "contrib_src" / "model").glob("m.onnx*"))


def test_serve_refuses_a_missing_default_model(tmp_path: Path) -> None:
    _Files.payload = b"x"
    layout(tmp_path, "http://127.0.0.1:9", "a" * 64)
    result = run("serve", "--port", "1", env={"MODELHUB_ROOT": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("modelhub: error: model file ")
    assert "a" * 64 in result.stderr and "modelhub fetch" in result.stderr
