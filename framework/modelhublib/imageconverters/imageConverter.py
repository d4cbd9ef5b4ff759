"""Converters turn a loaded image into float32 [batch, channels, height, width] (chain of responsibility)."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelhub.errors import InvalidInput


def as_nchw(array: np.ndarray, channels_last: bool) -> np.ndarray:
    """float32 [1, C, H, W] from a 2-D image or a 3-D one (channels last or first)."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:
        return array[np.newaxis, np.newaxis]
    if array.ndim == 3:
        if channels_last:
            array = array.transpose(2, 0, 1)
        return np.ascontiguousarray(array[np.newaxis])
    if array.ndim == 4:
        return array
    raise InvalidInput(f"cannot convert an array of {array.ndim} dimensions to [batch, channels, height, width]")


class ImageConverter:
    def __init__(self, successor: ImageConverter | None = None) -> None:
        self._successor = successor

    def setSuccessor(self, successor: ImageConverter) -> None:
        """Append ``successor`` to the end of the chain."""
        if self._successor is None:
            self._successor = successor
        else:
            self._successor.setSuccessor(successor)

    def convert(self, image: Any) -> np.ndarray:
        try:
            return self._convert(image)
        except InvalidInput:
            raise
        except Exception as error:
            if self._successor is not None:
                return self._successor.convert(image)
            raise InvalidInput(f"cannot convert an image of type {type(image).__name__} to an array") from error

    def _convert(self, image: Any) -> np.ndarray:
        raise NotImplementedError("This is a method of an abstract class.")
