from .imageConverter import ImageConverter
from .numpyToNumpyConverter import NumpyToNumpyConverter
from .pilToNumpyConverter import PilToNumpyConverter
from .sitkToNumpyConverter import SitkToNumpyConverter

__all__ = ["ImageConverter", "NumpyToNumpyConverter", "PilToNumpyConverter", "SitkToNumpyConverter"]
