"""Model files listed in ``init/init.json``: reading the list, downloading, sha256 verification.

``init/init.json`` keeps the keys of the original ModelHub launcher (``docker_id``,
``external_contrib_files`` with ``src_url`` and ``dest_file_path``) and adds ``sha256``,
``size``, ``variant`` and ``default`` to each file.  ``dest_file_path`` is relative to the
repository root (the folder that holds ``init/``).

Downloads are idempotent and atomic: bytes go to a temporary file next to the destination,
are hashed while they arrive and are moved into place with ``os.replace`` only when size and
sha256 match.  Nothing is left behind when a download fails.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from modelhub.errors import ConfigError, IntegrityError, ModelHubError

from .init_sources import merge_override, mirror_url
from .model_files import ModelFile as ModelFile
from .model_files import by_variant as by_variant
from .model_files import default_file as default_file
from .model_files import match_by_hash as match_by_hash
from .progress import Progress, is_tty

logger = logging.getLogger(__name__)

INIT_FILE = Path("init") / "init.json"
CHUNK_SIZE = 1 << 20
USER_AGENT = "modelhub-fetch/1.0"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class FetchError(ModelHubError):
    """A model file could not be downloaded (network error, HTTP error, short read)."""

    status = 502


def read_init(root: Path) -> list[ModelFile]:
    """Read ``<root>/init/init.json`` and return its files; raise ConfigError when unusable."""
    path = Path(root).resolve() / INIT_FILE
    return read_file_list(path, path.parent.parent, allow_empty=False)


def read_file_list(path: Path, base: Path, *, allow_empty: bool = True) -> list[ModelFile]:
    """The files of a list in ``init.json``'s format; each ``dest_file_path`` is relative to ``base``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    entries = data.get("external_contrib_files") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not (entries or allow_empty):
        raise ConfigError(f"{path}: 'external_contrib_files' must be a non-empty list")
    entries = merge_override(path.parent, entries)  # init/override.json, when a builder gives one
    files = [_parse_entry(path, base.resolve(), i, entry) for i, entry in enumerate(entries)]
    variants = [f.variant for f in files]
    if len(set(variants)) != len(variants):
        raise ConfigError(f"{path}: variants must be unique, got {variants}")
    if sum(f.default for f in files) > 1:
        raise ConfigError(f'{path}: more than one file has "default": true')
    return files


def _parse_entry(path: Path, root: Path, index: int, entry: Any) -> ModelFile:
    where = f"{path}: external_contrib_files[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    missing = [k for k in ("src_url", "dest_file_path", "sha256") if k not in entry]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    src_url, rel, sha = entry["src_url"], entry["dest_file_path"], entry["sha256"]
    if not isinstance(src_url, str) or not src_url.startswith(("http://", "https://", "file://")):
        raise ConfigError(f"{where}: 'src_url' must be an http(s) or file URL, got {src_url!r}")
    if not isinstance(sha, str) or not _SHA256_RE.match(sha.lower()):
        raise ConfigError(f"{where}: 'sha256' must be 64 hex digits, got {sha!r}")
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
        raise ConfigError(f"{where}: 'dest_file_path' must be a relative path, got {rel!r}")
    dest = (root / rel).resolve()
    if not dest.is_relative_to(root):
        raise ConfigError(f"{where}: 'dest_file_path' {rel!r} points outside {root}")
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ConfigError(f"{where}: 'size' must be a non-negative integer, got {size!r}")
    variant = entry.get("variant", dest.stem)
    if not isinstance(variant, str) or not variant:
        raise ConfigError(f"{where}: 'variant' must be a non-empty string, got {variant!r}")
    default = entry.get("default", False)
    if not isinstance(default, bool):
        raise ConfigError(f"{where}: 'default' must be true or false, got {default!r}")
    return ModelFile(dest.name, src_url, dest, sha.lower(), size, variant, default)


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str, expected_size: int | None = None) -> None:
    """Raise a one-line IntegrityError unless ``path`` has the expected sha256 (and size)."""
    expected = expected_sha256.lower()
    if not os.path.isfile(path):
        raise IntegrityError(f"{path}: model file missing (expected sha256 {expected})")
    actual = sha256_file(path)
    size = os.path.getsize(path)
    if expected_size is not None and size != expected_size:
        raise IntegrityError(
            f"{path}: size {size} bytes of expected {expected_size} (truncated or wrong file); "
            f"sha256 expected {expected}, actual {actual}"
        )
    if actual != expected:
        raise IntegrityError(f"{path}: sha256 mismatch: expected {expected}, actual {actual}")


