"""Faults at start and while serving: model file integrity, broken packages, raising models."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import CONTRIB_DIR, FAKE_INFERENCE_PREFIX, fake_app, make_image, write_fake_model_file

from modelhub.errors import ConfigError, IntegrityError
from modelhub.model_source import resolve_model_source
from modelhub.settings import load_settings
from modelhubapi.service import build_api

DEST = "contrib_src/model/mobilenetv2-12-int8.onnx"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def layout(tmp_path: Path, int8_model: Path) -> Path:
    """A copy of the repository layout whose init/init.json lists a copy of the shared int8 model."""
    root = tmp_path / "repo"
    shutil.copytree(CONTRIB_DIR, root / "contrib_src", ignore=shutil.ignore_patterns("*.onnx", "__pycache__", "*.pyc"))
    (root / "init").mkdir()
    shutil.copyfile(int8_model, root / DEST)
    expected = _shared_sha(int8_model)
    assert _sha(root / DEST) == expected
    (root / "init" / "init.json").write_text(
        json.dumps(
            {
                "docker_id": "test/mobilenetv2:0",
                "external_contrib_files": [
                    {
                        "src_url": "https://example.invalid/mobilenetv2-12-int8.onnx",
                        "dest_file_path": DEST,
                        "sha256": expected,
                        "size": int8_model.stat().st_size,
                        "variant": "int8",
                        "default": True,
                    }
                ],
            }
        )
    )
    return root


def _shared_sha(model: Path) -> str:
    sums = model.parent / "SHA256SUMS"
    for line in sums.read_text().splitlines():
        digest, name = line.split()
        if name.lstrip("*") == model.name:
            return digest
    raise AssertionError(f"{model.name} not in {sums}")


def settings(root: Path, **overrides: Any) -> Any:
    return load_settings({"root": str(root), **overrides}, environ={})


def run_serve(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELHUB_ROOT": str(root), "MODELHUB_LOG_LEVEL": "error"}
    env.pop("MODELHUB_MODEL_FILE", None)
    command = [str(Path(sys.executable).with_name("modelhub")), "serve", "--port", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=root)


def one_error_line(result: subprocess.CompletedProcess[str], traceback_logged: bool = False) -> str:
    """The one ``modelhub: error:`` line, last on stderr; a traceback only where contributor code raised."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.startswith("modelhub: error:")]
    assert len(lines) == 1, result.stderr
    assert result.stderr.splitlines()[-1] == lines[0]
    assert ("Traceback" in result.stderr) == traceback_logged, result.stderr
    return lines[0]


# -- the default model file, verified at every start ----------------------------------------


@pytest.mark.model
def test_intact_default_file_is_verified(layout: Path) -> None:
    source = resolve_model_source(settings(layout))
    assert source.verified and source.variant == "int8" and source.sha256 == _sha(layout / DEST)


@pytest.mark.model
def test_missing_default_file(layout: Path) -> None:
    (layout / DEST).unlink()
    expected = json.loads((layout / "init" / "init.json").read_text())["external_contrib_files"][0]["sha256"]
    with pytest.raises(IntegrityError) as info:
        resolve_model_source(settings(layout))
    message = info.value.message
    assert "\n" not in message and "mobilenetv2-12-int8.onnx" in message and expected in message
    assert "missing" in message


@pytest.mark.model
@pytest.mark.parametrize("damage", ["truncated", "corrupted", "emptied", "init.json hash differs"])
def test_damaged_default_file_is_refused_with_both_hashes(layout: Path, damage: str) -> None:
    path = layout / DEST
    data = bytearray(path.read_bytes())
    init = layout / "init" / "init.json"
    expected = json.loads(init.read_text())["external_contrib_files"][0]["sha256"]
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "corrupted":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "emptied":
        path.write_bytes(b"")
    else:
        expected = "0" * 64
        init.write_text(init.read_text().replace(_sha(path), expected))
    actual = _sha(path)
    with pytest.raises(IntegrityError) as info:
        resolve_model_source(settings(layout))
    message = info.value.message
    assert "\n" not in message
    assert "mobilenetv2-12-int8.onnx" in message and expected in message and actual in message


