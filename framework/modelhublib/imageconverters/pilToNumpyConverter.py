from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from modelhub.errors import InvalidInput

from .imageConverter import ImageConverter


class PilToNumpyConverter(ImageConverter):
    """A PIL image to float32 ``[1, bands, height, width]``, values as stored (0-255 for 8-bit images).

    Single-band images (``L``, ``1``, ``P``, ``I``, ``F``, ``I;16``) give ``[1, 1, H, W]``;
    multi-band ones have their bands moved in front: RGB ``[1, 3, H, W]``, RGBA ``[1, 4, H, W]``.
    """

    def _convert(self, image: Any) -> np.ndarray:
        if not isinstance(image, Image.Image):
            raise InvalidInput('Image is not of type "PIL.Image.Image".')
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[np.newaxis]
        else:
            array = np.moveaxis(array, -1, 0)
        return np.ascontiguousarray(array[np.newaxis], dtype=np.float32)
