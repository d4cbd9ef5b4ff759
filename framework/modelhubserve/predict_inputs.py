"""What ``modelhub predict`` is given, as a list of images: files, folders, quoted globs and ``-`` (stdin)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from modelhub.errors import ModelHubError
from modelhub.images import read_header
from modelhub.inputs import URL

# The files a folder or glob contributes: what Pillow may decode (the model's config decides what it accepts).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Item:
    """One image to predict on: its name as shown, and its path or (from stdin) its bytes."""

    name: str
    source: Path | bytes


@dataclass(frozen=True)
class Problem:
    """An argument that names no image, with the reason."""

    name: str
    message: str
    status: int = 404


def expand(arguments: list[str], stdin: BinaryIO) -> tuple[list[Item], list[Problem]]:
    """The images named by ``arguments``, in order (folders sorted, recursively), and what named none."""
    items: list[Item] = []
    problems: list[Problem] = []
    for argument in arguments:
        if argument == "-":
            found, missing = _stdin(stdin)
            items.extend(found)
            problems.extend(missing)
            continue
        found, problem = _one(argument)
        items.extend(found)
        if problem is not None:
            problems.append(problem)
    # absolute now: an original-style model changes the working directory while it runs
    return [Item(i.name, i.source.resolve() if isinstance(i.source, Path) else i.source) for i in items], problems


def _one(argument: str) -> tuple[list[Item], Problem | None]:
    if URL.match(argument):
        return [], Problem(
            argument,
            f"modelhub predict reads local files, not URLs: download the image first "
            f"(curl -o image.jpg '{argument}') and pass the file",
            400,
        )
    path = Path(argument)
    if path.is_dir():
        return _folder(argument, path)
    if path.is_file():
        return [Item(argument, path)], None
    if _GLOB_CHARS & set(argument):
        matches = sorted(glob.glob(os.path.expanduser(argument), recursive=True))
        items = [
            item
            for match in matches
            for item in (_folder(match, Path(match))[0] if Path(match).is_dir() else [Item(match, Path(match))])
        ]
        return items, None if items else Problem(argument, f"no file matches {argument!r}")
    return [], Problem(argument, f"input file {argument!r} not found")


def _folder(shown: str, folder: Path) -> tuple[list[Item], Problem | None]:
    """The image files under ``folder`` (recursively, hidden files and folders left out), sorted."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(root) / name
            for name in sorted(files)
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        )
    if not found:
        return [], Problem(shown, f"folder {shown!r} holds no image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return [Item(str(path), path) for path in found], None


def _is_image(data: bytes) -> bool:
    try:
        return read_header(data) is not None
    except ModelHubError:  # an image, too large: the model's checks say so
        return True


def _stdin(stdin: BinaryIO) -> tuple[list[Item], list[Problem]]:
    """``-``: one image on stdin, or a list of paths, one per line (as ``find`` prints them)."""
    data = stdin.read()
    if not data:
        return [], [
            Problem("-", "stdin is empty: pipe an image (modelhub predict - < cat.jpg) or a list of paths", 400)
        ]
    if _is_image(data):
        return [Item("-", data)], []
    try:
        lines = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        return [Item("-", data)], []  # binary but not an image: the model's checks say what it is
    items: list[Item] = []
    problems: list[Problem] = []
    for line in lines:
        found, problem = _one(line)
        items.extend(found)
        problems.extend([problem] if problem is not None else [])
    return items, problems
