"""``modelhub serve``: verify and load the model once, then serve the REST app with the production server.

Before any worker starts, the model file is verified and the model is loaded and warmed up once
(in a child process), so that a bad file or package stops the server with one clear line.  Each
worker then loads its own onnxruntime session and takes requests once it is ready; the front
(:mod:`.server`) answers health probes meanwhile, and API requests wait for a ready worker.  Array
outputs go to one folder that every worker serves, and with metrics on every process writes its values to
one ``PROMETHEUS_MULTIPROC_DIR`` (made here, and removed at exit, unless the variable is set).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import shutil
import tempfile
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from modelhub.errors import ConfigError
from modelhub.host import load
from modelhub.model_source import resolve_model_source
from modelhub.settings import Settings

from . import accesslog
from .server import bind, serve_app

log = logging.getLogger(__name__)


def preflight(settings: Settings) -> None:
    """Verify, load and warm up the model once in a short-lived child process.

    A bad model file or contributor package raises its :class:`ModelHubError` here, before
    any worker starts, so the server refuses to start with one clear line.  The child exits
    afterwards, so the master holds no model memory that the workers would inherit.
    """
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            pool.submit(_load_and_forget, settings).result()
    except BrokenProcessPool:
        raise ConfigError("the process loading the model died (crash or out of memory); see the log") from None


def _load_and_forget(settings: Settings) -> None:
    load(settings)


def serve(settings: Settings) -> None:
    """Preflight, then serve the model described by ``settings`` until SIGTERM/SIGINT."""
    accesslog.configure(settings)
    sock = bind(settings.host, settings.port)  # a port in use is said before anything loads
    resolve_model_source(settings)  # here, so that the children it forks do not each warn of an unverified file
    preflight(settings)
    made = None
    if settings.output_dir is None:  # one folder for all workers, made by the first that saves an output
        made = Path(tempfile.gettempdir()) / f"modelhub-output-{uuid.uuid4().hex}"
        settings = dataclasses.replace(settings, output_dir=made)
    metrics_dir = None
    if settings.metrics:  # before prometheus_client is imported (modelhubapi.app): it reads the variable then
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            metrics_dir = tempfile.mkdtemp(prefix="prometheus-multiproc-")  # one per server
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        log.info("metrics: every process writes its values to %s", os.environ["PROMETHEUS_MULTIPROC_DIR"])
    from modelhubapi.app import cors_headers, create_app
    from modelhubapi.metrics import FrontMetrics

    front_metrics = FrontMetrics() if settings.metrics else None  # the answers the app does not give
    try:  # each worker loads its model, then takes requests
        serve_app(lambda: create_app(settings), settings, sock, cors=cors_headers(settings), metrics=front_metrics)
    finally:
        for folder in (made, metrics_dir):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        if metrics_dir is not None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
