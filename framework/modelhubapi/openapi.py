"""The OpenAPI 3.1 document of every route (``GET /openapi.json``) and the interactive docs (``GET /docs``).

The document is written here, route by route; ``tests/modelhubapi/test_openapi.py`` compares it with
Flask's route table, so a route cannot be added or removed without it, and schemathesis checks the
live server against it.  ``/docs`` is Swagger UI 5, vendored from the npm registry's
``swagger-ui-dist`` (version and licence in ``static/docs/``), served locally: no CDN.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from modelhub import __version__

from .webpage import STATIC_DIR, send_static

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)

docs_bp = Blueprint("modelhub_docs", __name__)


def _obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required or list(properties), "properties": properties}


STR, NUM, INT, BOOL = {"type": "string"}, {"type": "number"}, {"type": "integer"}, {"type": "boolean"}
TENSOR_META = _obj(name=STR, datatype=STR, shape={"type": "array", "items": INT})
TENSOR = _obj(
    ["name", "datatype", "shape"],
    name=STR,
    datatype=STR,
    shape={"type": "array", "items": INT},
    parameters={"type": "object"},
    data={"type": "array"},
)
SCHEMAS: dict[str, Any] = {
    "Error": _obj(error=STR),
    "Prediction": _obj(
        output={
            "type": "array",
            "items": _obj(prediction={}, shape={"type": "array", "items": INT}, type=STR, name=STR, description=STR),
        },
        timestamp=STR,
        processing_time=NUM,
        model=_obj(id={}, name={}),
    ),
    "Legal": _obj(modelhub_license=STR, modelhub_acknowledgements=STR, model_license=STR, sample_data_license=STR),
    "InferRequest": _obj(
        ["inputs"],
        id=STR,
        parameters={"type": "object"},
        inputs={"type": "array", "items": TENSOR},
        outputs={"type": "array", "items": _obj(["name"], name=STR, parameters={"type": "object"})},
    ),
    "InferResponse": _obj(
        ["model_name", "outputs"],
        model_name=STR,
        model_version=STR,
        id=STR,
        parameters={"type": "object"},
        outputs={"type": "array", "items": TENSOR},
    ),
}


def _answer(description: str, schema: Any = None, media: str = JSON, *more: str) -> dict[str, Any]:
    content = {kind: {"schema": schema if kind == JSON and schema is not None else {}} for kind in (media, *more)}
    return {"description": description, "content": content}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    ok_status: str = "200",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {ok_status: ok, **(extra or {}), "default": _answer("an error", ERROR)},
    }
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    return op


def _param(name: str, where: str = "query", required: bool = False, schema: Any = STR) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


TOP = _param("top", schema={"type": "integer", "minimum": 1})
FILE_TYPES = ("image/png", "image/jpeg", "application/octet-stream")
UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": _obj(file={"type": "string", "contentMediaType": "application/octet-stream"})}
    },
}
MODEL = [_param("name", "path")]
VERSIONED = [*MODEL, _param("version", "path")]


def _oip(paths: dict[str, Any], suffix: str, method: str, op: Any) -> None:
    for prefix, params in (("/v2/models/{name}", MODEL), ("/v2/models/{name}/versions/{version}", VERSIONED)):
        paths[prefix + suffix] = {method: op(params)}


def document(metrics: bool = True) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/get_config": {
            "get": _op("config.json, plus the model file served", _answer("the config", {"type": "object"}))
        },
        "/api/get_legal": {"get": _op("licence texts", _answer("the texts", {"$ref": "#/components/schemas/Legal"}))},
        "/api/get_model_io": {"get": _op("config.json's model.io", _answer("inputs and outputs", {"type": "object"}))},
        "/api/get_samples": {
            "get": _op("absolute URLs of the sample files", _answer("URLs", {"type": "array", "items": STR}))
        },
        "/api/samples/{name}": {
            "get": _op("a sample file", _answer("the file", None, *FILE_TYPES, JSON), params=[_param("name", "path")])
        },
        "/api/thumbnail/{name}": {
            "get": _op(
                "a file of the package's model folder (thumbnail.jpg)",
                _answer("the file", None, *FILE_TYPES),
                params=[_param("name", "path")],
            )
        },
        "/api/output/{name}": {
            "get": _op(
                "an array output saved as .npy",
                _answer("the file", None, FILE_TYPES[2]),
                params=[_param("name", "path")],
            )
        },
        "/api/get_model_files": {
            "get": _op("zip of the package's model folder", _answer("the zip", None, "application/zip"))
        },
        "/api/predict": {
            "post": _op(
                "predict on an uploaded image (multipart field 'file')",
                _answer("the prediction", {"$ref": "#/components/schemas/Prediction"}),
                params=[TOP],
                body=UPLOAD,
            ),
            "get": _op(
                "predict on an image at a URL (off unless MODELHUB_ALLOW_URL_FETCH)",
                _answer("the prediction", {"$ref": "#/components/schemas/Prediction"}),
                params=[_param("fileurl", required=True), TOP],
            ),
        },
        "/api/predict_sample": {
            "get": _op(
                "predict on a sample file",
                _answer("the prediction", {"$ref": "#/components/schemas/Prediction"}),
                params=[_param("filename", required=True), TOP],
            )
        },
        "/v2/health/live": {"get": _op("liveness", _answer("alive", _obj(live=BOOL)))},
        "/v2/health/ready": {
            "get": _op(
                "readiness: the model is loaded and warmed up", _answer("ready", _obj(["ready"], ready=BOOL, error=STR))
            )
        },
        "/v2": {
            "get": _op(
                "Open Inference Protocol server metadata",
                _answer("metadata", _obj(name=STR, version=STR, extensions={"type": "array", "items": STR})),
            )
        },
        "/": {"get": _op("the built-in page", _answer("HTML", None, "text/html"))},
        "/static/{name}": {
            "get": _op(
                "a file of the page",
                _answer(
                    "the file",
                    None,
                    "text/javascript",
                    "text/css",
                    "text/html",
                    "image/png",
                    "image/svg+xml",
                    "image/x-icon",
                    JSON,
                    "text/plain",
                    "application/octet-stream",
                ),
                params=[_param("name", "path")],
            )
        },
        "/openapi.json": {"get": _op("this document", _answer("OpenAPI 3.1", {"type": "object"}))},
        "/docs": {"get": _op("interactive API docs (Swagger UI)", _answer("HTML", None, "text/html"))},
    }
    if metrics:
        paths["/metrics"] = {
            "get": _op("Prometheus metrics (text exposition format)", _answer("the metrics", None, "text/plain"))
        }
    metadata = _obj(
        name=STR,
        versions={"type": "array", "items": STR},
        platform=STR,
        inputs={"type": "array", "items": TENSOR_META},
        outputs={"type": "array", "items": TENSOR_META},
    )
    _oip(
        paths,
        "",
        "get",
        lambda p: _op("Open Inference Protocol model metadata", _answer("metadata", metadata), params=p),
    )
    _oip(
        paths,
        "/ready",
        "get",
        lambda p: _op(
            "model readiness", _answer("ready", _obj(["name", "ready"], name=STR, ready=BOOL, error=STR)), params=p
        ),
    )
    _oip(
        paths,
        "/config",
        "get",
        lambda p: _op(
            "Triton model configuration (max_batch_size, inputs, outputs)",
            _answer("config", {"type": "object"}),
            params=p,
        ),
    )
    infer_body = {
        "required": True,
        "content": {
            JSON: {"schema": {"$ref": "#/components/schemas/InferRequest"}},
            "application/octet-stream": {"schema": {}},
        },
    }
    _oip(
        paths,
        "/infer",
        "post",
        lambda p: _op(
            "inference: JSON or binary tensors, BYTES images, classification",
            _answer("outputs", {"$ref": "#/components/schemas/InferResponse"}, JSON, "application/octet-stream"),
            params=p,
            body=infer_body,
        ),
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ModelHub MobileNetV2",
            "version": __version__,
            "description": "ModelHub routes, Open Inference Protocol v2, health, metrics. Errors are "
            '{"error": "..."} with the status that fits the cause.',
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


@docs_bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document(current_app.config["MODELHUB_SETTINGS"].metrics))


@docs_bp.get("/docs")
def docs() -> Response:
    response = send_static(STATIC_DIR / "docs" / "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response
