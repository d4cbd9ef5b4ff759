"""gunicorn with threaded workers, one per core by default, serving a WSGI app factory.

The workers are :class:`~modelhubserve.worker.ServingWorker` (gthread that spreads connections
evenly and keeps serving a busy connection), written against gunicorn 25-27's ``gthread``
internals, which ``setup.py`` pins.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from modelhub.settings import Settings

from . import balance
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
