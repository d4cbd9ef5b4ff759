"""The predict lane: ``POST /api/predict`` uploads served without Flask's per-request machinery.

An upload is the one request a model server gets thousands of times a second, and Flask's
request and application contexts, URL matching, request and response objects and hooks
cost about 0.3 ms of CPU per request in the production server, more than everything else
our API does around the model.  This WSGI middleware (installed as ``app.wsgi_app``, the way
Flask documents middleware) answers the common form of that request itself: a POST to
``/api/predict`` with a ``multipart/form-data`` body of declared length within the limit,
and no query string other than ``top=N``.  It calls the same Python API, the same multipart
parser and the same JSON encoder, and errors go through :mod:`.replies` like the Flask
handlers', so the response is byte for byte what the Flask route sends; ``tests`` check
that.  Every other request (GET with ``fileurl``, chunked or oversized bodies, other query
strings, other routes) goes to Flask unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import parse_options_header
from werkzeug.wrappers import Request

from modelhub.errors import BadRequest, ModelHubError
from modelhub.host import ModelHost
from modelhub.settings import Settings

from . import multipart, replies

PATH = "/api/predict"
_TOP_ONLY = re.compile(r"(?:top=[0-9]{1,9})?")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def parse_top(raw: str | None) -> int | None:
    """The ``top`` query parameter: None when absent or empty, else a positive integer."""
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"top must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise BadRequest(f"top must be a positive integer, not {raw!r}")
    return value


class PredictLane:
    """WSGI middleware in front of the Flask app; see the module docstring."""

    def __init__(self, app: WSGIApp, host: ModelHost, settings: Settings, body_limit: int,
                 default: Callable[[Any], Any] | None = None) -> None:
        self.app = app
        self.host = host
        self.settings = settings
        self.body_limit = body_limit
        self.default = default
        self.cors = replies.cors_headers(settings)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        boundary = self._boundary(environ)
        if boundary is None:
            return self.app(environ, start_response)
        try:
            body, status = replies.json_body(self._predict(environ, boundary), default=self.default), 200
        except Exception as error:  # mapped as the Flask handlers map it
            payload, status = (replies.modelhub_error(error) if isinstance(error, ModelHubError)
                               else replies.unexpected_error("POST", PATH))
            body = replies.json_body(payload)
        start_response(replies.status_line(status), [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))), *self.cors,
        ])
        return [body]

    def _boundary(self, environ: dict[str, Any]) -> str | None:
        """The multipart boundary of a request this lane serves, else None (Flask serves it)."""
        if (environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != PATH
                or environ.get("SCRIPT_NAME") or not _TOP_ONLY.fullmatch(environ.get("QUERY_STRING", ""))):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or int(length) > self.body_limit or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        if mimetype.lower() != "multipart/form-data":
            return None
        return options.get("boundary", "")

    def _predict(self, environ: dict[str, Any], boundary: str) -> dict[str, Any]:
        query = environ.get("QUERY_STRING", "")
        top = parse_top(query[len("top="):]) if query else None
        length = int(environ["CONTENT_LENGTH"])
        body = environ["wsgi.input"].read(length) if length else b""
        if len(body) != length:
            raise BadRequest("the upload ended before all the bytes its Content-Length announced arrived")
        data = multipart.uploaded_file(body, boundary, self.settings.max_upload_bytes)
        url_root = Request(environ, shallow=True).url_root  # as Flask's request.url_root
        return self.host.api.predict(data, top=top, url_root=url_root)
