"""One listed model file (an entry of ``external_contrib_files``) and how one is chosen from a list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelhub.errors import ConfigError


@dataclass(frozen=True)
class ModelFile:
    """One entry of ``external_contrib_files``."""

    name: str
    src_url: str
    dest: Path
    sha256: str
    size: int | None
    variant: str
    default: bool


def default_file(files: Iterable[ModelFile]) -> ModelFile:
    """The file marked ``default`` (the first one when none is marked)."""
    listed = list(files)
    if not listed:
        raise ConfigError("no model files listed in init/init.json")
    return next((f for f in listed if f.default), listed[0])


def by_variant(files: Iterable[ModelFile], variant: str) -> ModelFile:
    """The file of a variant; ConfigError naming the known variants otherwise."""
    listed = list(files)
    for f in listed:
        if f.variant == variant:
            return f
    known = ", ".join(f.variant for f in listed) or "none"
    raise ConfigError(f"unknown model variant {variant!r} (known: {known})")


def match_by_hash(files: Iterable[ModelFile], sha256: str) -> ModelFile | None:
    """The listed file whose sha256 is ``sha256``, or None."""
    wanted = sha256.lower()
    return next((f for f in files if f.sha256 == wanted), None)
