"""Safe lookup of a user-named file inside one folder."""

from __future__ import annotations

from pathlib import Path

from .errors import BadRequest, NotFound


def safe_file(folder: Path, name: str, what: str = "file") -> Path:
    """The regular file ``name`` directly or below ``folder``; never anything outside it.

    Absolute names, ``..`` parts, NUL bytes and backslashes are refused (400); a name
    that does not exist or that resolves (through links) outside ``folder`` is 404.
    """
    if not name or "\x00" in name or "\\" in name:
        raise BadRequest(f"invalid {what} name")
    parts = Path(name).parts
    if Path(name).is_absolute() or any(part in ("..", ".") for part in parts) or name.startswith("/"):
        raise BadRequest(f"invalid {what} name {name!r}: only plain names inside the {what} folder are allowed")
    root = folder.resolve()
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        raise NotFound(f"{what} {name!r} not found")
    return candidate
