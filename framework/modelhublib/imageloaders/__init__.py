from .imageLoader import ImageLoader
from .numpyImageLoader import NumpyImageLoader
from .pilImageLoader import PilImageLoader
from .sitkImageLoader import SitkImageLoader

__all__ = ["ImageLoader", "NumpyImageLoader", "PilImageLoader", "SitkImageLoader"]
