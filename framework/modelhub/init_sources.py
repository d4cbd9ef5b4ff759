"""Where the model files of ``init/init.json`` come from: an override file, and a mirror.

``init/override.json`` (optional, next to ``init.json``, never committed) replaces ``sha256``, ``size``
and ``src_url`` of listed variants, for a private copy of the files whose bytes are not the published
ones (re-saved, re-quantised)::

    {"variants": {"int8": {"sha256": "<64 hex digits>", "size": 3655640}}}

The replaced values are checked exactly as ``init.json``'s own: a file is still verified, against the
hash the builder chose.  ``init.json`` itself stays as published.

A mirror (``modelhub fetch --mirror BASE``) replaces only where a file is downloaded from: each file
is fetched as ``BASE/<file name>``; ``BASE`` is an ``http(s)://`` or ``file://`` URL or a local folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import ConfigError

log = logging.getLogger(__name__)

OVERRIDE_NAME = "override.json"
OVERRIDABLE = ("sha256", "size", "src_url")


def _variant_of(entry: dict[str, Any]) -> Any:
    """The variant name of a raw entry, as the parser derives it (the file's stem when not given)."""
    if "variant" in entry:
        return entry["variant"]
    rel = entry.get("dest_file_path")
    return Path(rel).stem if isinstance(rel, str) else None


def merge_override(init_dir: Path, entries: list[Any]) -> list[Any]:
    """``entries`` (raw ``external_contrib_files``) with ``init_dir/override.json`` applied, if it exists."""
    path = init_dir / OVERRIDE_NAME
    if not path.is_file():
        return entries
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    variants = data.get("variants") if isinstance(data, dict) else None
    if not isinstance(variants, dict) or not variants:
        raise ConfigError(f'{path}: must be {{"variants": {{"<variant>": {{"sha256": ..., "size": ...}}}}}}')
    known = {_variant_of(e): i for i, e in enumerate(entries) if isinstance(e, dict)}
    merged = list(entries)
    for variant, change in variants.items():
        if variant not in known:
            names = ", ".join(str(k) for k in known) or "none"
            raise ConfigError(f"{path}: unknown variant {variant!r} (init.json has: {names})")
        if not isinstance(change, dict) or not change or set(change) - set(OVERRIDABLE):
            raise ConfigError(f"{path}: variant {variant!r}: give only {', '.join(OVERRIDABLE)}, got {change!r}")
        if "sha256" in change and "size" not in change:
            change = {**change, "size": None}  # init.json's size is not that of the file with the new hash
        index = known[variant]
        merged[index] = {**entries[index], **change}
        log.info("%s: variant %s: %s replaced", path, variant, ", ".join(sorted(change)))
    return merged


def mirror_url(base: str, file_name: str) -> str:
    """The URL of ``file_name`` on the mirror ``base`` (a URL, or a local folder)."""
    if not base.startswith(("http://", "https://", "file://")):
        folder = Path(base).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"mirror {base!r} is neither an http(s)/file URL nor a folder")
        base = folder.as_uri()
    return base.rstrip("/") + "/" + quote(file_name)
