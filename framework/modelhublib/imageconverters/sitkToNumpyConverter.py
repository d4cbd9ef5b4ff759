from __future__ import annotations

from typing import Any

import numpy as np

from .imageConverter import ImageConverter, as_nchw


class SitkToNumpyConverter(ImageConverter):
    """A SimpleITK image to float32 [1, C|Z, H, W] (optional extra)."""

    def _convert(self, image: Any) -> np.ndarray:
        import SimpleITK as sitk

        if not isinstance(image, sitk.Image):
            raise TypeError("not a SimpleITK image")
        array = sitk.GetArrayFromImage(image)
        return as_nchw(array, channels_last=image.GetNumberOfComponentsPerPixel() > 1)
