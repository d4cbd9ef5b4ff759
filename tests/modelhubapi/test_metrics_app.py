"""GET /metrics in-process (Flask test client, the app's own registry), on a fake contributor package."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI


def rest_for(package: Path, **overrides: Any) -> ModelHubRESTAPI:
    return ModelHubRESTAPI(load_model(package), package, load_settings(overrides, {}))


@pytest.fixture
def package(fake_package) -> Path:
    return fake_package()


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests_of(found, route: str, method: str, status: int) -> float:
    key = ("modelhub_http_requests_total", (("method", method), ("route", route), ("status", str(status))))
    return found.get(key, 0.0)


def upload(client, data: bytes, content_type: str = "multipart/form-data"):
    return client.post("/api/predict", data={"file": (io.BytesIO(data), "x.png")}, content_type=content_type)


def test_requests_are_counted_by_url_rule_method_and_status(package: Path) -> None:
    client = rest_for(package).app.test_client()
    red = (package / "sample_data" / "red.png").read_bytes()
    assert upload(client, red).status_code == 200
    assert upload(client, red).status_code == 200
    assert upload(client, b"not an image").status_code == 415
    assert client.post("/api/predict", data={"other": "x"}, content_type="multipart/form-data").status_code == 400
    assert client.post("/api/predict", data=b"{}", content_type="application/json").status_code == 415
    assert client.get("/api/predict_sample?filename=red.png").status_code == 200
    assert client.get("/api/samples/red.png").status_code == 200
    assert client.get("/no/such/route").status_code == 404
    assert client.open("/api/get_config", method="BREW").status_code == 405
    found = samples(client)
    assert requests_of(found, "/api/predict", "POST", 200) == 2
    assert requests_of(found, "/api/predict", "POST", 400) == 1
    assert requests_of(found, "/api/predict", "POST", 415) == 2
    assert requests_of(found, "/api/predict_sample", "GET", 200) == 1
    assert requests_of(found, "/api/samples/<path:name>", "GET", 200) == 1  # the rule, not the file name
    assert requests_of(found, "unmatched", "GET", 404) == 1
    assert requests_of(found, "unmatched", "other", 405) == 1  # a made-up method adds no series
    assert found[("modelhub_http_request_duration_seconds_count", (("route", "/api/predict"),))] == 5
    assert found[("modelhub_http_requests_in_flight", ())] == 1  # the scrape itself
    # Three predictions (the bad upload fails while decoding, before a Prediction): every stage observed once for each.
    for stage in ("decode", "preprocess", "queue", "inference", "postprocess"):
        assert found[("modelhub_stage_seconds_count", (("stage", stage),))] == 3, stage
    assert found[("modelhub_batch_size_count", ())] == 3 and found[("modelhub_batch_size_sum", ())] == 3
    assert found[("modelhub_ready", ())] == 1
    assert found[("modelhub_build_info", (("version", "1.0.0"),))] == 1
    again = samples(client)  # the first scrape is counted by the second
    assert requests_of(again, "/metrics", "GET", 200) == 1


def test_each_app_has_its_own_registry(package: Path) -> None:
    first, second = rest_for(package).app.test_client(), rest_for(package).app.test_client()
    assert first.get("/no/such/route").status_code == 404
    assert requests_of(samples(first), "unmatched", "GET", 404) == 1
    assert requests_of(samples(second), "unmatched", "GET", 404) == 0


def test_metrics_can_be_switched_off(package: Path) -> None:
    client = rest_for(package, metrics=False).app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/api/get_config").status_code == 200


def test_a_failing_observer_never_fails_the_prediction(package: Path) -> None:
    rest = rest_for(package)
    plane = rest.app.extensions["modelhub"].host.plane

    def broken(_prediction: Any) -> None:
        raise RuntimeError("observer bug")

    plane.observers.insert(0, broken)
    client = rest.app.test_client()
    assert upload(client, (package / "sample_data" / "red.png").read_bytes()).status_code == 200
    assert samples(client)[("modelhub_batch_size_count", ())] == 1  # the observers after it still ran


@pytest.mark.model
def test_model_info_load_and_warm_up_times_of_the_real_model(int8_model: Path) -> None:
    from support import sha256_of

    from modelhubapi.app import create_app

    app = create_app(load_settings({"model_file": str(int8_model)}, {}))
    found = samples(app.test_client())
    (info,) = [dict(labels) for (name, labels) in found if name == "modelhub_model_info"]
    assert info["sha256"] == sha256_of(int8_model) and info["file"] == int8_model.name
    assert info["verified"] in ("true", "false") and found[("modelhub_model_info", tuple(sorted(info.items())))] == 1
    assert found[("modelhub_model_load_seconds", ())] > 0 and found[("modelhub_model_warmup_seconds", ())] > 0
