"""The Open Inference Protocol routes through Flask's test client, on the real int8 model.

Answers are checked against ``/api/predict`` on the same photos: one data plane, two codecs.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from support import SAMPLES_DIR, service_for

from modelhub.contrib import load_model
from modelhub.host import ModelHost
from modelhub.inputs import decoded_image
from modelhub.settings import load_settings
from modelhubapi.app import create_app
from modelhubapi.oip_codec import encode_bytes_elements
from modelhubapi.service import build_api

pytestmark = pytest.mark.model

PHOTOS = [SAMPLES_DIR / name for name in ("cat_chelsea.png", "coffee_cup.jpg", "pagoda_china.jpg")]
INFER = "/v2/models/mobilenet/infer"


@pytest.fixture(scope="module")
def api(int8_model: Path) -> Any:
    return build_api(load_settings({"model_file": str(int8_model)}, environ={}))


@pytest.fixture(scope="module")
def client(api: Any) -> Any:
    return create_app(api.settings, host=ModelHost(api.settings, api.plane)).test_client()


def modelhub_probabilities(client: Any, photo: Path) -> np.ndarray:
    response = client.post(
        "/api/predict", data={"file": (io.BytesIO(photo.read_bytes()), photo.name)}, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    return np.array([entry["probability"] for entry in response.get_json()["output"][0]["prediction"]])


def preprocessed(api: Any, photos: list[Path]) -> np.ndarray:
    """The model's input for the photos, decoded and preprocessed as the engine does for /api/predict."""
    plane = api.plane
    items = [plane.model.preprocess(decoded_image(p.read_bytes(), plane.config, plane.settings)) for p in photos]
    return np.concatenate([item["input"] for item in items])


def binary_request(header: dict[str, Any], *chunks: bytes) -> dict[str, Any]:
    """Keyword arguments of a binary-extension POST as tritonclient sends it: no Content-Type."""
    text = json.dumps(header).encode()
    return {"data": text + b"".join(chunks), "headers": {"Inference-Header-Content-Length": str(len(text))}}


def outputs_of(response: Any) -> dict[str, np.ndarray]:
    """The output tensors of a response, binary or JSON."""
    length = response.headers.get("Inference-Header-Content-Length")
    body = response.data
    header = orjson.loads(body if length is None else body[: int(length)])
    offset, found = int(length or 0), {}
    for output in header["outputs"]:
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is None:
            found[output["name"]] = np.array(output["data"], dtype=object if output["datatype"] == "BYTES" else None)
        else:
            assert output["datatype"] == "FP32"
            found[output["name"]] = np.frombuffer(body[offset : offset + size], dtype="<f4")
            offset += size
        found[output["name"]] = found[output["name"]].reshape(output["shape"])
    assert offset == len(body) or length is None
    return found


def error(response: Any, status: int) -> str:
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error"} and response.headers["Access-Control-Allow-Origin"] == "*"
    return str(body["error"])


def test_metadata_ready_and_config(client: Any) -> None:
    server = client.get("/v2").get_json()
    assert server["name"] == "modelhub" and {"binary_tensor_data", "classification"} <= set(server["extensions"])
    metadata = client.get("/v2/models/mobilenet").get_json()
    assert metadata == client.get("/v2/models/mobilenet/versions/1").get_json()
    assert metadata == {
        "name": "mobilenet",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]},
            {"name": "image", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "output", "datatype": "FP32", "shape": [-1, 1000]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 1000]},
        ],
    }
    ready = client.get("/v2/models/mobilenet/ready")
    assert ready.status_code == 200 and ready.get_json() == {"name": "mobilenet", "ready": True}
    assert client.get("/v2/models/mobilenet/versions/1/ready").status_code == 200
    config = client.get("/v2/models/mobilenet/config")
    assert config.headers["Access-Control-Allow-Origin"] == "*"
    config = config.get_json()
    assert config["max_batch_size"] == 32 and config["name"] == "mobilenet" and config["platform"] == "onnxruntime_onnx"
    assert config["input"][0] == {"name": "input", "data_type": "TYPE_FP32", "dims": [3, 224, 224]}
    assert config["input"][1] == {"name": "image", "data_type": "TYPE_STRING", "dims": [1], "reshape": {"shape": []}}
    assert [o["name"] for o in config["output"]] == ["output", "probabilities"]
    assert all(o["dims"] == [1000] for o in config["output"])


