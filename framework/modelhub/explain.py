"""Occlusion sensitivity: which parts of the model's input matter for a class.

The input is preprocessed exactly as for a prediction (the model's own ``preprocess``), giving its
image tensor ``[1, C, H, W]`` (for MobileNetV2 the normalised 224 x 224 centre crop).  The crop is
cut into a ``grid x grid`` set of patches; for each patch a copy of the tensor has that patch
replaced by the mean colour of the whole crop (per channel, which for an affine normalisation is
the normalised mean colour), and the drop of the class probability from the unoccluded input is that
patch's importance.  The copies run as batches through the data plane (``infer_tensors``: the same
inference slot, deadline and postprocessing as a prediction; a batch as large as the model takes,
one by one for a model with a fixed batch of 1), under one deadline for the whole request.  Forward
passes only: it works with any model whose single input is an image tensor and whose output is a
label list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .contract import LabelScores
from .dataplane import DataPlane
from .errors import BadRequest, InferenceTimeout
from .inputs import decoded_image
from .slots import Deadline

DEFAULT_GRID = 7


@dataclass(frozen=True)
class Explanation:
    """The importance (probability drop) of each patch for one class; ``crop`` is the input as an image."""

    class_index: int
    label: str
    probability: float  # of the class on the unoccluded input
    drops: np.ndarray  # float64 [grid, grid]: probability without the patch subtracted from ``probability``
    edges_x: list[int]  # patch column boundaries in crop pixels (grid + 1 values)
    edges_y: list[int]
    crop: Image.Image
    passes: int  # forward passes (1 + grid * grid)
    seconds: float

    def as_json(self) -> dict[str, Any]:
        rows = self.drops.shape[0]
        return {
            "class": {"index": self.class_index, "label": self.label, "probability": self.probability},
            "grid": {
                "rows": rows,
                "cols": self.drops.shape[1],
                "x": self.edges_x,
                "y": self.edges_y,
                "drops": [[round(float(v), 6) for v in row] for row in self.drops],
            },
            "crop": {"width": self.crop.width, "height": self.crop.height},
            "method": "occlusion: each patch replaced by the mean colour of the crop; drop = probability of "
            "the class on the whole crop minus its probability with the patch occluded",
            "passes": self.passes,
            "processing_time": round(self.seconds, 4),
        }


def parse_grid(raw: str | None, largest: int) -> int:
    """The ``grid`` parameter: 1..``largest`` (``MODELHUB_EXPLAIN_MAX_GRID``), default 7 (or ``largest``)."""
    if raw is None or raw == "":
        return min(DEFAULT_GRID, largest)
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"grid must be an integer, not {raw[:40]!r}") from None
    if not 1 <= value <= largest:
        raise BadRequest(f"grid must be 1-{largest} (MODELHUB_EXPLAIN_MAX_GRID), not {value}")
    return value


def parse_class(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"class must be a class index (an integer), not {raw[:40]!r}") from None


def _image_input(plane: DataPlane) -> str:
    metadata = plane.metadata()
    if metadata is None:
        raise BadRequest("explanations need a model with the engine's tensor contract")
    if len(metadata.inputs) != 1 or len(metadata.inputs[0].shape) != 4 or metadata.inputs[0].datatype != "FP32":
        raise BadRequest("explanations need a model with one FP32 image input [N, C, H, W]")
    return metadata.inputs[0].name


def _scores(outputs: dict[str, Any]) -> LabelScores:
    for value in outputs.values():
        if isinstance(value, LabelScores):
            return value
    raise BadRequest("explanations need a model whose output is a label list")


def _as_image(plane: DataPlane, image: Image.Image, tensor: np.ndarray) -> Image.Image:
    """The input as the model sees it: the model's ``input_image`` if it has one, else the tensor rescaled."""
    show = getattr(plane.model, "input_image", None)
    if callable(show):
        shown = plane.guard(lambda: show(image))
        if isinstance(shown, Image.Image):
            return shown.convert("RGB")
    chw = tensor[0, :3] if tensor.shape[1] >= 3 else np.repeat(tensor[0, :1], 3, axis=0)
    low, high = chw.min(axis=(1, 2), keepdims=True), chw.max(axis=(1, 2), keepdims=True)
    scaled = (chw - low) / np.maximum(high - low, 1e-12) * 255
    return Image.fromarray(np.ascontiguousarray(scaled.transpose(1, 2, 0)).astype(np.uint8), "RGB")


def explain(
    plane: DataPlane,
    source: Any,
    *,
    grid: int = DEFAULT_GRID,
    class_index: int | None = None,
    deadline: Deadline | None = None,
) -> Explanation:
    """The occlusion map of ``source`` (path, bytes, PIL image) for ``class_index`` (default: the top class)."""
    started = time.perf_counter()
    deadline = deadline or plane.deadline()
    name = _image_input(plane)
    image = decoded_image(source, plane.config, plane.settings)
    tensor = np.asarray(plane.preprocess(image)[name])
    if tensor.ndim != 4 or tensor.shape[0] != 1:
        raise BadRequest(f"explanations need an image tensor [1, C, H, W], got shape {list(tensor.shape)}")
    height, width = tensor.shape[2], tensor.shape[3]
    if grid > min(height, width):
        raise BadRequest(f"grid {grid} is finer than the model's {width}x{height} input")
    edges_y = [int(v) for v in np.linspace(0, height, grid + 1).round()]
    edges_x = [int(v) for v in np.linspace(0, width, grid + 1).round()]
    base = _scores(plane.infer_tensors({name: tensor}, deadline=deadline, raw=False).outputs[0])
    index = int(base.top(1)[0]) if class_index is None else class_index
    if not 0 <= index < len(base.labels):
        raise BadRequest(f"class must be a class index 0-{len(base.labels) - 1}, not {index}")
    fill = tensor.mean(axis=(2, 3), keepdims=True)[0]  # [C, 1, 1]: the crop's mean colour
    cells = [(row, col) for row in range(grid) for col in range(grid)]
    size = max(1, plane.metadata().max_batch_size)  # type: ignore[union-attr]  # checked by _image_input
    probabilities: list[float] = []
    for start in range(0, len(cells), size):
        if deadline.remaining() == 0:
            raise InferenceTimeout(
                f"the explanation took longer than the request timeout ({deadline.seconds} s); ask for a coarser grid"
            )
        chunk = cells[start : start + size]
        batch = np.repeat(tensor, len(chunk), axis=0)
        for item, (row, col) in enumerate(chunk):
            batch[item, :, edges_y[row] : edges_y[row + 1], edges_x[col] : edges_x[col + 1]] = fill
        outputs = plane.infer_tensors({name: batch}, deadline=deadline, raw=False).outputs
        probabilities.extend(float(_scores(item).scores[index]) for item in outputs)
    probability = float(base.scores[index])
    drops = probability - np.asarray(probabilities, dtype=np.float64).reshape(grid, grid)
    return Explanation(
        index,
        str(base.labels[index]),
        probability,
        drops,
        edges_x,
        edges_y,
        _as_image(plane, image, tensor),
        1 + len(cells),
        time.perf_counter() - started,
    )
