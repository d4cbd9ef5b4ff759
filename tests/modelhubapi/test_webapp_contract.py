"""Contract test: the ModelHub web app (a React app on another origin) against the real server.

The calls below are the ones the web app makes, in its order, over real HTTP with an
``Origin`` header; every field it reads is checked, and every response must carry
``Access-Control-Allow-Origin`` (the browser hides the response from the app otherwise).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests

pytestmark = [pytest.mark.model, pytest.mark.server]

ORIGIN = "http://modelhub-webapp.example:3000"
CAT_CLASSES = {
    "Egyptian cat",
    "tabby, tabby cat",
    "tiger cat",
    "Persian cat",
    "Siamese cat, Siamese",
    "lynx, catamount",
}


def _cors(response: requests.Response) -> None:
    allowed = response.headers.get("Access-Control-Allow-Origin")
    assert allowed in ("*", ORIGIN), f"{response.request.method} {response.url}: no CORS header ({allowed!r})"


def _json(response: requests.Response) -> Any:
    _cors(response)
    assert response.headers.get("Content-Type", "").split(";")[0] == "application/json", response.url
    return response.json()


def _check_prediction(body: dict[str, Any], top: int) -> list[dict[str, Any]]:
    """What the web app reads from a predict response."""
    assert "error" not in body, body.get("error")
    assert isinstance(body["processing_time"], (int, float)) and body["processing_time"] >= 0
    prediction = body["output"][0]["prediction"]
    assert isinstance(prediction, list) and len(prediction) >= top
    for entry in prediction:
        assert isinstance(entry["label"], str) and entry["label"]
        assert isinstance(entry["probability"], float) and 0.0 <= entry["probability"] <= 1.0
    return sorted(prediction, key=lambda entry: -entry["probability"])


def test_the_modelhub_web_app_sequence(start_server, int8_model: Path) -> None:
    # Two workers: a request that meets a worker still loading its model waits for it (never a 503).
    server = start_server("--model-file", str(int8_model), "--workers", "2")
    api = f"{server.url}/api/"
    session = requests.Session()
    session.headers["Origin"] = ORIGIN

    # 1. the model's thumbnail
    thumbnail = session.get(f"{api}thumbnail/thumbnail.jpg", timeout=10)
    assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"] == "image/jpeg"
    assert thumbnail.content[:3] == b"\xff\xd8\xff"
    _cors(thumbnail)

    # 2. config, samples and legal texts together: all three must be JSON or no tab appears
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(session.get, f"{api}{route}", timeout=10)
            for route in ("get_config", "get_samples", "get_legal")
        ]
        config_response, samples_response, legal_response = (future.result() for future in futures)
    for response in (config_response, samples_response, legal_response):
        assert response.status_code == 200, response.url
    config, samples, legal = _json(config_response), _json(samples_response), _json(legal_response)

    top = config["modelhub"]["top"]
    assert isinstance(top, int) and not isinstance(top, bool) and top >= 1
    assert isinstance(config["modelhub"]["sort"], bool)
    assert config["model"]["io"]["output"][0]["type"] == "label_list"  # drawn as a bar chart
    for key in ("name", "application_area", "task", "task_extended", "data_type", "data_source"):
        assert isinstance(config["meta"][key], str) and config["meta"][key], key
    for key in ("description", "architecture", "learning_type"):
        assert isinstance(config["model"][key], str) and config["model"][key], key
    publication = config["publication"]
    for key in ("title", "source", "authors", "email", "abstract", "url", "google_scholar", "bibtex"):
        assert isinstance(publication[key], str) and publication[key], key
    assert isinstance(publication["year"], int)
    assert isinstance(legal, dict) and legal and all(isinstance(text, str) for text in legal.values())
    for key in ("model_license", "sample_data_license", "modelhub_license"):
        assert legal[key].strip(), key

    # 3. samples: a plain array of absolute URLs ending in the file name
    assert isinstance(samples, list) and samples
    names = []
    for url in samples:
        assert isinstance(url, str)
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.netloc, url
        name = unquote(parts.path.rsplit("/", 1)[-1])
        assert name and "." in name and not parts.query and not parts.fragment, url
        names.append(name)
    # the app fetches samples[0] and reads only its Content-Type
    first = requests.get(samples[0], headers={"Origin": ORIGIN}, timeout=10)
    assert first.status_code == 200
    assert first.headers["Content-Type"] in ("image/jpeg", "image/png"), first.headers["Content-Type"]
    _cors(first)
    for url in samples[1:]:
        other = session.get(url, timeout=10)
        assert other.headers["Content-Type"] in ("image/jpeg", "image/png"), url
        _cors(other)

    # 4. prediction on the first sample, by file name
    sample = session.get(f"{api}predict_sample", params={"filename": names[0]}, timeout=30)
    assert sample.status_code == 200
    _check_prediction(_json(sample), top)
    cat_name = next(name for name in names if "cat" in name)
    cat = _check_prediction(_json(session.get(f"{api}predict_sample?filename={cat_name}", timeout=30)), top)
    assert cat[0]["label"] in CAT_CLASSES, cat[:top]

    # 5. an upload: POST predict with one multipart field "file"
    cat_bytes = session.get(f"{api}samples/{cat_name}", timeout=10).content
    upload = session.post(f"{api}predict", files={"file": (cat_name, cat_bytes)}, timeout=30)
    assert upload.status_code == 200
    uploaded = _check_prediction(_json(upload), top)
    assert uploaded[0]["label"] == cat[0]["label"]

    # 6. errors: a top-level "error" string, still readable cross-origin
    for files in (
        {"file": ("notes.txt", b"not an image", "text/plain")},
        {"file": ("empty.png", b"", "image/png")},
        {"wrong_field": (cat_name, cat_bytes)},
    ):
        failed = session.post(f"{api}predict", files=files, timeout=30)
        assert 400 <= failed.status_code < 500, (files.keys(), failed.status_code)
        body = _json(failed)
        assert isinstance(body["error"], str) and body["error"], body
    missing = session.get(f"{api}predict_sample", params={"filename": "no-such-file.jpg"}, timeout=10)
    assert missing.status_code == 404 and isinstance(_json(missing)["error"], str)

    # 7. a CORS preflight, in case a browser sends one for the upload
    preflight = session.options(f"{api}predict", headers={"Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code in (200, 204)
    _cors(preflight)
    assert "POST" in preflight.headers.get("Access-Control-Allow-Methods", "")
