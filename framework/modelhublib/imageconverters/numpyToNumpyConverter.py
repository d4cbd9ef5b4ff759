from __future__ import annotations

import numpy as np

from .imageConverter import ImageConverter, as_nchw


class NumpyToNumpyConverter(ImageConverter):
    """A [H, W], [C, H, W] or [N, C, H, W] array to float32 [N, C, H, W]."""

    def _convert(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray):
            raise TypeError("not a numpy array")
        return as_nchw(image, channels_last=False)
