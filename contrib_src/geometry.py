"""Geometric steps of the MobileNetV2 preprocessing: EXIF orientation, resize, centre crop, bounded.

:func:`prepare_image` applies orientation, colour conversion (:mod:`colour`) and the horizontal pass of
the resize one strip of rows at a time, and resizes thin images from the region the crop keeps; see
``processing``'s module docstring.
"""

from __future__ import annotations

import logging
import math

from colour import is_grey, to_grey, to_rgb
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

RESIZE_SHORTER_SIDE: int = 256


CROP_SIZE: int = 224


#: EXIF tag id of "Orientation".
EXIF_ORIENTATION_TAG: int = 0x0112


#: Largest resized image (in pixels) computed in full: 16 times 256 x 256, i.e. aspect ratios up to
#: 16:1 (panoramas included) get the exact reference output, at most 4 MiB and a few ms of resizing.
#: Beyond it the crop is resized from its own region (see the module docstring): the work stays
#: that of one 224 x 224 crop however thin the image is.
MAX_EXACT_RESIZED_PIXELS: int = 16 * RESIZE_SHORTER_SIDE * RESIZE_SHORTER_SIDE


#: Pixels per strip in :func:`prepare_image` (a strip is copied, oriented and converted at a time).
STRIP_PIXELS: int = 1 << 20


_T = Image.Transpose


#: EXIF orientation -> the transpose that makes the image upright (as ``ImageOps.exif_transpose``).
_EXIF_TRANSPOSE: dict[int, Image.Transpose] = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}


_SWAPS_AXES = frozenset({_T.TRANSPOSE, _T.ROTATE_270, _T.TRANSVERSE, _T.ROTATE_90})


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


def exif_transpose_method(img: Image.Image) -> Image.Transpose | None:
    """The transpose that turns ``img`` upright by its EXIF orientation (``None``: already upright)."""
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - broken EXIF blocks must not break inference
        logger.debug("ignoring unreadable EXIF data", exc_info=True)
        return None
    return _EXIF_TRANSPOSE.get(orientation) if isinstance(orientation, int) else None


def source_box(
    box: tuple[int, int, int, int], size: tuple[int, int], method: Image.Transpose | None
) -> tuple[int, int, int, int]:
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


def _horizontal(img: Image.Image, width: int) -> Image.Image:
    """The first pass of Pillow's bilinear resize alone: only the width changes."""
    return img if img.width == width else img.resize((width, img.height), Image.Resampling.BILINEAR)


def _resize_in_strips(
    img: Image.Image, method: Image.Transpose | None, size: tuple[int, int], target: tuple[int, int], grey: bool
) -> Image.Image:
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


def _crop_from_region(
    img: Image.Image, method: Image.Transpose | None, size: tuple[int, int], target: tuple[int, int], grey: bool
) -> Image.Image:
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
