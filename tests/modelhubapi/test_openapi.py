"""GET /openapi.json describes every route (checked against Flask's route table); /docs works offline;
schemathesis finds no 5xx and no response that breaks the document, against the live server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI


@pytest.fixture
def app(fake_package):  # type: ignore[no-untyped-def]
    package: Path = fake_package()
    return ModelHubRESTAPI(load_model(package), package, load_settings({}, {})).app


def flask_operations(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    operations = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        operations |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return operations


def test_the_document_names_exactly_the_routes_flask_serves(app) -> None:  # type: ignore[no-untyped-def]
    document = app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == flask_operations(app)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "default" in operation["responses"], (path, method)  # every error is {"error": ...}
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{([a-z_]+)}", path)), (path, method)


def test_docs_page_is_local(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html  # no CDN
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        served = client.get("/" + asset)
        assert served.status_code == 200 and len(served.data) > 10, asset
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'href="docs"' in client.get("/").get_data(as_text=True)  # linked from the built-in page


@pytest.mark.server
@pytest.mark.model
def test_schemathesis_against_the_live_server(start_server, int8_model: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_server("--model-file", str(int8_model), "--workers", "2")
    assert requests.get(f"{server.url}/openapi.json", timeout=10).status_code == 200
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples",
        "15",
        "--seed",
        "1",
        "--request-timeout",
        "30",
        "--workers",
        "2",
        "--exclude-path",
        "/api/get_model_files",
    ]  # the zip of model/ (its .onnx) is large: tested elsewhere
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower()


def test_without_metrics_the_document_has_no_metrics_route(fake_package) -> None:  # type: ignore[no-untyped-def]
    package: Path = fake_package()
    app = ModelHubRESTAPI(load_model(package), package, load_settings({"metrics": False}, {})).app
    documented = {
        (path, method)
        for path, item in app.test_client().get("/openapi.json").get_json()["paths"].items()
        for method in item
    }
    assert ("/metrics", "get") not in documented
    assert documented == flask_operations(app)
