"""The Flask application factory: one request path, errors mapped once, CORS added once.

Which host and scheme the server believes it has (the base of the absolute URLs it builds) is
decided here: ``MODELHUB_PUBLIC_URL`` when set, else the request's ``Host``; ``X-Forwarded-*``
only from ``MODELHUB_TRUSTED_PROXIES``; other hosts than ``MODELHUB_ALLOWED_HOSTS`` are refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from modelhub.errors import BadRequest
from modelhub.host import ModelHost
from modelhub.settings import Settings, load_settings
from modelhub.settings_http import trusted_networks

from .errors import register_error_handlers
from .explain_routes import explain_bp
from .jsonprovider import FastJSONProvider
from .metrics import install as install_metrics
from .oip_routes import oip_bp
from .openapi import docs_bp
from .outputs import OutputStore
from .routes import bp
from .service import ModelHubService
from .webpage import page_bp

MULTIPART_SLACK = 64 * 1024  # room for multipart headers around a file of the maximum size
# Any Host may ask these (probes, scrapers): they build no URL.
HEALTH_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/metrics"})
_HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(:[0-9]{0,5})?")


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
        ("Access-Control-Allow-Headers", "Content-Type, Inference-Header-Content-Length, X-Request-ID"),
        ("Access-Control-Expose-Headers", "Inference-Header-Content-Length, X-Request-ID"),
    ]
    if settings.allow_origin != "*":
        headers.append(("Vary", "Origin"))
    return headers


class ForwardedHeaders:
    """WSGI middleware: ``X-Forwarded-For/-Proto/-Host/-Port/-Prefix`` count only from a trusted proxy.

    werkzeug's ``ProxyFix`` (one hop) is applied only when the connection's own peer address is in
    ``trusted_proxies``: ``ProxyFix`` alone believes any client.  (The production server itself takes
    neither the scheme nor ``SCRIPT_NAME`` from request headers.)
    """

    def __init__(self, app: Any, proxies: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.app = app
        self.networks = tuple(proxies)
        self.proxied = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return any(ip in network or (mapped is not None and mapped in network) for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.networks and self.trusted(environ.get("REMOTE_ADDR")):
            return self.proxied(environ, start_response)
        return self.app(environ, start_response)


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether the ``Host`` header ``host`` (``name[:port]``) names one of ``allowed`` (".x.org": and subdomains)."""
    match = _HOST_HEADER.fullmatch(host)
    if match is None:
        return False
    name = match.group(1).lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if name == entry.lstrip(".") or (entry.startswith(".") and name.endswith(entry)):
            return True
    return False


def public_location(location: str, public_root: str) -> str:
    """A ``Location`` the server built from the request, rebased on ``MODELHUB_PUBLIC_URL``."""
    parts = urlsplit(location)
    path = parts.path
    script = request.script_root
    if script and (path == script or path.startswith(script + "/")):
        path = path[len(script) :]
    return public_root + path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


def create_app(
    settings: Settings | None = None,
    *,
    host: ModelHost | None = None,
    background: bool = False,
    store: OutputStore | None = None,
) -> Flask:
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
    app.register_blueprint(explain_bp)
    app.register_blueprint(oip_bp)
    app.register_blueprint(page_bp)
    app.register_blueprint(docs_bp)
    register_error_handlers(app)
    app.wsgi_app = ForwardedHeaders(app.wsgi_app, trusted_networks(settings))  # type: ignore[method-assign]
    if settings.metrics:
        install_metrics(app, host)
    cors = cors_headers(settings)
    allowed, public_root = settings.allowed_hosts, settings.public_root

    @app.before_request
    def _check_host() -> None:  # runs before routing errors too: a "//" redirect is refused as well
        if allowed and request.path not in HEALTH_PATHS and not host_allowed(request.host, allowed):
            raise BadRequest(f"host {request.host[:100]!r} is not served here (MODELHUB_ALLOWED_HOSTS)")

    @app.after_request
    def _cors(response: Response) -> Response:
        for name, value in cors:
            response.headers[name] = value
        if public_root and response.location:
            response.location = public_location(response.location, public_root)
        return response

    return app
