"""The ModelHub JSON codec: a :class:`~modelhub.prediction.Prediction` as the ModelHub predict response.

``{"output": [{"prediction", "shape", "type", "name", "description"}, ...], "timestamp",
"processing_time", "model": {"id", "name"}}``: a label list is ``[{"label", "probability"}]`` in
class order (or its ``top`` entries, most probable first), an array is the URL of a saved ``.npy``
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


def label_entries(value: LabelScores, top: int | None) -> list[dict[str, Any]]:
    scores = value.scores.tolist()
    labels = value.labels
    if top is None:
        return [{"label": label, "probability": score} for label, score in zip(labels, scores, strict=True)]
    return [{"label": labels[i], "probability": scores[i]} for i in value.top(top)]


def encode_output(value: Any, *, top: int | None, store: OutputStore | None, url_root: str) -> tuple[Any, list[int]]:
    """``(prediction, shape)`` of one output value."""
    if isinstance(value, LabelScores):
        return label_entries(value, top), [len(value.labels)]
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
) -> dict[str, Any]:
    """The response for the first (only) item of ``prediction``; ``store=None`` puts arrays inline."""
    values = prediction.outputs[0]
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
