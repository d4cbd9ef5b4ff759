"""REST details a new user meets: ``?top=K`` (shape and class index), the 404 text, more image formats."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import FAKE_CONFIG, FAKE_INFERENCE

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI

MORE_FORMATS = ["image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "image/gif"]


def client_for(package: Path, **settings: Any) -> Any:
    return ModelHubRESTAPI(load_model(package), package, load_settings(settings, {})).app.test_client()


def upload(client: Any, data: bytes, query: str = "") -> Any:
    return client.post(
        f"/api/predict{query}", data={"file": (io.BytesIO(data), "x")}, content_type="multipart/form-data"
    )


def encoded(
    fmt: str, colour: tuple[int, int, int] = (10, 10, 200), size: tuple[int, int] = (40, 30), **save: Any
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def package(fake_package: Callable[..., Path]) -> Path:
    return fake_package()


def test_top_k_has_shape_k_and_class_indices(package: Path) -> None:
    client = client_for(package)
    full = upload(client, encoded("PNG")).get_json()["output"][0]
    assert full["shape"] == [3] and [set(e) for e in full["prediction"]] == [{"label", "probability"}] * 3
    top = upload(client, encoded("PNG"), "?top=2").get_json()["output"][0]
    assert top["shape"] == [2] and len(top["prediction"]) == 2
    labels = ["red", "green", "blue"]
    assert top["prediction"][0]["label"] == "blue" and top["prediction"][0]["index"] == 2
    for entry in top["prediction"]:
        assert labels[entry["index"]] == entry["label"]
        assert entry["probability"] == full["prediction"][entry["index"]]["probability"]
    many = upload(client, encoded("PNG"), "?top=10").get_json()["output"][0]
    assert many["shape"] == [3] and sorted(e["index"] for e in many["prediction"]) == [0, 1, 2]


@pytest.mark.parametrize(
    "public_url,base",
    [("", "http://localhost/"), ("https://models.example.org/mobilenet", "https://models.example.org/mobilenet/")],
)
def test_unknown_route_names_the_servers_own_docs(package: Path, public_url: str, base: str) -> None:
    response = client_for(package, public_url=public_url).get("/api/predictt")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": f"no such route; this server's API is described at {base}docs (OpenAPI document: {base}openapi.json)"
    }
    assert "README" not in response.get_json()["error"]


@pytest.fixture
def more_formats(fake_package: Callable[..., Path]) -> Path:
    config = json.loads(json.dumps(FAKE_CONFIG))
    config["model"]["io"]["input"]["format"] = MORE_FORMATS
    config["model"]["io"]["input"]["single"]["format"] = MORE_FORMATS
    return fake_package("more_formats", config=config, inference=FAKE_INFERENCE)


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "TIFF", "GIF"])
def test_formats_a_package_lists_are_decoded(package: Path, more_formats: Path, fmt: str) -> None:
    data = encoded(fmt)
    refused = upload(client_for(package), data)  # the default package lists PNG and JPEG only
    assert refused.status_code == 415 and "unsupported image type image/" in refused.get_json()["error"]
    answer = upload(client_for(more_formats), data, "?top=1")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["output"][0]["prediction"][0]["label"] == "blue"


def test_an_animated_gif_gives_its_first_frame(more_formats: Path) -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((200, 10, 10), (10, 200, 10), (10, 10, 200))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    answer = upload(client_for(more_formats), buffer.getvalue(), "?top=1")
    assert answer.status_code == 200 and answer.get_json()["output"][0]["prediction"][0]["label"] == "red"


def test_a_multi_page_tiff_is_refused(more_formats: Path) -> None:
    pages = [Image.new("RGB", (40, 30), (10, 10, 200)) for _ in range(3)]
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    answer = upload(client_for(more_formats), buffer.getvalue())
    assert answer.status_code == 415 and answer.get_json() == {"error": "a TIFF of 3 pages: send a single-page image"}


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "TIFF", "GIF"])
def test_the_same_limits_apply_to_every_format(more_formats: Path, fmt: str) -> None:
    data = encoded(fmt, size=(50, 30))
    # Decoding a truncated file would fail, so a 413 shows the header decided (Pillow opens a WebP only whole).
    truncated = data if fmt == "WEBP" else data[: len(data) * 2 // 3]
    too_large = upload(client_for(more_formats, max_image_pixels=1000), truncated)
    assert (
        too_large.status_code == 413
        and "50x30 pixels is over the limit of 1000 pixels" in too_large.get_json()["error"]
    )
    too_small = upload(client_for(more_formats), encoded(fmt, size=(4, 30)))
    assert too_small.status_code == 422
