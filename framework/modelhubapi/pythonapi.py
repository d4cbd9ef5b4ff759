"""``ModelHubAPI(model, contrib_src_dir)``: the original ModelHub engine's Python API, as a facade.

It keeps the original's contract: ``get_config``, ``get_legal``, ``get_model_io``,
``get_samples`` and ``predict(input_file_path, numpyToFile=True, url_root="")`` return
``{"error": "..."}`` on any failure instead of raising (``predict``'s text is the ``repr`` of the
exception, naming e.g. ``NotImplementedError``), and construction succeeds on a package without
``config.json`` (every call then returns an error).  Underneath is the engine's data plane; the
modern API (:func:`modelhubapi.service.build_api`) raises typed errors instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelhub.config import read_config
from modelhub.dataplane import DataPlane
from modelhub.errors import ModelFailure, ModelHubError
from modelhub.model_source import ModelSource
from modelhub.settings import Settings, load_settings

from .outputs import OutputStore
from .service import ModelHubService

log = logging.getLogger(__name__)


class ModelHubAPI:
    """Generic access to a model: description, samples and predictions, errors as ``{"error": ...}``."""

    def __init__(
        self,
        model: Any,
        contrib_src_dir: str | os.PathLike[str],
        settings: Settings | None = None,
        source: ModelSource | None = None,
    ) -> None:
        self.model = model
        self.contrib_src_dir = os.fspath(contrib_src_dir)
        self.settings = settings or load_settings()
        self.service: ModelHubService | None = None
        self.error: str | None = None
        try:
            config = read_config(Path(contrib_src_dir))
            plane = DataPlane(model, Path(contrib_src_dir), config, self.settings, source)
            self.service = ModelHubService(plane, OutputStore(self.settings.output_dir))
        except ModelHubError as error:
            self.error = error.message
            log.error("%s", error.message)

    @property
    def output_folder(self) -> str:
        """Where array outputs are saved (settable, as in the original)."""
        return str(self.service.outputs.folder) if self.service else ""

    @output_folder.setter
    def output_folder(self, folder: str | os.PathLike[str]) -> None:
        if self.service is not None:
            self.service.outputs.folder = Path(folder)

    def _service(self) -> ModelHubService:
        if self.service is None:
            raise ModelHubError(self.error or "the model package could not be read")
        return self.service

    def _answer(self, call: Callable[[ModelHubService], Any]) -> Any:
        try:
            return call(self._service())
        except ModelHubError as error:
            return {"error": error.message}

    def get_config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._answer(lambda service: service.get_config())
        return result

    def get_legal(self) -> dict[str, Any]:
        result: dict[str, Any] = self._answer(lambda service: service.get_legal())
        return result

    def get_model_io(self) -> dict[str, Any]:
        result: dict[str, Any] = self._answer(lambda service: service.get_model_io())
        return result

    def get_samples(self) -> dict[str, Any]:
        try:
            files = self._service().get_samples()["files"]
        except Exception as error:
            return {"error": repr(error)}
        return {"folder": self.contrib_src_dir + "/sample_data", "files": files}

    def predict(
        self, input_file_path: Any, numpyToFile: bool = True, url_root: str = "", *, top: int | None = None
    ) -> dict[str, Any]:
        """Predict on a file path (or a multi-input JSON file or dict; bytes and PIL images work too)."""
        try:
            if self.service is None:  # as the original: the model still runs, the missing config is reported
                self.model.infer(input_file_path)
            return self._service().predict(input_file_path, top=top, url_root=url_root, inline_arrays=not numpyToFile)
        except Exception as error:
            cause = error.__cause__ if isinstance(error, ModelFailure) and error.__cause__ else error
            return {"error": repr(cause)}