def test_unknown_model_or_version_is_404(client: Any) -> None:
    for path in (
        "/v2/models/resnet",
        "/v2/models/resnet/ready",
        "/v2/models/resnet/config",
        "/v2/models/resnet/versions/1",
    ):
        assert error(client.get(path), 404) == "no model 'resnet': this server serves 'mobilenet'"
    for path in (
        "/v2/models/mobilenet/versions/2",
        "/v2/models/mobilenet/versions/2/ready",
        "/v2/models/mobilenet/versions/0/config",
    ):
        assert "has no version" in error(client.get(path), 404) and "versions are ['1']" in error(client.get(path), 404)
    assert "no model 'resnet'" in error(client.post("/v2/models/resnet/infer", data=b"{}"), 404)
    assert "no version '7'" in error(client.post("/v2/models/mobilenet/versions/7/infer", data=b"{}"), 404)


def test_json_tensors_equal_api_predict(api: Any, client: Any) -> None:
    x = preprocessed(api, PHOTOS[:2])
    request = {
        "id": "json-1",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}],
    }
    response = client.post(INFER, json=request)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("mobilenet", "1", "json-1")
    assert [o["name"] for o in body["outputs"]] == ["output", "probabilities"]  # no outputs list: all of them
    outputs = outputs_of(response)
    assert outputs["output"].shape == (2, 1000) and outputs["probabilities"].shape == (2, 1000)
    for row, photo in zip(outputs["probabilities"], PHOTOS, strict=False):
        assert np.allclose(row, modelhub_probabilities(client, photo), atol=1e-6, rtol=0)
    # The outputs list selects; parameters.binary_data_output makes every output binary by default.
    response = client.post(INFER, json={**request, "outputs": [{"name": "output"}]})
    assert [o["name"] for o in response.get_json()["outputs"]] == ["output"]
    response = client.post(INFER, json={**request, "parameters": {"binary_data_output": True}})
    assert response.mimetype == "application/octet-stream"
    assert np.allclose(outputs_of(response)["probabilities"], outputs["probabilities"], atol=1e-6)


def test_binary_tensors_without_content_type(api: Any, client: Any) -> None:
    x = preprocessed(api, PHOTOS)
    header = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": list(x.shape), "parameters": {"binary_data_size": x.nbytes}}
        ],
        "outputs": [
            {"name": "probabilities", "parameters": {"binary_data": True}},
            {"name": "output", "parameters": {"binary_data": False}},
        ],
    }
    response = client.post(INFER, **binary_request(header, x.tobytes()))
    assert response.status_code == 200, response.data
    assert int(response.headers["Inference-Header-Content-Length"]) < len(response.data)
    outputs = outputs_of(response)
    for row, photo in zip(outputs["probabilities"], PHOTOS, strict=True):
        assert np.allclose(row, modelhub_probabilities(client, photo), atol=1e-6, rtol=0)
    logits = api.plane.infer_tensors({"input": x}).raw["output"]
    assert np.allclose(outputs["output"], logits, atol=1e-5)


def test_bytes_images_with_classification_equal_api_predict(client: Any) -> None:
    raw = encode_bytes_elements([photo.read_bytes() for photo in PHOTOS])
    header = {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [len(PHOTOS)], "parameters": {"binary_data_size": len(raw)}}
        ],
        "outputs": [
            {"name": "probabilities", "parameters": {"binary_data": True}},
            {"name": "output", "parameters": {"classification": 5}},
        ],
    }
    response = client.post(INFER, **binary_request(header, raw))
    assert response.status_code == 200, response.data
    outputs = outputs_of(response)
    assert outputs["output"].shape == (len(PHOTOS), 5)
    for row, top, photo in zip(outputs["probabilities"], outputs["output"], PHOTOS, strict=True):
        expected = modelhub_probabilities(client, photo)
        assert np.allclose(row, expected, atol=1e-6, rtol=0)
        top5 = client.post(
            "/api/predict?top=5",
            data={"file": (io.BytesIO(photo.read_bytes()), photo.name)},
            content_type="multipart/form-data",
        ).get_json()["output"][0]["prediction"]
        assert [entry.split(":", 2)[2] for entry in top] == [entry["label"] for entry in top5]
        assert [int(entry.split(":")[1]) for entry in top] == list(np.argsort(-expected, kind="stable")[:5])


def test_json_base64_image_with_classification(client: Any) -> None:
    photo = PHOTOS[0]
    request = {
        "inputs": [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [1],
                "data": [base64.b64encode(photo.read_bytes()).decode()],
            }
        ],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}],
    }
    body = client.post(INFER, json=request).get_json()
    (output,) = body["outputs"]
    assert output["datatype"] == "BYTES" and output["shape"] == [1, 3]
    scores = modelhub_probabilities(client, photo)
    entries = [entry.split(":", 2) for entry in output["data"]]
    assert [label for _, _, label in entries] == ["Egyptian cat", "tiger cat", "tabby, tabby cat"]
    assert all(abs(float(score) - scores[int(index)]) <= 1e-6 for score, index, _ in entries)


