"""The one error table of the REST API: every exception becomes ``{"error": "..."}`` with its status.

Our errors carry their HTTP status (:mod:`modelhub.errors`); werkzeug's HTTP errors keep theirs;
anything else is a bare 500 whose traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from modelhub.errors import ModelHubError

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal server error; the server log has the details"
HTTP_MESSAGES = {405: "method not allowed on this route"}


def no_such_route() -> str:
    """The 404 text: names this server's own API docs (``/docs``, ``/openapi.json``) by their full URL."""
    base = current_app.config["MODELHUB_SETTINGS"].public_root or request.url_root
    return f"no such route; this server's API is described at {base}docs (OpenAPI document: {base}openapi.json)"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ModelHubError)
    def _modelhub_error(error: ModelHubError) -> tuple[Response, int]:
        if error.status >= 500:
            log.warning("%s: %s", type(error).__name__, error.message)
        return jsonify({"error": error.message}), error.status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = current_app.config["MODELHUB_SETTINGS"].max_upload_bytes
        return jsonify({"error": f"the upload is larger than the limit of {limit} bytes"}), 413

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        message = (
            no_such_route()
            if error.code == 404
            else HTTP_MESSAGES.get(error.code or 0) or error.description or error.name
        )
        return jsonify({"error": message}), error.code or 500

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"error": INTERNAL_ERROR}), 500
