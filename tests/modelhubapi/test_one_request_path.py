"""Every request goes through Flask: an ``after_request`` hook (as metrics and logging extensions use) sees all."""

from __future__ import annotations

import io
from pathlib import Path

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI


def test_an_after_request_hook_sees_every_response(fake_package) -> None:
    package: Path = fake_package()
    app = ModelHubRESTAPI(load_model(package), package, load_settings({}, {})).app
    seen: list[tuple[str, str, int]] = []

    @app.after_request
    def record(response):  # type: ignore[no-untyped-def]
        from flask import request

        seen.append((request.method, request.path, response.status_code))
        return response

    client = app.test_client()
    photo = (package / "sample_data" / "red.png").read_bytes()
    sent = [
        client.post("/api/predict", data={"file": (io.BytesIO(photo), "x.png")}, content_type="multipart/form-data"),
        client.post(
            "/api/predict?top=1", data={"file": (io.BytesIO(photo), "x.png")}, content_type="multipart/form-data"
        ),
        client.post("/api/predict", data={"file": (io.BytesIO(b"text"), "x.png")}, content_type="multipart/form-data"),
        client.post("/api/predict", data=b"raw", content_type="image/png"),
        client.get("/api/get_config"),
        client.get("/api/predict_sample?filename=red.png"),
        client.get("/v2/health/ready"),
        client.get("/nope"),
    ]
    assert [response.status_code for response in sent] == [200, 200, 415, 415, 200, 200, 200, 404]
    assert [status for _method, _path, status in seen] == [200, 200, 415, 415, 200, 200, 200, 404]
    assert [path for _method, path, _status in seen][:4] == ["/api/predict"] * 4
