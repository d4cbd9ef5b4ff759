"""``webservice.start(model, contrib_src_dir)``: the original engine's entry point, now the production server."""

from __future__ import annotations

import os
from typing import Any

from modelhub.settings import Settings, load_settings

from .restapi import ModelHubRESTAPI


def start(model: Any, contrib_src_dir: str | os.PathLike[str], settings: Settings | None = None) -> None:
    """Serve ``model`` over REST until SIGTERM, with the settings from the environment (``MODELHUB_*``)."""
    ModelHubRESTAPI(model, contrib_src_dir, settings or load_settings()).start()
