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
import math
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

#: Largest resized image (in pixels) computed in full: 16 times 256 x 256, i.e. aspect ratios up to
#: 16:1 (panoramas included) get the exact reference output, at most 4 MiB and a few ms of resizing.
#: Beyond it the crop is resized from its own region (see the module docstring): the work stays
#: that of one 224 x 224 crop however thin the image is.
MAX_EXACT_RESIZED_PIXELS: int = 16 * RESIZE_SHORTER_SIDE * RESIZE_SHORTER_SIDE
#: Pixels per strip in :func:`prepare_image` (a strip is copied, oriented and converted at a time).
STRIP_PIXELS: int = 1 << 20

LABELS_PATH: Path = Path(__file__).resolve().parent / "model" / "labels.json"

FloatArray = npt.NDArray[np.floating[Any]]
Float32Array = npt.NDArray[np.float32]

_MEAN_F32: Float32Array = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(1, NUM_CHANNELS, 1, 1)
_STD_F32: Float32Array = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(1, NUM_CHANNELS, 1, 1)

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "RGBX", "LA"})
_PALETTE_MODES = frozenset({"P", "PA"})
_GREY_MODES = frozenset({"L", "1"})
_HIGH_DEPTH_MODES = frozenset({"I", "F"})
_GREY_ALPHA_MODES = frozenset({"LA", "La"})

