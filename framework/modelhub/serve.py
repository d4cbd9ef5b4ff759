"""The production server: gunicorn with threaded workers, one per core by default.

``modelhub serve`` and the Docker image run this.  Before any worker starts, the
model file is verified and the model is loaded and warmed up once (in a child
process), so that a bad file or package stops the server with one clear line.  Each
worker then loads its own onnxruntime session in the background; health routes answer
meanwhile, API requests wait for the load.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from gunicorn.app.base import BaseApplication

from . import balance
from .errors import ConfigError
from .settings import Settings
from .worker import ServingWorker

log = logging.getLogger(__name__)

WORKER_TIMEOUT_MARGIN = 30.0  # seconds beyond request_timeout before gunicorn restarts a stuck worker


class _GunicornApp(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], Any], settings: Settings) -> None:
        self._factory = factory
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self._settings
        options = {
            "bind": f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}",
            "workers": s.effective_workers(),
            "worker_class": ServingWorker,  # gthread, spreading connections evenly (modelhub/worker.py)
            "threads": s.threads,
            "timeout": int(s.request_timeout + WORKER_TIMEOUT_MARGIN),
            "graceful_timeout": int(s.graceful_timeout),
            "keepalive": 5,
            "loglevel": s.log_level,
            "errorlog": "-",
            "accesslog": None,
            "preload_app": False,
            "proc_name": "modelhub",
            "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
            "control_socket_disable": True,  # gunicorn >= 27: no control socket in $HOME
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def serve_app(factory: Callable[[], Any], settings: Settings) -> None:
    """Run ``factory()``'s WSGI app under gunicorn until SIGTERM/SIGINT (graceful)."""
    balance.install(settings.effective_workers())
    _GunicornApp(factory, settings).run()


def _preflight_in_child(settings: Settings) -> None:
    from .host import build_api

    build_api(settings)


def preflight(settings: Settings) -> None:
    """Verify, load and warm up the model once in a short-lived child process.

    A bad model file or contributor package raises its :class:`ModelHubError` here, before
    gunicorn starts, so the server refuses to start with one clear line.  The child exits
    afterwards, so the master holds no model memory that the workers would inherit.
    """
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            pool.submit(_preflight_in_child, settings).result()
    except BrokenProcessPool:
        raise ConfigError("the process loading the model died (crash or out of memory); see the log") from None


def serve(settings: Settings) -> None:
    """Preflight, then serve the model described by ``settings``.

    Each worker loads its own session in a background thread: the health routes answer at
    once (ready only after warm-up), while API requests that arrive during loading wait for it
    (up to ``request_timeout``) instead of failing.
    """
    from modelhubapi.restapi import create_app

    preflight(settings)
    log.info("serving on http://%s:%s with %d worker(s) x %d thread(s)", settings.host, settings.port,
             settings.effective_workers(), settings.threads)
    serve_app(lambda: create_app(settings, background=True), settings)
