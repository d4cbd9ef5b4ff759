"""The Open Inference Protocol under ``modelhub serve``, driven by Triton's own HTTP client and by plain requests.

Every answer is compared with ``/api/predict`` on the same photos; the README's examples run as written.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from support import REPO_ROOT, SAMPLES_DIR

pytestmark = [pytest.mark.server, pytest.mark.model]
httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

PHOTOS = [SAMPLES_DIR / name for name in ("cat_chelsea.png", "coffee_cup.jpg", "rocket_falcon9_launch.jpg")]
README = (REPO_ROOT / "README.md").read_text()


def readme_block(marker: str, language: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```{language}\n(.*?)```", README, re.S)
    assert match, f"README.md has no {language} block after <!-- {marker} -->"
    return match.group(1)


@pytest.fixture
def server(start_server: Any, int8_model: Path) -> Any:
    return start_server("--model-file", str(int8_model), "--workers", "1")


def api_predict(url: str, photo: Path, top: int | None = None) -> list[dict[str, Any]]:
    response = requests.post(
        f"{url}/api/predict",
        params={"top": top} if top else None,
        files={"file": (photo.name, photo.read_bytes())},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["output"][0]["prediction"])


def probabilities(url: str, photo: Path) -> np.ndarray:
    return np.array([entry["probability"] for entry in api_predict(url, photo)])


def preprocessed(photos: list[Path], model_file: Path) -> np.ndarray:
    """The photos as the engine preprocesses them (the data plane's own pipeline, in this process)."""
    from modelhub.inputs import decoded_image
    from modelhub.settings import load_settings
    from modelhubapi.service import build_api

    plane = build_api(load_settings({"model_file": str(model_file)}, environ={})).plane
    items = [plane.model.preprocess(decoded_image(p.read_bytes(), plane.config, plane.settings)) for p in photos]
    return np.concatenate([item["input"] for item in items])


def test_tritonclient_against_modelhub_serve(server: Any, int8_model: Path) -> None:
    client = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("mobilenet") and client.is_model_ready("mobilenet", "1")
    assert not client.is_model_ready("resnet")
    assert {"binary_tensor_data", "classification"} <= set(client.get_server_metadata()["extensions"])
    metadata = client.get_model_metadata("mobilenet")
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("input", "FP32", [-1, 3, 224, 224]),
        ("image", "BYTES", [-1]),
    ]
    assert [(t["name"], t["shape"]) for t in metadata["outputs"]] == [
        ("output", [-1, 1000]),
        ("probabilities", [-1, 1000]),
    ]
    assert client.get_model_config("mobilenet")["max_batch_size"] == 32
    with pytest.raises(InferenceServerException, match="no model 'resnet'"):
        client.get_model_metadata("resnet")
    expected = [probabilities(server.url, photo) for photo in PHOTOS]
    top5 = [[entry["label"] for entry in api_predict(server.url, photo, top=5)] for photo in PHOTOS]

    # Preprocessed FP32 tensors, binary and JSON transport.
    x = preprocessed(PHOTOS, int8_model)
    for binary in (True, False):
        tensor = httpclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        outputs = [
            httpclient.InferRequestedOutput("probabilities", binary_data=binary),
            httpclient.InferRequestedOutput("output", binary_data=binary, class_count=5),
        ]
        result = client.infer("mobilenet", [tensor], outputs=outputs, request_id=f"tensor-{binary}")
        assert result.get_response()["id"] == f"tensor-{binary}"
        scores = result.as_numpy("probabilities")
        assert scores.dtype == np.float32 and scores.shape == (len(PHOTOS), 1000)
        for row, want in zip(scores, expected, strict=True):
            assert np.allclose(row, want, atol=1e-6, rtol=0)
        classes = result.as_numpy("output")
        assert classes.shape == (len(PHOTOS), 5)
        labels = [[_text(entry).split(":", 2)[2] for entry in row] for row in classes]
        assert labels == top5
    # No outputs named: every output, binary.
    result = client.infer("mobilenet", [tensor])
    assert result.as_numpy("output").shape == (len(PHOTOS), 1000)

    # Encoded photos as a BYTES input: binary (raw bytes) and JSON (base64 strings), with classification.
    for binary in (True, False):
        images = httpclient.InferInput("image", [len(PHOTOS)], "BYTES")
        data = [photo.read_bytes() for photo in PHOTOS]
        images.set_data_from_numpy(
            np.array(data if binary else [base64.b64encode(d) for d in data], dtype=object), binary_data=binary
        )
        outputs = [
            httpclient.InferRequestedOutput("probabilities", binary_data=binary, class_count=5),
            httpclient.InferRequestedOutput("output", binary_data=binary),
        ]
        result = client.infer("mobilenet", [images], outputs=outputs)
        for row, want, labels in zip(result.as_numpy("probabilities"), expected, top5, strict=True):
            entries = [_text(entry).split(":", 2) for entry in row]
            assert [label for _, _, label in entries] == labels
            assert all(abs(float(score) - want[int(index)]) <= 1e-6 for score, index, _ in entries)
        assert result.as_numpy("output").shape == (len(PHOTOS), 1000)

    with pytest.raises(InferenceServerException, match="a batch of 33 is larger"):
        many = httpclient.InferInput("input", [33, 3, 224, 224], "FP32")
        many.set_data_from_numpy(np.zeros((33, 3, 224, 224), dtype=np.float32))
        client.infer("mobilenet", [many])
    client.close()


