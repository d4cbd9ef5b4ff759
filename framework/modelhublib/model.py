"""Base class of a contributor's ``Model``."""

from __future__ import annotations

from typing import Any


class ModelBase:
    """A contributed model.  Subclasses implement :meth:`infer`.

    ``infer`` receives the input as the original ModelHub engine passed it: the path of a
    file (or, for multi-input models, a dict of input name to path).  A model that sets
    ``accepts_in_memory = True`` may also receive the uploaded ``bytes`` or an opened
    ``PIL.Image.Image``, which spares a temporary file on the request path.
    """

    accepts_in_memory: bool = False

    def __init__(self) -> None:
        pass

    def infer(self, input: Any) -> Any:
        raise NotImplementedError("This is a method of an abstract class.")
