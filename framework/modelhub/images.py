"""Inspection of an input's bytes before anything is decoded.

The type is decided by the bytes (never by a file name or a client's content type),
and size limits are checked from the header, so a decompression bomb is refused
before a single pixel is decoded.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from modelhublib.imageloaders.imageLoader import check_dim_limits

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

# Pillow formats whose MIME type differs from what configs name.
_MIME_OF_FORMAT = {"MPO": "image/jpeg"}  # multi-picture JPEG files written by many phones
_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/x-png": "image/png"}

# Signatures of common non-image uploads, for clearer error messages.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "application/pdf"),
    (b"<svg", "image/svg+xml"),
    (b"<?xml", "text/xml"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x93NUMPY", "application/x-npy"),
    (b"{", "application/json"),
)


@dataclass(frozen=True)
class ImageHeader:
    format: str  # Pillow's format name, e.g. "JPEG"
    mime: str
    width: int
    height: int
    channels: int
    mode: str

    @property
    def pixels(self) -> int:
        return self.width * self.height


def normalise_mime(mime: str) -> str:
    mime = mime.strip().lower()
    return _MIME_ALIASES.get(mime, mime)


def accepted_formats(config: dict[str, Any], input_id: str | None = None) -> list[str]:
    """The MIME types an input accepts: ``input.<id>.format``, ``input.single.format``, ``input.format``."""
    io_input = config.get("model", {}).get("io", {}).get("input", {})
    for key in (input_id, "single"):
        if key and isinstance(io_input.get(key), dict) and io_input[key].get("format"):
            return [normalise_mime(m) for m in io_input[key]["format"]]
    return [normalise_mime(m) for m in io_input.get("format", [])]


def guess_non_image(head: bytes) -> str | None:
    stripped = head.lstrip()
    if stripped[:1] == b"<" and stripped[:512].lower().find(b"<svg") >= 0:  # also after an <?xml ...?> line
        return "image/svg+xml"
    for signature, mime in _SIGNATURES:
        if stripped.startswith(signature):
            return mime
    try:
        head[:512].decode("utf-8")
        return "text/plain"
    except UnicodeDecodeError:
        return None


def read_header(source: bytes | Path | BinaryIO) -> ImageHeader | None:
    """The header of an image Pillow can identify, else ``None``.  Decodes no pixels."""
    stream: Any = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                fmt = image.format or "UNKNOWN"
                mime = _MIME_OF_FORMAT.get(fmt) or Image.MIME.get(fmt) or f"image/{fmt.lower()}"
                return ImageHeader(fmt, mime, image.size[0], image.size[1], len(image.getbands()), image.mode)
    except Image.DecompressionBombError as error:
        raise PayloadTooLarge(f"image too large to decode safely: {error}") from None
    except (OSError, SyntaxError, ValueError):
        return None


def _head(data: bytes | Path, size: int = 1024) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data[:size])
    with open(data, "rb") as handle:
        return handle.read(size)


def check_input(
    data: bytes | Path,
    config: dict[str, Any],
    *,
    max_pixels: int,
    input_id: str | None = None,
    limits: list[dict[str, int]] | None = None,
) -> ImageHeader | None:
    """Check an input against the model's formats, the pixel limit and ``dim_limits``.

    Returns the image header, or ``None`` for a non-image input that the model's
    formats admit (for example ``.npy`` or NIfTI files handled by contributor loaders).
    """
    size = len(data) if isinstance(data, (bytes, bytearray)) else os.path.getsize(data)
    if size == 0:
        raise BadRequest("the uploaded file is empty")
    formats = accepted_formats(config, input_id)
    header = read_header(data)
    if header is None:
        head = _head(data)
        non_image_formats = [f for f in formats if not f.startswith("image/") and f != "application/json"]
        if non_image_formats:
            return None  # the contributor's loaders decide
        detected = guess_non_image(head)
        what = f"a {detected} file" if detected else "not an image Pillow can read"
        raise UnsupportedMediaType(
            f"unsupported file type: the upload is {what}; this model accepts {', '.join(formats)}"
        )
    if formats and header.mime not in formats:
        raise UnsupportedMediaType(
            f"unsupported image type {header.mime}: this model accepts {', '.join(formats)}"
        )
    if header.pixels > max_pixels:
        raise PayloadTooLarge(
            f"image of {header.width}x{header.height} pixels is over the limit of {max_pixels} pixels"
        )
    check_dim_limits((header.channels, header.height, header.width), limits)
    return header
