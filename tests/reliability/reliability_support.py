"""Helpers of the reliability suite (fixtures are in conftest.py): image makers, fake apps."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image
from support import FAKE_INFERENCE

from modelhub.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRIB_DIR = REPO_ROOT / "contrib_src"
SAMPLES_DIR = CONTRIB_DIR / "sample_data"


def make_image(
    size: tuple[int, int] = (64, 48), mode: str = "RGB", fmt: str = "PNG", color: Any = None, **save: Any
) -> bytes:
    """Image bytes with a little structure (a gradient), so encoders do real work."""
    image = Image.linear_gradient("L").resize(size)
    if mode != "L":
        image = image.convert(mode) if mode not in ("I;16",) else Image.new("I;16", size, 40000)
    if color is not None:
        image = Image.new(mode, size, color)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def real_settings(model_file: Path, **overrides: Any) -> Settings:
    return load_settings({"model_file": str(model_file), **overrides}, environ={})


def labels_of(response: dict[str, Any]) -> list[str]:
    return [entry["label"] for entry in response["output"][0]["prediction"]]


def error_of(response: Any) -> str:
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]
    return str(body["error"])


def fake_app(package: Path, **overrides: Any) -> Any:
    """A Flask app serving a fake contributor package (loaded now)."""
    from modelhubapi.app import create_app

    settings = load_settings(
        {"contrib_dir": str(package), "model_file": str(package / "model" / "fake.onnx"), **overrides}, environ={}
    )
    return create_app(settings)


def write_fake_model_file(package: Path) -> None:
    (package / "model" / "fake.onnx").write_bytes(b"not a real onnx file; the fake Model never opens it")


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


# The legacy fake model of tests/support.py as a base class, for fake packages that change one thing.
FAKE_INFERENCE_PREFIX = FAKE_INFERENCE.replace("class Model(ModelBase):", "class LegacyModel(ModelBase):")


def all_workers_ready(url: str) -> None:
    """start_server waits for one ready answer; the other worker may still be loading (it would answer 503)."""
    import time

    import requests

    deadline, streak = time.monotonic() + 30, 0
    while streak < 30:
        assert time.monotonic() < deadline, "the workers did not all become ready"
        ready = requests.get(f"{url}/v2/health/ready", timeout=5, headers={"Connection": "close"})
        streak = streak + 1 if ready.status_code == 200 else 0
