"""Image loaders form a chain of responsibility: each tries, and passes on what it cannot load.

:meth:`ImageLoader.load` tries its own ``_load`` and hands the input to the successor
when that fails; when no loader of the chain can load it, it raises
:class:`~modelhub.errors.InvalidInput` (an ``OSError``, as the original engine's ``IOError``).
The loader that loads the input then checks the image against the model's
``dim_limits`` and raises :class:`~modelhub.errors.ImageDimensionsError` (also an
``OSError``) when its dimensions break them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from modelhub.config import AXES, DimLimit
from modelhub.config import check_dim_limits as engine_check_dim_limits
from modelhub.errors import InvalidInput


def dim_limits(config: dict[str, Any] | None, input_id: str | None = None) -> list[dict[str, int]] | None:
    """The ``dim_limits`` of an input: ``input.<id>``, ``input.single``, then the older ``input``."""
    io_input = ((config or {}).get("model") or {}).get("io", {}).get("input", {})
    for key in (input_id, "single"):
        if key and isinstance(io_input.get(key), dict) and "dim_limits" in io_input[key]:
            return list(io_input[key]["dim_limits"])
    limits = io_input.get("dim_limits")
    return list(limits) if limits else None


def check_dim_limits(dims: Sequence[int], limits: list[dict[str, int]] | None) -> None:
    """Raise :class:`ImageDimensionsError` when ``dims`` break ``limits``.

    As in the original engine, the first three entries of ``dims`` (channels or z,
    height, width) are checked against the first three limits; ``min`` and ``max``
    are inclusive and an absent one is no bound.  The engine's check does the work.
    """
    if not limits:
        return
    axes = len(AXES)
    bounds = [
        DimLimit(limit.get("min"), limit.get("max")) if isinstance(limit, dict) else DimLimit()
        for limit in limits[:axes]
    ]
    engine_check_dim_limits(tuple(int(d) for d in dims[:axes]), bounds)


def describe_input(input: Any) -> str:
    if isinstance(input, (str, os.PathLike)):
        return f'the file "{os.path.basename(os.fspath(input))}"'
    return f'input of type "{type(input).__name__}"'


def _position(input: Any) -> int | None:
    """Where a seekable binary stream stands, so that the next loader can start from there."""
    try:
        return int(input.tell()) if hasattr(input, "seek") and hasattr(input, "read") else None
    except (OSError, ValueError, AttributeError):
        return None


class ImageLoader:
    """Abstract loader.  Subclasses implement ``_load`` and ``_getImageDimensions``.

    Args:
        config: the model's configuration (its ``config.json``), read for ``dim_limits``.
        successor: the next loader of the chain, tried when this one cannot load an input.
    """

    def __init__(self, config: dict[str, Any] | None, successor: ImageLoader | None = None) -> None:
        self._config = config
        self._successor = successor

    def setSuccessor(self, successor: ImageLoader | None) -> None:
        """Make ``successor`` the next loader of the chain (it replaces any previous one)."""
        self._successor = successor

    def load(self, input: Any, id: str | None = None) -> Any:
        """Load ``input`` with this loader or a successor; check it against ``dim_limits``.

        ``id`` names the input of a multi-input model (its key in ``model.io.input``).
        """
        start = _position(input)
        try:
            image = self._load(input)
        except Exception as error:
            if self._successor is not None:
                if start is not None:
                    try:
                        input.seek(start)
                    except (OSError, ValueError):  # closed by the loader that failed
                        pass
                try:
                    return self._successor.load(input, id=id)
                except InvalidInput:
                    if isinstance(error, InvalidInput):  # e.g. Pillow knew the format but the data is corrupt
                        raise error from None
                    raise
            if isinstance(error, InvalidInput):
                raise
            raise InvalidInput(f"Was not able to load {describe_input(input)}: not a readable image") from error
        self._checkConfigCompliance(image, id)
        return image

    def _load(self, input: Any) -> Any:
        """Load ``input``; raise for an input this loader cannot load."""
        raise NotImplementedError("This is a method of an abstract class.")

    def _checkConfigCompliance(self, image: Any, id: str | None = None) -> None:
        """Raise :class:`ImageDimensionsError` when ``image`` breaks the ``dim_limits`` of input ``id``."""
        check_dim_limits(self._getImageDimensions(image), dim_limits(self._config, id))

    def _getImageDimensions(self, image: Any) -> Sequence[int]:
        """The dimensions of a loaded image, channels (or z) first: ``[channels, height, width]``."""
        raise NotImplementedError("This is a method of an abstract class.")
