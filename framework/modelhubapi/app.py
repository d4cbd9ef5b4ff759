"""The Flask application factory: one request path, errors mapped once, CORS added once."""

from __future__ import annotations

from flask import Flask, Response

from modelhub.host import ModelHost
from modelhub.settings import Settings, load_settings

from .errors import register_error_handlers
from .jsonprovider import FastJSONProvider
from .metrics import install as install_metrics
from .outputs import OutputStore
from .routes import bp
from .service import ModelHubService
from .webpage import page_bp

MULTIPART_SLACK = 64 * 1024  # room for multipart headers around a file of the maximum size


class Backend:
    """What the routes reach through ``app.extensions["modelhub"]``: the model host and its ModelHub API."""

    def __init__(self, host: ModelHost, store: OutputStore | None = None) -> None:
        self.host = host
        self.outputs = store or OutputStore(host.settings.output_dir)
        self._api: ModelHubService | None = None

    @property
    def api(self) -> ModelHubService:
        """The ModelHub API of the loaded model (waits for the load, see :attr:`ModelHost.plane`)."""
        plane = self.host.plane
        if self._api is None or self._api.plane is not plane:
            self._api = ModelHubService(plane, self.outputs)
        return self._api


def cors_headers(settings: Settings) -> list[tuple[str, str]]:
    if not settings.allow_origin:
        return []
    headers = [
        ("Access-Control-Allow-Origin", settings.allow_origin),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "Content-Type"),
    ]
    if settings.allow_origin != "*":
        headers.append(("Vary", "Origin"))
    return headers


def create_app(settings: Settings | None = None, *, host: ModelHost | None = None, background: bool = False,
               store: OutputStore | None = None) -> Flask:
    """The Flask application.  Without ``host``, the model is loaded (now, or in a thread)."""
    settings = settings or load_settings()
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_SLACK
    app.config["MODELHUB_SETTINGS"] = settings
    app.json = FastJSONProvider(app)
    if host is None:
        host = ModelHost(settings)
        host.start(background=background)
    app.extensions["modelhub"] = Backend(host, store)
    app.register_blueprint(bp)
    app.register_blueprint(page_bp)
    register_error_handlers(app)
    if settings.metrics:
        install_metrics(app, host)
    cors = cors_headers(settings)

    @app.after_request
    def _cors(response: Response) -> Response:
        for name, value in cors:
            response.headers[name] = value
        return response

    return app
