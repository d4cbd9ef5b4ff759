"""The MobileNetV2 contributor model: ImageNet classification with onnxruntime.

It implements the engine's batch contract (``metadata``, ``preprocess``, ``predict``,
``postprocess``), and ``infer`` for callers of the original ModelHub API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from processing import ImageProcessor, load_labels, preprocess_image, softmax

from modelhublib.contract import BatchModel, ConfigError, LabelScores, ModelMetadata, OnnxSession
from modelhublib.model import ModelBase

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_FILE = PACKAGE_DIR / "model" / "config.json"
DEFAULT_MODEL_FILE = PACKAGE_DIR / "model" / "mobilenetv2-7.onnx"
MAX_BATCH_SIZE = 32  # images per onnxruntime call when the model's batch dimension is free


class Model(ModelBase, BatchModel):
    """Takes a decoded photo (or, through ``infer``, a path, bytes or PIL image); returns the 1000 classes."""

    accepts_in_memory = True

    def __init__(self, model_file: Path | str | None = None, settings: Any = None) -> None:
        config = json.loads(CONFIG_FILE.read_text(encoding="utf-8"))
        self._imageProcessor = ImageProcessor(config)
        self._session = OnnxSession(
            Path(model_file) if model_file else DEFAULT_MODEL_FILE,
            intra_op_threads=getattr(settings, "intra_op_threads", 1),
            inter_op_threads=getattr(settings, "inter_op_threads", 1),
        )
        self._labels = load_labels()
        self._output_name: str = config["model"]["io"]["output"][0]["name"]
        self._input = self._session.inputs[0].name
        logits = self._session.outputs[0]
        self._logits = logits.name
        classes = logits.shape[-1] if logits.shape else -1
        if classes > 0 and classes != len(self._labels):
            raise ConfigError(
                f"{self._session.path.name} returns {classes} scores "
                f"but model/labels.json has {len(self._labels)} labels"
            )
        self._metadata = self._session.metadata(MAX_BATCH_SIZE)

    @property
    def session(self) -> OnnxSession:
        return self._session

    def metadata(self) -> ModelMetadata:
        return self._metadata

    def preprocess(self, image: Image.Image) -> dict[str, np.ndarray]:
        return {self._input: preprocess_image(image)}

    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._session.run(inputs)

    def postprocess(self, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        probabilities = softmax(outputs[self._logits])
        return [{self._output_name: LabelScores(row, self._labels)} for row in probabilities]

    def infer(self, input: Any) -> list[dict[str, Any]]:
        """The original ModelHub API: a path, bytes or PIL image in, the 1000-entry label list out."""
        batch = self._imageProcessor.loadAndPreprocess(input)
        logits = self._session.run({self._input: batch})[self._logits]
        return self._imageProcessor.computeOutput(logits)
