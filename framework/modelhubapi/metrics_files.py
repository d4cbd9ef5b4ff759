"""Reading the metrics that every process of ``modelhub serve`` wrote to its own files."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from prometheus_client import Metric, multiprocess


class ValueFiles(multiprocess.MultiProcessCollector):
    """prometheus_client's merge of the processes' value files, robust to workers coming and going.

    A new process's file exists at 0 bytes before it is sized, which the library's reader fails on
    (prometheus/client_python#1199): such a file holds nothing yet and is skipped.  A dead worker's
    live-gauge files are removed by the main process; one that goes between listing and reading
    makes the merge start again.
    """

    def collect(self) -> Iterable[Metric]:
        for attempt in range(3):
            files = [path for path in glob.glob(os.path.join(self._path, "*.db")) if _has_values(path)]
            try:
                return list(self.merge(files, accumulate=True))
            except FileNotFoundError:
                if attempt == 2:
                    raise
        return []


def _has_values(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # gone since it was listed
        return False
