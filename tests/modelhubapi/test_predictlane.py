"""The predict lane answers uploads with exactly the bytes the Flask route sends."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from modelhub.contrib import load_model
from modelhub.errors import ModelFailure
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI
from modelhubapi.predictlane import PredictLane

Environ = Callable[[], dict[str, Any]]


@pytest.fixture
def rest(fake_package) -> ModelHubRESTAPI:
    package = fake_package()
    return ModelHubRESTAPI(load_model(package), package, load_settings({"max_upload_bytes": 4096}, {}))


def _lane(rest: ModelHubRESTAPI) -> PredictLane:
    lane = rest.app.wsgi_app
    assert isinstance(lane, PredictLane)
    return lane


def _answer(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], Any]:
    app_iter, status, headers = run_wsgi_app(app, environ)
    body = b"".join(app_iter)
    listed = headers.to_wsgi_list()
    assert ("Content-Length", str(len(body))) in listed
    listed = [(name, "n" if name == "Content-Length" else value) for name, value in listed]  # timing digits vary
    document = json.loads(body)
    if "timestamp" in document:  # the two fields that differ between any two predictions
        assert body.count(b'"timestamp":') == 1 and body.count(b'"processing_time":') == 1
        document["timestamp"] = document["processing_time"] = None
    return status, listed, document


def _upload(data: bytes, query: str = "", field: str = "file") -> Environ:
    return lambda: EnvironBuilder(path="/api/predict", query_string=query, method="POST",
                                  data={field: (io.BytesIO(data), "x.png")}).get_environ()


def _raw(body: bytes, content_type: str) -> Environ:
    return lambda: EnvironBuilder(path="/api/predict", method="POST", data=body,
                                  content_type=content_type).get_environ()


def _same_through_lane_and_flask(rest: ModelHubRESTAPI, environ: Environ) -> tuple[str, Any]:
    lane = _lane(rest)
    taken: list[bool] = []
    flask_app = lane.app
    lane.app = lambda env, start: (taken.append(True), flask_app(env, start))[1]
    through_lane = _answer(lane, environ())
    assert taken == [], "the lane handed this request to Flask"
    through_flask = _answer(flask_app, environ())
    assert through_lane == through_flask
    return through_lane[0], through_lane[2]


def test_uploads_and_their_errors_are_answered_as_flask_answers_them(rest: ModelHubRESTAPI, png_bytes) -> None:
    photo = png_bytes((20, 10))
    boundary = "b0undary"
    cases = {
        "ok": _upload(photo),
        "top": _upload(photo, "top=2"),
        "top zero": _upload(photo, "top=0"),
        "not an image": _upload(b"hello, this is text"),
        "another field": _upload(photo, field="image"),
        "malformed": _raw(b"--b0undary\r\nno end", f"multipart/form-data; boundary={boundary}"),
        "no boundary": _raw(b"", "multipart/form-data"),
        "file over the limit": _upload(b"\xff" * 5000 + photo),
    }
    statuses = {name: _same_through_lane_and_flask(rest, environ) for name, environ in cases.items()}
    assert {name: status for name, (status, _) in statuses.items()} == {
        "ok": "200 OK", "top": "200 OK", "top zero": "400 BAD REQUEST", "not an image": "415 UNSUPPORTED MEDIA TYPE",
        "another field": "400 BAD REQUEST", "malformed": "400 BAD REQUEST", "no boundary": "400 BAD REQUEST",
        "file over the limit": "413 REQUEST ENTITY TOO LARGE",
    }
    assert len(statuses["top"][1]["output"][0]["prediction"]) == 2


@pytest.mark.parametrize("error", [ModelFailure("the model failed"), RuntimeError("a bug")])
def test_server_errors_are_answered_alike(rest: ModelHubRESTAPI, png_bytes, monkeypatch: pytest.MonkeyPatch,
                                          error: Exception) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(rest.api, "predict", fail)
    status, document = _same_through_lane_and_flask(rest, _upload(png_bytes()))
    assert status == "500 INTERNAL SERVER ERROR" and set(document) == {"error"}


@pytest.mark.parametrize("environ", [
    lambda: EnvironBuilder(path="/api/predict", method="GET", query_string="fileurl=x").get_environ(),
    lambda: EnvironBuilder(path="/api/predict", method="POST", query_string="top=2&x=1",
                           data={"file": (io.BytesIO(b"x"), "x.png")}).get_environ(),
    lambda: {**EnvironBuilder(path="/api/predict", method="POST", data={"file": (io.BytesIO(b"x"), "x.png")},
                              ).get_environ(), "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"},
    lambda: EnvironBuilder(path="/api/predict", method="POST", data=b"x" * 80_000,
                           content_type="multipart/form-data; boundary=x").get_environ(),
    lambda: EnvironBuilder(path="/api/predict", method="POST", data=b"{}", content_type="application/json",
                           ).get_environ(),
    lambda: EnvironBuilder(path="/api/get_config").get_environ(),
], ids=["get", "other query", "chunked", "over the body limit", "not multipart", "other route"])
def test_anything_else_goes_to_flask(rest: ModelHubRESTAPI, environ: Environ) -> None:
    lane = _lane(rest)
    taken: list[str] = []
    flask_app = lane.app
    lane.app = lambda env, start: (taken.append(env["PATH_INFO"]), flask_app(env, start))[1]
    run_wsgi_app(lane, environ())
    assert len(taken) == 1

