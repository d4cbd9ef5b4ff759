"""Loads medical image formats with SimpleITK, an optional extra (``pip install .[sitk]``).

Accepts a path, a list of paths (a series, e.g. DICOM slices, read as one volume)
or an opened ``SimpleITK.Image``.  As in the original engine, its dimensions are
the image size reversed, ``[z, height, width]``, with ``z = 1`` for a 2-D image
(the components of a multi-component image are not counted).
"""

from __future__ import annotations

import os
from typing import Any

from .imageLoader import ImageLoader


class SitkImageLoader(ImageLoader):
    def _load(self, input: Any) -> Any:
        import SimpleITK as sitk  # optional: absent means "this loader cannot help"

        if isinstance(input, sitk.Image):
            return input
        if isinstance(input, (str, os.PathLike)):
            return sitk.ReadImage(os.fspath(input))
        if isinstance(input, (list, tuple)) and input and all(isinstance(item, (str, os.PathLike)) for item in input):
            return sitk.ReadImage([os.fspath(item) for item in input])
        raise TypeError("SimpleITK loads files only")

    def _getImageDimensions(self, image: Any) -> list[int]:
        size = [int(extent) for extent in image.GetSize()]  # x, y[, z[, t]]
        if len(size) == 2:
            size.append(1)
        return size[::-1]
