"""Preprocessing and postprocessing for the MobileNetV2 contributor package.

The pure functions in this module reproduce the ONNX Model Zoo reference
preprocessing for MobileNetV2 (ImageNet):

1. apply the EXIF orientation,
2. convert to 8-bit RGB,
3. resize the shorter side to 256 pixels (PIL bilinear), keeping the aspect ratio,
4. take the central 224 x 224 crop,
5. scale to [0, 1] and normalise with the ImageNet mean and standard deviation,
6. lay the result out as float32 NCHW ``[1, 3, 224, 224]``.

``ImageProcessor`` plugs the same steps into the ModelHub contributor API
(``modelhublib.processor.ImageProcessorBase``).

:func:`prepare_image` bounds the memory and work of any upload.  Steps 1-3 are applied one strip of
rows at a time (orientation, colour conversion and the horizontal pass of the resize are all
row-local; Pillow's bilinear resize is a horizontal pass, rounded to 8 bits, then a vertical one),
so only the decoded image and a strip of it are ever held at full size, and grey images are
resized in ``L`` before they become RGB (the filter treats each channel alike): the result is
bit-identical to doing the steps one after another on the whole image.  Images of extreme aspect
ratio, whose resized image would exceed :data:`MAX_EXACT_RESIZED_PIXELS` (a 32 x 2 000 000 PNG
would grow to 256 x 16 000 000), are resized straight from the region the crop keeps (Pillow's
``resize(box=...)``, which may differ from resize-then-crop by one grey level on a few pixels).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# The geometric and colour steps live in their own modules; their names stay importable from here.
from colour import UINT16_MAX, UINT16_TO_UINT8_DIVISOR, _high_depth_to_uint8, is_grey, to_grey, to_rgb  # noqa: F401
from geometry import (  # noqa: F401
    CROP_SIZE,
    EXIF_ORIENTATION_TAG,
    MAX_EXACT_RESIZED_PIXELS,
    RESIZE_SHORTER_SIDE,
    STRIP_PIXELS,
    apply_exif_orientation,
    center_crop,
    crop_box,
    prepare_image,
    resize_shorter_side,
    resized_size,
)
from PIL import Image

from modelhublib.processor import ImageProcessorBase

logger = logging.getLogger(__name__)

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
NUM_CHANNELS: int = 3


LABELS_PATH: Path = Path(__file__).resolve().parent / "model" / "labels.json"

FloatArray = npt.NDArray[np.floating[Any]]
Float32Array = npt.NDArray[np.float32]

_MEAN_F32: Float32Array = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(1, NUM_CHANNELS, 1, 1)
_STD_F32: Float32Array = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(1, NUM_CHANNELS, 1, 1)


def normalize(rgb: npt.NDArray[Any]) -> Float32Array:
    """Scale an RGB array to [0, 1] and normalise it with the ImageNet statistics.

    ``rgb`` is either ``[H, W, 3]`` (as ``np.asarray`` returns for a PIL image)
    or ``[1, 3, H, W]`` (as the ModelHub image converter returns). Values are
    on the 0..255 scale, as ``uint8`` or as floats. The result is a new
    C-contiguous float32 array ``[1, 3, H, W]`` holding
    ``(rgb / 255 - mean) / std``.
    """
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] == NUM_CHANNELS:
        chw = arr.transpose(2, 0, 1)
    elif arr.ndim == 4 and arr.shape[0] == 1 and arr.shape[1] == NUM_CHANNELS:
        chw = arr[0]
    else:
        raise ValueError(f"expected an [H, W, 3] or [1, 3, H, W] array, got shape {arr.shape}")

    if arr.dtype.kind not in "fiu":
        raise TypeError(f"unsupported array dtype {arr.dtype}")
    # One pass that allocates the (contiguous) result; the caller's array is never modified. The same
    # float32 steps for every input type: 8-bit samples are exact in float32, so an 8-bit image and
    # its float copy (what the ModelHub image converter makes) give bit-identical tensors.
    out: Float32Array = np.divide(chw[None], np.float32(255.0), dtype=np.float32, order="C")
    out -= _MEAN_F32
    out /= _STD_F32
    return out


def preprocess_image(img: Image.Image) -> Float32Array:
    """Full MobileNetV2 preprocessing: PIL image -> float32 ``[1, 3, 224, 224]``."""
    return normalize(np.asarray(prepare_image(img)))


def softmax(logits: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Numerically stable softmax over the last axis, computed in float64."""
    x = np.asarray(logits, dtype=np.float64)
    if x.size == 0:
        raise ValueError("softmax of an empty array")
    shifted: npt.NDArray[np.float64] = x - np.max(x, axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= np.sum(shifted, axis=-1, keepdims=True)
    return shifted


@lru_cache(maxsize=1)
def load_labels(path: Path = LABELS_PATH) -> tuple[str, ...]:
    """Read the 1000 ImageNet class names (class-index order), once."""
    with open(path, encoding="utf-8") as handle:
        labels = json.load(handle)
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{path} must hold a JSON list of strings")
    return tuple(labels)


class ImageProcessor(ImageProcessorBase):
    """ModelHub image processor for MobileNetV2.

    ``loadAndPreprocess`` (from the base class) loads the image, calls
    :meth:`_preprocessBeforeConversionToNumpy`, converts the PIL image to a
    float32 ``[1, C, H, W]`` array and calls
    :meth:`_preprocessAfterConversionToNumpy`; the result equals
    :func:`preprocess_image` of the same image.
    """

    def preprocess_pil(self, img: Image.Image) -> Float32Array:
        """Fast path for callers that already hold a PIL image."""
        return preprocess_image(img)

    def _preprocessBeforeConversionToNumpy(self, image: Any) -> Image.Image:  # noqa: N802 - ModelHub API name
        if not isinstance(image, Image.Image):
            raise OSError(f"MobileNetV2 expects a PIL image, got {type(image).__name__}")
        return prepare_image(image)

    def _preprocessAfterConversionToNumpy(self, npArr: npt.NDArray[Any]) -> Float32Array:  # noqa: N802, N803
        return normalize(npArr)

    def computeOutput(self, inferenceResults: npt.ArrayLike) -> list[dict[str, Any]]:  # noqa: N802, N803
        """Turn logits ``[1, 1000]`` or ``[1000]`` into ModelHub's ``label_list``.

        Returns one ``{"label": str, "probability": float}`` per class, in
        class-index order (sorting and top-k are done by the API layer).
        """
        logits = np.asarray(inferenceResults)
        if logits.ndim == 2 and logits.shape[0] == 1:
            logits = logits[0]
        if logits.ndim != 1:
            raise ValueError(f"expected logits of shape [1, N] or [N], got {np.shape(inferenceResults)}")
        labels = load_labels()
        if logits.shape[0] != len(labels):
            raise ValueError(f"model returned {logits.shape[0]} scores for {len(labels)} labels")
        probabilities = softmax(logits).tolist()
        return [
            {"label": label, "probability": probability}
            for label, probability in zip(labels, probabilities, strict=True)
        ]
