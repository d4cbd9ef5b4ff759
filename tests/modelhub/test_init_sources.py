"""init/override.json (a builder's own hashes) and mirrors (another base URL, or a folder), always verified."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from modelhubserve.cli import main

from modelhub.errors import ConfigError, IntegrityError
from modelhub.fetch import fetch_all, read_init
from modelhub.init_sources import mirror_url
from modelhub.model_source import resolve_model_source
from modelhub.settings import load_settings

FLOAT = b"float weights " * 5000
INT8 = b"int8 weights " * 3000
PUBLISHED_INT8_SHA = hashlib.sha256(b"the published bytes").hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def layout(root: Path, int8_sha: str = PUBLISHED_INT8_SHA, int8_size: int = 19) -> Path:
    """init/init.json with two variants whose published URLs cannot be reached."""
    (root / "init").mkdir(parents=True)
    (root / "contrib_src" / "model").mkdir(parents=True)  # the package whose files init/init.json lists
    entries = [
        {
            "src_url": "https://unreachable.invalid/m/float.onnx",
            "dest_file_path": "contrib_src/model/float.onnx",
            "sha256": sha(FLOAT),
            "size": len(FLOAT),
            "variant": "float",
            "default": True,
        },
        {
            "src_url": "https://unreachable.invalid/m/int8.onnx",
            "dest_file_path": "contrib_src/model/int8.onnx",
            "sha256": int8_sha,
            "size": int8_size,
            "variant": "int8",
        },
    ]
    (root / "init" / "init.json").write_text(json.dumps({"docker_id": "t/t:0", "external_contrib_files": entries}))
    return root


def mirror_folder(path: Path) -> Path:
    path.mkdir()
    (path / "float.onnx").write_bytes(FLOAT)
    (path / "int8.onnx").write_bytes(INT8)
    return path


@pytest.fixture
def http_mirror(tmp_path: Path) -> Iterator[str]:
    folder = mirror_folder(tmp_path / "served")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def write_override(root: Path, variants: object) -> None:
    (root / "init" / "override.json").write_text(json.dumps({"variants": variants}))


def test_override_replaces_hash_and_size_and_the_file_is_still_verified(tmp_path: Path) -> None:
    root = layout(tmp_path / "repo")
    write_override(root, {"int8": {"sha256": sha(INT8), "size": len(INT8)}})
    files = {f.variant: f for f in read_init(root)}
    assert (files["int8"].sha256, files["int8"].size) == (sha(INT8), len(INT8))
    assert files["float"].sha256 == sha(FLOAT)  # not named: unchanged
    assert (
        json.loads((root / "init" / "init.json").read_text())["external_contrib_files"][1]["sha256"]
        == PUBLISHED_INT8_SHA
    )  # init.json is never rewritten


def test_override_hash_without_size_drops_the_published_size(tmp_path: Path) -> None:
    root = layout(tmp_path / "repo")
    write_override(root, {"int8": {"sha256": sha(INT8)}})
    (int8,) = [f for f in read_init(root) if f.variant == "int8"]
    assert int8.size is None and int8.sha256 == sha(INT8)


@pytest.mark.parametrize(
    ("variants", "fragment"),
    [
        ({"fp16": {"sha256": "a" * 64}}, "unknown variant 'fp16' (init.json has: float, int8)"),
        ({"int8": {"sha": "a" * 64}}, "give only sha256, size, src_url"),
        ({"int8": {}}, "give only"),
        ({"int8": {"sha256": "xyz"}}, "'sha256' must be 64 hex digits"),
        ({"int8": {"size": -1}}, "'size' must be a non-negative integer"),
        ({}, "must be"),
    ],
)
def test_bad_override_is_one_clear_error(tmp_path: Path, variants: object, fragment: str) -> None:
    root = layout(tmp_path / "repo")
    write_override(root, variants)
    with pytest.raises(ConfigError) as info:
        read_init(root)
    assert fragment in str(info.value)


def test_override_not_json(tmp_path: Path) -> None:
    root = layout(tmp_path / "repo")
    (root / "init" / "override.json").write_text("{nope")
    with pytest.raises(ConfigError, match="override.json: invalid JSON"):
        read_init(root)


def test_http_mirror_with_override_fetches_verified_files(tmp_path: Path, http_mirror: str) -> None:
    root = layout(tmp_path / "repo")
    write_override(root, {"int8": {"sha256": sha(INT8), "size": len(INT8)}})
    result = fetch_all(root, mirror=http_mirror, progress=False)
    assert [(f.variant, fresh) for f, fresh in result] == [("float", True), ("int8", True)]
    assert all(f.src_url.startswith("http://127.0.0.1:") for f, _ in result)
    assert (root / "contrib_src/model/int8.onnx").read_bytes() == INT8
    source = resolve_model_source(load_settings({"root": str(root), "model_variant": "int8"}, {}))
    assert source.verified and source.sha256 == sha(INT8)


def test_mirror_without_override_refuses_other_bytes(tmp_path: Path, http_mirror: str) -> None:
    root = layout(tmp_path / "repo")
    with pytest.raises(IntegrityError, match=PUBLISHED_INT8_SHA):
        fetch_all(root, ["int8"], mirror=http_mirror, progress=False)
    assert not list((root / "contrib_src/model").glob("int8.onnx*"))  # nothing left behind


def test_fetch_command_from_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Dockerfile's MODEL_SOURCE=context: `modelhub fetch --mirror <folder of the build context>`."""
    root = layout(tmp_path / "repo", int8_sha=sha(INT8), int8_size=len(INT8))
    folder = mirror_folder(tmp_path / "context-models")
    monkeypatch.setenv("MODELHUB_ROOT", str(root))
    assert main(["fetch", "--mirror", str(folder)]) == 0
    assert (root / "contrib_src/model/float.onnx").read_bytes() == FLOAT
    (folder / "float.onnx").write_bytes(b"tampered")
    (root / "contrib_src/model/float.onnx").unlink()
    assert main(["fetch", "--mirror", str(folder)]) == 2  # sha256 mismatch: the build fails
    assert not (root / "contrib_src/model/float.onnx").exists()


def test_mirror_url_forms(tmp_path: Path) -> None:
    assert mirror_url("http://127.0.0.1:9/models/", "a b.onnx") == "http://127.0.0.1:9/models/a%20b.onnx"
    assert mirror_url("https://mirror.example/m", "x.onnx") == "https://mirror.example/m/x.onnx"
    assert mirror_url(str(tmp_path), "x.onnx") == tmp_path.resolve().as_uri() + "/x.onnx"
    with pytest.raises(ConfigError, match="neither an http"):
        mirror_url(str(tmp_path / "missing"), "x.onnx")
