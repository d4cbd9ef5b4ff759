"""The ModelHub app as a Ray Serve application: Ray Serve routes, replicates, autoscales and restarts.

Each replica is a :class:`.ray_adapter.ReplicaApp` (the engine and the same Flask app as a worker of
``modelhub serve``, loaded and warmed up before Serve marks the replica ready), given the CPUs Ray
assigned it: its onnxruntime session gets that many intra-op threads (onnxruntime reads neither
Ray's CPU share nor ``OMP_NUM_THREADS``), so replicas never oversubscribe their cores.

``build`` is the application builder of ``serve run`` / ``serve deploy`` (``import_path:
modelhubserve.ray_app:build``; its ``args`` are settings, as flags are); ``modelhub serve
--engine ray`` deploys the same application (:mod:`.ray_engine`).
"""

from __future__ import annotations

from typing import Any

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from modelhub.settings import Settings, load_settings

from .ray_adapter import ReplicaApp

APP_NAME = "modelhub"
DEPLOYMENT_NAME = "ModelHub"
# Requests a replica accepts at once (one runs, one waits in it): what its death can fail at most.
MAX_ONGOING_REQUESTS = 2
HARD_LIMIT_MARGIN = 5.0  # seconds past request_timeout before Ray's proxy gives up on a request


class ModelHubReplica:
    """One replica of the deployment: a :class:`ReplicaApp` with the CPUs Ray assigned to this actor."""

    def __init__(self, settings: Settings) -> None:
        cpus = float(ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0))
        self.replica = ReplicaApp(settings, cpus)

    async def __call__(self, request: Request) -> Response:
        return await self.replica(request)

    def intra_op_threads(self) -> int | None:
        return self.replica.intra_op_threads()

    def check_health(self) -> None:
        """Ray Serve's periodic health check."""
        self.replica.check_health()


def deployment_options(settings: Settings) -> dict[str, Any]:
    """Replicas (fixed, or autoscaled between min and max), each with ``replica_cpus`` CPUs."""
    options: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        "ray_actor_options": {"num_cpus": settings.replica_cpus},
        "max_ongoing_requests": MAX_ONGOING_REQUESTS,
        "health_check_period_s": 2.0,
        "health_check_timeout_s": settings.request_timeout + HARD_LIMIT_MARGIN,
        "graceful_shutdown_timeout_s": settings.graceful_timeout,
    }
    if settings.max_replicas:
        options["autoscaling_config"] = {
            "min_replicas": settings.min_replicas,
            "max_replicas": settings.max_replicas,
            "target_ongoing_requests": 1,
        }
    else:
        options["num_replicas"] = settings.replicas
    return options


def application(settings: Settings) -> serve.Application:
    """The Ray Serve application for ``settings`` (what ``modelhub serve --engine ray`` deploys)."""
    return serve.deployment(**deployment_options(settings))(ModelHubReplica).bind(settings)


def build(args: dict[str, Any]) -> serve.Application:
    """The application builder of a Serve config file: ``args`` are settings (``MODELHUB_*`` apply first)."""
    return application(load_settings(dict(args or {})))


def http_options(settings: Settings) -> dict[str, Any]:
    """Ray's HTTP proxy: where it binds, and how long it lets a request run."""
    return {
        "host": settings.host,
        "port": settings.port,
        "request_timeout_s": settings.request_timeout + HARD_LIMIT_MARGIN,
    }
