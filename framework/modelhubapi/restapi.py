"""The REST API: ModelHub routes, Open Inference Protocol health routes and the page.

Routes are thin: they parse the request, call the Python API and serialise.  Errors
are raised below and turned into ``{"error": ...}`` bodies in one place
(:func:`register_error_handlers`).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_file
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from modelhub.errors import BadRequest, ModelHubError, UnsupportedMediaType
from modelhub.host import ModelHost
from modelhub.settings import Settings, load_settings

from . import multipart, replies
from .jsonprovider import FastJSONProvider
from .predictlane import PredictLane, parse_top
from .pythonapi import ModelHubAPI
from .webpage import page_bp

MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".json": "application/json",
               ".npy": "application/octet-stream"}
MULTIPART_SLACK = 64 * 1024  # room for multipart headers around a file of the maximum size

bp = Blueprint("modelhub", __name__)


def _host() -> ModelHost:
    host: ModelHost = current_app.extensions["modelhub"]
    return host


def _api() -> ModelHubAPI:
    return _host().api


def _top() -> int | None:
    return parse_top(request.args.get("top"))


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
    base = request.url_root + "api/samples/"
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
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
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
            raise BadRequest("GET /api/predict needs ?fileurl=<http(s) URL>; to upload a file, POST it as "
                             "multipart/form-data in the field 'file'")
        return jsonify(_api().predict_url(url, top=top, url_root=request.url_root))
    return jsonify(_api().predict(_uploaded_bytes(), top=top, url_root=request.url_root))


def _uploaded_bytes() -> bytes:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"send the image as multipart/form-data in the field 'file' (got content type "
            f"{request.mimetype or 'none'!r}), e.g. curl -F file=@cat.jpg"
        )
    body = _request_body()
    limit = current_app.config["MODELHUB_SETTINGS"].max_upload_bytes
    return multipart.uploaded_file(body, request.mimetype_params.get("boundary"), limit)


def _request_body() -> bytes:
    """The whole body, read under MAX_CONTENT_LENGTH.

    werkzeug stops a body without Content-Length (chunked) quietly at the limit; the read
    past it is what raises its 413 (RequestEntityTooLarge), so that no truncated body is parsed.
    """
    stream = request.stream
    body = stream.read()
    stream.read(1)
    return body


@bp.get("/api/predict_sample")
def predict_sample() -> Response:
    name = request.args.get("filename")
    if not name:
        raise BadRequest("predict_sample needs ?filename=<name of a sample file>")
    return jsonify(_api().predict_sample(name, top=_top(), url_root=request.url_root))


@bp.get("/v2/health/live")
def live() -> Response:
    return jsonify({"live": True})


@bp.get("/v2/health/ready")
def ready() -> tuple[Response, int]:
    host = _host()
    body: dict[str, Any] = {"ready": host.ready}
    if host.error:
        body["error"] = f"the model failed to load: {host.error}"
    return jsonify(body), 200 if host.ready else 503


def register_error_handlers(app: Flask) -> None:
    """The one place where exceptions become JSON error responses."""

    @app.errorhandler(ModelHubError)
    def _modelhub_error(error: ModelHubError) -> tuple[Response, int]:
        body, status = replies.modelhub_error(error)
        return jsonify(body), status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = current_app.config["MODELHUB_SETTINGS"].max_upload_bytes
        return jsonify({"error": f"the upload is larger than the limit of {limit} bytes"}), 413

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        messages = {404: "no such route: see the README for the API", 405: "method not allowed on this route"}
        message = messages.get(error.code or 0) or error.description or error.name
        return jsonify({"error": message}), error.code or 500

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        body, status = replies.unexpected_error(request.method, request.path)
        return jsonify(body), status


def create_app(settings: Settings | None = None, *, host: ModelHost | None = None,
               background: bool = False) -> Flask:
    """The Flask application.  Without ``host``, the model is loaded (now, or in a thread)."""
    settings = settings or load_settings()
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_SLACK
    app.config["MODELHUB_SETTINGS"] = settings
    app.json = FastJSONProvider(app)  # orjson: the 1000-entry label list in ~0.1 ms instead of ~1 ms
    if host is None:
        host = ModelHost(settings)
        host.start(background=background)
    app.extensions["modelhub"] = host
    app.register_blueprint(bp)
    app.register_blueprint(page_bp)
    register_error_handlers(app)

    # The common upload to /api/predict is answered in front of Flask, with the same bytes.
    app.wsgi_app = PredictLane(app.wsgi_app, host, settings, app.config["MAX_CONTENT_LENGTH"],  # type: ignore[method-assign]
                               default=app.json.default)
    cors = replies.cors_headers(settings)

    @app.after_request
    def _cors(response: Response) -> Response:
        for name, value in cors:
            response.headers[name] = value
        return response

    return app


class ModelHubRESTAPI:
    """``ModelHubRESTAPI(model, contrib_src_dir)``: the REST API of an already built model, at ``.app``."""

    def __init__(self, model: Any, contrib_src_dir: str | os.PathLike[str], settings: Settings | None = None,
                 source: Any = None) -> None:
        self.settings = settings or load_settings()
        self.api = ModelHubAPI(model, contrib_src_dir, self.settings, source)
        self.app = create_app(self.settings, host=ModelHost(self.settings, self.api))

    def start(self) -> None:
        """Serve with the production server on the configured host and port."""
        from modelhub.serve import serve_app

        serve_app(lambda: self.app, self.settings)
