"""Put the contributor package and the framework on sys.path for these tests."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

for folder in (REPO_ROOT / "framework", REPO_ROOT / "contrib_src"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
