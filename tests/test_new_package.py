"""README's "Adding another model package", followed step by step in tmp_path, as a new user would.

The package classifies a photo as red, green or blue with a 3x3 weight matrix it downloads (a
``file://`` URL stands in for the web): it lists that file with its sha256 in its own
``model_files.json``, ``modelhub fetch --contrib`` downloads it and ``modelhub serve --contrib``
serves it, verified.  A second package that needs no model file is served with nothing else.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from support import REPO_ROOT, modelhub_command

INFERENCE = """
from pathlib import Path

import numpy as np
from modelhublib.contract import BatchModel, LabelScores, ModelMetadata, TensorSpec

LABELS = ["red", "green", "blue"]


class Model(BatchModel):
    def __init__(self, model_file=None):
        self._weights = np.load(model_file) if model_file else np.eye(3, dtype=np.float32)

    def metadata(self):
        return ModelMetadata((TensorSpec("rgb", "FP32", (-1, 3)),), (TensorSpec("scores", "FP32", (-1, 3)),), 16)

    def preprocess(self, image):
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0) / 255
        return {"rgb": rgb[None, :]}

    def predict(self, inputs):
        return {"scores": inputs["rgb"] @ self._weights}

    def postprocess(self, outputs):
        items = []
        for row in outputs["scores"].astype(np.float64):
            exp = np.exp(8 * (row - row.max()))
            items.append({"colour": LabelScores(exp / exp.sum(), LABELS)})
        return items
"""

CONFIG: dict[str, Any] = {
    "id": "0b6f8f55-3c1e-4f7e-9d55-1c1f9a3e7a01",
    "meta": {"name": "colours", "task": "Classification"},
    "publication": {"title": "Three colours", "year": 2026},
    "model": {
        "description": "red, green or blue",
        "io": {
            "input": {
                "format": ["image/png", "image/jpeg"],
                "dim_limits": [{"min": 1, "max": 4}, {"min": 8}, {"min": 8}],
            },
            "output": [{"name": "colour", "type": "label_list", "description": "the main colour"}],
        },
    },
}


def readme_section() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    return text.split("## Adding another model package", 1)[1].split("\n## ", 1)[0]


def make_package(root: Path) -> Path:
    """Steps 1 and 2: the folder, its config, licences, a sample and ``inference.py``."""
    (root / "model").mkdir(parents=True)
    (root / "license").mkdir()
    (root / "sample_data").mkdir()
    (root / "model" / "config.json").write_text(json.dumps(CONFIG))
    (root / "license" / "model").write_text("CC0")
    (root / "license" / "sample_data").write_text("CC0")
    Image.new("RGB", (32, 32), (20, 30, 220)).save(root / "sample_data" / "blue.png")
    Image.new("RGB", (32, 32), (20, 30, 220)).save(root / "model" / "thumbnail.jpg")
    (root / "inference.py").write_text(INFERENCE)
    return root


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [modelhub_command(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "MODELHUB_LOG_LEVEL": "info"},
    )


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_readme_section_names_what_the_test_does() -> None:
    section = readme_section()
    for needed in (
        "model_files.json",
        "dest_file_path",
        "sha256",
        "modelhub fetch --contrib",
        "modelhub serve --contrib",
        "class Model",
    ):
        assert needed in section, needed
    listing = re.search(r"```json\n(.*?)```", section, re.S)
    assert listing is not None, "the section shows a model_files.json"
    example = json.loads(listing.group(1))
    assert set(example["external_contrib_files"][0]) >= {"src_url", "dest_file_path", "sha256", "size", "variant"}


@pytest.mark.server
def test_a_package_built_from_the_readme_is_fetched_and_served(
    tmp_path: Path, start_server: Callable[..., Any]
) -> None:
    package = make_package(tmp_path / "colours")
    upstream = tmp_path / "upstream" / "weights.npy"  # step 3: the model file, somewhere to download it from
    upstream.parent.mkdir()
    np.save(upstream, np.eye(3, dtype=np.float32))
    listing = {
        "external_contrib_files": [
            {
                "src_url": upstream.as_uri(),
                "dest_file_path": "model/weights.npy",
                "sha256": hashlib.sha256(upstream.read_bytes()).hexdigest(),
                "size": upstream.stat().st_size,
                "variant": "default",
                "default": True,
            }
        ]
    }
    (package / "model_files.json").write_text(json.dumps(listing))
    missing = run("serve", "--contrib", str(package), "--port", "1", cwd=tmp_path)  # before the fetch
    assert missing.returncode == 2 and f"modelhub fetch --contrib {package}" in missing.stderr

    fetched = run("fetch", "--contrib", str(package), cwd=tmp_path)  # step 4
    assert fetched.returncode == 0, fetched.stderr
    assert (package / "model" / "weights.npy").read_bytes() == upstream.read_bytes()

    server = start_server("--contrib", str(package), "--workers", "1")
    file = requests.get(f"{server.url}/api/get_config", timeout=10).json()["model"]["file"]
    assert file == {
        "file": "weights.npy",
        "sha256": listing["external_contrib_files"][0]["sha256"],
        "variant": "default",
        "verified": True,
        "reproduced": None,  # no golden outputs for this file
        "source_url": upstream.as_uri(),
    }
    for colour, label in (((230, 20, 10), "red"), ((10, 200, 30), "green")):
        answer = requests.post(f"{server.url}/api/predict?top=1", files={"file": ("x.png", png(colour))}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"][0]["prediction"][0]["label"] == label
    sample = requests.get(f"{server.url}/api/predict_sample", params={"filename": "blue.png", "top": 1}, timeout=10)
    assert sample.json()["output"][0]["prediction"][0]["label"] == "blue"
    assert "UNVERIFIED" not in server.log()


@pytest.mark.server
@pytest.mark.parametrize("listing", [None, {"external_contrib_files": []}])
def test_a_package_that_needs_no_model_file_is_served_as_it_is(
    tmp_path: Path, start_server: Callable[..., Any], listing: dict[str, Any] | None
) -> None:
    package = make_package(tmp_path / "colours")
    if listing is not None:
        (package / "model_files.json").write_text(json.dumps(listing))
    server = start_server("--contrib", str(package), "--workers", "1")
    config = requests.get(f"{server.url}/api/get_config", timeout=10).json()
    assert "file" not in config["model"]  # no model file, so none is reported (and none is "unverified")
    answer = requests.post(f"{server.url}/api/predict?top=1", files={"file": ("x.png", png((230, 20, 10)))}, timeout=10)
    assert answer.json()["output"][0]["prediction"][0]["label"] == "red"
    assert "UNVERIFIED" not in server.log() and "mobilenetv2" not in server.log()
    nothing = run("fetch", "--contrib", str(package), cwd=tmp_path)
    assert nothing.returncode == 0 and "lists no model file" in nothing.stderr
    unknown = run("fetch", "--contrib", str(package), "--variant", "int8", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == "modelhub: error: unknown model variant 'int8' (known: none)"
