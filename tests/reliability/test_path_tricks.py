"""Path tricks on every route that names a file: never a file outside its folder; 400 or 404."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import error_of, fake_app, make_image, write_fake_model_file

SECRET = "TOP-SECRET-CONTENT"

TRICKS = [
    "../inference.py",
    "../../etc/passwd",
    "..%2finference.py",
    "..%2Finference.py",
    "%2e%2e/inference.py",
    "%2e%2e%2finference.py",
    "%252e%252e%252finference.py",
    "..%5cinference.py",
    "..\\inference.py",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//etc/passwd",
    "red.png%00.txt",
    "red.png\x00",
    "./red.png/../../secret.txt",
    "link_out.txt",
    "link_dir/secret.txt",
    "../secret.txt",
    "....//secret.txt",
    "",
    ".",
    "..",
]


@pytest.fixture
def package(fake_package: Callable[..., Path], tmp_path: Path) -> Path:
    root = fake_package()
    write_fake_model_file(root)
    (tmp_path / "secret.txt").write_text(SECRET)
    (root / "sample_data" / "link_out.txt").symlink_to(tmp_path / "secret.txt")
    (root / "sample_data" / "link_dir").symlink_to(tmp_path)
    (root / "model" / "link_out.jpg").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def client(package: Path) -> Any:
    with fake_app(package).test_client() as test_client:
        yield test_client


def _check(response: Any, where: str) -> None:
    # werkzeug answers "//" in a path with a 308 to the merged path: follow it, it must stay inside.
    assert response.status_code in (400, 404), (where, response.status_code)
    assert SECRET.encode() not in response.get_data()
    assert b"import" not in response.get_data()  # no source file either
    error_of(response)


@pytest.mark.parametrize("route", ["samples", "thumbnail", "output"])
@pytest.mark.parametrize("trick", TRICKS)
def test_file_routes_refuse_tricks(client: Any, route: str, trick: str) -> None:
    if not trick:
        response = client.get(f"/api/{route}/", follow_redirects=True)
    else:
        response = client.get(f"/api/{route}/{trick}", follow_redirects=True)
    _check(response, f"{route}/{trick}")


@pytest.mark.parametrize("trick", TRICKS)
def test_predict_sample_refuses_tricks(client: Any, trick: str) -> None:
    response = client.get("/api/predict_sample", query_string={"filename": trick})
    _check(response, f"predict_sample {trick!r}")


def test_predict_sample_with_raw_query_encodings(client: Any) -> None:
    for raw in ["..%2Finference.py", "%2e%2e%2finference.py", "red.png%00", "%2Fetc%2Fpasswd", "..%5Cinference.py"]:
        _check(client.get(f"/api/predict_sample?filename={raw}"), raw)


def test_absolute_path_inside_the_folder_is_still_refused(client: Any, package: Path) -> None:
    inside = package / "sample_data" / "red.png"
    response = client.get("/api/predict_sample", query_string={"filename": str(inside)})
    assert response.status_code == 400
    assert "only plain names" in error_of(response)


def test_plain_names_still_work(client: Any) -> None:
    assert client.get("/api/samples/red.png").status_code == 200
    assert client.get("/api/predict_sample", query_string={"filename": "red.png"}).status_code == 200
    assert client.get("/api/samples/missing.png").status_code == 404
    assert client.get("/api/predict_sample", query_string={"filename": "missing.png"}).status_code == 404


# -- multi-input JSON: local file names under MODELHUB_DATA_DIR ---------------------------

MULTI_INFERENCE = """
from modelhublib.model import ModelBase
from fakeprocessing import FakeProcessor


class Model(ModelBase):
    def __init__(self):
        import json
        self._processor = FakeProcessor(json.load(open("model/config.json")))

    def infer(self, input):
        total = 0.0
        for key in ("t1", "t2"):
            total += float(self._processor.loadAndPreprocess(input[key]["fileurl"], key).mean())
        return [{"label": "sum", "probability": min(1.0, total / 1000)}]
