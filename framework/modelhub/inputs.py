"""Turning what a caller sends (a path, bytes, an image, a multi-input JSON) into a model's input.

Every input is checked from its bytes (type, pixel limit, ``dim_limits``) before the
model sees it.  Batch-contract models get the decoded image; original-style models get the
bytes if they accept in-memory input, else a file in the request's own scratch folder,
removed when the request ends.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from .config import JSON_MIME, ModelConfig
from .errors import BadRequest, Forbidden, NotFound, UnsupportedMediaType
from .images import check_image, check_input, decode
from .settings import Settings
from .urlfetch import FetchPolicy, fetch_url

META_KEYS = frozenset({"format"})


def fetch(url: str, settings: Settings) -> bytes:
    """The bytes at ``url`` under the server's URL policy (off unless enabled)."""
    policy = FetchPolicy(
        enabled=settings.allow_url_fetch,
        allowlist=settings.url_allowlist,
        timeout=settings.url_timeout,
        max_bytes=settings.max_upload_bytes,
    )
    body, _content_type = fetch_url(url, policy)
    return body


def _looks_like_json(data: bytes) -> bool:
    return data.lstrip()[:1] == b"{"


class Scratch:
    """A request's own temporary folder, created only when something is written to it."""

    def __init__(self) -> None:
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def path(self) -> Path:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="modelhub-request-")
        return Path(self._folder.name)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._folder is not None:
            self._folder.cleanup()


def prepare(source: Any, config: ModelConfig, settings: Settings, in_memory: bool, scratch: Scratch) -> Any:
    """Validate ``source`` and return what an original-style model's ``infer`` gets.

    ``in_memory`` models get the uploaded bytes (and opened images); the others get a file path.
    """
    if isinstance(source, Image.Image):
        check_image(source, config.single, max_pixels=settings.max_image_pixels)
        return source
    if isinstance(source, dict):
        return _prepare_multi(source, config, settings, scratch)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if config.multi_input and _looks_like_json(data):
            return _prepare_multi(_parse_json(data), config, settings, scratch)
        return _prepare_single(data, config, settings, in_memory, scratch)
    if isinstance(source, (str, os.PathLike)):
        path = existing_file(source)
        if config.multi_input and path.suffix.lower() == ".json":
            return _prepare_multi(_parse_json(path.read_bytes()), config, settings, scratch)
        check_input(path, config.single, max_pixels=settings.max_image_pixels)
        return str(path)
    raise BadRequest(f"cannot predict on an input of type {type(source).__name__}")


def decoded_image(source: Any, config: ModelConfig, settings: Settings) -> Image.Image:
    """``source`` (bytes, a path, an opened image) as a decoded image within the model's limits."""
    spec, limit = config.single, settings.max_image_pixels
    if isinstance(source, Image.Image):
        check_image(source, spec, max_pixels=limit)
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode(bytes(source), spec, max_pixels=limit)
    if isinstance(source, (str, os.PathLike)):
        return decode(existing_file(source).read_bytes(), spec, max_pixels=limit)
    raise BadRequest(f"cannot predict on an input of type {type(source).__name__}")


def existing_file(source: str | os.PathLike[str]) -> Path:
    """The caller's file, as an absolute path (original-style models run in their package folder)."""
    path = Path(source)
    if not path.is_file():
        raise NotFound(f"input file {path.name!r} not found")
    return path.resolve()


def _prepare_single(
    data: bytes, config: ModelConfig, settings: Settings, in_memory: bool, scratch: Scratch, input_id: str | None = None
) -> Any:
    header = check_input(data, config.input(input_id), max_pixels=settings.max_image_pixels)
    if in_memory and input_id is None:
        return data
    suffix = f".{header.format.lower()}" if header else ".bin"
    path = scratch.path() / f"{input_id or 'input'}{suffix}"
    path.write_bytes(data)
    return str(path)


def _parse_json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(f"the multi-input JSON is malformed: {error}") from None
    if not isinstance(parsed, dict):
        raise BadRequest("the multi-input JSON must be an object of input name to {format, fileurl}")
    return parsed


def _prepare_multi(
    request: dict[str, Any], config: ModelConfig, settings: Settings, scratch: Scratch
) -> dict[str, Any]:
    if not config.multi_input:
        raise UnsupportedMediaType(
            f"this model takes a single image ({', '.join(config.single.formats)}), not a multi-input JSON"
        )
    expected = set(config.named)
    given = {key for key in request if key not in META_KEYS}
    if given - expected or expected - given:
        problems = []
        if expected - given:
            problems.append(f"missing {', '.join(sorted(expected - given))}")
        if given - expected:
            problems.append(f"unknown {', '.join(sorted(given - expected))}")
        raise BadRequest(f"multi-input JSON does not match the model's inputs: {'; '.join(problems)}")
    prepared: dict[str, Any] = {"format": request.get("format", [JSON_MIME])}
    for input_id in sorted(given):
        entry = request[input_id]
        if not isinstance(entry, dict) or not isinstance(entry.get("fileurl"), str):
            raise BadRequest(f"input {input_id!r} needs a string 'fileurl'")
        location = entry["fileurl"]
        if location.lower().startswith(("http://", "https://")):
            data = fetch(location, settings)
        elif "://" in location:
            raise BadRequest(f"input {input_id!r}: only http(s) URLs and files under the data folder are accepted")
        else:
            data = _read_local(location, settings, input_id)
        path = _prepare_single(data, config, settings, False, scratch, input_id)
        prepared[input_id] = {"format": entry.get("format"), "fileurl": path}
    return prepared


def _read_local(location: str, settings: Settings, input_id: str) -> bytes:
    if settings.data_dir is None:
        raise Forbidden(
            f"input {input_id!r}: local files are not accepted by this server "
            f"(set MODELHUB_DATA_DIR to a folder whose files may be used)"
        )
    if "\x00" in location:
        raise BadRequest(f"input {input_id!r}: invalid file name")
    root = settings.data_dir.resolve()
    path = (root / location.lstrip("/")).resolve() if not Path(location).is_absolute() else Path(location).resolve()
    if not path.is_relative_to(root):
        # The original ModelHub launcher mounted data at /data; accept that prefix as the data folder.
        remapped = (root / Path(location).relative_to("/data")).resolve() if location.startswith("/data/") else None
        if remapped is None or not remapped.is_relative_to(root):
            raise Forbidden(f"input {input_id!r}: {location!r} is outside the data folder")
        path = remapped
    if not path.is_file():
        raise NotFound(f"input {input_id!r}: file {location!r} not found in the data folder")
    return path.read_bytes()
