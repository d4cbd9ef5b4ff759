"""The deployment files: the Ray Serve config, the KubeRay RayService, the KServe runtime and service.

The Kubernetes manifests are validated against the CRDs' own OpenAPI schemas, pinned in
``deploy/schemas/`` (source, version and sha256 in its README), with unknown fields refused as
``kubectl apply --validate=strict`` refuses them; the Serve configs against Ray Serve's own schema.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from support import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
SERVE_CONFIG = DEPLOY / "ray" / "serve-config.yaml"
RAYSERVICE = DEPLOY / "kubernetes" / "rayservice.yaml"
KSERVE = DEPLOY / "kubernetes" / "kserve.yaml"
CRD_FILES = {
    ("ray.io", "RayService"): "ray.io_rayservices.yaml.gz",
    ("serving.kserve.io", "InferenceService"): "serving.kserve.io_inferenceservices.yaml.gz",
    ("serving.kserve.io", "ServingRuntime"): "serving.kserve.io_servingruntimes.yaml.gz",
}


def strict(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others (kubectl's strict validation)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


@cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    crd = yaml.safe_load(gzip.decompress((SCHEMAS / CRD_FILES[(group, kind)]).read_bytes()))
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    served = {entry["name"]: entry for entry in crd["spec"]["versions"] if entry["served"]}
    assert version in served, f"{kind} {group}/{version} is not served by the pinned CRD ({sorted(served)})"
    schema = strict(served[version]["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "labels": {"type": "object"}, "annotations": {"type": "object"}},
        "additionalProperties": False,
    }
    return schema


def errors_of(document: dict[str, Any]) -> list[str]:
    group, _, version = document["apiVersion"].partition("/")
    validator = jsonschema.Draft7Validator(crd_schema(group, document["kind"], version))
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_pinned_schemas_are_the_published_files() -> None:
    """Each pinned CRD is the upstream file whose sha256 the README names."""
    readme = (SCHEMAS / "README.md").read_text()
    for name in CRD_FILES.values():
        digest = hashlib.sha256(gzip.decompress((SCHEMAS / name).read_bytes())).hexdigest()
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        assert f"`{digest}`" in row, name


@pytest.mark.parametrize("path", [RAYSERVICE, KSERVE], ids=lambda p: p.name)
def test_manifests_match_the_crd_schemas(path: Path) -> None:
    for document in documents(path):
        assert errors_of(document) == [], document["kind"]


@pytest.mark.parametrize(
    ("path", "kind", "where"),
    [
        (RAYSERVICE, "RayService", ("spec", "rayClusterConfig", "headGroupSpec")),
        (KSERVE, "InferenceService", ("spec", "predictor", "model")),
        (KSERVE, "ServingRuntime", ("spec",)),
    ],
)
def test_the_validation_refuses_a_misspelt_field(path: Path, kind: str, where: tuple[str, ...]) -> None:
    document = copy.deepcopy(next(d for d in documents(path) if d["kind"] == kind))
    node = document
    for key in where:
        node = node[key]
    node["replicaz"] = 2
    assert any("replicaz" in error for error in errors_of(document))


def test_wrong_types_are_refused() -> None:
    document = next(d for d in documents(KSERVE) if d["kind"] == "InferenceService")
    document["spec"]["predictor"]["minReplicas"] = "one"
    assert any("minReplicas" in error for error in errors_of(document))


def _serve_app(config: dict[str, Any]) -> dict[str, Any]:
    (app,) = config["applications"]
    return app


def test_rayservice_deploys_the_serve_config_application() -> None:
    (service,) = documents(RAYSERVICE)
    in_cluster = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert _serve_app(in_cluster) == _serve_app(yaml.safe_load(SERVE_CONFIG.read_text()))
    assert in_cluster["http_options"]["host"] == "0.0.0.0" and in_cluster["proxy_location"] == "EveryNode"
    cluster = service["spec"]["rayClusterConfig"]
    ray_pin = re.search(r"ray\[serve\]==([0-9.]+)", (DEPLOY / "ray" / "Dockerfile").read_text())
    assert ray_pin is not None and cluster["rayVersion"] == ray_pin.group(1)
    worker_cpus = {group["rayStartParams"]["num-cpus"] for group in cluster["workerGroupSpecs"]}
    assert worker_cpus == {str(_serve_app(in_cluster)["args"]["replica_cpus"])}


def test_kserve_runtime_serves_the_open_inference_protocol_of_the_image() -> None:
    runtime, service = (
        next(d for d in documents(KSERVE) if d["kind"] == kind) for kind in ("ServingRuntime", "InferenceService")
    )
    assert service["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]
    assert service["metadata"]["name"] == "mobilenet"  # /v2/models/<service name>/...: the model's OIP name
    assert "v2" in runtime["spec"]["protocolVersions"]
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container" and container["command"][:2] == ["modelhub", "serve"]
    port = int(container["command"][container["command"].index("--port") + 1])
    assert [entry["containerPort"] for entry in container["ports"]] == [port] == [8080]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": port}
    image_tag = re.search(r"docker build -t (\S+) \.", (REPO_ROOT / "Dockerfile").read_text())
    assert image_tag is not None and container["image"] == image_tag.group(1)


@pytest.mark.parametrize(
    "text",
    [SERVE_CONFIG.read_text(), yaml.safe_load(RAYSERVICE.read_text())["spec"]["serveConfigV2"]],
    ids=["serve-config", "rayservice"],
)
def test_serve_configs_match_ray_serve_schema(text: str) -> None:
    schema = pytest.importorskip("ray.serve.schema", reason="Ray Serve is not installed")
    config = (
        schema.ServeDeploySchema.model_validate(yaml.safe_load(text))
        if hasattr(schema.ServeDeploySchema, "model_validate")
        else schema.ServeDeploySchema.parse_obj(yaml.safe_load(text))
    )
    assert [app.import_path for app in config.applications] == ["modelhubserve.ray_app:build"]
