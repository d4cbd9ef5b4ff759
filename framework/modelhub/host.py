"""The model's lifecycle in a process: verifying the file, loading, warm-up, readiness."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .config import read_config
from .contrib import load_model
from .dataplane import DataPlane
from .errors import ModelHubError, NotReady
from .model_source import resolve_model_source
from .settings import Settings

log = logging.getLogger(__name__)


def load(settings: Settings) -> DataPlane:
    """Verify the model file, load the contributor model and warm it up (raises on any problem)."""
    started = time.perf_counter()
    source = resolve_model_source(settings)
    config = read_config(settings.contrib_path)  # a bad config.json is named before the model runs
    model = load_model(settings.contrib_path, model_file=Path(source.path), settings=settings)
    plane = DataPlane(model, settings.contrib_path, config, settings, source)
    loaded = time.perf_counter()
    plane.warm_up()
    plane.load_seconds, plane.warmup_seconds = loaded - started, time.perf_counter() - loaded
    log.info(
        "model %s (%s, %s) ready in %.2f s",
        source.file,
        source.variant or "unknown variant",
        "verified" if source.verified else "UNVERIFIED",
        time.perf_counter() - started,
    )
    return plane


class ModelHost:
    """Holds the data plane once the model is loaded; readiness is known at any moment."""

    def __init__(self, settings: Settings, plane: DataPlane | None = None) -> None:
        self.settings = settings
        self._plane = plane
        self._error: str | None = None
        self._loaded = threading.Event()
        if plane is not None:
            self._loaded.set()

    def start(self, *, background: bool, builder: Callable[[Settings], DataPlane] = load) -> None:
        """Load now, or in a thread so the process can answer health checks meanwhile."""
        if background:
            threading.Thread(target=self._load, args=(builder,), name="model-loader", daemon=True).start()
        else:
            self._load(builder, reraise=True)

    def fail(self, message: str) -> None:
        """Mark the load as failed (the process serves health and 503s, with ``message``)."""
        self._error = message
        self._loaded.set()

    def _load(self, loader: Callable[[Settings], DataPlane], reraise: bool = False) -> None:
        try:
            self._plane = loader(self.settings)
        except Exception as error:
            self._error = str(error) if isinstance(error, ModelHubError) else f"{type(error).__name__}: {error}"
            log.error("the model failed to load: %s", self._error)
            if reraise:
                raise
        finally:
            self._loaded.set()

    @property
    def ready(self) -> bool:
        return self._plane is not None

    @property
    def error(self) -> str | None:
        return self._error

    def wait(self, timeout: float | None = None) -> bool:
        self._loaded.wait(timeout)
        return self.ready

    @property
    def plane(self) -> DataPlane:
        """The loaded data plane; while loading, waits up to ``request_timeout`` rather than failing at once."""
        if self._plane is None and self._error is None:
            self._loaded.wait(self.settings.request_timeout)
        if self._plane is not None:
            return self._plane
        if self._error is not None:
            raise NotReady(f"the model failed to load: {self._error}")
        raise NotReady("the model is still loading; retry in a moment")
