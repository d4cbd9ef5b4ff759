"""Which model file is served, and whether its bytes are the published ones."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import IntegrityError
from .fetch import ModelFile, by_variant, default_file, match_by_hash, read_init, sha256_file, verify_file
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """The model file in use, as reported by ``get_config`` and the page."""

    file: str
    path: str
    sha256: str
    variant: str | None
    verified: bool
    source_url: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _from_entry(entry: ModelFile) -> ModelSource:
    verify_file(entry.dest, entry.sha256, entry.size)
    return ModelSource(entry.dest.name, str(entry.dest), entry.sha256, entry.variant, True, entry.src_url)


def resolve_model_source(settings: Settings) -> ModelSource:
    """Find the model file and verify it; raise :class:`IntegrityError` with one clear line if it is wrong.

    Without ``model_file`` the variant's file from ``init/init.json`` is used and must match its
    sha256.  An explicit file is checked against ``model_sha256`` when given, else against the
    variants of ``init/init.json``; a file matching neither is served with a warning, marked
    unverified.
    """
    if settings.model_file is None:
        entries = read_init(settings.root)
        entry = by_variant(entries, settings.model_variant) if settings.model_variant else default_file(entries)
        if not entry.dest.exists():
            raise IntegrityError(
                f"model file {entry.dest} is missing (expected sha256 {entry.sha256}); "
                f"run `modelhub fetch` or pass --model-file"
            )
        return _from_entry(entry)
    path = settings.model_file.expanduser().resolve()
    if not path.is_file():
        raise IntegrityError(f"model file {path} does not exist")
    if settings.model_sha256:
        verify_file(path, settings.model_sha256.lower())
        entries = _init_entries(settings.root)
        known = match_by_hash(entries, settings.model_sha256.lower()) if entries else None
        return ModelSource(
            path.name,
            str(path),
            settings.model_sha256.lower(),
            known.variant if known else settings.model_variant,
            True,
            known.src_url if known else None,
        )
    actual = sha256_file(path)
    known = match_by_hash(_init_entries(settings.root), actual)
    if known is not None:
        log.info("model file %s is the published %s variant (sha256 %s)", path.name, known.variant, actual)
        return ModelSource(path.name, str(path), actual, known.variant, True, known.src_url)
    log.warning(
        "model file %s (sha256 %s) matches no file in init/init.json and no --model-sha256 was given: "
        "serving it UNVERIFIED",
        path,
        actual,
    )
    return ModelSource(path.name, str(path), actual, settings.model_variant, False, None)


def _init_entries(root: Path) -> list[ModelFile]:
    try:
        return read_init(root)
    except Exception:  # an explicit model file does not need init.json
        return []