def test_plain_requests_json_forms(server: Any) -> None:
    url = f"{server.url}/v2/models/mobilenet"
    metadata = requests.get(url, timeout=10)
    assert metadata.status_code == 200 and metadata.headers["Access-Control-Allow-Origin"] == "*"
    assert metadata.json()["platform"] == "onnxruntime_onnx"
    photo = PHOTOS[1]
    request = {
        "id": "coffee",
        "inputs": [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [1],
                "data": [base64.b64encode(photo.read_bytes()).decode()],
            }
        ],
        "outputs": [{"name": "probabilities"}, {"name": "probabilities", "parameters": {"classification": 3}}],
    }
    response = requests.post(f"{url}/infer", json=request, timeout=30)
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert body["id"] == "coffee" and body["model_name"] == "mobilenet"
    full, top = body["outputs"]
    assert full["shape"] == [1, 1000] and top["shape"] == [1, 3] and top["datatype"] == "BYTES"
    assert np.allclose(full["data"], probabilities(server.url, photo), atol=1e-6, rtol=0)
    assert [entry.split(":", 2)[2] for entry in top["data"]] == [e["label"] for e in api_predict(server.url, photo, 3)]
    bad = requests.post(f"{url}/infer", data=b'{"inputs": [{"name": "image"}]}', timeout=10)
    assert bad.status_code == 400 and set(bad.json()) == {"error"}
    assert bad.headers["Access-Control-Allow-Origin"] == "*"
    unknown = requests.post(f"{server.url}/v2/models/nope/infer", json=request, timeout=10)
    assert unknown.status_code == 404 and "no model 'nope'" in unknown.json()["error"]


def test_readme_examples_run(server: Any) -> None:
    code = readme_block("oip-tritonclient-example", "python").replace("localhost:8080", f"127.0.0.1:{server.port}")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 5 and lines[0].endswith("  Egyptian cat"), run.stdout
    top5 = api_predict(server.url, SAMPLES_DIR / "cat_chelsea.png", top=5)
    assert [line.split("  ", 1)[1] for line in lines] == [entry["label"] for entry in top5]
    if shutil.which("curl") is None or shutil.which("base64") is None:
        return  # the curl example needs curl and coreutils' base64; the JSON forms are tested above
    script = readme_block("oip-curl-example", "bash").replace("http://127.0.0.1:8080", server.url)
    run = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    metadata, config, answer = (json.loads(line) for line in run.stdout.splitlines())
    assert metadata["name"] == "mobilenet" and config["max_batch_size"] == 32
    assert [entry.split(":", 2)[2] for entry in answer["outputs"][0]["data"]] == [e["label"] for e in top5[:3]]
    assert answer["outputs"][0]["data"][0] in README  # the answer the README shows


def _text(entry: Any) -> str:
    return entry.decode() if isinstance(entry, bytes) else str(entry)
