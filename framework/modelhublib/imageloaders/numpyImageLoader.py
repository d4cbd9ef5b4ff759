"""Loads ``.npy`` arrays (never pickles) laid out as [channels, height, width] or [height, width]."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from .imageLoader import ImageLoader


class NumpyImageLoader(ImageLoader):
    def _load(self, input: Any) -> np.ndarray:
        if isinstance(input, np.ndarray):
            return input
        if isinstance(input, (bytes, bytearray)):
            return np.load(io.BytesIO(bytes(input)), allow_pickle=False)
        if isinstance(input, (str, os.PathLike)):
            return np.load(os.fspath(input), allow_pickle=False)
        raise TypeError(f"cannot load {type(input).__name__} as a numpy array")

    def _getImageDimensions(self, image: np.ndarray) -> list[int]:
        if image.ndim == 2:
            return [1, *image.shape]
        return list(image.shape[-3:])