"""


def multi_config() -> dict[str, Any]:
    single = {"format": ["image/png"], "dim_limits": [{"min": 1, "max": 4}, {"min": 8}, {"min": 8}]}
    return {
        "id": "multi",
        "meta": {"name": "Multi"},
        "publication": {},
        "model": {
            "io": {
                "input": {"format": ["application/json"], "t1": single, "t2": single},
                "output": [{"name": "score", "type": "label_list"}],
            }
        },
    }


@pytest.fixture
def multi(fake_package: Callable[..., Path], tmp_path: Path) -> Callable[..., Any]:
    root = fake_package("multi_contrib", inference=MULTI_INFERENCE, config=multi_config())
    write_fake_model_file(root)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.png").write_bytes(make_image((16, 16)))
    (data / "sub" / "b.png").write_bytes(make_image((16, 16)))
    (data / "tiny.png").write_bytes(make_image((4, 4)))
    (data / "notes.txt").write_text("hello")
    (data / "link.png").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "secret.txt").write_text(SECRET)

    def post(request: Any, data_dir: bool = True) -> Any:
        app = fake_app(root, data_dir=str(data) if data_dir else None)
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        import io

        with app.test_client() as c:
            return c.post(
                "/api/predict", data={"file": (io.BytesIO(body), "request.json")}, content_type="multipart/form-data"
            )

    return post


def _req(t1: Any, t2: Any = "a.png") -> dict[str, Any]:
    return {"t1": {"format": "image/png", "fileurl": t1}, "t2": {"format": "image/png", "fileurl": t2}}


def test_multi_input_ok(multi: Callable[..., Any]) -> None:
    assert multi(_req("a.png", "sub/b.png")).status_code == 200
    assert multi(_req("/data/a.png", "/data/sub/b.png")).status_code == 200  # the launcher's /data prefix


@pytest.mark.parametrize(
    "location,status,said",
    [
        ("../secret.txt", 403, "outside the data folder"),
        ("sub/../../secret.txt", 403, "outside the data folder"),
        ("/etc/passwd", 403, "outside the data folder"),
        ("/data/../secret.txt", 403, "outside the data folder"),
        ("link.png", 403, "outside the data folder"),
        ("a.png\x00.txt", 400, "invalid file name"),
        ("missing.png", 404, "not found"),
        ("file:///etc/passwd", 400, "only http(s) URLs"),
        ("ftp://example.org/x.png", 400, "only http(s) URLs"),
        ("http://127.0.0.1/x.png", 403, "disabled"),
        ("notes.txt", 415, "text/plain"),
        ("tiny.png", 422, "at least 8"),
    ],
)
def test_multi_input_bad_locations(multi: Callable[..., Any], location: str, status: int, said: str) -> None:
    response = multi(_req(location))
    assert response.status_code == status, response.get_json()
    message = error_of(response)
    assert said in message and SECRET not in message


def test_multi_input_local_files_refused_without_data_dir(multi: Callable[..., Any]) -> None:
    response = multi(_req("a.png"), data_dir=False)
    assert response.status_code == 403
    assert "MODELHUB_DATA_DIR" in error_of(response)


@pytest.mark.parametrize(
    "body,said",
    [
        (b"{not json", "malformed"),
        (b'{"t1": {"fileurl": "a.png"}}', "missing t2"),
        (b'{"t1": {"fileurl": "a.png"}, "t2": {"fileurl": "a.png"}, "t3": {"fileurl": "a.png"}}', "unknown t3"),
        (b'{"t1": {"fileurl": 5}, "t2": {"fileurl": "a.png"}}', "needs a string 'fileurl'"),
        (b'{"t1": "a.png", "t2": {"fileurl": "a.png"}}', "needs a string 'fileurl'"),
    ],
)
def test_multi_input_malformed_requests(multi: Callable[..., Any], body: bytes, said: str) -> None:
    response = multi(body)
    assert response.status_code == 400, response.get_json()
    assert said in error_of(response)


def test_multi_input_json_list_is_refused(multi: Callable[..., Any]) -> None:
    response = multi(b"[1, 2]")
    assert 400 <= response.status_code < 500
    error_of(response)


# -- over real HTTP: raw request lines that clients would normalise ------------------------


@pytest.mark.server
def test_raw_http_paths_on_the_production_server(start_server: Callable[..., Any], package: Path) -> None:
    server = start_server(
        "--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx"), "--workers", "1"
    )
    raw_paths = [
        f"/api/{route}/{trick}"
        for route in ("samples", "thumbnail", "output")
        for trick in (
            "../inference.py",
            "..%2finference.py",
            "%2e%2e/%2e%2e/etc/passwd",
            "/etc/passwd",
            "link_out.txt",
            "red.png%00",
        )
    ]
    raw_paths += [
        f"/api/predict_sample?filename={t}"
        for t in ("../inference.py", "%2Fetc%2Fpasswd", "..%2F..%2Fsecret.txt", "red.png%00")
    ]
    raw_paths += ["/../../etc/passwd", "/api/../../etc/passwd"]

    def get(path: str) -> tuple[int, bytes, str]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.status, body, response.getheader("Location") or ""

    for path in raw_paths:
        status, body, location = get(path)
        if status == 308:  # werkzeug merges "//" with a redirect; the target must stay in the route
            target = location.split(str(server.port), 1)[-1]
            assert target.startswith(path.split("//")[0] + "/"), (path, location)
            status, body, _ = get(target)
        assert status in (400, 404), (path, status)
        assert SECRET.encode() not in body and b"root:" not in body and b"import" not in body
        assert json.loads(body)["error"]
    assert os.path.isdir(package)
