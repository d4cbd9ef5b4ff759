"""The Ray Serve replica without a cluster: its threads, its answers, its upload limit, its deployment options."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from support import SAMPLES_DIR

pytest.importorskip("starlette", reason='Ray Serve is not installed (pip install -e ".[ray]")')

from modelhubserve.ray_adapter import ReplicaApp, replica_threads  # noqa: E402
from starlette.requests import Request  # noqa: E402

from modelhub.settings import load_settings  # noqa: E402

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def replica(int8_model: Path) -> ReplicaApp:
    return ReplicaApp(load_settings({"model_file": str(int8_model), "max_upload_bytes": 500_000}, environ={}), 2)


def _request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    receive: Callable[[], Awaitable[dict[str, Any]]] | None = None,
) -> Request:
    target, _, query = path.partition("?")
    raw = [(b"host", b"127.0.0.1:8000")] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]

    async def whole() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": target,
        "raw_path": target.encode(),
        "scheme": "http",
        "query_string": query.encode(),
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "http_version": "1.1",
        "root_path": "",
    }
    return Request(scope, receive or whole)


def _multipart(photo: Path) -> tuple[bytes, dict[str, str]]:
    prepared = requests.Request("POST", "http://x/", files={"file": (photo.name, photo.read_bytes())}).prepare()
    assert isinstance(prepared.body, bytes)
    return prepared.body, {"Content-Type": prepared.headers["Content-Type"], "Content-Length": str(len(prepared.body))}


def _without_volatile(body: bytes) -> Any:
    value = json.loads(body)
    return {k: v for k, v in value.items() if k not in ("timestamp", "processing_time")}


def test_one_intra_op_thread_per_cpu_given(replica: ReplicaApp) -> None:
    assert replica.intra_op_threads() == 2  # read back from the onnxruntime session itself
    assert [replica_threads(cpus) for cpus in (0.25, 1, 1.5, 2, 4)] == [1, 1, 1, 2, 4]


@pytest.mark.parametrize("photo", ["cat_chelsea.png", "coffee_cup.jpg"])
def test_answers_equal_the_flask_apps(replica: ReplicaApp, photo: str) -> None:
    body, headers = _multipart(SAMPLES_DIR / photo)
    response = asyncio.run(replica(_request("POST", "/api/predict?top=5", body, headers)))
    direct = replica.app.test_client().post("/api/predict?top=5", data=body, headers=headers)
    assert response.status_code == direct.status_code == 200
    assert _without_volatile(response.body) == _without_volatile(direct.data)
    assert dict(response.headers)["content-type"] == direct.headers["Content-Type"]
    assert dict(response.headers)["access-control-allow-origin"] == "*"


def test_oip_infer_through_the_adapter(replica: ReplicaApp) -> None:
    cat = base64.b64encode((SAMPLES_DIR / "cat_chelsea.png").read_bytes()).decode()
    request = json.dumps(
        {
            "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [cat]}],
            "outputs": [{"name": "probabilities", "parameters": {"classification": 1}}],
        }
    ).encode()
    response = asyncio.run(replica(_request("POST", "/v2/models/mobilenet/infer", request)))
    direct = replica.app.test_client().post("/v2/models/mobilenet/infer", data=request)
    assert response.status_code == 200 and response.body == direct.data
    assert json.loads(response.body)["outputs"][0]["data"][0].endswith(":285:Egyptian cat")


def test_an_upload_over_the_limit_is_refused_before_its_body_is_read(replica: ReplicaApp) -> None:
    async def never() -> dict[str, Any]:
        raise AssertionError("the body was read")

    response = asyncio.run(
        replica(_request("POST", "/api/predict", headers={"Content-Length": "700000"}, receive=never))
    )
    assert response.status_code == 413
    assert json.loads(response.body) == {"error": "the upload is larger than the limit of 500000 bytes"}


def test_a_chunked_upload_is_stopped_at_the_limit(replica: ReplicaApp) -> None:
    sent = []

    async def chunks() -> dict[str, Any]:
        sent.append(1)
        return {"type": "http.request", "body": b"\0" * 100_000, "more_body": True}  # never ends by itself

    response = asyncio.run(replica(_request("POST", "/api/predict", receive=chunks)))
    assert response.status_code == 413 and len(sent) == 6  # 600 kB read, then refused


def test_health_and_errors_are_the_apps(replica: ReplicaApp) -> None:
    assert asyncio.run(replica(_request("GET", "/v2/health/ready"))).status_code == 200
    missing = asyncio.run(replica(_request("GET", "/api/samples/nope.png")))
    assert missing.status_code == 404 and set(json.loads(missing.body)) == {"error"}
    replica.check_health()


def test_deployment_options() -> None:
    pytest.importorskip("ray.serve")
    from modelhubserve.ray_app import MAX_ONGOING_REQUESTS, build, deployment_options

    fixed = deployment_options(load_settings({"replicas": 3, "replica_cpus": 2}, environ={}))
    assert fixed["num_replicas"] == 3 and fixed["ray_actor_options"] == {"num_cpus": 2.0}
    assert fixed["max_ongoing_requests"] == MAX_ONGOING_REQUESTS and "autoscaling_config" not in fixed
    scaled = deployment_options(load_settings({"min_replicas": 1, "max_replicas": 4}, environ={}))
    assert "num_replicas" not in scaled
    assert (scaled["autoscaling_config"]["min_replicas"], scaled["autoscaling_config"]["max_replicas"]) == (1, 4)
    app = build({"replicas": 2, "replica_cpus": 1})  # what the Serve config file's args make
    assert type(app).__name__ == "Application"
