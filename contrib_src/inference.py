"""The MobileNetV2 contributor model: ImageNet classification with onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from processing import ImageProcessor, load_labels

from modelhub.errors import ConfigError
from modelhub.runtime import OnnxRunner
from modelhublib.model import ModelBase

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_FILE = PACKAGE_DIR / "model" / "config.json"
DEFAULT_MODEL_FILE = PACKAGE_DIR / "model" / "mobilenetv2-7.onnx"


class Model(ModelBase):
    """Takes a path, the uploaded bytes or a PIL image; returns the 1000-entry label list."""

    accepts_in_memory = True

    def __init__(self, model_file: Path | str | None = None, settings: Any = None) -> None:
        config = json.loads(CONFIG_FILE.read_text(encoding="utf-8"))
        self._imageProcessor = ImageProcessor(config)
        self._runner = OnnxRunner(
            Path(model_file) if model_file else DEFAULT_MODEL_FILE,
            intra_op_threads=getattr(settings, "intra_op_threads", 1),
            inter_op_threads=getattr(settings, "inter_op_threads", 1),
        )
        self._timeout: float | None = getattr(settings, "request_timeout", None)
        labels = len(load_labels())
        if self._runner.output_size is not None and self._runner.output_size != labels:
            raise ConfigError(
                f"{self._runner.path.name} returns {self._runner.output_size} scores "
                f"but model/labels.json has {labels} labels"
            )

    @property
    def runner(self) -> OnnxRunner:
        return self._runner

    def infer(self, input: Any) -> list[dict[str, Any]]:
        batch = self._imageProcessor.loadAndPreprocess(input)
        logits = self._runner.run(batch, self._timeout)
        return self._imageProcessor.computeOutput(logits)

    def infer_batch(self, inputs: list[Any]) -> list[list[dict[str, Any]]]:
        """Several inputs in one onnxruntime call, for Python callers with many images."""
        batch = np.concatenate([self._imageProcessor.loadAndPreprocess(item) for item in inputs])
        logits = self._runner.run(batch, self._timeout)
        return [self._imageProcessor.computeOutput(row) for row in logits]
