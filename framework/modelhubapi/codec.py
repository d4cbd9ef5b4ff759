"""The ModelHub JSON codec: a :class:`~modelhub.prediction.Prediction` as the ModelHub predict response.

``{"output": [{"prediction", "shape", "type", "name", "description"}, ...], "timestamp",
"processing_time", "model": {"id", "name"}}``: a label list is ``[{"label", "probability"}]`` in
class order with shape ``[classes]`` (or its ``top`` entries, most probable first, each with its class
``index``, with shape ``[top]``), an array is the URL of a saved ``.npy``
file (or, inline, nested lists), anything else passes as the model returned it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from modelhub.config import ModelConfig
from modelhub.contract import LabelScores
from modelhub.errors import BadRequest
from modelhub.prediction import Prediction

from .outputs import OutputStore


def parse_top(raw: str | int | None) -> int | None:
    """The ``top`` parameter: None when absent or empty, else a positive integer."""
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"top must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise BadRequest(f"top must be a positive integer, not {raw!r}")
    return value


def check_top(top: Any) -> int | None:
    """``top`` from a Python caller: ``None`` or a positive ``int`` (a string is refused, never guessed)."""
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise BadRequest(f"top must be a positive int or None, not {top!r}")
    return int(top)


def label_entries(value: LabelScores, top: int | None) -> list[dict[str, Any]]:
    """All classes in class order as ``{label, probability}``, or the ``top`` ones with their class ``index``."""
    scores = value.scores.tolist()
    labels = value.labels
    if top is None:
        return [{"label": label, "probability": score} for label, score in zip(labels, scores, strict=True)]
    return [{"label": labels[i], "probability": scores[i], "index": i} for i in value.top(top)]


def encode_output(value: Any, *, top: int | None, store: OutputStore | None, url_root: str) -> tuple[Any, list[int]]:
    """``(prediction, shape)`` of one output value."""
    if isinstance(value, LabelScores):
        entries = label_entries(value, top)
        return entries, [len(value.labels) if top is None else len(entries)]
    if isinstance(value, np.ndarray):
        shape = list(value.shape)
        return (value.tolist() if store is None else f"{url_root}api/output/{store.save(value)}"), shape
    return value, list(np.shape(value)) if isinstance(value, (list, tuple)) else []


def modelhub_response(
    prediction: Prediction,
    config: ModelConfig,
    *,
    started: float,
    top: int | None = None,
    store: OutputStore | None = None,
    url_root: str = "",
    item: int = 0,
) -> dict[str, Any]:
    """The response for one item (the first) of ``prediction``; ``store=None`` puts arrays inline."""
    values = prediction.outputs[item]
    output = []
    for spec in config.outputs:
        if spec.name not in values:  # an original-style model may answer fewer outputs than configured
            continue
        encoded, shape = encode_output(values[spec.name], top=top, store=store, url_root=url_root)
        output.append(
            {
                "prediction": encoded,
                "shape": shape,
                "type": spec.type,
                "name": spec.name,
                "description": spec.description,
            }
        )
    meta = config.raw.get("meta", {})
    return {
        "output": output,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "processing_time": round(time.perf_counter() - started, 4),
        "model": {"id": config.raw.get("id"), "name": meta.get("name") if isinstance(meta, dict) else None},
    }
