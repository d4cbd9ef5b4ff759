"""The batch contract for contributor models, and what implementing it needs from the engine.

A package whose ``Model`` subclasses :class:`BatchModel` (``metadata``, ``preprocess``,
``predict``, ``postprocess``) lets the engine decode, batch, queue and time each stage; see
:mod:`modelhub.contract`.  Contributor packages import these names from here.
"""

from modelhub.contract import FREE, BatchModel, LabelScores, ModelMetadata, TensorSpec
from modelhub.errors import ConfigError, InvalidInput
from modelhub.runtime import OnnxSession

__all__ = [
    "FREE",
    "BatchModel",
    "ConfigError",
    "InvalidInput",
    "LabelScores",
    "ModelMetadata",
    "OnnxSession",
    "TensorSpec",
]
