"""Concurrency inside one worker: the shared onnxruntime session and per-request state, under threads."""

from __future__ import annotations

import io
import os
import random
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from reliability_support import SAMPLES_DIR, fake_app, labels_of, make_image, write_fake_model_file

from modelhub.errors import ModelHubError

pytestmark = pytest.mark.model

SAMPLES = sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix in (".png", ".jpg"))
INVALID = [
    (b"", 400),
    (b"hello", 415),
    (make_image((8, 8)), 422),
    (make_image((64, 64), fmt="GIF"), 415),
    ((SAMPLES_DIR / "coffee_cup.jpg").read_bytes()[:3000], 400),
]


def _scratch_entries() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("modelhub-")}


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scratch folders of this test only (other test runs may share /tmp)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


def test_threads_on_the_python_api(real_api: Any) -> None:
    expected = {p.name: real_api.predict(p.read_bytes(), top=5)["output"] for p in SAMPLES}
    work = [("ok", p) for p in SAMPLES] * 6 + [("bad", i) for i in range(len(INVALID))] * 6
    random.Random(3).shuffle(work)
    before = _scratch_entries()

    def one(item: tuple[str, Any]) -> None:
        kind, what = item
        if kind == "ok":
            assert real_api.predict(what.read_bytes(), top=5)["output"] == expected[what.name]
        else:
            data, status = INVALID[what]
            with pytest.raises(ModelHubError) as info:
                real_api.predict(data)
            assert info.value.status == status

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, work))
    assert _scratch_entries() == before == set()


def test_threads_on_the_flask_app(real_app: Any, real_api: Any) -> None:
    expected = {p.name: labels_of(real_api.predict(p.read_bytes(), top=5)) for p in SAMPLES}

    def one(index: int) -> None:
        path = SAMPLES[index % len(SAMPLES)]
        with real_app.test_client() as client:
            if index % 3 == 0:
                data, status = INVALID[index % len(INVALID)]
                response = client.post(
                    "/api/predict", data={"file": (io.BytesIO(data), "x.jpg")}, content_type="multipart/form-data"
                )
                assert response.status_code == status
            elif index % 3 == 1:
                response = client.get("/api/predict_sample", query_string={"filename": path.name, "top": "5"})
                assert labels_of(response.get_json()) == expected[path.name]
            else:
                response = client.post(
                    "/api/predict",
                    data={"file": (io.BytesIO(path.read_bytes()), path.name)},
                    content_type="multipart/form-data",
                    query_string={"top": "5"},
                )
                assert labels_of(response.get_json()) == expected[path.name]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(96)))


def test_legacy_model_scratch_files_are_per_request(fake_package: Callable[..., Path]) -> None:
    """A legacy model reads its input from a file: concurrent requests never see each other's files."""
    package = fake_package()
    write_fake_model_file(package)
    app = fake_app(package)
    colours = {"red": (250, 0, 0), "green": (0, 250, 0), "blue": (0, 0, 250)}
    before = _scratch_entries()

    def one(index: int) -> None:
        name = list(colours)[index % 3]
        data = make_image((40 + index % 7, 30), color=colours[name])
        with app.test_client() as client:
            response = client.post(
                "/api/predict",
                data={"file": (io.BytesIO(data), "x.png")},
                content_type="multipart/form-data",
                query_string={"top": "1"},
            )
        assert response.status_code == 200
        assert response.get_json()["output"][0]["prediction"][0]["label"] == name

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(60)))
    assert _scratch_entries() == before == set()
    assert Path.cwd() != package  # the working directory is restored after each legacy call