def test_errors_are_oip_json_with_this_projects_statuses(api: Any, client: Any, png_bytes: Any) -> None:
    x = preprocessed(api, PHOTOS[:1])

    def tensor(**changes: Any) -> dict[str, Any]:
        entry = {"name": "input", "datatype": "FP32", "shape": [1, 3, 224, 224], "data": x.ravel().tolist()}
        return {"inputs": [{**entry, **changes}]}

    def image(data: bytes) -> dict[str, Any]:
        entry = {"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(data).decode()]}
        return {"inputs": [entry]}

    assert "input 'input' must be FP32, not FP64" in error(client.post(INFER, json=tensor(datatype="FP64")), 400)
    message = error(client.post(INFER, json=tensor(shape=[1, 3, 224, 224, 1])), 400)
    assert "must have shape ['N', 3, 224, 224], not [1, 3, 224, 224, 1]" in message
    assert "not [1, 3, 112, 448]" in error(client.post(INFER, json=tensor(shape=[1, 3, 112, 448])), 400)
    assert "its shape holds 301056 elements" in error(client.post(INFER, json=tensor(shape=[2, 3, 224, 224])), 400)
    assert "takes the inputs ['input']" in error(client.post(INFER, json=tensor(name="data")), 400)
    both = {"inputs": [*tensor()["inputs"], *image(PHOTOS[0].read_bytes())["inputs"]]}
    assert "not both" in error(client.post(INFER, json=both), 400)
    unknown = {**tensor(), "outputs": [{"name": "logits"}]}
    assert "has no output 'logits'" in error(client.post(INFER, json=unknown), 400)
    assert "not valid JSON" in error(client.post(INFER, data=b"\x89PNG"), 400)
    assert "must be BYTES" in error(client.post(INFER, json=tensor(name="image")), 400)
    assert "batch is empty" in error(client.post(INFER, json=tensor(shape=[0, 3, 224, 224], data=[])), 400)
    error(client.post(INFER, json=image(b"%PDF-1.4 not an image")), 415)
    error(client.post(INFER, json=image(png_bytes(size=(8, 8)))), 422)
    error(client.post(INFER, json=image(b"")), 400)
    assert error(client.get(INFER), 405)
    compressed = client.post(INFER, data=b"\x1f\x8b", headers={"Content-Encoding": "gzip"})
    assert "not supported" in error(compressed, 415)


def _fixed_batch_copy(source: Path, target: Path) -> Path:
    """The int8 graph with a fixed batch of 1, as tests/contrib_src/test_model_real.py's _renamed_copy builds it."""
    onnx = pytest.importorskip("onnx")
    graph_model = onnx.load(str(source))
    for value in (graph_model.graph.input[0], graph_model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(graph_model, str(target))
    return target


def test_a_batch_over_a_fixed_batch_models_maximum_is_400(tmp_path: Path, int8_model: Path, api: Any) -> None:
    copy = _fixed_batch_copy(int8_model, tmp_path / "fixed.onnx")
    repo = Path(__file__).resolve().parents[2]
    settings = load_settings({"model_file": str(copy)}, environ={})
    service = service_for(load_model(repo / "contrib_src", model_file=copy), repo / "contrib_src", settings)
    client = create_app(settings, host=ModelHost(settings, service.plane)).test_client()
    assert client.get("/v2/models/mobilenet/config").get_json()["max_batch_size"] == 1
    shapes = {i["name"]: i["shape"] for i in client.get("/v2/models/mobilenet").get_json()["inputs"]}
    assert shapes == {"input": [1, 3, 224, 224], "image": [1]}
    x = preprocessed(api, PHOTOS[:2])
    request = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": [2, 3, 224, 224],
                "parameters": {"binary_data_size": x.nbytes},
            }
        ]
    }
    message = error(client.post(INFER, **binary_request(request, x.tobytes())), 400)
    assert message == "input 'input': a batch of 2 is larger than model 'mobilenet''s max_batch_size of 1"
    raw = encode_bytes_elements([p.read_bytes() for p in PHOTOS[:2]])
    images = {
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(raw)}}]
    }
    assert "a batch of 2 is larger" in error(client.post(INFER, **binary_request(images, raw)), 400)
    one = {
        "inputs": [
            {**request["inputs"][0], "shape": [1, 3, 224, 224], "parameters": {"binary_data_size": x.nbytes // 2}}
        ]
    }
    response = client.post(INFER, **binary_request(one, x[:1].tobytes()))
    assert response.status_code == 200
    assert np.allclose(outputs_of(response)["probabilities"][0], modelhub_probabilities(client, PHOTOS[0]), atol=1e-6)
