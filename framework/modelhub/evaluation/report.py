"""``results.json``: the figures of a run, what was evaluated, and whether it reproduces the published ones."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import metrics
from .dataset import Dataset

METHOD = (
    "Top-1/top-5 are the share of images whose labelled class is the most probable class / among the five "
    "most probable. Each figure has a 95% Wilson score interval for a binomial proportion over the "
    "images evaluated; the run reproduces the published figures when both lie inside their intervals. "
    "Images the pipeline rejected count as misses. The published figures were measured on the 50000 "
    "ILSVRC-2012 validation images: the comparison means something for a sample of those images only."
)


def build_results(
    dataset: Dataset,
    records: Sequence[dict[str, Any]],
    described: dict[str, Any],
    counts: dict[str, int],
    labels: Sequence[str],
    published: dict[str, Any] | None,
    software: dict[str, str],
) -> dict[str, Any]:
    overall = metrics.accuracy(records)
    errors = [{"name": r["name"], "error": r["error"]} for r in records if r.get("error")]
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {
            "folder": str(dataset.folder),
            "layout": dataset.layout,
            "labels_file": dataset.labels_file,
            "class_mapping": dataset.mapping,
            "images": len(records),
            "classes": len({r["label"] for r in records}),
        },
        "evaluated": described,
        "run": counts,
        "overall": overall,
        "reproduction": {**metrics.compare(overall, published), "method": METHOD},
        "per_class": metrics.per_class(records, labels),
        "confusions": metrics.confusions(records, labels),
        "calibration": metrics.calibration(records),
        "confidence_histogram": metrics.histogram(records),
        "latency": metrics.latency(records),
        "errors": {"count": len(errors), "first": errors[:20]},
        "software": software,
    }


def write_json(path: Path, value: Any) -> None:
    """Written to a temporary file and moved into place: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary(results: dict[str, Any]) -> str:
    """The lines the command prints at the end."""
    overall, reproduction = results["overall"], results["reproduction"]
    lines = [
        f"{overall['images']} images ({results['run']['cached']} from the cache), "
        f"{results['dataset']['classes']} classes, {results['errors']['count']} rejected",
        f"top-1 {overall['top1']:.2f}%  (95% CI {overall['top1_interval95'][0]:.2f}-"
        f"{overall['top1_interval95'][1]:.2f})",
        f"top-5 {overall['top5']:.2f}%  (95% CI {overall['top5_interval95'][0]:.2f}-"
        f"{overall['top5_interval95'][1]:.2f})",
    ]
    published = reproduction.get("published")
    if published:
        differs = "" if published["same_file"] else " (for the published bytes; this file differs)"
        lines.append(
            f"published for {published['file']}: top-1 {published['top1']:.2f}%, top-5 "
            f"{published['top5']:.2f}%{differs}"
        )
    lines.append(reproduction["verdict"])
    return "\n".join(lines)
