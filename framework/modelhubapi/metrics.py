"""Prometheus metrics: ``GET /metrics`` of the Flask app, and what it counts.

Under ``modelhub serve`` each process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode) and a worker answers ``/metrics`` by merging every process's
files, so the counts are the server's whatever worker is scraped.  Without it (Flask test client, an
app embedded in another program) each app has its own in-process :class:`CollectorRegistry`
(``app.extensions["modelhub_metrics"].registry``).

Stage timings and batch sizes come from the engine through :attr:`DataPlane.observers` (the engine
imports no metrics library): every Prediction of every protocol is recorded once.  The front (the
server's main process) records the answers it gives itself with :class:`FrontMetrics`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from modelhub import __version__
from modelhub.dataplane import DataPlane
from modelhub.host import ModelHost
from modelhub.prediction import Prediction

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))  # others count as "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def multiprocess_dir() -> str | None:
    """The multiprocess folder, if this process writes its values there."""
    path = os.environ.get(MULTIPROC_ENV)
    if path and values.ValueClass is values.MutexValue:
        # prometheus_client was imported before the variable was set: choose its file-backed values now.
        values.ValueClass = values.MultiProcessValue()
    return path or None


def method_label(method: str) -> str:
    return method if method in METHODS else "other"  # a client's made-up methods must not grow the series


def _request_metrics(registry: CollectorRegistry | None) -> tuple[Counter, Histogram]:
    requests = Counter(
        "modelhub_http_requests",
        "HTTP requests answered, by route (URL rule), method and status",
        ("route", "method", "status"),
        registry=registry,
    )
    latency = Histogram(
        "modelhub_http_request_duration_seconds",
        "Seconds to answer an HTTP request, by route",
        ("route",),
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    return requests, latency


def _ready_gauge(registry: CollectorRegistry | None) -> Gauge:
    return Gauge(
        "modelhub_ready",
        "1 while the model is loaded and serving (any live worker)",
        registry=registry,
        multiprocess_mode="livemax",
    )


class AppMetrics:
    """The metrics of one Flask app (one worker process under ``modelhub serve``)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        self.pid = os.getpid()
        self.requests, self.latency = _request_metrics(registry)
        self.in_flight = Gauge(
            "modelhub_http_requests_in_flight",
            "HTTP requests being answered by the app",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.stage = Histogram(
            "modelhub_stage_seconds",
            "Seconds per prediction in each stage of the data plane",
            ("stage",),
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.batch = Histogram("modelhub_batch_size", "Inputs per prediction", buckets=BATCH_BUCKETS, registry=registry)
        self.load = Gauge(
            "modelhub_model_load_seconds",
            "Seconds to verify and load the model (last load)",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.warmup = Gauge(
            "modelhub_model_warmup_seconds",
            "Seconds of the warm-up prediction (last load)",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.ready = _ready_gauge(registry)
        self.model_info = Gauge(
            "modelhub_model_info",
            "The model file served (value 1)",
            ("sha256", "variant", "file", "verified"),
            registry=registry,
            multiprocess_mode="max",
        )
        self.build_info = Gauge(
            "modelhub_build_info",
            "The modelhub version (value 1)",
            ("version",),
            registry=registry,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__).set(1)
        self.ready.set(0)
        self._plane: DataPlane | Any = None

    def attach(self, host: ModelHost) -> None:
        """Once the model is loaded (now or in the background since): observe it, publish its times and info."""
        if self._plane is not None or not host.ready:
            return
        plane = self._plane = host.plane
        observers = getattr(plane, "observers", None)  # a stand-in plane (tests) may have no hook
        if observers is not None:
            observers.append(self.observe)
        for gauge, seconds in (
            (self.load, getattr(plane, "load_seconds", None)),
            (self.warmup, getattr(plane, "warmup_seconds", None)),
        ):
            if seconds is not None:
                gauge.set(seconds)
        source = getattr(plane, "source", None)
        if source is not None:
            self.model_info.labels(source.sha256, source.variant or "", source.file, str(source.verified).lower()).set(
                1
            )
        self.ready.set(1)

    def detach(self) -> None:
        observers = getattr(self._plane, "observers", [])
        if self.observe in observers:
            observers.remove(self.observe)

    def observe(self, prediction: Prediction) -> None:
        for stage, seconds in prediction.timings.seconds.items():
            self.stage.labels(stage).observe(seconds)
        self.batch.observe(prediction.batch_size)

    def exposition(self) -> bytes:
        path = multiprocess_dir()
        if path is None:
            assert self.registry is not None
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path)
        return generate_latest(registry)


class FrontMetrics:
    """What the server's main process counts: the answers it gives itself (health, HTTP-layer errors)."""

    def __init__(self) -> None:
        multiprocess_dir()
        self.requests, self.latency = _request_metrics(None)
        _ready_gauge(None).set(0)  # the series exists while no worker is ready (livemax over processes)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method_label(method), str(status)).inc()
        self.latency.labels(route).observe(seconds)

    @staticmethod
    def after_fork() -> None:
        """In a new worker, before it closes its inherited descriptors: let go of this process's value files."""
        values.close_all_multiprocess_files()

    @staticmethod
    def process_dead(pid: int) -> None:
        """A worker is gone: its live gauges (in flight, ready, load times) stop counting."""
        path = os.environ.get(MULTIPROC_ENV)
        if path:
            multiprocess.mark_process_dead(pid, path)


def install(app: Flask, host: ModelHost) -> AppMetrics:
    """``GET /metrics`` and the request hooks on ``app``."""

    def current() -> AppMetrics:
        """This process's metrics: an app made before a fork (``ModelHubRESTAPI.start``) makes its own in each."""
        metrics: AppMetrics | None = app.extensions.get("modelhub_metrics")
        if metrics is None or metrics.pid != os.getpid():
            if metrics is not None:
                metrics.detach()
            registry = None if multiprocess_dir() else CollectorRegistry()
            metrics = app.extensions["modelhub_metrics"] = AppMetrics(registry)
        metrics.attach(host)
        return metrics

    current()

    @app.before_request
    def _started() -> None:
        g.modelhub_started = time.perf_counter()
        current().in_flight.inc()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("modelhub_started", None)
        if started is not None:
            metrics = current()
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.requests.labels(route, method_label(request.method), str(response.status_code)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            metrics.in_flight.dec()
        return response

    @app.teardown_request
    def _finished(_error: BaseException | None) -> None:
        if g.pop("modelhub_started", None) is not None:  # after_request did not run
            current().in_flight.dec()

    def scrape() -> Response:
        return Response(current().exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", scrape, methods=["GET"])
    return current()
