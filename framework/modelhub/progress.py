"""A one-line text progress bar for downloads on a terminal."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """A one-line text progress bar redrawn with carriage returns."""

    def __init__(self, stream: TextIO, name: str, total: int | None) -> None:
        self.stream, self.name, self.total = stream, name, total
        self.start = self.last = time.monotonic()
        self.drawn = self.closed = False

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6) / 1e6
        if self.total:
            pct = 100.0 * done / self.total
            filled = int(30 * done / self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {pct:5.1f}% "
            amount = f"{done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
        else:
            bar, amount = "", f"{done / 1e6:.1f} MB"
        self.stream.write(f"\r{self.name} {bar}{amount} {rate:.1f} MB/s")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line (also after an error), once."""
        if self.drawn and not self.closed:
            self.stream.write("\n")
            self.stream.flush()
        self.closed = True


def is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False
