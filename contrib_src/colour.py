"""Colour steps of the MobileNetV2 preprocessing: any PIL mode to 8-bit RGB (or, for grey modes, L)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

#: Largest value of a 16-bit sample and the factor that maps 0..65535 onto 0..255.
UINT16_MAX: int = 65535


UINT16_TO_UINT8_DIVISOR: int = 257


_ALPHA_MODES = frozenset({"RGBA", "RGBa", "RGBX", "LA"})


_PALETTE_MODES = frozenset({"P", "PA"})


_GREY_MODES = frozenset({"L", "1"})


_HIGH_DEPTH_MODES = frozenset({"I", "F"})


_GREY_ALPHA_MODES = frozenset({"LA", "La"})


#: 0..65535 -> round(v / 257): 16-bit samples to 8 bits by table, with no wide copy of the image.
_UINT16_TO_UINT8: npt.NDArray[np.uint8] = (
    (np.arange(UINT16_MAX + 1, dtype=np.uint32) + UINT16_TO_UINT8_DIVISOR // 2) // UINT16_TO_UINT8_DIVISOR
).astype(np.uint8)


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
