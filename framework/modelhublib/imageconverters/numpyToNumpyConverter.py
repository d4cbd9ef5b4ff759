from __future__ import annotations

from typing import Any

import numpy as np

from modelhub.errors import InvalidInput

from .imageConverter import ImageConverter


class NumpyToNumpyConverter(ImageConverter):
    """Pass-through for numpy arrays: returns the given array itself, shape and dtype unchanged."""

    def _convert(self, image: Any) -> np.ndarray:
        if isinstance(image, np.ndarray):
            return image
        raise InvalidInput('Image is not of type "np.ndarray".')
