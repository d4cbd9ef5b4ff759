"""``ModelHubRESTAPI(model, contrib_src_dir)``: the original engine's REST API class, as a facade.

``.app`` is the Flask application of :func:`modelhubapi.app.create_app` around the given model;
``.api`` is its :class:`~modelhubapi.pythonapi.ModelHubAPI`; ``start()`` serves it with the
production server.  Unlike the original (whose every error was a 200 or 400 carrying
``{"error": ...}``), the routes answer with the status that fits each error (see the README).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from modelhub.host import ModelHost
from modelhub.settings import Settings, load_settings

from .app import create_app
from .pythonapi import ModelHubAPI


class ModelHubRESTAPI:
    def __init__(
        self, model: Any, contrib_src_dir: str | os.PathLike[str], settings: Settings | None = None, source: Any = None
    ) -> None:
        self.settings = settings or load_settings()
        self.model = model
        self.contrib_src_dir = os.fspath(contrib_src_dir)
        self.working_folder = tempfile.gettempdir()  # the original's upload folder; uploads stay in memory here
        self.api = ModelHubAPI(model, contrib_src_dir, self.settings, source)
        service = self.api.service
        host = ModelHost(self.settings, service.plane if service else None)
        if service is None:
            host.fail(self.api.error or "the model package could not be read")
        self.app = create_app(self.settings, host=host, store=service.outputs if service else None)

    def start(self) -> None:
        """Serve with the production server on the configured host and port, until SIGTERM."""
        from modelhubserve.server import serve_app

        from .app import cors_headers

        serve_app(lambda: self.app, self.settings, cors=cors_headers(self.settings))
