"""Running a contributor model of the original ModelHub style, which offers only ``infer(input)``.

Such a model gets its input as the original engine passed it (the path of a file, or for
multi-input models a dict of input name to path; models that set ``accepts_in_memory`` get the
uploaded bytes), runs with its package folder as working directory, and returns its outputs in
the shapes the original engine accepted.  :func:`outputs_of` turns them into the configured
outputs of a :class:`~modelhub.prediction.Prediction`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import OutputSpec
from .contract import LabelScores, Output
from .contrib import in_package_dir
from .errors import ModelFailure

LABEL_LIST = "label_list"


class LegacyModel:
    """An ``infer()``-only model and the folder it expects as working directory."""

    def __init__(self, model: Any, package_dir: Path) -> None:
        self.model = model
        self.package_dir = package_dir
        self.in_memory = bool(getattr(model, "accepts_in_memory", False))

    def infer(self, model_input: Any) -> Any:
        if self.in_memory:
            return self.model.infer(model_input)
        with in_package_dir(self.package_dir):
            return self.model.infer(model_input)


def split_outputs(result: Any, n_outputs: int) -> list[Any]:
    """The values of the first configured outputs, accepting the shapes the original engine accepted.

    With one output, the result is that output (also when wrapped in a list of one); with several,
    a list of at most that many values (the original answered only those it got), or one value.
    """
    if n_outputs == 1:
        single = isinstance(result, (list, tuple)) and len(result) == 1
        if single and isinstance(result[0], (list, tuple, np.ndarray)):
            return [result[0]]
        return [result]
    if not isinstance(result, (list, tuple)):
        return [result]
    if not 1 <= len(result) <= n_outputs:
        raise ModelFailure(f"the model returned a result that does not match its {n_outputs} configured outputs")
    return list(result)


def label_scores(prediction: Any) -> LabelScores:
    """A ``label_list`` of ``{"label", "probability"}`` entries as :class:`LabelScores`, checked."""
    if not isinstance(prediction, (list, tuple)) or not all(
        isinstance(item, dict) and "label" in item and "probability" in item for item in prediction
    ):
        raise ModelFailure("the model returned a malformed label list")
    try:
        scores = np.array([float(item["probability"]) for item in prediction], dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelFailure("the model returned a probability that is not a number") from None
    if not all(map(math.isfinite, scores.tolist())):
        raise ModelFailure("the model returned a probability that is not a finite number")
    return LabelScores(scores, tuple(str(item["label"]) for item in prediction))


def outputs_of(result: Any, specs: Sequence[OutputSpec]) -> dict[str, Output]:
    """The configured outputs of what ``infer`` returned, by output name."""
    outputs: dict[str, Output] = {}
    for value, spec in zip(split_outputs(result, len(specs)), specs, strict=False):
        if spec.type == LABEL_LIST:
            outputs[spec.name] = label_scores(value)
        elif isinstance(value, np.generic):
            outputs[spec.name] = value.tolist()
        else:
            outputs[spec.name] = value
    return outputs
