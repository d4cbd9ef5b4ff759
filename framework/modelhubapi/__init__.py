"""The ModelHub APIs: Python (:class:`ModelHubAPI`) and REST (:class:`ModelHubRESTAPI`)."""

from .pythonapi import ModelHubAPI
from .restapi import ModelHubRESTAPI

__all__ = ["ModelHubAPI", "ModelHubRESTAPI"]
