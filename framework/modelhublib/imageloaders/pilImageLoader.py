"""Loads common 2-D image formats (PNG, JPEG, ...) with Pillow.

Accepts a path, the file's bytes, a binary file object or an opened image, and
decodes it fully: truncated or corrupt data raises :class:`~modelhub.errors.InvalidInput`.
Its dimensions are ``[bands, height, width]``.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

from PIL import Image

from modelhub.errors import InvalidInput

from .imageLoader import ImageLoader


def open_image(input: Any) -> Image.Image:
    """Open and fully decode ``input``; decoding errors become :class:`InvalidInput`."""
    if isinstance(input, Image.Image):
        image = input
    elif isinstance(input, (bytes, bytearray, memoryview)):
        image = Image.open(io.BytesIO(input))
    elif isinstance(input, (str, os.PathLike)) or hasattr(input, "read"):
        image = Image.open(input)
    else:
        raise TypeError(f"cannot open {type(input).__name__} with Pillow")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
        raise InvalidInput(
            f"the image could not be decoded ({image.format or 'unknown'} data is truncated or corrupt)"
        ) from error
    return image


class PilImageLoader(ImageLoader):
    def _load(self, input: Any) -> Image.Image:
        return open_image(input)

    def _getImageDimensions(self, image: Image.Image) -> list[int]:
        return [len(image.getbands()), image.size[1], image.size[0]]
