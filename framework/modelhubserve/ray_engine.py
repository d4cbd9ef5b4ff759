"""``modelhub serve --engine ray``: deploy the ModelHub app on Ray Serve and keep it up until SIGTERM/SIGINT.

Without ``--ray-address`` a local Ray instance is started (and stopped at exit); with it, the driver
joins that cluster, deploys the application and deletes it at exit.  The model file is verified and
the model loaded once first (:func:`.production.preflight`), so a bad file stops the command with one
line before Ray starts.  Ray's HTTP proxy runs on the head node only (``HeadOnly``) and binds
``--host``/``--port`` (127.0.0.1:8080 by default); a Serve config file can run one on every node.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from modelhub.errors import ConfigError
from modelhub.settings import Settings

from .production import preflight
from .server import bind

log = logging.getLogger("modelhub.ray")

INSTALL_HINT = 'pip install -e ".[ray]" (or pip install "ray[serve]")'


def _import_ray() -> tuple[Any, Any]:
    try:
        import ray
        from ray import serve
    except ImportError as error:
        raise ConfigError(
            f"--engine ray needs Ray Serve, which is not installed ({error.name}): {INSTALL_HINT}"
        ) from None
    return ray, serve


def _stop_event() -> threading.Event:
    """Set by SIGTERM/SIGINT: the application is then removed and the command exits 0."""
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        log.info("signal %d: removing the application", signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    return stop


def _check_room(settings: Settings, cpus: float, local: bool) -> None:
    """A fixed number of replicas that the local instance cannot hold would wait for CPUs forever."""
    needed = settings.replicas * settings.replica_cpus
    if local and not settings.max_replicas and needed > cpus:
        raise ConfigError(
            f"{settings.replicas} replica(s) of {settings.replica_cpus:g} CPU need {needed:g} CPUs; "
            f"this machine has {cpus:g} (use --replicas or --replica-cpus)"
        )


def serve_on_ray(settings: Settings) -> None:
    """Preflight, start or join Ray, deploy the application, serve until a signal, then clean up."""
    ray, serve = _import_ray()
    local = not settings.ray_address
    if local:  # the proxy will bind here: a port in use is said before anything starts
        bind(settings.host, settings.port).close()
    preflight(settings)
    from .ray_app import APP_NAME, application, http_options

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # "local": a new instance, never one found through RAY_ADDRESS or /tmp/ray/ray_current_cluster
    init: dict[str, Any] = {
        "address": settings.ray_address or "local",
        "logging_level": logging.getLevelName(settings.log_level.upper()),
    }
    if local:
        init.update(include_dashboard=False, _node_ip_address="127.0.0.1")
    ray.init(**init)
    stop = _stop_event()  # in place of the driver's SIGTERM handler that ray.init installs (sys.exit)
    try:
        _check_room(settings, float(ray.cluster_resources().get("CPU", 0)), local)
        serve.start(proxy_location="HeadOnly", http_options=http_options(settings))
        serve.run(application(settings), name=APP_NAME, route_prefix="/", blocking=False)
        log.info(
            "Ray Serve application %r running at http://%s:%d/ (%s)",
            APP_NAME,
            settings.host,
            settings.port,
            f"{settings.min_replicas}-{settings.max_replicas} replicas"
            if settings.max_replicas
            else f"{settings.replicas} replica(s)",
        )
        while not stop.wait(0.5):
            pass
    except SystemExit:  # a signal that came while Ray's own handler was still in place
        log.info("SIGTERM: removing the application")
    finally:
        # Ray's native SIGTERM handler (abseil's) armed a 3 s SIGALRM that aborts the process (exit 134)
        # if it still runs then; removing the application and stopping Ray take longer.
        signal.alarm(0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        try:
            if local:
                serve.shutdown()
            else:
                serve.delete(APP_NAME)
        finally:
            ray.shutdown()