@pytest.mark.model
def test_serve_refuses_to_start_with_one_clear_line(layout: Path) -> None:
    path = layout / DEST
    data = bytearray(path.read_bytes())
    data[1000] ^= 0x01
    path.write_bytes(bytes(data))
    line = one_error_line(run_serve(layout))
    assert str(path) in line and "expected" in line and _sha(path) in line


@pytest.mark.model
def test_serve_refuses_a_missing_file(layout: Path) -> None:
    (layout / DEST).unlink()
    line = one_error_line(run_serve(layout))
    assert "mobilenetv2-12-int8.onnx" in line and "missing" in line


# -- an explicit model file ---------------------------------------------------------------


@pytest.mark.model
def test_explicit_file_matching_a_variant_is_reported(layout: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere.onnx"
    shutil.copyfile(layout / DEST, copy)
    api = build_api(settings(layout, model_file=str(copy)))
    info = api.get_config()["model"]["file"]
    assert info["variant"] == "int8" and info["verified"] is True and info["file"] == "elsewhere.onnx"
    assert "path" not in info  # no server paths in responses


@pytest.mark.model
def test_explicit_file_with_expected_hash(layout: Path, tmp_path: Path) -> None:
    copy = tmp_path / "given.onnx"
    shutil.copyfile(layout / DEST, copy)
    good = resolve_model_source(settings(layout, model_file=str(copy), model_sha256=_sha(copy)))
    assert good.verified
    with pytest.raises(IntegrityError) as info:
        resolve_model_source(settings(layout, model_file=str(copy), model_sha256="a" * 64))
    assert "a" * 64 in info.value.message and _sha(copy) in info.value.message and "given.onnx" in info.value.message


@pytest.mark.model
def test_unknown_explicit_file_is_served_unverified_with_a_warning(
    layout: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, float_model: Path
) -> None:
    with caplog.at_level(logging.WARNING, logger="modelhub.model_source"):
        api = build_api(settings(layout, model_file=str(float_model)))
    info = api.get_config()["model"]["file"]
    assert info["verified"] is False and info["variant"] is None
    assert any("UNVERIFIED" in r.getMessage() and _sha(float_model) in r.getMessage() for r in caplog.records)


def test_explicit_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError) as info:
        resolve_model_source(settings(tmp_path, model_file=str(tmp_path / "nope.onnx")))
    assert "nope.onnx" in info.value.message and "does not exist" in info.value.message


@pytest.mark.model
def test_explicit_file_that_is_not_onnx(layout: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx at all")
    with pytest.raises(ConfigError) as info:
        build_api(settings(layout, model_file=str(junk)))
    assert "junk.onnx" in info.value.message


# -- a broken contributor package ------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize(
    "breakage,said",
    [
        ("config missing", "config file missing"),
        ("config malformed", "malformed JSON"),
        ("config not an object", "must be a JSON object"),
        ("config without outputs", "model.io.output"),
        ("labels count", "labels"),
    ],
)
def test_broken_package_is_a_clear_startup_error(layout: Path, breakage: str, said: str) -> None:
    config = layout / "contrib_src" / "model" / "config.json"
    if breakage == "config missing":
        config.unlink()
    elif breakage == "config malformed":
        config.write_text('{"id": "x", "meta": {}, ')
    elif breakage == "config not an object":
        config.write_text("[1, 2, 3]")
    elif breakage == "config without outputs":
        data = json.loads(config.read_text())
        data["model"]["io"]["output"] = []
        config.write_text(json.dumps(data))
    else:
        labels = layout / "contrib_src" / "model" / "labels.json"
        labels.write_text(json.dumps(json.loads(labels.read_text())[:999]))
    with pytest.raises(ConfigError) as info:
        build_api(settings(layout))
    assert said in info.value.message and "\n" not in info.value.message
    if breakage == "labels count":
        assert "1000" in info.value.message and "999" in info.value.message


