"""Which host the server believes it is, and file names the file system chokes on.

- ``MODELHUB_PUBLIC_URL`` is the base of every absolute URL (sample list, output URLs, redirects),
  whatever ``Host`` the client sends; unset, the request's ``Host`` is used as before.
- ``X-Forwarded-*`` counts only from ``MODELHUB_TRUSTED_PROXIES`` (in-process and under the production server,
  which trusts loopback by itself); ``MODELHUB_ALLOWED_HOSTS`` refuses other ``Host`` names with 400.
- Over-long names and link loops are a 4xx on every file route; links out of ``sample_data/`` and
  ``model/`` are neither listed, served nor zipped.
"""

from __future__ import annotations

import http.client
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from reliability_support import error_of, fake_app, write_fake_model_file
from support import FAKE_CONFIG

PUBLIC = "https://models.example.org/mobilenet/"
SECRET = "TOP-SECRET-CONTENT"
ARRAY_MODEL = (
    "import numpy as np\nfrom modelhublib.model import ModelBase\n"
    "class Model(ModelBase):\n"
    "    def infer(self, input):\n"
    "        return np.zeros((2, 3), dtype=np.int64)\n"
)


@pytest.fixture
def package(fake_package: Callable[..., Path]) -> Path:
    root = fake_package()
    write_fake_model_file(root)
    return root


def client_of(package: Path, **overrides: Any) -> Any:
    return fake_app(package, **overrides).test_client()


def samples_of(client: Any, **request: Any) -> list[str]:
    response = client.get("/api/get_samples", **request)
    assert response.status_code == 200, response.get_json()
    urls: list[str] = response.get_json()
    assert len(urls) == 2
    return urls


# -- MODELHUB_PUBLIC_URL: the base of every absolute URL -------------------------------------


def test_without_public_url_the_host_header_is_used_as_before(package: Path) -> None:
    urls = samples_of(client_of(package), headers={"Host": "models.local:8080"})
    assert urls == ["http://models.local:8080/api/samples/blue.jpg", "http://models.local:8080/api/samples/red.png"]


@pytest.mark.parametrize("public", ["https://models.example.org/mobilenet/", "https://models.example.org/mobilenet"])
def test_public_url_is_the_base_of_sample_urls(package: Path, public: str) -> None:
    client = client_of(package, public_url=public)
    for headers in (
        {"Host": "evil.example"},
        {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    ):
        urls = samples_of(client, headers=headers)
        assert urls == [PUBLIC + "api/samples/blue.jpg", PUBLIC + "api/samples/red.png"]
        for url in urls:  # and the path below the public base is a route of this server
            assert client.get("/" + url.removeprefix(PUBLIC)).status_code == 200


def test_public_url_is_the_base_of_output_urls(fake_package: Callable[..., Path]) -> None:
    config = json.loads(json.dumps(FAKE_CONFIG))
    config["model"]["io"]["output"] = [{"name": "mask", "type": "mask_image", "description": "zeros"}]
    root = fake_package("arrays", config=config, inference=ARRAY_MODEL)
    write_fake_model_file(root)
    client = client_of(root, public_url=PUBLIC)
    photo = (root / "sample_data" / "red.png").read_bytes()
    answers = [
        client.post(
            "/api/predict",
            data={"file": (io.BytesIO(photo), "x.png")},
            content_type="multipart/form-data",
            headers={"Host": "evil.example"},
        ),
        client.get("/api/predict_sample", query_string={"filename": "red.png"}, headers={"Host": "evil.example"}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.get_json()
        url = answer.get_json()["output"][0]["prediction"]
        assert url.startswith(PUBLIC + "api/output/") and url.endswith(".npy"), url
        assert client.get("/" + url.removeprefix(PUBLIC)).status_code == 200


@pytest.mark.parametrize("path", ["/api//get_config", "/api/samples//red.png"])
def test_slash_redirects_use_the_public_url(package: Path, path: str) -> None:
    plain = client_of(package).get(path, headers={"Host": "evil.example"})
    assert plain.status_code == 308 and plain.location.startswith("http://evil.example/")  # unset: as before
    response = client_of(package, public_url=PUBLIC).get(path + "?top=2", headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.location == PUBLIC + path.replace("//", "/").lstrip("/") + "?top=2"


def test_public_url_with_a_script_root(package: Path) -> None:
    """Behind a proxy that keeps the prefix (SCRIPT_NAME), the redirect still lands under the public base."""
    client = client_of(package, public_url=PUBLIC)
    response = client.get("/api//get_config", base_url="http://internal/mobilenet/")
    assert response.status_code == 308 and response.location == PUBLIC + "api/get_config"


# -- MODELHUB_ALLOWED_HOSTS ------------------------------------------------------------------

ALLOWED = "models.example.org,.example.net"


@pytest.mark.parametrize(
    "host",
    [
        "models.example.org",
        "models.example.org:8080",
        "MODELS.example.org",
        "models.example.org.",
        "example.net",
        "a.example.net",
        "b.a.example.net:443",
    ],
)
def test_allowed_hosts_are_served(package: Path, host: str) -> None:
    client = client_of(package, allowed_hosts=ALLOWED)
    response = client.get("/api/get_samples", headers={"Host": host})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()[0].startswith(f"http://{host.lower()}/api/samples/")


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "models.example.org.evil.example",
        "xmodels.example.org",
        "evil-example.net",
        "models.example.org:80@evil.example",
        "models.example.org:x",
        "127.0.0.1",
        "[::1]:8080",
        "",
    ],
)
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/get_samples"),
        ("GET", "/api/get_config"),
        ("GET", "/api/samples/red.png"),
        ("GET", "/"),
        ("GET", "/static/app.js"),
        ("POST", "/api/predict"),
        ("GET", "/no/such/route"),
        ("GET", "/api//get_config"),
        ("OPTIONS", "/api/predict"),
    ],
)
def test_other_hosts_are_refused(package: Path, host: str, method: str, path: str) -> None:
    client = client_of(package, allowed_hosts=ALLOWED)
    response = client.open(path, method=method, headers={"Host": host})
    assert response.status_code == 400, (host, path, response.status_code)
    assert "MODELHUB_ALLOWED_HOSTS" in error_of(response)
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # errors keep their CORS headers


