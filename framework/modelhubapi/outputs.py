"""Array outputs saved as ``.npy`` files for ``GET /api/output/<file>``, in a folder every worker shares.

``modelhub serve`` makes the folder before it starts its workers (or uses ``MODELHUB_OUTPUT_DIR``),
so a file saved by one worker is served by any other.  Without a server, a temporary folder is
made on first use and removed with the store.  The newest ``keep`` files stay; older ones are pruned.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
import weakref
from pathlib import Path

import numpy as np

from modelhub.paths import safe_file

SUFFIX = ".npy"


class OutputStore:
    def __init__(self, folder: Path | None = None, keep: int = 256) -> None:
        self._folder = folder
        self.keep = keep
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="modelhub-output-"))
                weakref.finalize(self, shutil.rmtree, self._folder, True)
            return self._folder

    @folder.setter
    def folder(self, folder: Path | str) -> None:
        with self._lock:
            self._folder = Path(folder)

    def save(self, array: np.ndarray) -> str:
        """Save ``array``; return its file name."""
        folder = self.folder
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # a shared folder is made by its first user
        name = f"{uuid.uuid4().hex}{SUFFIX}"
        np.save(folder / name, array, allow_pickle=False)
        self._prune(folder)
        return name

    def path(self, name: str) -> Path:
        return safe_file(self.folder, name, "output")  # 404 also while the folder does not exist yet

    def _prune(self, folder: Path) -> None:
        entries = []
        for entry in os.scandir(folder):
            if entry.name.endswith(SUFFIX):
                try:
                    entries.append((entry.stat().st_mtime_ns, entry.path))
                except FileNotFoundError:  # pruned by another worker meanwhile
                    continue
        for _mtime, stale in sorted(entries)[: max(0, len(entries) - self.keep)]:
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
