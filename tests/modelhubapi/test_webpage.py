"""The built-in page (``/`` and ``/static/...``) through Flask's test client, on a fake package."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI
from modelhubapi.webpage import STATIC_DIR


@pytest.fixture
def client(fake_package):
    package: Path = fake_package()
    rest = ModelHubRESTAPI(load_model(package), package, load_settings({}, {}))
    return rest.app.test_client()


class _Assets(HTMLParser):
    """The URLs of the scripts, style sheets, icons and images a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img") and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")


def test_index_is_the_page(client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert '<meta name="viewport"' in html
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_page_loads_nothing_from_elsewhere(client) -> None:
    """Every asset is relative (works offline and behind a path prefix) and is served with the right type."""
    parser = _Assets()
    parser.feed(client.get("/").get_data(as_text=True))
    assert parser.urls, "the page references no assets"
    for url in parser.urls:
        assert not re.match(r"^([a-z]+:)?//", url, re.I) and not url.startswith("/"), url
        if url.startswith("static/"):
            assert client.get("/" + url).status_code == 200, url
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text and "@import" not in text and "fonts.g" not in text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),  # Flask may add a charset to SVG
    ],
)
def test_static_files_have_their_content_types(client, name: str, content_type: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == content_type.split(";")[0]
    if content_type.startswith("text/"):
        assert response.headers["Content-Type"] == content_type
    assert response.get_data() == (STATIC_DIR / name).read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_script_never_writes_html(client) -> None:
    """API data (labels, config, licences) is only ever set as text: no XSS through the page."""
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink


@pytest.mark.parametrize(
    "path",
    [
        "/static/../restapi.py",
        "/static/%2e%2e/restapi.py",
        "/static/..%2frestapi.py",
        "/static/%2e%2e%2f%2e%2e%2fsetup.py",
        "/static/..%5crestapi.py",
        "/static/app.js%00.png",
        "/static//etc/passwd",
    ],
)
def test_path_tricks_are_refused(client, path: str) -> None:
    response = client.get(path, follow_redirects=True)  # "//" is first redirected to one slash
    assert response.status_code in (400, 404), path
    assert response.is_json and "error" in response.get_json()
    assert b"import" not in response.get_data()


@pytest.mark.parametrize("path", ["/static/missing.js", "/static/", "/static/nested/app.js"])
def test_missing_static_files_are_404(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and response.is_json


def test_a_link_outside_the_folder_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A symlink in static/ that points elsewhere is 404, never the target file."""
    from flask import Flask

    from modelhub.errors import ModelHubError
    from modelhubapi import webpage

    folder = tmp_path / "static"
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (folder / "leak.txt").symlink_to(secret)
    (folder / "index.html").write_text("<!doctype html><title>x</title>")
    monkeypatch.setattr(webpage, "STATIC_DIR", folder)
    app = Flask(__name__)
    app.register_blueprint(webpage.page_bp)
    app.register_error_handler(ModelHubError, lambda error: ({"error": error.message}, error.status))
    test = app.test_client()
    assert test.get("/static/leak.txt").status_code == 404
    assert test.get("/").status_code == 200


def test_script_calls_the_api_with_relative_urls() -> None:
    """The script calls the API relatively ("api/..."), so the page works under a path prefix."""
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    urls = re.findall(r'"(/?api/[^"?]*)', script)
    assert urls and all(not url.startswith("/") for url in urls), urls
    for route in ("api/get_config", "api/get_samples", "api/get_legal", "api/predict_sample", "api/predict"):
        assert f'"{route}' in script, route