def test_health_routes_answer_any_host(package: Path) -> None:
    """Docker's HEALTHCHECK and orchestrator probes call 127.0.0.1 or the pod address."""
    client = client_of(package, allowed_hosts=ALLOWED)
    assert client.get("/v2/health/live", headers={"Host": "127.0.0.1:80"}).status_code == 200
    assert client.get("/v2/health/ready", headers={"Host": "10.1.2.3"}).status_code == 200


# -- X-Forwarded-*: only from MODELHUB_TRUSTED_PROXIES ------------------------------------------

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "proxy.example", "X-Forwarded-Prefix": "/mobilenet"}


@pytest.mark.parametrize("proxies,peer", [("", "127.0.0.1"), ("10.0.0.0/8", "127.0.0.1"), ("10.0.0.5", "10.0.0.6")])
def test_forwarded_headers_are_ignored_from_untrusted_peers(package: Path, proxies: str, peer: str) -> None:
    client = client_of(package, trusted_proxies=proxies)
    urls = samples_of(client, headers={"Host": "direct.example", **FORWARDED}, environ_base={"REMOTE_ADDR": peer})
    assert urls[0] == "http://direct.example/api/samples/blue.jpg"


@pytest.mark.parametrize(
    "proxies,peer",
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.0.0.0/8, 192.0.2.7", "10.9.8.7"),
        ("192.0.2.7", "::ffff:192.0.2.7"),
        ("::1", "::1"),
    ],
)
def test_forwarded_headers_are_applied_from_trusted_proxies(package: Path, proxies: str, peer: str) -> None:
    client = client_of(package, trusted_proxies=proxies)
    urls = samples_of(client, headers={"Host": "internal:8080", **FORWARDED}, environ_base={"REMOTE_ADDR": peer})
    assert urls[0] == "https://proxy.example/mobilenet/api/samples/blue.jpg"


def test_trusted_proxy_host_is_checked_against_allowed_hosts(package: Path) -> None:
    client = client_of(package, trusted_proxies="127.0.0.1", allowed_hosts="proxy.example")
    good = client.get("/api/get_config", headers={"Host": "internal:8080", "X-Forwarded-Host": "proxy.example"})
    assert good.status_code == 200
    bad = client.get("/api/get_config", headers={"Host": "proxy.example", "X-Forwarded-Host": "evil.example"})
    assert bad.status_code == 400 and "MODELHUB_ALLOWED_HOSTS" in error_of(bad)


def _raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, response.getheader("Location") or ""


@pytest.mark.server
def test_the_server_trusts_no_forwarded_header_by_itself(start_server: Callable[..., Any], package: Path) -> None:
    """Not even from 127.0.0.1 (gunicorn believed X-Forwarded-Proto and SCRIPT_NAME from loopback)."""
    server = start_server(
        "--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"), "--workers", "1"
    )
    base = f"http://127.0.0.1:{server.port}"
    urls = requests.get(f"{base}/api/get_samples", headers=FORWARDED | {"X-Forwarded-Ssl": "on"}, timeout=10).json()
    assert urls[0] == f"{base}/api/samples/blue.jpg"
    status, body, _ = _raw_get(server.port, "/evil/api/get_samples", {"Host": "x", "SCRIPT_NAME": "/evil"})
    assert status == 404 and "no such route" in json.loads(body)["error"]  # the prefix is not taken from a header


@pytest.mark.server
def test_production_server_behind_a_trusted_proxy(start_server: Callable[..., Any], package: Path) -> None:
    env = {
        "MODELHUB_TRUSTED_PROXIES": "127.0.0.1",
        "MODELHUB_ALLOWED_HOSTS": "proxy.example",
        "MODELHUB_PUBLIC_URL": PUBLIC,
    }
    server = start_server(
        "--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"), "--workers", "1", env=env
    )
    status, body, _ = _raw_get(server.port, "/api/get_samples", {"Host": "internal", **FORWARDED})
    assert status == 200 and json.loads(body)[0] == PUBLIC + "api/samples/blue.jpg"
    status, body, _ = _raw_get(
        server.port, "/api/get_samples", {"Host": "proxy.example", "X-Forwarded-Host": "evil.example"}
    )
    assert status == 400 and "MODELHUB_ALLOWED_HOSTS" in json.loads(body)["error"]
    status, _, location = _raw_get(server.port, "/api//get_config", {"Host": "internal", **FORWARDED})
    assert status == 308 and location == PUBLIC + "api/get_config"
    status, _, _ = _raw_get(server.port, "/v2/health/ready", {"Host": "127.0.0.1"})
    assert status == 200


