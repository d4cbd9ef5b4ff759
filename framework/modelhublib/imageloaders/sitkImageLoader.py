"""Loads medical image formats with SimpleITK, an optional extra (``pip install .[sitk]``)."""

from __future__ import annotations

import os
from typing import Any

from .imageLoader import ImageLoader


class SitkImageLoader(ImageLoader):
    def _load(self, input: Any) -> Any:
        import SimpleITK as sitk  # optional: absent means "this loader cannot help"

        if isinstance(input, sitk.Image):
            return input
        if not isinstance(input, (str, os.PathLike)):
            raise TypeError("SimpleITK loads files only")
        return sitk.ReadImage(os.fspath(input))

    def _getImageDimensions(self, image: Any) -> list[int]:
        size = list(image.GetSize())  # x, y[, z]
        channels = image.GetNumberOfComponentsPerPixel()
        if len(size) == 3:
            return [size[2], size[1], size[0]]
        return [channels, size[1], size[0]]
