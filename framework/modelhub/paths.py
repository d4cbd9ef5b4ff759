"""Safe lookup of a user-named file inside one folder."""

from __future__ import annotations

from pathlib import Path

from .errors import BadRequest, NotFound

NAME_MAX = 255  # bytes in one file-name component on the usual file systems (ENAMETOOLONG above it)


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 80 else f"{name[:60]!r}... ({len(name)} characters)"


def safe_file(folder: Path, name: str, what: str = "file") -> Path:
    """The regular file ``name`` directly or below ``folder``; never anything outside it.

    Absolute names, ``..`` parts, NUL bytes, backslashes and components longer than 255 bytes
    are refused (400); a name that does not exist, that resolves (through links) outside
    ``folder`` or into a link loop is 404.  The file system is never asked about a name it
    could fail on with anything but "no".
    """
    if not name or "\x00" in name or "\\" in name:
        raise BadRequest(f"invalid {what} name")
    parts = Path(name).parts
    if Path(name).is_absolute() or any(part in ("..", ".") for part in parts) or name.startswith("/"):
        raise BadRequest(f"invalid {what} name {_shown(name)}: only plain names inside the {what} folder are allowed")
    if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in parts):
        raise BadRequest(f"invalid {what} name {_shown(name)}: a part of it is longer than {NAME_MAX} bytes")
    try:
        root = folder.resolve()
        candidate = (root / name).resolve()
        found = candidate.is_relative_to(root) and candidate.is_file()
    except (OSError, RuntimeError):  # a link loop (RuntimeError before Python 3.13), a path too long in all
        found = False
    if not found:
        raise NotFound(f"{what} {_shown(name)} not found")
    return candidate
