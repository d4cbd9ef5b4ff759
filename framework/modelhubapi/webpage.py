"""The built-in page: ``GET /`` and its static files, served by the API's own Flask app.

Everything the page needs is in ``static/`` next to this module (plain HTML, CSS and
JavaScript, no build step, nothing loaded from another origin), so it works offline and
behind a path prefix: the page calls the API with relative URLs (``api/...``).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_file

from modelhub.paths import safe_file

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Flask adds "; charset=utf-8" to the text/* types.
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain",
}

# Only this origin: no CDN, fonts or trackers can load even if someone adds a tag by mistake.
# Images may also be ``blob:`` (the uploaded photo shown before it is sent).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)

page_bp = Blueprint("modelhub_page", __name__)


def send_static(path: Path, max_age: int) -> Response:
    content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    response = send_file(path, mimetype=content_type, max_age=max_age)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if path.suffix.lower() == ".html":
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@page_bp.get("/")
def index() -> Response:
    """The page itself; revalidated on every load so a new version shows at once."""
    return send_static(safe_file(STATIC_DIR, "index.html", "page"), max_age=0)


@page_bp.get("/static/<path:name>")
def static_file(name: str) -> Response:
    """A file of the page (script, style sheet, icon); nothing outside ``static/``."""
    return send_static(safe_file(STATIC_DIR, name, "static file"), max_age=300)