_T = Image.Transpose
#: EXIF orientation -> the transpose that makes the image upright (as ``ImageOps.exif_transpose``).
_EXIF_TRANSPOSE: dict[int, Image.Transpose] = {
    2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE,
    6: _T.ROTATE_270, 7: _T.TRANSVERSE, 8: _T.ROTATE_90,
}
_SWAPS_AXES = frozenset({_T.TRANSPOSE, _T.ROTATE_270, _T.TRANSVERSE, _T.ROTATE_90})
#: 0..65535 -> round(v / 257): 16-bit samples to 8 bits by table, with no wide copy of the image.
_UINT16_TO_UINT8: npt.NDArray[np.uint8] = (
    (np.arange(UINT16_MAX + 1, dtype=np.uint32) + UINT16_TO_UINT8_DIVISOR // 2) // UINT16_TO_UINT8_DIVISOR
).astype(np.uint8)


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
    if arr.dtype.itemsize > 2 or arr.dtype.kind == "i":  # mode "I": clamp in its own 32 bits
        arr = np.clip(arr, 0, UINT16_MAX)
    # A table of the exact integer rounding of v / 257 (no sample lies exactly halfway).
    result: npt.NDArray[np.uint8] = _UINT16_TO_UINT8[arr]
    return result


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


def exif_transpose_method(img: Image.Image) -> Image.Transpose | None:
    """The transpose that turns ``img`` upright by its EXIF orientation (``None``: already upright)."""
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - broken EXIF blocks must not break inference
        logger.debug("ignoring unreadable EXIF data", exc_info=True)
        return None
    return _EXIF_TRANSPOSE.get(orientation) if isinstance(orientation, int) else None


def source_box(box: tuple[int, int, int, int], size: tuple[int, int],
               method: Image.Transpose | None) -> tuple[int, int, int, int]:
    """The box of the stored image (of ``size``) that ``method`` turns into ``box`` of the upright image."""
    a, b, c, d = box
    w, h = size
    boxes = {
        None: (a, b, c, d),
        _T.FLIP_LEFT_RIGHT: (w - c, b, w - a, d),
        _T.FLIP_TOP_BOTTOM: (a, h - d, c, h - b),
        _T.ROTATE_180: (w - c, h - d, w - a, h - b),
        _T.TRANSPOSE: (b, a, d, c),
        _T.ROTATE_90: (w - d, a, w - b, c),
        _T.ROTATE_270: (b, h - c, d, h - a),
        _T.TRANSVERSE: (w - d, h - c, w - b, h - a),
    }
    return boxes[method]


def upright_region(img: Image.Image, method: Image.Transpose | None, box: tuple[int, int, int, int]) -> Image.Image:
    """``box`` of the upright image, cut from the stored one: ``img.transpose(method).crop(box)``."""
    region = img.crop(source_box(box, img.size, method))
    return region if method is None else region.transpose(method)


def is_grey(mode: str) -> bool:
    """Modes whose RGB conversion copies one grey channel (alpha dropped): resized as ``L``."""
    return mode in _GREY_MODES or mode in _GREY_ALPHA_MODES or mode.startswith("I;16") or mode in _HIGH_DEPTH_MODES


def to_grey(img: Image.Image) -> Image.Image:
    """The grey channel :func:`to_rgb` copies into R, G and B, as an ``L`` image (grey modes only)."""
    mode = img.mode
    if mode == "L":
        return img
    if mode == "La":
        return img.convert("LA").convert("L")
    if mode.startswith("I;16") or mode in _HIGH_DEPTH_MODES:
        return Image.fromarray(_high_depth_to_uint8(img), mode="L")
    return img.convert("L")  # "1" -> 0/255, "LA" -> alpha dropped


def _horizontal(img: Image.Image, width: int) -> Image.Image:
    """The first pass of Pillow's bilinear resize alone: only the width changes."""
    return img if img.width == width else img.resize((width, img.height), Image.Resampling.BILINEAR)


def _resize_in_strips(img: Image.Image, method: Image.Transpose | None, size: tuple[int, int],
                      target: tuple[int, int], grey: bool) -> Image.Image:
    """``resize_shorter_side`` of the upright, converted image, converting one strip of rows at a time.

    The horizontal pass works row by row, so it is run on each strip; the vertical one on the
    (narrow) result: the same passes Pillow runs in one ``resize`` call, so the same bytes.
    """
    convert = to_grey if grey else to_rgb
    width, height = size
    rows = max(1, STRIP_PIXELS // width)
    if rows >= height or (method is None and img.mode == ("L" if grey else "RGB")):  # nothing to copy
        whole = img if method is None else img.transpose(method)
        wide = _horizontal(convert(whole), target[0])
    else:
        wide = Image.new("L" if grey else "RGB", (target[0], height))
        for top in range(0, height, rows):
            strip = upright_region(img, method, (0, top, width, min(height, top + rows)))
            wide.paste(_horizontal(convert(strip), target[0]), (0, top))
    return wide if wide.height == target[1] else wide.resize(target, Image.Resampling.BILINEAR)


def _crop_from_region(img: Image.Image, method: Image.Transpose | None, size: tuple[int, int],
                      target: tuple[int, int], grey: bool) -> Image.Image:
    """The centre crop of the image resized to ``target``, resized from the source region it covers."""
    width, height = size
    left, top, right, bottom = crop_box(*target, CROP_SIZE)
    sx, sy = width / target[0], height / target[1]
    box = (left * sx, top * sy, right * sx, bottom * sy)
    # The bilinear filter reads max(1, scale) source pixels on each side of a sample.
    mx, my = math.ceil(max(sx, 1.0)) + 1, math.ceil(max(sy, 1.0)) + 1
    x0, y0 = max(0, math.floor(box[0]) - mx), max(0, math.floor(box[1]) - my)
    x1, y1 = min(width, math.ceil(box[2]) + mx), min(height, math.ceil(box[3]) + my)
    region = upright_region(img, method, (x0, y0, x1, y1))
    region = to_grey(region) if grey else to_rgb(region)
    shifted = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    return region.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BILINEAR, box=shifted)


def prepare_image(img: Image.Image) -> Image.Image:
    """Geometric and colour steps: EXIF orientation, RGB, resize, centre crop.

    The same bytes as ``center_crop(resize_shorter_side(to_rgb(apply_exif_orientation(img))))``
    with at most a strip of the image copied at a time (see the module docstring), except for
    aspect ratios beyond :data:`MAX_EXACT_RESIZED_PIXELS`, whose crop is resized from its region.
    """
    method = exif_transpose_method(img)
    size = (img.height, img.width) if method in _SWAPS_AXES else img.size
    target = resized_size(*size, RESIZE_SHORTER_SIDE)
    grey = is_grey(img.mode)
    if target[0] * target[1] > MAX_EXACT_RESIZED_PIXELS:
        out = _crop_from_region(img, method, size, target, grey)
    else:
        out = center_crop(_resize_in_strips(img, method, size, target, grey), CROP_SIZE)
    return out.convert("RGB") if grey else out


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
