"""Image loaders form a chain of responsibility: each tries, and passes on what it cannot load."""

from __future__ import annotations

import os
from typing import Any

from modelhub.errors import ImageDimensionsError, InvalidInput

AXES = ("channels", "height", "width")


def dim_limits(config: dict[str, Any], input_id: str | None = None) -> list[dict[str, int]] | None:
    """The ``dim_limits`` of an input: ``input.<id>``, ``input.single``, then the older ``input``."""
    io_input = config.get("model", {}).get("io", {}).get("input", {})
    for key in (input_id, "single"):
        if key and isinstance(io_input.get(key), dict) and "dim_limits" in io_input[key]:
            return list(io_input[key]["dim_limits"])
    limits = io_input.get("dim_limits")
    return list(limits) if limits else None


def check_dim_limits(dims: tuple[int, ...], limits: list[dict[str, int]] | None) -> None:
    """Raise :class:`ImageDimensionsError` when ``dims`` (channels, height, width) break ``limits``."""
    if not limits:
        return
    for axis, (size, limit) in enumerate(zip(dims, limits, strict=False)):
        low, high = limit.get("min"), limit.get("max")
        if (low is not None and size < low) or (high is not None and size > high):
            name = AXES[axis] if axis < len(AXES) else f"axis {axis}"
            bound = f"at least {low}" if low is not None and size < low else f"at most {high}"
            shown = "x".join(str(d) for d in dims)
            raise ImageDimensionsError(
                f"image dimensions (channels x height x width) {shown} do not comply with the "
                f"model's input requirements: {name} must be {bound}, not {size}"
            )


def describe_input(input: Any) -> str:
    if isinstance(input, (str, os.PathLike)):
        return f'the file "{os.path.basename(os.fspath(input))}"'
    return f'input of type "{type(input).__name__}"'


class ImageLoader:
    """Abstract loader.  Subclasses implement ``_load`` and ``_getImageDimensions``."""

    def __init__(self, config: dict[str, Any], successor: ImageLoader | None = None) -> None:
        self._config = config
        self._successor = successor

    def setSuccessor(self, successor: ImageLoader) -> None:
        """Append ``successor`` to the end of the chain."""
        if self._successor is None:
            self._successor = successor
        else:
            self._successor.setSuccessor(successor)

    def load(self, input: Any, id: str | None = None) -> Any:
        """Load ``input`` with this loader or a successor; check it against ``dim_limits``."""
        try:
            image = self._load(input)
        except Exception as error:
            if self._successor is not None:
                try:
                    return self._successor.load(input, id)
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
        raise NotImplementedError("This is a method of an abstract class.")

    def _checkConfigCompliance(self, image: Any, id: str | None = None) -> None:
        check_dim_limits(tuple(self._getImageDimensions(image)), dim_limits(self._config, id))

    def _getImageDimensions(self, image: Any) -> list[int]:
        """(channels, height, width) of a loaded image."""
        raise NotImplementedError("This is a method of an abstract class.")
