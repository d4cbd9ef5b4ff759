"""The ModelHub API of a loaded model, below HTTP: what the REST routes call; raises typed errors."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from modelhub import inputs
from modelhub.dataplane import DataPlane
from modelhub.host import load
from modelhub.settings import Settings
from modelhub.slots import Deadline

from .codec import modelhub_response
from .outputs import OutputStore


class ModelHubService:
    """Config, legal texts, samples and ModelHub-shaped predictions of one data plane."""

    def __init__(self, plane: DataPlane, store: OutputStore | None = None) -> None:
        self.plane = plane
        self.outputs = store or OutputStore(plane.settings.output_dir)

    @property
    def settings(self) -> Settings:
        return self.plane.settings

    @property
    def model(self) -> Any:
        return self.plane.model

    @property
    def source(self) -> Any:
        return self.plane.source

    @property
    def contrib_src_dir(self) -> Path:
        return self.plane.package_dir

    # -- description -----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The package's config.json, plus ``model.file``: the model file served and its verification."""
        config = copy.deepcopy(dict(self.plane.config.raw))
        if self.source is not None:
            info = self.source.as_dict()
            info.pop("path", None)  # no server paths in responses
            config.setdefault("model", {})["file"] = info
        return config

    def get_legal(self) -> dict[str, str]:
        return self.plane.files.legal()

    def get_model_io(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.plane.config.raw["model"].get("io", {})))

    def get_samples(self) -> dict[str, Any]:
        return {"folder": str(self.plane.files.samples_dir), "files": self.plane.files.samples()}

    def sample_path(self, name: str) -> Path:
        return self.plane.files.sample_path(name)

    def thumbnail_path(self, name: str) -> Path:
        return self.plane.files.thumbnail_path(name)

    def output_path(self, name: str) -> Path:
        return self.outputs.path(name)

    # -- prediction ------------------------------------------------------------------
    def predict(
        self,
        input: Any,
        *,
        top: int | None = None,
        url_root: str = "",
        inline_arrays: bool = False,
        deadline: Deadline | None = None,
    ) -> dict[str, Any]:
        """Predict on a file path, the bytes of a file, a multi-input dict, or a PIL image."""
        started = time.perf_counter()
        prediction = self.plane.infer([input], deadline=deadline)
        return modelhub_response(
            prediction,
            self.plane.config,
            started=started,
            top=top,
            store=None if inline_arrays else self.outputs,
            url_root=url_root,
        )

    def predict_sample(
        self, name: str, *, top: int | None = None, url_root: str = "", deadline: Deadline | None = None
    ) -> dict[str, Any]:
        return self.predict(self.sample_path(name), top=top, url_root=url_root, deadline=deadline)

    def predict_url(
        self, url: str, *, top: int | None = None, url_root: str = "", deadline: Deadline | None = None
    ) -> dict[str, Any]:
        return self.predict(inputs.fetch(url, self.settings), top=top, url_root=url_root, deadline=deadline)


def build_api(settings: Settings) -> ModelHubService:
    """Verify, load and warm up the model of ``settings``; its ModelHub API (raises on any problem)."""
    return ModelHubService(load(settings))
