"""The Open Inference Protocol (v2) REST routes, beside the ModelHub routes, over the same data plane.

``GET /v2`` (server metadata), ``GET /v2/models/<name>[/versions/<v>]`` (model metadata),
``.../ready``, ``.../config`` (Triton's model configuration) and ``POST .../infer``.  The health
routes are in :mod:`modelhubapi.routes`.  Parsing and encoding are :mod:`modelhubapi.oip_codec`,
the model's OIP view :mod:`modelhubapi.oip_model`; errors go through the one error table and
CORS headers are added by the app, as for every route.
"""

from __future__ import annotations

from importlib import metadata as package_metadata
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from modelhub.errors import UnsupportedMediaType
from modelhub.host import ModelHost

from .oip_codec import HEADER_LENGTH, parse_infer_request
from .oip_model import VERSION, OipModel
from .oip_response import encode_infer_response
from .routes import _deadline, whole_body

SERVER_NAME = "modelhub"
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration"]

oip_bp = Blueprint("oip", __name__)


def _server_version() -> str:
    try:
        return package_metadata.version("modelhub-mobilenetv2")
    except package_metadata.PackageNotFoundError:
        return "unknown"


def _host() -> ModelHost:
    host: ModelHost = current_app.extensions["modelhub"].host
    return host


def _model(name: str, version: str | None) -> OipModel:
    model = OipModel(_host().plane)
    model.check(name, version)
    return model


def _body() -> bytes:
    """The whole body (:func:`.routes.whole_body`), not compressed."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"compressed request bodies ({encoding}) are not supported: send it unencoded")
    return whole_body()


@oip_bp.get("/v2")
def server_metadata() -> Response:
    return jsonify({"name": SERVER_NAME, "version": _server_version(), "extensions": EXTENSIONS})


@oip_bp.get("/v2/models/<name>", defaults={"version": None})
@oip_bp.get("/v2/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None) -> Response:
    return jsonify(_model(name, version).metadata())


@oip_bp.get("/v2/models/<name>/ready", defaults={"version": None})
@oip_bp.get("/v2/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None) -> tuple[Response, int]:
    host = _host()
    if not host.ready:  # answer at once while loading: a readiness probe must not wait for the load
        body: dict[str, Any] = {"name": name, "ready": False}
        if host.error:
            body["error"] = f"the model failed to load: {host.error}"
        return jsonify(body), 503
    _model(name, version)
    return jsonify({"name": name, "ready": True}), 200


@oip_bp.get("/v2/models/<name>/config", defaults={"version": None})
@oip_bp.get("/v2/models/<name>/versions/<version>/config")
def model_config(name: str, version: str | None) -> Response:
    return jsonify(_model(name, version).config())


@oip_bp.post("/v2/models/<name>/infer", defaults={"version": None})
@oip_bp.post("/v2/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None) -> Response:
    # No Content-Type is required: tritonclient sends none (the body is JSON, or JSON then binary data).
    model = _model(name, version)
    parsed = parse_infer_request(_body(), request.headers.get(HEADER_LENGTH))
    outputs = model.infer(parsed, _deadline())
    body, header_length = encode_infer_response(model.name, VERSION, parsed.id, outputs)
    if header_length is None:
        return current_app.response_class(body + b"\n", mimetype="application/json")  # as jsonify ends
    response = current_app.response_class(body, mimetype="application/octet-stream")
    response.headers[HEADER_LENGTH] = str(header_length)
    return response
