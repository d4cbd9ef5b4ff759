"""/api/explain: occlusion maps through the same pipeline, on real photos, bounded; errors are clear."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support import SAMPLES_DIR, fixed_batch_copy

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI
from modelhubapi.app import create_app

pytestmark = pytest.mark.model

# The one clear object of two sample photos, its box marked by hand on the 224 x 224 crop the model
# sees (left, top, right, bottom, crop pixels; drawn by eye on the crop with a 16-pixel grid over it), and
# how many of the most important cells must lie on it: the cup (with its coffee, without the saucer)
# for "espresso"; the rocket's body (a 26-pixel-wide column; the launch towers beside it are not part
# of it) for "missile", whose map also lights up the towers, so only its most important cell is required.
OBJECT_BOXES = {
    "coffee_cup.jpg": ((30, 0, 190, 118), 3),
    "rocket_falcon9_launch.jpg": ((100, 62, 126, 224), 1),
}


@pytest.fixture(scope="module")
def client(int8_model: Path) -> Any:
    return create_app(load_settings({"model_file": str(int8_model)}, {})).test_client()


def _explain(client: Any, **query: Any) -> Any:
    response = client.get("/api/explain", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_the_map_is_for_the_top_class_by_default(client: Any) -> None:
    body = _explain(client, filename="rocket_falcon9_launch.jpg").get_json()
    top = client.get("/api/predict_sample?filename=rocket_falcon9_launch.jpg&top=1").get_json()["output"][0][
        "prediction"
    ][0]
    assert body["class"]["label"] == top["label"]
    assert body["class"]["probability"] == pytest.approx(top["probability"], abs=1e-6)
    grid = body["grid"]
    assert grid["rows"] == grid["cols"] == 7 and len(grid["drops"]) == 7 and all(len(r) == 7 for r in grid["drops"])
    assert grid["x"] == grid["y"] == [0, 32, 64, 96, 128, 160, 192, 224]
    assert body["crop"] == {"width": 224, "height": 224} and body["passes"] == 50
    drops = np.asarray(grid["drops"])
    assert drops.max() > 0.1  # hiding some patch matters
    assert np.all(drops <= body["class"]["probability"] + 1e-9)  # a drop cannot exceed the probability


def test_a_class_and_a_grid_can_be_chosen(client: Any) -> None:
    body = _explain(client, filename="coffee_cup.jpg", **{"class": 967, "grid": 4}).get_json()  # 967: espresso
    assert body["class"]["index"] == 967 and body["class"]["label"] == "espresso"
    assert body["grid"]["rows"] == 4 and body["passes"] == 17 and body["grid"]["x"] == [0, 56, 112, 168, 224]


def test_post_gives_the_same_map_as_the_sample(client: Any) -> None:
    data = (SAMPLES_DIR / "cat_chelsea.png").read_bytes()
    posted = client.post(
        "/api/explain", data={"file": (io.BytesIO(data), "cat.png")}, content_type="multipart/form-data"
    )
    assert posted.status_code == 200, posted.get_data(as_text=True)
    sample = _explain(client, filename="cat_chelsea.png").get_json()
    assert np.allclose(posted.get_json()["grid"]["drops"], sample["grid"]["drops"], atol=1e-6)


def test_png_is_the_crop_with_the_map_over_it(client: Any) -> None:
    response = _explain(client, filename="coffee_cup.jpg", format="png")
    assert response.mimetype == "image/png" and response.data.startswith(b"\x89PNG\r\n\x1a\n")
    heat = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"), dtype=np.float64)
    assert heat.shape == (224, 224, 3)
    drops = np.asarray(_explain(client, filename="coffee_cup.jpg").get_json()["grid"]["drops"])
    row, col = np.unravel_index(int(np.argmax(drops)), drops.shape)
    low_row, low_col = np.unravel_index(int(np.argmin(drops)), drops.shape)
    hottest = heat[row * 32 : (row + 1) * 32, col * 32 : (col + 1) * 32]
    coolest = heat[low_row * 32 : (low_row + 1) * 32, low_col * 32 : (low_col + 1) * 32]
    # the most important patch is tinted red: more red than green and blue, more than the least important one
    assert redness(hottest) > 60 and redness(hottest) > redness(coolest) + 40
    assert response.headers["X-Explanation-Class"] == str(
        _explain(client, filename="coffee_cup.jpg").get_json()["class"]["index"]
    )


def redness(block: np.ndarray) -> float:
    return float((block[..., 0] - block[..., 1:].mean(axis=-1)).mean())


@pytest.mark.parametrize("name", sorted(OBJECT_BOXES))
def test_the_most_important_cells_lie_on_the_object(client: Any, name: str) -> None:
    body = _explain(client, filename=name).get_json()
    drops = np.asarray(body["grid"]["drops"])
    (left, top, right, bottom), count = OBJECT_BOXES[name]
    edges = body["grid"]["x"]
    order = np.argsort(-drops, axis=None)[:count]
    for flat in order:
        row, col = divmod(int(flat), 7)
        centre_x, centre_y = (edges[col] + edges[col + 1]) / 2, (edges[row] + edges[row + 1]) / 2
        assert left <= centre_x <= right and top <= centre_y <= bottom, (name, row, col, drops.round(3).tolist())


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({}, 400, "needs ?filename="),
        ({"filename": "no_such.png"}, 404, "not found"),
        ({"filename": "cat_chelsea.png", "grid": "0"}, 400, "grid must be 1-14"),
        ({"filename": "cat_chelsea.png", "grid": "15"}, 400, "MODELHUB_EXPLAIN_MAX_GRID"),
        ({"filename": "cat_chelsea.png", "grid": "seven"}, 400, "grid must be an integer"),
        ({"filename": "cat_chelsea.png", "class": "1000"}, 400, "class index 0-999"),
        ({"filename": "cat_chelsea.png", "class": "-1"}, 400, "class index 0-999"),
        ({"filename": "cat_chelsea.png", "class": "cat"}, 400, "class must be a class index"),
        ({"filename": "cat_chelsea.png", "format": "gif"}, 400, "format must be json or png"),
    ],
)
def test_bad_requests_are_clear(client: Any, query: dict[str, str], status: int, words: str) -> None:
    response = client.get("/api/explain", query_string=query)
    assert response.status_code == status and words in response.get_json()["error"], response.get_json()


def test_bad_uploads_are_clear(client: Any) -> None:
    text = client.post(
        "/api/explain", data={"file": (io.BytesIO(b"hello"), "a.txt")}, content_type="multipart/form-data"
    )
    assert text.status_code == 415
    raw = client.post("/api/explain", data=b"\x89PNG", content_type="image/png")
    assert raw.status_code == 415 and "multipart/form-data" in raw.get_json()["error"]


def test_the_grid_limit_is_a_setting(int8_model: Path) -> None:
    small = create_app(load_settings({"model_file": str(int8_model), "explain_max_grid": 5}, {})).test_client()
    body = small.get("/api/explain?filename=cat_chelsea.png").get_json()
    assert body["grid"]["rows"] == 5  # the default 7 is bounded too
    refused = small.get("/api/explain?filename=cat_chelsea.png&grid=6")
    assert refused.status_code == 400 and "1-5 (MODELHUB_EXPLAIN_MAX_GRID)" in refused.get_json()["error"]


def test_a_request_stays_within_the_request_timeout(int8_model: Path) -> None:
    app = create_app(load_settings({"model_file": str(int8_model), "request_timeout": 0.25}, {}))
    assert app.extensions["modelhub"].host.ready  # the warm-up is not bound by the small request timeout
    started = time.monotonic()
    response = app.test_client().get("/api/explain?filename=cat_chelsea.png&grid=14")  # 197 passes: > 0.25 s
    assert response.status_code in (503, 504), response.get_data(as_text=True)
    assert "took" in response.get_json()["error"] or "too long" in response.get_json()["error"]
    assert time.monotonic() - started < 1.5  # given up at the deadline, not after all 197 passes


def test_a_fixed_batch_model_runs_one_by_one(client: Any, int8_model: Path, tmp_path: Path) -> None:
    fixed = fixed_batch_copy(int8_model, tmp_path / "fixed.onnx")
    app = create_app(load_settings({"model_file": str(fixed)}, {}))
    assert app.extensions["modelhub"].host.plane.metadata().max_batch_size == 1
    one_by_one = app.test_client().get("/api/explain?filename=coffee_cup.jpg&grid=3").get_json()
    batched = _explain(client, filename="coffee_cup.jpg", grid=3).get_json()
    assert one_by_one["passes"] == 10 and one_by_one["class"] == batched["class"]
    assert np.allclose(one_by_one["grid"]["drops"], batched["grid"]["drops"], atol=1e-6)


def test_a_model_without_the_tensor_contract_is_refused(fake_package: Any) -> None:
    package = fake_package()
    app = ModelHubRESTAPI(load_model(package), package, load_settings({}, {})).app
    response = app.test_client().get("/api/explain?filename=red.png")
    assert response.status_code == 400 and "tensor contract" in response.get_json()["error"]
