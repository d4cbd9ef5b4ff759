"""Which model file is served, and whether its bytes are the published ones.

A contributor package says which model files it needs in its own list, ``<package>/model_files.json``
(the format of ``init/init.json``, with ``dest_file_path`` relative to the package folder; an empty
list means the model needs no file).  A package without one, in the original ModelHub layout, is
listed by ``init/init.json`` beside its folder (this repository's ``contrib_src``); a package with
neither needs no model file.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, IntegrityError
from .fetch import (
    INIT_FILE,
    ModelFile,
    by_variant,
    default_file,
    match_by_hash,
    read_file_list,
    read_init,
    sha256_file,
    verify_file,
)
from .settings import Settings

log = logging.getLogger(__name__)

PACKAGE_LIST = "model_files.json"
_WARNED: set[tuple[str, str]] = set()  # files already reported unverified by this process (or its parent)


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


@dataclass(frozen=True)
class FileList:
    """The model files a package needs, and the list that names them (``None``: the package has none)."""

    path: Path | None
    files: list[ModelFile]


def package_model_files(settings: Settings) -> FileList:
    """The package's own ``model_files.json``, else ``init/init.json`` beside the package, else no file."""
    package = settings.contrib_path
    own = package / PACKAGE_LIST
    if own.is_file():
        return FileList(own, read_file_list(own, package))
    if (package.parent / INIT_FILE).is_file():
        return FileList(package.parent / INIT_FILE, read_init(package.parent))
    return FileList(None, [])


def _from_entry(entry: ModelFile) -> ModelSource:
    verify_file(entry.dest, entry.sha256, entry.size)
    return ModelSource(entry.dest.name, str(entry.dest), entry.sha256, entry.variant, True, entry.src_url)


def resolve_model_source(settings: Settings) -> ModelSource | None:
    """Find the model file and verify it; raise :class:`IntegrityError` with one clear line if it is wrong.

    Without ``model_file`` the variant's file from the package's list is used and must match its
    sha256 (``None``: the package needs no model file).  An explicit file is checked against
    ``model_sha256`` when given, and against the listed variants; ``model_variant`` must be a listed
    variant whose sha256 the file has.  A file matching nothing is served with a warning, unverified.
    """
    if settings.model_file is None:
        listed = package_model_files(settings)
        if not listed.files:
            if settings.model_variant:
                by_variant([], settings.model_variant)  # raises: no variant is known
            log.info("the package %s lists no model file: its model is built without one", settings.contrib_path)
            return None
        entries = listed.files
        entry = by_variant(entries, settings.model_variant) if settings.model_variant else default_file(entries)
        if not entry.dest.exists():
            fetch = "modelhub fetch" + ("" if settings.contrib_dir is None else f" --contrib {settings.contrib_path}")
            raise IntegrityError(
                f"model file {entry.dest} is missing (expected sha256 {entry.sha256}); "
                f"run `{fetch}` or pass --model-file"
            )
        return _from_entry(entry)
    return _explicit(settings)


def _explicit(settings: Settings) -> ModelSource:
    assert settings.model_file is not None
    path = settings.model_file.expanduser().resolve()
    if path.is_dir():
        raise IntegrityError(f"model file {path} is a folder: --model-file names the ONNX file itself")
    if not path.is_file():
        raise IntegrityError(f"model file {path} does not exist")
    entries = _listed(settings)
    if settings.model_sha256:
        actual = settings.model_sha256.lower()
        verify_file(path, actual)
    else:
        actual = sha256_file(path)
    known = match_by_hash(entries, actual)
    if settings.model_variant:
        wanted = by_variant(entries, settings.model_variant)  # an unknown variant is an error, never a label
        if wanted.sha256 != actual:
            raise IntegrityError(
                f"model file {path} is not the {wanted.variant!r} variant: its sha256 is {actual}, "
                f"the variant's is {wanted.sha256} (leave out --variant to serve it as it is)"
            )
        known = wanted
    if known is not None:
        log.info("model file %s is the published %s variant (sha256 %s)", path.name, known.variant, actual)
        return ModelSource(path.name, str(path), actual, known.variant, True, known.src_url)
    if settings.model_sha256:
        return ModelSource(path.name, str(path), actual, None, True, None)
    if (str(path), actual) not in _WARNED:  # once per server, not once per process that loads it
        _WARNED.add((str(path), actual))
        log.warning(
            "model file %s (sha256 %s) matches no file the package lists and no --model-sha256 was "
            "given: serving it UNVERIFIED",
            path,
            actual,
        )
    return ModelSource(path.name, str(path), actual, None, False, None)


def _listed(settings: Settings) -> list[ModelFile]:
    """The package's listed files; an explicit file needs no list unless a variant is named."""
    try:
        return package_model_files(settings).files
    except ConfigError:
        if settings.model_variant:
            raise
        return []
