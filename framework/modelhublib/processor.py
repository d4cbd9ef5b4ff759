"""Base class of a contributor's image processor: load, preprocess, convert, postprocess."""

from __future__ import annotations

from typing import Any

import numpy as np

from .imageconverters import NumpyToNumpyConverter, PilToNumpyConverter, SitkToNumpyConverter
from .imageloaders import NumpyImageLoader, PilImageLoader, SitkImageLoader


class ImageProcessorBase:
    """Loads an input, preprocesses it and turns inference results into the configured output.

    Override ``_preprocessBeforeConversionToNumpy`` (on the loaded image object),
    ``_preprocessAfterConversionToNumpy`` (on the converted array) and ``computeOutput``.
    Loading and conversion use chains of Pillow, then (when installed) SimpleITK, then
    numpy handlers, as the original engine's.  The converted array is float32
    ``[batch, channels, height, width]`` for a PIL image (``[1, 3, H, W]`` for RGB),
    float32 ``[1, z, height, width]`` for a SimpleITK image (see
    :mod:`modelhublib.imageconverters.imageConverter` for multi-component images), and
    a numpy array as loaded.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._imageLoader = PilImageLoader(config, SitkImageLoader(config, NumpyImageLoader(config)))
        self._imageToNumpyConverter = PilToNumpyConverter(SitkToNumpyConverter(NumpyToNumpyConverter()))

    def loadAndPreprocess(self, input: Any, id: str | None = None) -> np.ndarray:
        """Load ``input`` (``id`` names it in a multi-input model) and return the model's array."""
        image = self._load(input, id=id)
        image = self._preprocessBeforeConversionToNumpy(image)
        array = self._convertToNumpy(image)
        return self._preprocessAfterConversionToNumpy(array)

    def computeOutput(self, inferenceResults: Any) -> Any:
        raise NotImplementedError("This is a method of an abstract class.")

    def _load(self, input: Any, id: str | None = None) -> Any:
        return self._imageLoader.load(input, id=id)

    def _preprocessBeforeConversionToNumpy(self, image: Any) -> Any:
        return image

    def _convertToNumpy(self, image: Any) -> np.ndarray:
        return self._imageToNumpyConverter.convert(image)

    def _preprocessAfterConversionToNumpy(self, npArr: np.ndarray) -> np.ndarray:
        return npArr
