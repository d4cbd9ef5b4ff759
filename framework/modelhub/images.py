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

from . import jpeg
from .config import JSON_MIME, InputSpec, check_dim_limits
from .errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType

# Pillow formats whose MIME type differs from what configs name.
_MIME_OF_FORMAT = {"MPO": "image/jpeg"}  # multi-picture JPEG files written by many phones
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})
# What the engine decodes when a package's config lists its type: header-checked before any pixel is decoded.
# GIF and WebP give their first frame; a TIFF must have one page.
DECODED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"})

#: Blocks of decoded-image memory Pillow keeps for the next image instead of handing them back to the system
#: (its block allocator's cache; 16 MiB blocks by default, so up to 64 MiB: a decoded 16 MP photo).  Without
#: it every large photo is faulted into memory afresh: a 12 MP JPEG took 12 800 page faults and about 30 ms
#: more in a server worker than in a warm loop (bench/RESULTS.md).  ``PILLOW_BLOCKS_MAX`` set by the user wins.
KEPT_IMAGE_BLOCKS = 4

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
    pages: int = 1  # a TIFF's pages (other formats: 1; an animation's later frames are never decoded)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def keep_image_memory(blocks: int = KEPT_IMAGE_BLOCKS) -> None:
    """Have Pillow keep up to ``blocks`` freed image blocks for reuse (see :data:`KEPT_IMAGE_BLOCKS`)."""
    if "PILLOW_BLOCKS_MAX" not in os.environ and Image.core.get_blocks_max() < blocks:
        Image.core.set_blocks_max(blocks)


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


def _header_of(image: Image.Image) -> ImageHeader:
    fmt = image.format or "UNKNOWN"
    mime = _MIME_OF_FORMAT.get(fmt) or Image.MIME.get(fmt) or f"image/{fmt.lower()}"
    pages = int(getattr(image, "n_frames", 1)) if fmt == "TIFF" else 1  # reads the page directory, no pixels
    return ImageHeader(fmt, mime, image.size[0], image.size[1], len(image.getbands()), image.mode, pages)


def read_header(source: bytes | Path | BinaryIO) -> ImageHeader | None:
    """The header of an image Pillow can identify, else ``None``.  Decodes no pixels."""
    stream: Any = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                return _header_of(image)
    except Image.DecompressionBombError as error:
        raise PayloadTooLarge(f"image too large to decode safely: {error}") from None
    except (OSError, SyntaxError, ValueError):
        return None


def _head(data: bytes | Path, size: int = 1024) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data[:size])
    with open(data, "rb") as handle:
        return handle.read(size)


def check_input(data: bytes | Path, spec: InputSpec, *, max_pixels: int) -> ImageHeader | None:
    """Check an input against the model's formats, the pixel limit and ``dim_limits``.

    Returns the image header, or ``None`` for a non-image input that the model's
    formats admit (for example ``.npy`` or NIfTI files handled by contributor loaders).
    """
    size = len(data) if isinstance(data, (bytes, bytearray)) else os.path.getsize(data)
    if size == 0:
        raise BadRequest("the uploaded file is empty")
    header = read_header(data)
    if header is None:
        _refuse_non_image(_head(data), spec)
        return None
    check_header(header, spec, max_pixels=max_pixels)
    if header.format in _JPEG_FORMATS:  # the model decodes it: the checks that need pixels use a 1/8 decode
        raw = bytes(data) if isinstance(data, (bytes, bytearray)) else Path(data).read_bytes()
        jpeg.check_not_short(raw, jpeg.check_complete(raw, header.pixels))
    return header


def _refuse_non_image(head: bytes, spec: InputSpec) -> None:
    """Raise 415 for bytes Pillow cannot read, unless the model takes non-image formats."""
    if any(not f.startswith("image/") and f != JSON_MIME for f in spec.formats):
        return  # the contributor's loaders decide
    detected = guess_non_image(head)
    what = f"a {detected} file" if detected else "not an image Pillow can read"
    raise UnsupportedMediaType(
        f"unsupported file type: the upload is {what}; this model accepts {', '.join(spec.formats)}"
    )


def check_header(header: ImageHeader, spec: InputSpec, *, max_pixels: int) -> None:
    if spec.formats and header.mime not in spec.formats:
        raise UnsupportedMediaType(
            f"unsupported image type {header.mime}: this model accepts {', '.join(spec.formats)}"
        )
    if header.format not in DECODED_FORMATS:
        raise UnsupportedMediaType(
            f"unsupported image type {header.mime}: the engine decodes JPEG, PNG, WebP, BMP, TIFF and GIF only"
        )
    if header.pages > 1:
        raise UnsupportedMediaType(f"a TIFF of {header.pages} pages: send a single-page image")
    check_size(header.width, header.height, header.channels, spec, max_pixels=max_pixels)


def check_size(width: int, height: int, channels: int, spec: InputSpec, *, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise PayloadTooLarge(f"image of {width}x{height} pixels is over the limit of {max_pixels} pixels")
    check_dim_limits((channels, height, width), spec.dim_limits)


def decode(data: bytes, spec: InputSpec, *, max_pixels: int) -> Image.Image:
    """The image in ``data``, checked from its header first, then fully decoded (pixels in memory)."""
    if not data:
        raise BadRequest("the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise PayloadTooLarge(f"image too large to decode safely: {error}") from None
    except (OSError, SyntaxError, ValueError):
        _refuse_non_image(data[:1024], spec)
        raise UnsupportedMediaType("unsupported file type: not an image Pillow can read") from None
    header = _header_of(image)
    check_header(header, spec, max_pixels=max_pixels)
    layout = jpeg.check_complete(data, header.pixels) if header.format in _JPEG_FORMATS else None  # scans counted first
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InvalidInput(
            f"the image could not be decoded ({image.format or 'unknown'} data is truncated or corrupt)"
        ) from error
    if layout is not None:
        jpeg.check_not_short(data, layout, image)
    return image


def check_image(image: Image.Image, spec: InputSpec, *, max_pixels: int) -> None:
    """The same limits for an image a Python caller passes in already opened."""
    check_size(image.width, image.height, len(image.getbands()), spec, max_pixels=max_pixels)
