"""The contributor package's ``model/config.json``, parsed and checked once into typed values.

The file keeps the ModelHub schema (``id``, ``meta``, ``publication``, ``model.io.input`` and
``model.io.output``); ``raw`` is the file exactly as written, for ``get_config``.  Every problem
is a :class:`ConfigError` naming the file and the field, e.g.
``.../config.json: model.io.input.single.dim_limits[1].min must be an integer, not '32'``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, ImageDimensionsError

CONFIG_PATH = Path("model") / "config.json"
JSON_MIME = "application/json"
AXES = ("channels", "height", "width")
SINGLE = "single"
_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/x-png": "image/png"}
_INPUT_META_KEYS = frozenset({"format", "dim_limits", SINGLE})


def normalise_mime(mime: str) -> str:
    mime = mime.strip().lower()
    return _MIME_ALIASES.get(mime, mime)


@dataclass(frozen=True)
class DimLimit:
    """Bounds of one axis (channels, height, width, ...); ``None`` is unbounded."""

    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class InputSpec:
    """One input of the model: the single input, or a named input of a multi-input model."""

    id: str
    formats: tuple[str, ...]
    dim_limits: tuple[DimLimit, ...]


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class ModelConfig:
    """``config.json``: identity, inputs and outputs, and the file as written (``raw``)."""

    path: Path
    raw: Mapping[str, Any]
    id: str
    name: str
    single: InputSpec  # what a single upload is checked against (``input.single``, else ``input``)
    named: Mapping[str, InputSpec]  # the inputs of a multi-input model, by id
    outputs: tuple[OutputSpec, ...]

    @property
    def multi_input(self) -> bool:
        """The model takes a JSON document naming one file per input (config format ``application/json``)."""
        return JSON_MIME in self.single.formats

    def input(self, input_id: str | None = None) -> InputSpec:
        """The spec of a named input; the single input's for ``None`` or an unknown id."""
        return self.named.get(input_id or "", self.single)


def read_config(contrib_dir: Path | str) -> ModelConfig:
    """Read and check ``<contrib_dir>/model/config.json``."""
    path = Path(contrib_dir) / CONFIG_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file: {error}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: malformed JSON at line {error.lineno} column {error.colno}: {error.msg}") from None
    return parse_config(raw, path)


def parse_config(raw: Any, path: Path) -> ModelConfig:
    """Check a loaded config document; ``path`` names it in errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a JSON object")
    for key in ("id", "meta", "model"):
        if key not in raw:
            raise ConfigError(f"{path}: required key {key!r} missing")
    meta, model = _mapping(raw["meta"], path, "meta"), _mapping(raw["model"], path, "model")
    io = _mapping(model.get("io", {}), path, "model.io")
    io_input = _mapping(io.get("input", {}), path, "model.io.input")
    outputs = io.get("output")
    if not isinstance(outputs, list) or not outputs:
        raise ConfigError(f"{path}: model.io.output must be a non-empty list")
    top_formats = _formats(io_input.get("format", []), path, "model.io.input.format")
    top_limits = _limits(io_input.get("dim_limits"), path, "model.io.input.dim_limits")
    single_raw = io_input.get(SINGLE)
    single = InputSpec(SINGLE, top_formats, top_limits)
    if isinstance(single_raw, dict):
        where = "model.io.input.single"
        formats = _formats(single_raw.get("format"), path, f"{where}.format") or top_formats
        limits = (
            _limits(single_raw.get("dim_limits"), path, f"{where}.dim_limits")
            if "dim_limits" in single_raw
            else top_limits
        )
        single = InputSpec(SINGLE, formats, limits)
    named = {
        key: InputSpec(
            key,
            _formats(value.get("format"), path, f"model.io.input.{key}.format") or single.formats,
            _limits(value.get("dim_limits"), path, f"model.io.input.{key}.dim_limits")
            if "dim_limits" in value
            else single.dim_limits,
        )
        for key, value in io_input.items()
        if key not in _INPUT_META_KEYS and isinstance(value, dict)
    }
    specs = tuple(_output(entry, path, index) for index, entry in enumerate(outputs))
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: model.io.output names must be unique, got {names}")
    return ModelConfig(path, raw, str(raw["id"]), str(meta.get("name", "")), single, named, specs)


def _mapping(value: Any, path: Path, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {field} must be an object, not {value!r}")
    return value


def _formats(value: Any, path: Path, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: {field} must be a list of MIME types, not {value!r}")
    return tuple(normalise_mime(item) for item in value)


def _limits(value: Any, path: Path, field: str) -> tuple[DimLimit, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {field} must be a list of {{min, max}} objects, not {value!r}")
    limits = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {field}[{index}] must be an object with min and/or max, not {entry!r}")
        bounds = {}
        for key in ("min", "max"):
            bound = entry.get(key)
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
                raise ConfigError(f"{path}: {field}[{index}].{key} must be a non-negative integer, not {bound!r}")
            bounds[key] = bound
        limits.append(DimLimit(**bounds))
    return tuple(limits)


def _output(entry: Any, path: Path, index: int) -> OutputSpec:
    field = f"model.io.output[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {field} must be an object with name and type")
    name, kind = entry.get("name", ""), entry.get("type", "")
    if not isinstance(name, str) or not isinstance(kind, str):
        raise ConfigError(f"{path}: {field}.name and .type must be strings")
    return OutputSpec(name, kind, str(entry.get("description", "")))


def check_dim_limits(dims: Sequence[int], limits: Sequence[DimLimit]) -> None:
    """Raise :class:`ImageDimensionsError` when ``dims`` (channels, height, width) break ``limits``."""
    for axis, (size, limit) in enumerate(zip(dims, limits, strict=False)):
        low, high = limit.min, limit.max
        if (low is not None and size < low) or (high is not None and size > high):
            name = AXES[axis] if axis < len(AXES) else f"axis {axis}"
            bound = f"at least {low}" if low is not None and size < low else f"at most {high}"
            shown = "x".join(str(d) for d in dims)
            raise ImageDimensionsError(
                f"image dimensions (channels x height x width) {shown} do not comply with the "
                f"model's input requirements: {name} must be {bound}, not {size}"
            )
