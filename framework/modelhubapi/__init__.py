"""The ModelHub APIs: the transports over the engine (Flask REST app, codecs) and the original classes.

:class:`ModelHubAPI` and :class:`ModelHubRESTAPI` keep the original ModelHub engine's contract;
:func:`build_api` is the modern Python API, which raises typed errors.
"""

from .pythonapi import ModelHubAPI
from .restapi import ModelHubRESTAPI
from .service import ModelHubService, build_api

__all__ = ["ModelHubAPI", "ModelHubRESTAPI", "ModelHubService", "build_api"]
