"""The REST API through Flask's test client, on a fake contributor package."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support import FAKE_CONFIG

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI


@pytest.fixture
def package(fake_package) -> Path:
    return fake_package()


@pytest.fixture
def client(package: Path):
    rest = ModelHubRESTAPI(load_model(package), package, load_settings({}, {}))
    return rest.app.test_client()


def upload(client, data: bytes, name: str = "x.png", query: str = ""):
    return client.post(
        f"/api/predict{query}", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def test_predict_response_has_exactly_the_modelhub_shape(client, package: Path) -> None:
    response = upload(client, (package / "sample_data" / "red.png").read_bytes())
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"output", "timestamp", "processing_time", "model"}
    assert body["model"] == {"id": "fake-id", "name": "FakeNet"}
    assert isinstance(body["processing_time"], float) and body["processing_time"] >= 0
    (output,) = body["output"]
    assert set(output) == {"prediction", "shape", "type", "name", "description"}
    assert output["type"] == "label_list" and output["name"] == "probabilities" and output["shape"] == [3]
    assert [e["label"] for e in output["prediction"]] == ["red", "green", "blue"]  # class order


def test_top_k_is_sorted(client, package: Path) -> None:
    body = upload(client, (package / "sample_data" / "blue.jpg").read_bytes(), query="?top=2").get_json()
    prediction = body["output"][0]["prediction"]
    assert len(prediction) == 2 and prediction[0]["label"] == "blue"
    assert prediction[0]["probability"] >= prediction[1]["probability"]
    bad = upload(client, (package / "sample_data" / "blue.jpg").read_bytes(), query="?top=zero")
    assert bad.status_code == 400 and bad.get_json() == {"error": "top must be a positive integer, not 'zero'"}


def test_description_routes(client, package: Path) -> None:
    config = client.get("/api/get_config").get_json()
    assert config["id"] == "fake-id" and config["modelhub"] == {"top": 2, "sort": True}
    assert client.get("/api/get_model_io").get_json() == config["model"]["io"]
    legal = client.get("/api/get_legal").get_json()
    assert set(legal) == {"modelhub_license", "modelhub_acknowledgements", "model_license", "sample_data_license"}
    assert legal["model_license"] == "fake model licence" and "MIT" in legal["modelhub_license"]
    samples = client.get("/api/get_samples").get_json()
    assert samples == ["http://localhost/api/samples/blue.jpg", "http://localhost/api/samples/red.png"]


def test_samples_and_thumbnail_content_types(client, package: Path) -> None:
    png = client.get("/api/samples/red.png")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.data == (package / "sample_data" / "red.png").read_bytes()
    assert client.get("/api/samples/blue.jpg").headers["Content-Type"] == "image/jpeg"
    missing = client.get("/api/thumbnail/thumbnail.jpg")
    assert missing.status_code == 404 and missing.get_json() == {"error": "thumbnail 'thumbnail.jpg' not found"}


def test_predict_sample(client) -> None:
    body = client.get("/api/predict_sample?filename=red.png&top=1").get_json()
    assert body["output"][0]["prediction"][0]["label"] == "red"
    assert client.get("/api/predict_sample?filename=nope.png").status_code == 404
    assert client.get("/api/predict_sample").get_json() == {
        "error": "predict_sample needs ?filename=<name of a sample file>"
    }


def test_model_files_zip(client, package: Path) -> None:
    response = client.get("/api/get_model_files")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert sorted(names) == ["model/config.json", "model/labels.txt"]


@pytest.mark.parametrize("path,status", [("/nope", 404), ("/api/predict_samples", 404)])
def test_unknown_routes_answer_json(client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status and response.get_json() == {
        "error": "no such route; this server's API is described at http://localhost/docs "
        "(OpenAPI document: http://localhost/openapi.json)"
    }


def test_wrong_method_answers_json(client) -> None:
    response = client.delete("/api/predict")
    assert response.status_code == 405 and response.get_json() == {"error": "method not allowed on this route"}


def test_cors_header_on_every_response(client) -> None:
    for response in (client.get("/api/get_config"), client.get("/nope"), upload(client, b"")):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(
        "/api/predict", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200 and "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_cors_origin_configurable(package: Path) -> None:
    rest = ModelHubRESTAPI(load_model(package), package, load_settings({"allow_origin": "https://app.example"}, {}))
    response = rest.app.test_client().get("/api/get_config")
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Vary"] == "Origin"


def test_url_fetch_off_by_default(client) -> None:
    response = client.get("/api/predict?fileurl=http://images.example/cat.jpg")
    assert response.status_code == 403
    assert "MODELHUB_ALLOW_URL_FETCH" in response.get_json()["error"]


def test_upload_errors(client, package: Path) -> None:
    empty = upload(client, b"")
    assert empty.status_code == 400 and empty.get_json() == {"error": "the uploaded file is empty"}
    text = upload(client, b"hello world", "cat.jpg")
    assert text.status_code == 415 and "text/plain" in text.get_json()["error"]
    raw = client.post("/api/predict", data=b"\x89PNG", content_type="image/png")
    assert raw.status_code == 415 and "multipart/form-data" in raw.get_json()["error"]
    small = client.post("/api/predict", data={"image": (io.BytesIO(b"x"), "a.png")}, content_type="multipart/form-data")
    assert small.status_code == 400 and small.get_json()["error"].startswith("no multipart field 'file'")


def test_array_outputs_are_served_from_output(fake_package) -> None:
    config = json.loads(json.dumps(FAKE_CONFIG))
    config["model"]["io"]["output"] = [{"name": "mask", "type": "mask_image", "description": "a mask"}]
    package = fake_package(
        "masks",
        config=config,
        inference=(
            "import numpy as np\nfrom modelhublib.model import ModelBase\n"
            "class Model(ModelBase):\n"
            "    def infer(self, input):\n"
            "        return np.arange(6, dtype=np.uint8).reshape(2, 3)\n"
        ),
    )
    client = ModelHubRESTAPI(load_model(package), package, load_settings({}, {})).app.test_client()
    body = client.get("/api/predict_sample?filename=red.png").get_json()
    output = body["output"][0]
    assert output["shape"] == [2, 3] and output["type"] == "mask_image"
    url = output["prediction"]
    assert url.startswith("http://localhost/api/output/") and url.endswith(".npy")
    served = client.get(url.removeprefix("http://localhost"))
    assert served.status_code == 200
    assert np.array_equal(np.load(io.BytesIO(served.data)), np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert client.get("/api/output/../inference.py").status_code in (400, 404)


def test_model_failure_is_500_without_internals(fake_package, caplog) -> None:
    package = fake_package(
        "broken",
        inference=(
            "from modelhublib.model import ModelBase\n"
            "class Model(ModelBase):\n"
            "    def infer(self, input):\n"
            "        raise KeyError('secret internal detail')\n"
        ),
    )
    client = ModelHubRESTAPI(load_model(package), package, load_settings({}, {})).app.test_client()
    response = client.get("/api/predict_sample?filename=red.png")
    assert response.status_code == 500
    assert response.get_json() == {"error": "the model failed to process this input; the server log has the details"}
    assert "secret internal detail" in caplog.text  # logged with its traceback, not sent
    assert client.get("/api/get_config").status_code == 200  # still serving


@pytest.mark.parametrize("terminated", [False, True], ids=["werkzeug's stream", "whole body from the server"])
def test_the_body_a_server_read_whole_gives_the_same_answers(package: Path, terminated: bool) -> None:
    """``wsgi.input_terminated`` (set by modelhub serve): the body is taken as it is, under the same limits."""
    rest = ModelHubRESTAPI(load_model(package), package, load_settings({"max_upload_bytes": 4096}, {}))
    client = rest.app.test_client()
    environ = {"wsgi.input_terminated": True} if terminated else {}
    photo = (package / "sample_data" / "red.png").read_bytes()
    ok = client.post(
        "/api/predict",
        data={"file": (io.BytesIO(photo), "red.png")},
        content_type="multipart/form-data",
        environ_overrides=environ,
    )
    assert ok.status_code == 200 and ok.get_json()["output"][0]["prediction"][0]["label"] == "red"
    big = client.post(
        "/api/predict",
        data={"file": (io.BytesIO(b"x" * 200_000), "big.png")},
        content_type="multipart/form-data",
        environ_overrides=environ,
    )
    assert big.status_code == 413 and "larger than the limit" in big.get_json()["error"]
