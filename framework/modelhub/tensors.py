"""Already preprocessed inputs from a Python caller: a float32 array ``[N, C, H, W]``, the model's input tensor.

The array is checked against the tensor the model declares (rank, fixed dimensions) and run in
chunks of the model's batch size, so a model with a fixed batch of 1 takes any N too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .contract import FREE
from .dataplane import DataPlane
from .errors import BadRequest
from .prediction import Prediction, Timings
from .slots import Deadline


def is_tensor_batch(source: Any) -> bool:
    """``source`` is preprocessed tensors (``float32``, 4 axes) rather than an image."""
    return isinstance(source, np.ndarray) and source.dtype == np.float32 and source.ndim == 4


def infer_tensor_batch(plane: DataPlane, array: np.ndarray, deadline: Deadline | None = None) -> Prediction:
    """The prediction of each item of ``array`` (the model's single input tensor, batch first)."""
    metadata = plane.metadata()
    if metadata is None or len(metadata.inputs) != 1:
        raise BadRequest("preprocessed tensors need a model with one input tensor and the batch contract")
    spec = metadata.inputs[0]
    fixed = [want in (FREE, got) for want, got in zip(spec.shape[1:], array.shape[1:], strict=False)]
    if len(spec.shape) != array.ndim or not all(fixed) or not len(array):
        wanted = ", ".join("N" if i == 0 else "any" if d == FREE else str(d) for i, d in enumerate(spec.shape))
        raise BadRequest(
            f"preprocessed input must be float32 [{wanted}] (the model's tensor {spec.name!r}), not {list(array.shape)}"
        )
    size = max(metadata.max_batch_size, 1)
    deadline = deadline or plane.deadline()
    parts = [
        plane.infer_tensors({spec.name: np.ascontiguousarray(array[i : i + size])}, deadline=deadline, raw=False)
        for i in range(0, len(array), size)
    ]
    timings = Timings()
    for part in parts:
        for stage, seconds in part.timings.seconds.items():
            timings.add(stage, seconds)
    return Prediction([item for part in parts for item in part.outputs], timings)
