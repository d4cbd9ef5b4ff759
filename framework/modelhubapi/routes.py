"""The ModelHub REST routes and the health routes: parse the request, call the API, serialise.

Errors are raised below and turned into ``{"error": ...}`` bodies in one place
(:mod:`modelhubapi.errors`); CORS headers are added in one place (:func:`modelhubapi.app.create_app`).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request, send_file

from modelhub.errors import BadRequest, UnsupportedMediaType
from modelhub.host import ModelHost
from modelhub.slots import Deadline

from . import uploads
from .codec import parse_top
from .service import ModelHubService

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".json": "application/json",
    ".npy": "application/octet-stream",
}

bp = Blueprint("modelhub", __name__)


def _host() -> ModelHost:
    host: ModelHost = current_app.extensions["modelhub"].host
    return host


def _api() -> ModelHubService:
    api: ModelHubService = current_app.extensions["modelhub"].api
    return api


def _top() -> int | None:
    return parse_top(request.args.get("top"))


def _deadline() -> Deadline | None:
    """The request's deadline from when the production server's front had it (else the engine's own)."""
    received = request.environ.get("modelhub.received")
    if not isinstance(received, float):
        return None
    return Deadline(current_app.config["MODELHUB_SETTINGS"].request_timeout, start=received)


def _url_root() -> str:
    """The base of the absolute URLs the server builds: ``MODELHUB_PUBLIC_URL``, else the request's own root."""
    public: str = current_app.config["MODELHUB_SETTINGS"].public_root
    return public or request.url_root


def _send(path: Path) -> Response:
    media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return send_file(path, mimetype=media_type, max_age=3600)


@bp.get("/api/get_config")
def get_config() -> Response:
    return jsonify(_api().get_config())


@bp.get("/api/get_legal")
def get_legal() -> Response:
    return jsonify(_api().get_legal())


@bp.get("/api/get_model_io")
def get_model_io() -> Response:
    return jsonify(_api().get_model_io())


@bp.get("/api/get_samples")
def get_samples() -> Response:
    base = _url_root() + "api/samples/"
    return jsonify([base + quote(name) for name in _api().get_samples()["files"]])


@bp.get("/api/samples/<path:name>")
def samples(name: str) -> Response:
    return _send(_api().sample_path(name))


@bp.get("/api/thumbnail/<path:name>")
def thumbnail(name: str) -> Response:
    return _send(_api().thumbnail_path(name))


@bp.get("/api/output/<path:name>")
def output(name: str) -> Response:
    return _send(_api().output_path(name))


@bp.get("/api/get_model_files")
def get_model_files() -> Response:
    api = _api()
    folder = api.contrib_src_dir / "model"
    root = folder.resolve()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            # Files only, and only those that really lie in model/ (a link out of it is left out).
            if path.is_file() and not path.name.startswith(".") and path.resolve().is_relative_to(root):
                archive.write(path, Path("model") / path.relative_to(folder))
    buffer.seek(0)
    name = f"{api.get_config()['meta'].get('name', 'model').lower()}_model.zip"
    return send_file(buffer, mimetype="application/zip", as_attachment=True, download_name=name)


@bp.route("/api/predict", methods=["GET", "POST"])
def predict() -> Response:
    top = _top()
    if request.method == "GET":
        url = request.args.get("fileurl")
        if not url:
            raise BadRequest(
                "GET /api/predict needs ?fileurl=<http(s) URL>; to upload a file, POST it as "
                "multipart/form-data in the field 'file'"
            )
        return jsonify(_api().predict_url(url, top=top, url_root=_url_root(), deadline=_deadline()))
    return jsonify(_api().predict(_uploaded_bytes(), top=top, url_root=_url_root(), deadline=_deadline()))


def _uploaded_bytes() -> bytes:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"send the image as multipart/form-data in the field 'file' (got content type "
            f"{request.mimetype or 'none'!r}), e.g. curl -F file=@cat.jpg"
        )
    body = whole_body()
    limit = current_app.config["MODELHUB_SETTINGS"].max_upload_bytes
    return uploads.uploaded_file(body, request.mimetype_params.get("boundary"), limit)


def whole_body() -> bytes:
    """The request's whole body, under MAX_CONTENT_LENGTH (werkzeug's 413 past it, so no truncated body is parsed)."""
    stream = request.stream  # werkzeug checks Content-Length against MAX_CONTENT_LENGTH here (its 413)
    if request.environ.get("wsgi.input_terminated") and request.content_length is not None:
        # The server read the whole body, of that length (modelhub serve does): taken as it is, where
        # werkzeug's LimitedStream would copy it 64 KB at a time (1.1 ms for a 780 KB photo).
        return bytes(request.environ["wsgi.input"].read())
    # werkzeug stops a body without Content-Length (chunked) quietly at the limit, and the read past it
    # raises its 413.
    body = stream.read()
    stream.read(1)
    return body


@bp.get("/api/predict_sample")
def predict_sample() -> Response:
    name = request.args.get("filename")
    if not name:
        raise BadRequest("predict_sample needs ?filename=<name of a sample file>")
    return jsonify(_api().predict_sample(name, top=_top(), url_root=_url_root(), deadline=_deadline()))


@bp.get("/v2/health/live")
def live() -> Response:
    return jsonify({"live": True})


@bp.get("/v2/health/ready")
def ready() -> tuple[Response, int]:
    host = _host()
    body: dict[str, Any] = {"ready": host.ready}
    reproduced = getattr(host.plane, "reproduced", None) if host.ready else None  # the golden check at warm-up
    if reproduced is not None:  # absent without golden outputs for the model file
        body["reproduced"] = reproduced
    if host.error:
        body["error"] = f"the model failed to load: {host.error}"
    return jsonify(body), 200 if host.ready else 503
