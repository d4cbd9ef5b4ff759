"""The model contract: what a contributor model offers the engine, and the values it returns.

A model that implements :class:`BatchModel` tells the engine its tensors (``metadata``), turns one
decoded image into the model's input (``preprocess``), runs a whole batch (``predict``) and turns
the batch's raw outputs into the configured outputs (``postprocess``).  The engine then decodes,
batches, queues and times each stage itself.  A model of the original ModelHub style, with only
``infer(input)``, runs through :mod:`modelhub.legacy` instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

FREE = -1  # a dimension of any size (the batch dimension of most models)


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor: Open Inference Protocol datatype (``FP32``, ``INT64``, ``BYTES``...) and shape."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelMetadata:
    """The tensors ``predict`` takes and returns; ``max_batch_size`` is the most items one call takes."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int


@dataclass(frozen=True)
class LabelScores:
    """A ``label_list`` output of one item: a probability per class, with the class names."""

    scores: np.ndarray  # float64 [classes]
    labels: Sequence[str]

    def top(self, k: int | None = None) -> list[int]:
        """Class indices of the ``k`` most probable classes, most probable first (ties keep class order)."""
        if k is None:
            return list(range(len(self.labels)))
        return [int(i) for i in np.argsort(-self.scores, kind="stable")[:k]]


Output = Any  # LabelScores, a numpy array, or (from original-style models) any JSON value


class BatchModel(ABC):
    """The contract of a model whose batch the engine forms (see the module docstring)."""

    @abstractmethod
    def metadata(self) -> ModelMetadata:
        """The tensors of ``predict``, read from the model itself (e.g. the onnxruntime session)."""

    @abstractmethod
    def preprocess(self, image: Image.Image) -> dict[str, np.ndarray]:
        """One decoded image as the model's inputs, each with a leading batch axis of 1."""

    @abstractmethod
    def predict(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw outputs for a batch of inputs ``[N, ...]``, by tensor name."""

    @abstractmethod
    def postprocess(self, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Output]]:
        """The configured outputs (``model.io.output`` names) of each item of a batch's raw outputs."""


def implements_contract(model: Any) -> bool:
    """``model`` offers the batch contract (by subclassing :class:`BatchModel` or by its methods)."""
    return isinstance(model, BatchModel) or all(
        callable(getattr(model, name, None)) for name in ("metadata", "preprocess", "predict", "postprocess")
    )


def stack(items: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One batch from items that each carry a leading batch axis (no copy for a single item)."""
    if len(items) == 1:
        return dict(items[0])
    return {name: np.concatenate([item[name] for item in items]) for name in items[0]}
