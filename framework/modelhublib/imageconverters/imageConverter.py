"""Converters turn a loaded image object into a numpy array (chain of responsibility).

Each converter handles one image type in ``_convert``; :meth:`ImageConverter.convert`
passes anything its own ``_convert`` fails on to the successor, and raises
:class:`~modelhub.errors.InvalidInput` (an ``OSError``, as the original engine's
``IOError``) when no converter of the chain can convert the image.

What each converter returns (as the original ModelHub engine does):

* :class:`PilToNumpyConverter`: float32 ``[1, bands, height, width]``
  (grey and palette images ``[1, 1, H, W]``, RGB ``[1, 3, H, W]``, RGBA ``[1, 4, H, W]``).
* :class:`SitkToNumpyConverter`: float32, a batch axis in front of SimpleITK's array:
  2-D ``[1, 1, H, W]``, 3-D ``[1, Z, H, W]``; the components of a multi-component
  (vector) image stay on the last axis: ``[1, H, W, C]`` and ``[1, Z, H, W, C]``.
* :class:`NumpyToNumpyConverter`: the array itself, shape and dtype unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelhub.errors import InvalidInput


class ImageConverter:
    """Abstract converter; subclasses implement :meth:`_convert` for one image type."""

    def __init__(self, successor: ImageConverter | None = None) -> None:
        self._successor = successor

    def setSuccessor(self, successor: ImageConverter | None) -> None:
        """Make ``successor`` the next converter of the chain (it replaces any previous one)."""
        self._successor = successor

    def convert(self, image: Any) -> np.ndarray:
        """Convert ``image`` with this converter or, when that fails, with the successor.

        Raises :class:`~modelhub.errors.InvalidInput` if no converter of the chain can.
        """
        try:
            return self._convert(image)
        except Exception as error:
            if self._successor is not None:
                return self._successor.convert(image)
            raise InvalidInput(f'Could not convert image of type "{type(image).__name__}" to Numpy array.') from error

    def _convert(self, image: Any) -> np.ndarray:
        """Return ``image`` as a numpy array; raise (``OSError``) for a type it does not handle."""
        raise NotImplementedError("This is a method of an abstract class.")