def download(
    file: ModelFile,
    *,
    progress: bool | None = None,
    timeout: float = 30.0,
    stream: TextIO | None = None,
) -> bool:
    """Make sure ``file.dest`` holds the right bytes; return True if it was downloaded.

    ``progress=None`` shows a progress bar only when ``stream`` (default: sys.stderr) is a tty.
    """
    stream = sys.stderr if stream is None else stream
    dest = file.dest
    if dest.is_file():
        actual = sha256_file(dest)
        if actual == file.sha256:
            logger.info("%s already present, sha256 ok", dest)
            return False
        logger.warning("%s has sha256 %s, expected %s: downloading again", dest, actual, file.sha256)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    show = is_tty(stream) if progress is None else progress
    logger.info("downloading %s from %s", file.name, file.src_url)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{file.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual, done = _copy_url(file, out, timeout, stream if show else None)
            out.flush()
            os.fsync(out.fileno())
        if file.size is not None and done != file.size:
            raise IntegrityError(
                f"{file.name}: downloaded {done} bytes of expected {file.size} "
                f"from {file.src_url}; sha256 expected {file.sha256}, actual {actual}"
            )
        if actual != file.sha256:
            raise IntegrityError(
                f"{file.name}: sha256 mismatch after download from {file.src_url}: "
                f"expected {file.sha256}, actual {actual}"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("%s saved to %s (sha256 ok)", file.name, dest)
    return True


def _copy_url(file: ModelFile, out: Any, timeout: float, stream: TextIO | None) -> tuple[str, int]:
    """Stream ``file.src_url`` into ``out``; return (sha256, byte count)."""
    request = urllib.request.Request(file.src_url, headers={"User-Agent": USER_AGENT})
    digest, done = hashlib.sha256(), 0
    bar: Progress | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else file.size
            bar = Progress(stream, file.name, total) if stream is not None else None
            while chunk := response.read(CHUNK_SIZE):
                digest.update(chunk)
                out.write(chunk)
                done += len(chunk)
                if bar:
                    bar.update(done)
            if bar:
                bar.update(done, force=True)
    except urllib.error.HTTPError as exc:
        message = f"{file.name}: HTTP {exc.code} {exc.reason} from {file.src_url}"
        raise FetchError(message) from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{file.name}: cannot download {file.src_url}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        raise FetchError(f"{file.name}: download from {file.src_url} failed: {reason}") from None
    finally:
        if bar:
            bar.close()
    if length and length.isdigit() and done < int(length):
        raise FetchError(f"{file.name}: connection closed after {done} of {int(length)} bytes from {file.src_url}")
    return digest.hexdigest(), done


def fetch_all(
    root: Path, variants: list[str] | None = None, mirror: str | None = None, **kw: Any
) -> list[tuple[ModelFile, bool]]:
    """Download every file of ``init/init.json`` (or only the given variants), from ``mirror`` if given."""
    return fetch_files(read_init(root), variants, mirror, **kw)


def fetch_files(
    files: list[ModelFile], variants: list[str] | None = None, mirror: str | None = None, **kw: Any
) -> list[tuple[ModelFile, bool]]:
    """Download every listed file (or only the given variants), from ``mirror`` if given."""
    if variants:
        files = [by_variant(files, v) for v in variants]
    if mirror:
        files = [replace(f, src_url=mirror_url(mirror, f.name)) for f in files]
    return [(f, download(f, **kw)) for f in files]
