from __future__ import annotations

import numpy as np
from PIL import Image

from .imageConverter import ImageConverter, as_nchw


class PilToNumpyConverter(ImageConverter):
    """A PIL image to float32 [1, C, H, W], values as stored (0-255 for 8-bit images)."""

    def _convert(self, image: Image.Image) -> np.ndarray:
        if not isinstance(image, Image.Image):
            raise TypeError("not a PIL image")
        return as_nchw(np.asarray(image), channels_last=True)
