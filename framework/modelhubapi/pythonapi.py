"""The Python API of a served model, below HTTP: everything the REST routes call."""

from __future__ import annotations

import copy
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from modelhub import inputs
from modelhub.contrib import read_config
from modelhub.executor import InferenceExecutor
from modelhub.images import accepted_formats
from modelhub.model_source import ModelSource
from modelhub.outputs import OutputStore, format_outputs
from modelhub.paths import safe_file
from modelhub.settings import Settings, load_settings

log = logging.getLogger(__name__)

SAMPLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".json", ".npy", ".nii", ".gz", ".dcm", ".tif", ".tiff"})


class ModelHubAPI:
    """``ModelHubAPI(model, contrib_src_dir)``: config, legal texts, samples and predictions."""

    def __init__(
        self,
        model: Any,
        contrib_src_dir: str | os.PathLike[str],
        settings: Settings | None = None,
        source: ModelSource | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.contrib_src_dir = Path(contrib_src_dir).resolve()
        self.settings = settings or load_settings()
        self.source = source
        self._config = config if config is not None else read_config(self.contrib_src_dir)
        if Image.MAX_IMAGE_PIXELS is not None and self.settings.max_image_pixels > Image.MAX_IMAGE_PIXELS:
            # Our limit is checked from the header first; Pillow's own bomb guard must not be stricter.
            Image.MAX_IMAGE_PIXELS = self.settings.max_image_pixels
        self._executor = InferenceExecutor(model, self.contrib_src_dir, timeout=self.settings.request_timeout)
        self.outputs = OutputStore()
        self.framework_dir = self.settings.root / "framework"

    # -- description -----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The package's config.json, plus ``model.file``: the model file served and its verification."""
        config = copy.deepcopy(self._config)
        if self.source is not None:
            info = self.source.as_dict()
            info.pop("path", None)  # no server paths in responses
            config.setdefault("model", {})["file"] = info
        return config

    def get_legal(self) -> dict[str, str]:
        licence_dir = self.contrib_src_dir / "license"
        files = {
            "modelhub_license": self.framework_dir / "LICENSE",
            "modelhub_acknowledgements": self.framework_dir / "NOTICE",
            "model_license": licence_dir / "model",
            "sample_data_license": licence_dir / "sample_data",
        }
        legal = {}
        for key, path in files.items():
            try:
                legal[key] = path.read_text(encoding="utf-8")
            except OSError:
                log.warning("legal text %s missing", path)
                legal[key] = ""
        return legal

    def get_model_io(self) -> dict[str, Any]:
        return copy.deepcopy(self._config["model"].get("io", {}))

    def get_samples(self) -> dict[str, Any]:
        folder = self.contrib_src_dir / "sample_data"
        files = sorted(
            entry.name for entry in folder.iterdir()
            if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in SAMPLE_SUFFIXES
        ) if folder.is_dir() else []
        return {"folder": str(folder), "files": files}

    def sample_path(self, name: str) -> Path:
        return safe_file(self.contrib_src_dir / "sample_data", name, "sample")

    def thumbnail_path(self, name: str) -> Path:
        return safe_file(self.contrib_src_dir / "model", name, "thumbnail")

    def output_path(self, name: str) -> Path:
        return safe_file(self.outputs.folder, name, "output")

    # -- prediction ------------------------------------------------------------------
    def predict(self, input: Any, *, top: int | None = None, url_root: str = "") -> dict[str, Any]:
        """Predict on a file path, the bytes of a file, a multi-input dict, or a PIL image."""
        start = time.perf_counter()
        with inputs.Scratch() as scratch:  # a folder exists only if a legacy model needs a file
            model_input = inputs.prepare(input, self._config, self.settings, self.model, scratch)
            result = self._executor.infer(model_input)
        output = format_outputs(
            result, self._config["model"]["io"]["output"], top=top, store=self.outputs, url_root=url_root
        )
        return {
            "output": output,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "processing_time": round(time.perf_counter() - start, 4),
            "model": {"id": self._config.get("id"), "name": self._config.get("meta", {}).get("name")},
        }

    def predict_sample(self, name: str, *, top: int | None = None, url_root: str = "") -> dict[str, Any]:
        return self.predict(self.sample_path(name), top=top, url_root=url_root)

    def predict_url(self, url: str, *, top: int | None = None, url_root: str = "") -> dict[str, Any]:
        return self.predict(inputs.fetch(url, self.settings), top=top, url_root=url_root)

    def warm_up(self) -> None:
        """One prediction on the first sample image, so the first user request is not the slow one."""
        # A multi-input model takes a JSON request, not one of the images its samples refer to.
        suffixes = (".json",) if inputs.JSON_MIME in accepted_formats(self._config) else (".png", ".jpg", ".jpeg")
        samples = [f for f in self.get_samples()["files"] if Path(f).suffix.lower() in suffixes]
        if not samples:
            log.info("no sample image to warm up with")
            return
        self.predict_sample(samples[0])