@pytest.mark.model
def test_serve_refuses_a_malformed_config(layout: Path) -> None:
    (layout / "contrib_src" / "model" / "config.json").write_text("{ nope")
    line = one_error_line(run_serve(layout))
    assert "config.json" in line and "malformed JSON" in line


RAISES_IN_INIT = (
    FAKE_INFERENCE_PREFIX
    + """

class Model(LegacyModel):
    def __init__(self):
        raise RuntimeError("cannot open weights")
"""
)

RAISES_IN_INFER = (
    FAKE_INFERENCE_PREFIX
    + """

class Model(LegacyModel):
    def infer(self, input):
        from PIL import Image
        with Image.open(input) as image:
            width = image.width
        if width == 77:
            raise RuntimeError("secret internal detail /srv/weights.bin")
        if width == 78:
            return [{"label": "x", "probability": float("nan")}]
        if width == 79:
            return "not a label list"
        if width == 80:
            raise MemoryError()
        return super().infer(input)
"""
)


def test_model_raising_in_init_is_a_clear_startup_error(fake_package: Callable[..., Path]) -> None:
    package = fake_package("raises_init", inference=RAISES_IN_INIT)
    write_fake_model_file(package)
    with pytest.raises(ConfigError) as info:
        fake_app(package)
    assert "failed to load" in info.value.message and "RuntimeError: cannot open weights" in info.value.message


def test_serve_refuses_a_model_raising_in_init(fake_package: Callable[..., Path], tmp_path: Path) -> None:
    package = fake_package("raises_init_cli", inference=RAISES_IN_INIT)
    write_fake_model_file(package)
    line = one_error_line(
        run_serve(tmp_path, "--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx")),
        traceback_logged=True,
    )
    assert "cannot open weights" in line


@pytest.mark.parametrize(
    "width,said",
    [
        (77, "the model failed to process this input; the server log has the details"),
        (78, "the model returned a probability that is not a finite number"),
        (79, "the model returned a malformed label list"),
        (80, "the model failed to process this input; the server log has the details"),
    ],
)
def test_model_raising_in_infer_is_a_500_that_hides_internals(
    fake_package: Callable[..., Path], caplog: pytest.LogCaptureFixture, width: int, said: str
) -> None:
    package = fake_package("raises_infer", inference=RAISES_IN_INFER)
    write_fake_model_file(package)
    app = fake_app(package)

    def post(w: int) -> Any:
        return client.post(
            "/api/predict",
            data={"file": (io.BytesIO(make_image((w, 20))), "x.png")},
            content_type="multipart/form-data",
        )

    with app.test_client() as client, caplog.at_level(logging.ERROR):
        response = post(width)
        assert response.status_code == 500
        assert response.get_json() == {"error": said}
        assert "secret" not in response.get_data(as_text=True)
        assert post(40).status_code == 200  # the server keeps serving
        assert post(width).status_code == 500
        assert post(41).status_code == 200
    if width == 77:
        assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records)


def test_unexpected_exception_in_a_route_is_a_generic_500(
    fake_package: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    package = fake_package("route_bug")
    write_fake_model_file(package)
    app = fake_app(package)
    api = app.extensions["modelhub"].api

    def bug(*args: Any, **kw: Any) -> Any:
        raise KeyError("/internal/path")

    monkeypatch.setattr(api, "get_legal", bug)
    with app.test_client() as client, caplog.at_level(logging.ERROR):
        response = client.get("/api/get_legal")
        assert response.status_code == 500
        assert response.get_json() == {"error": "internal server error; the server log has the details"}
        assert client.get("/api/get_config").status_code == 200
    assert any("unhandled error" in r.getMessage() and r.exc_info for r in caplog.records)
