"""The OpenAPI description of ``/api/explain`` (:mod:`modelhubapi.explain_routes`)."""

from __future__ import annotations

from typing import Any

from .openapi_parts import INT, JSON, NUM, STR, UPLOAD, _answer, _obj, _op, _param

ARRAY_OF_INT = {"type": "array", "items": INT}
PROPERTIES: dict[str, Any] = {
    "class": _obj(index=INT, label=STR, probability=NUM),
    "grid": _obj(
        rows=INT, cols=INT, x=ARRAY_OF_INT, y=ARRAY_OF_INT, drops={"type": "array", "items": {"type": "array"}}
    ),
    "crop": _obj(width=INT, height=INT),
    "method": STR,
    "passes": INT,
    "processing_time": NUM,
}
EXPLANATION = _obj(list(PROPERTIES), **PROPERTIES)
OPTIONS = [
    _param("class", schema={"type": "integer", "minimum": 0}),
    _param("grid", schema={"type": "integer", "minimum": 1}),
    _param("format", schema={"type": "string", "enum": ["json", "png"]}),
]
EXPLAINED = _answer(
    "the occlusion map (JSON), or with format=png the model's input crop with the map over it",
    EXPLANATION,
    JSON,
    "image/png",
)
EXPLAIN_PATHS: dict[str, Any] = {
    "/api/explain": {
        "get": _op(
            "occlusion sensitivity of a sample file for the top class (or ?class=)",
            EXPLAINED,
            params=[_param("filename", required=True), *OPTIONS],
        ),
        "post": _op(
            "occlusion sensitivity of an uploaded image (multipart field 'file')",
            EXPLAINED,
            params=OPTIONS,
            body=UPLOAD,
        ),
    }
}
