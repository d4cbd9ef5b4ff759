"""The pieces the OpenAPI document is built from: schemas, parameters and operation helpers."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}


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