# -- file names the file system chokes on (issue point 7) ---------------------------------------

LONG = "a" * 300


@pytest.mark.parametrize("name", [f"{LONG}.png", f"sub/{LONG}.png", f"{LONG}/red.png", "é" * 130 + ".png"])
@pytest.mark.parametrize(
    "route", ["/api/samples/", "/api/thumbnail/", "/api/output/", "/static/", "/api/predict_sample?filename="]
)
def test_over_long_names_are_a_4xx(package: Path, route: str, name: str) -> None:
    response = client_of(package).get(route + name)
    assert response.status_code in (400, 404), (route, response.status_code)
    message = error_of(response)
    assert len(message) < 300  # the name is cut short in the message


def test_a_name_of_255_bytes_is_just_not_found(package: Path) -> None:
    response = client_of(package).get("/api/samples/" + "a" * 251 + ".png")
    assert response.status_code == 404
    error_of(response)


@pytest.fixture
def looping(package: Path) -> Path:
    samples = package / "sample_data"
    (samples / "loop.png").symlink_to("loop.png")
    (samples / "ping.png").symlink_to("pong.png")
    (samples / "pong.png").symlink_to("ping.png")
    (samples / "dangling.jpg").symlink_to("missing.jpg")
    (samples / "loopdir").symlink_to("loopdir")
    (package / "model" / "loop.jpg").symlink_to("loop.jpg")
    (package / "model" / "loopdir").symlink_to("loopdir")
    return package


def test_link_loops_break_no_route(looping: Path) -> None:
    client = client_of(looping)  # the warm-up picks a sample: the loops are skipped there too
    assert [url.rsplit("/", 1)[1] for url in samples_of(client)] == ["blue.jpg", "red.png"]
    for name in ("loop.png", "ping.png", "pong.png", "dangling.jpg", "loopdir/red.png"):
        for path in (f"/api/samples/{name}", f"/api/predict_sample?filename={name}"):
            response = client.get(path)
            assert response.status_code == 404, (path, response.status_code)
            error_of(response)
    for name in ("loop.jpg", "loopdir/x.jpg"):
        assert client.get(f"/api/thumbnail/{name}").status_code == 404
    files = zipfile.ZipFile(io.BytesIO(client.get("/api/get_model_files").data)).namelist()
    assert sorted(files) == ["model/config.json", "model/fake.onnx", "model/labels.txt"]


# -- links out of the folders (issue point 9) ---------------------------------------------------


@pytest.fixture
def linked(package: Path, tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes((package / "sample_data" / "red.png").read_bytes() + SECRET.encode())
    (outside / "secret.txt").write_text(SECRET)
    samples, model = package / "sample_data", package / "model"
    (samples / "outside.png").symlink_to(outside / "secret.png")
    (samples / "relative.png").symlink_to("../../outside/secret.png")
    (samples / "outdir").symlink_to(outside)
    (samples / "alias.png").symlink_to("red.png")  # a link that stays inside: listed and served
    (model / "passwd").symlink_to("/etc/passwd")
    (model / "secret.txt").symlink_to(outside / "secret.txt")
    (model / "outdir").symlink_to(outside)
    (model / "alias.txt").symlink_to("labels.txt")
    return package


def test_model_files_zip_holds_no_link_out_of_model(linked: Path) -> None:
    response = client_of(linked).get("/api/get_model_files")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == ["model/alias.txt", "model/config.json", "model/fake.onnx", "model/labels.txt"]
    for name in archive.namelist():
        content = archive.read(name)
        assert SECRET.encode() not in content and b"root:" not in content


def test_samples_lists_exactly_what_it_serves(linked: Path) -> None:
    client = client_of(linked)
    listed = [url.rsplit("/", 1)[1] for url in client.get("/api/get_samples").get_json()]
    assert listed == ["alias.png", "blue.jpg", "red.png"]
    for name in listed:
        assert client.get(f"/api/samples/{name}").status_code == 200
        assert client.get("/api/predict_sample", query_string={"filename": name}).status_code == 200
    for name in ("outside.png", "relative.png", "outdir/secret.png"):
        for response in (
            client.get(f"/api/samples/{name}"),
            client.get("/api/predict_sample", query_string={"filename": name}),
        ):
            assert response.status_code == 404, (name, response.status_code)
            assert SECRET.encode() not in response.data
    for name in ("passwd", "secret.txt", "outdir/secret.txt"):
        response = client.get(f"/api/thumbnail/{name}")
        assert response.status_code == 404 and SECRET.encode() not in response.data
