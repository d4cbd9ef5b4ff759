"""The published accuracy of a model file, from ``published_accuracy`` in ``init/init.json``.

The file is found by its sha256; a file whose bytes differ but that names a listed variant gets that
variant's figures, marked ``same_file: false`` (they describe the published bytes, not these).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelhub.fetch import INIT_FILE


def published_for(root: Path, sha256: str | None, variant: str | None) -> dict[str, Any] | None:
    try:
        entries = json.loads((Path(root) / INIT_FILE).read_text(encoding="utf-8"))["external_contrib_files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    by_hash = [e for e in entries if isinstance(e, dict) and sha256 and e.get("sha256", "").lower() == sha256]
    by_variant = [e for e in entries if isinstance(e, dict) and variant and e.get("variant") == variant]
    candidates = [(entry, True) for entry in by_hash[:1]] + [(entry, False) for entry in by_variant[:1]]
    for entry, same in candidates:
        figures = entry.get("published_accuracy")
        if isinstance(figures, dict) and {"top1", "top5"} <= set(figures):
            return {
                "file": Path(str(entry.get("dest_file_path", ""))).name,
                "sha256": entry.get("sha256"),
                "variant": entry.get("variant"),
                "same_file": same,
                "top1": float(figures["top1"]),
                "top5": float(figures["top5"]),
                "source": figures.get("source"),
            }
    return None
