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
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from modelhublib.processor import ImageProcessorBase

logger = logging.getLogger(__name__)

RESIZE_SHORTER_SIDE: int = 256
CROP_SIZE: int = 224
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
NUM_CHANNELS: int = 3

#: Largest value of a 16-bit sample and the factor that maps 0..65535 onto 0..255.
UINT16_MAX: int = 65535
UINT16_TO_UINT8_DIVISOR: int = 257

#: EXIF tag id of "Orientation".
EXIF_ORIENTATION_TAG: int = 0x0112

LABELS_PATH: Path = Path(__file__).resolve().parent / "model" / "labels.json"

FloatArray = npt.NDArray[np.floating[Any]]
Float32Array = npt.NDArray[np.float32]

_MEAN_F32: Float32Array = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(1, NUM_CHANNELS, 1, 1)
_STD_F32: Float32Array = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(1, NUM_CHANNELS, 1, 1)

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "RGBX", "LA"})
_PALETTE_MODES = frozenset({"P", "PA"})
_GREY_MODES = frozenset({"L", "1"})
_HIGH_DEPTH_MODES = frozenset({"I", "F"})


def apply_exif_orientation(img: Image.Image) -> Image.Image:
    """Return ``img`` turned upright according to its EXIF orientation tag.

    Images without EXIF data, or with orientation 1 (normal), are returned
    unchanged (the same object, no copy).
    """
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - broken EXIF blocks must not break inference
        logger.debug("ignoring unreadable EXIF data", exc_info=True)
        return img
    if orientation is None or orientation == 1:
        return img
    transposed = ImageOps.exif_transpose(img)
    return transposed if transposed is not None else img


def _high_depth_to_uint8(img: Image.Image) -> npt.NDArray[np.uint8]:
    """Map a 16-bit / 32-bit integer or float grey image onto 0..255.

    The samples are read on the 16-bit scale 0..65535 (how PIL opens 16-bit
    PNG and TIFF files) and divided by 257, rounding to the nearest integer,
    so 0 -> 0, 257 -> 1, 65535 -> 255. Values outside 0..65535 (only possible
    in modes "I" and "F") are clamped; NaN becomes 0.
    """
    arr = np.asarray(img)
    if arr.dtype.kind == "f":
        scaled = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=UINT16_MAX, neginf=0.0)
        np.clip(scaled, 0, UINT16_MAX, out=scaled)
        return np.rint(scaled / UINT16_TO_UINT8_DIVISOR).astype(np.uint8)
    wide = np.clip(arr.astype(np.int64), 0, UINT16_MAX)
    # Exact integer rounding of v / 257: no sample lies exactly halfway.
    return ((wide + UINT16_TO_UINT8_DIVISOR // 2) // UINT16_TO_UINT8_DIVISOR).astype(np.uint8)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image mode to 8-bit ``RGB``.

    * ``RGB``: returned as is.
    * grey ``L`` / bilevel ``1``: the grey value is copied to all channels.
    * palette ``P`` / ``PA``: expanded through RGBA, then the alpha is dropped.
    * ``RGBA`` / ``LA`` (and ``RGBX``, ``RGBa``): alpha dropped, as
      ``Image.convert("RGB")`` does; premultiplied ``La`` goes through ``LA``.
    * ``CMYK``, ``YCbCr`` and other colour modes: ``Image.convert("RGB")``.
    * 16-bit ``I;16*``, 32-bit ``I`` and float ``F``: see
      :func:`_high_depth_to_uint8`, then grey to RGB.
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _GREY_MODES or mode in _ALPHA_MODES:
        return img.convert("RGB")
    if mode in _PALETTE_MODES:
        return img.convert("RGBA").convert("RGB")
    if mode == "La":  # premultiplied grey + alpha: PIL only converts it to "LA"
        return img.convert("LA").convert("RGB")
    if mode.startswith("I;16") or mode in _HIGH_DEPTH_MODES:
        return Image.fromarray(_high_depth_to_uint8(img), mode="L").convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError as exc:  # a mode PIL cannot convert to RGB
        raise OSError(f"cannot convert image mode {mode!r} to RGB") from exc


def resized_size(width: int, height: int, size: int = RESIZE_SHORTER_SIDE) -> tuple[int, int]:
    """Return ``(width, height)`` with the shorter side equal to ``size``.

    The longer side is ``int(round(size / shorter * longer))``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image has no pixels: {width}x{height}")
    if width <= height:
        return size, int(round(size / width * height))
    return int(round(size / height * width)), size


def resize_shorter_side(img: Image.Image, size: int = RESIZE_SHORTER_SIDE) -> Image.Image:
    """Resize so that the shorter side is ``size`` pixels (PIL bilinear)."""
    target = resized_size(img.width, img.height, size)
    if target == img.size:
        return img
    return img.resize(target, Image.Resampling.BILINEAR)


def crop_box(width: int, height: int, size: int = CROP_SIZE) -> tuple[int, int, int, int]:
    """Return the PIL box ``(left, top, right, bottom)`` of the central crop.

    Each start offset is ``dim // 2 - size // 2``.
    """
    if width < size or height < size:
        raise ValueError(f"cannot take a {size}x{size} crop from a {width}x{height} image")
    left = width // 2 - size // 2
    top = height // 2 - size // 2
    return left, top, left + size, top + size


def center_crop(img: Image.Image, size: int = CROP_SIZE) -> Image.Image:
    """Return the central ``size`` x ``size`` crop of ``img``."""
    box = crop_box(img.width, img.height, size)
    if box == (0, 0, img.width, img.height):
        return img
    return img.crop(box)


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


def prepare_image(img: Image.Image) -> Image.Image:
    """Geometric and colour steps: EXIF orientation, RGB, resize, centre crop."""
    img = to_rgb(apply_exif_orientation(img))
    return center_crop(resize_shorter_side(img, RESIZE_SHORTER_SIDE), CROP_SIZE)


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
