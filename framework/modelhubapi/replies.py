"""What every response shares, whichever path serves it: error bodies, CORS headers, JSON bytes.

The Flask error handlers (``restapi.register_error_handlers``) and the predict lane
(``predictlane``) both answer through these, so a request gets the same bytes either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from modelhub import fastjson
from modelhub.errors import ModelHubError
from modelhub.settings import Settings

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal server error; the server log has the details"


def modelhub_error(error: ModelHubError) -> tuple[dict[str, str], int]:
    """The ``{"error": ...}`` body and status of one of our errors (server-side ones are logged)."""
    if error.status >= 500:
        log.warning("%s: %s", type(error).__name__, error.message)
    return {"error": error.message}, error.status


def unexpected_error(method: str, path: str) -> tuple[dict[str, str], int]:
    """Call from an ``except`` block: logs the traceback, answers a bare 500."""
    log.exception("unhandled error on %s %s", method, path)
    return {"error": INTERNAL_ERROR}, 500


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


def status_line(code: int) -> str:
    """The status line werkzeug writes, e.g. ``415 UNSUPPORTED MEDIA TYPE``."""
    return f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}"


def json_body(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """The bytes ``jsonify`` sends through :class:`~modelhubapi.jsonprovider.FastJSONProvider`."""
    return fastjson.dumps(value, default=default) + b"\n"
