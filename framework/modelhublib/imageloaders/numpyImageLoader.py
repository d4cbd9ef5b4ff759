"""Loads numpy arrays: ``.npy`` files (never pickles) and ``.npz`` archives that hold one array.

Accepts a path, the file's bytes, a binary file object or an array.  The array is
returned as stored; for ``dim_limits`` its first three axes are read as
(channels, height, width), and a 2-D array counts as one channel.
"""

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
        if isinstance(input, (bytes, bytearray, memoryview)):
            source: Any = io.BytesIO(bytes(input))
        elif isinstance(input, (str, os.PathLike)):
            source = os.fspath(input)
        elif hasattr(input, "read"):
            source = input
        else:
            raise TypeError(f"cannot load {type(input).__name__} as a numpy array")
        loaded = np.load(source, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:  # an .npz archive
            if len(loaded.files) != 1:
                raise ValueError(f"an .npz archive of {len(loaded.files)} arrays is not one image")
            return np.asarray(loaded[loaded.files[0]])

    def _getImageDimensions(self, image: np.ndarray) -> list[int]:
        shape = list(image.shape)
        return [1] * (3 - len(shape)) + shape
