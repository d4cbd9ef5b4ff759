from __future__ import annotations

from typing import Any

import numpy as np

from modelhub.errors import InvalidInput

from .imageConverter import ImageConverter


class SitkToNumpyConverter(ImageConverter):
    """A SimpleITK image (an optional extra) to float32, with a batch axis in front.

    The array is SimpleITK's own (``GetArrayFromImage``, axes reversed to z, y, x):
    a 2-D image gives ``[1, 1, H, W]``, a 3-D volume ``[1, Z, H, W]``.  As in the
    original engine, the components of a multi-component image stay last:
    ``[1, H, W, C]`` for 2-D and ``[1, Z, H, W, C]`` for 3-D.
    """

    def _convert(self, image: Any) -> np.ndarray:
        import SimpleITK as sitk  # optional: absent means "this converter cannot help"

        if not isinstance(image, sitk.Image):
            raise InvalidInput('Image is not of type "SimpleITK.Image".')
        array = sitk.GetArrayFromImage(image)
        if array.ndim == 2:
            array = array[np.newaxis]
        return array[np.newaxis].astype(np.float32)
