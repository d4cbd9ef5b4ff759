"""Fixtures of the reliability suite: the real model in-process, Flask clients, image makers."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from modelhub.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRIB_DIR = REPO_ROOT / "contrib_src"
SAMPLES_DIR = CONTRIB_DIR / "sample_data"


def make_image(size: tuple[int, int] = (64, 48), mode: str = "RGB", fmt: str = "PNG", color: Any = None,
               **save: Any) -> bytes:
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


@pytest.fixture(scope="session")
def real_api(int8_model: Path) -> Any:
    """The real MobileNetV2 API (int8 model), built once per session."""
    from modelhub.host import build_api

    return build_api(real_settings(int8_model))


@pytest.fixture(scope="session")
def real_app(real_api: Any) -> Any:
    from modelhub.host import ModelHost
    from modelhubapi.restapi import create_app

    return create_app(real_api.settings, host=ModelHost(real_api.settings, real_api))


@pytest.fixture
def client(real_app: Any) -> Iterator[Any]:
    with real_app.test_client() as test_client:
        yield test_client


@pytest.fixture
def app_with(real_api: Any) -> Callable[..., Any]:
    """A Flask app around the shared real model, with other settings (limits, URL policy)."""
    from modelhub.host import ModelHost
    from modelhubapi.pythonapi import ModelHubAPI
    from modelhubapi.restapi import create_app

    def build(**overrides: Any) -> Any:
        settings = load_settings({"model_file": str(real_api.settings.model_file), **overrides}, environ={})
        api = ModelHubAPI(real_api.model, settings.contrib_path, settings, real_api.source)
        return create_app(settings, host=ModelHost(settings, api))

    return build


def fake_app(package: Path, **overrides: Any) -> Any:
    """A Flask app serving a fake contributor package (loaded now)."""
    from modelhubapi.restapi import create_app

    settings = load_settings({"contrib_dir": str(package), "model_file": str(package / "model" / "fake.onnx"),
                              **overrides}, environ={})
    return create_app(settings)


def write_fake_model_file(package: Path) -> None:
    (package / "model" / "fake.onnx").write_bytes(b"not a real onnx file; the fake Model never opens it")


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
