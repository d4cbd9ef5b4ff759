"""``GET /api/explain?filename=<sample>`` and ``POST /api/explain``: occlusion maps (:mod:`modelhub.explain`).

Query parameters: ``class`` (a class index; default the top class), ``grid`` (patches per side,
default 7, at most ``MODELHUB_EXPLAIN_MAX_GRID``), ``format`` (``json``, default, or ``png``: the
model's input crop with the map over it).  The POST takes the photo as ``/api/predict`` does.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from modelhub.errors import BadRequest
from modelhub.explain import explain, parse_class, parse_grid

from .heatmap import png_bytes
from .routes import _api, _deadline, _uploaded_bytes

FORMATS = ("json", "png")

explain_bp = Blueprint("modelhub_explain", __name__)


@explain_bp.get("/api/explain")
def explain_sample() -> Response:
    options = _options()
    name = request.args.get("filename")
    if not name:
        raise BadRequest(
            "GET /api/explain needs ?filename=<name of a sample file>; to explain a photo of your "
            "own, POST it as multipart/form-data in the field 'file'"
        )
    return _answer(_api().sample_path(name), *options)


@explain_bp.post("/api/explain")
def explain_upload() -> Response:
    options = _options()
    return _answer(_uploaded_bytes(), *options)


def _options() -> tuple[str, int, int | None]:
    """``format``, ``grid`` and ``class``, checked before anything is read or computed."""
    kind = request.args.get("format") or "json"
    if kind not in FORMATS:
        raise BadRequest(f"format must be json or png, not {kind[:40]!r}")
    largest = current_app.config["MODELHUB_SETTINGS"].explain_max_grid
    return kind, parse_grid(request.args.get("grid"), largest), parse_class(request.args.get("class"))


def _answer(source: object, kind: str, grid: int, class_index: int | None) -> Response:
    result = explain(_api().plane, source, grid=grid, class_index=class_index, deadline=_deadline())
    if kind == "png":
        response = Response(png_bytes(result), mimetype="image/png")
        response.headers["X-Explanation-Class"] = str(result.class_index)
        response.headers["Cache-Control"] = "no-store"
        return response
    return jsonify(result.as_json())
