"""The figures of a run: top-1/top-5 with Wilson 95% intervals, per class, confusions, calibration, latency."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054  # the standard normal quantile of 0.975
BINS = 10


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``hits / n``, in percent."""
    if n == 0:
        return 0.0, 100.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def hit1(record: dict[str, Any]) -> bool:
    return bool(record["top5"]) and record["top5"][0] == record["label"]


def hit5(record: dict[str, Any]) -> bool:
    return record["label"] in record["top5"]


def accuracy(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    top1, top5 = sum(map(hit1, records)), sum(map(hit5, records))
    return {
        "images": n,
        "top1_correct": top1,
        "top5_correct": top5,
        "top1": round(100 * top1 / n, 4) if n else None,
        "top5": round(100 * top5 / n, 4) if n else None,
        "top1_interval95": [round(v, 4) for v in wilson(top1, n)],
        "top5_interval95": [round(v, 4) for v in wilson(top5, n)],
    }


def per_class(records: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["label"]].append(record)
    rows = []
    for label in sorted(groups):
        figures = accuracy(groups[label])
        rows.append(
            {
                "class": label,
                "name": labels[label],
                "images": figures["images"],
                "top1": figures["top1"],
                "top5": figures["top5"],
            }
        )
    return rows


def confusions(records: Sequence[dict[str, Any]], labels: Sequence[str], most: int = 20) -> list[dict[str, Any]]:
    """The (true class, top-1 class) pairs most often mixed up."""
    pairs = Counter((r["label"], r["top5"][0]) for r in records if r["top5"] and not hit1(r))
    ranked = sorted(pairs.items(), key=lambda entry: (-entry[1], entry[0]))[:most]
    return [
        {"true": t, "true_name": labels[t], "predicted": p, "predicted_name": labels[p], "count": count}
        for (t, p), count in ranked
    ]


def latency(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    values = np.array([r["latency"] for r in records], dtype=np.float64) * 1000
    if not len(values):
        return {"mean_ms": None, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "mean_ms": round(float(values.mean()), 3),
        "p50_ms": round(float(p50), 3),
        "p90_ms": round(float(p90), 3),
        "p99_ms": round(float(p99), 3),
        "max_ms": round(float(values.max()), 3),
    }


def calibration(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Reliability diagram of the top-1 confidence in ten equal bins, and the expected calibration error."""
    scored = [r for r in records if r["top5"]]
    rows: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(BINS):
        low, high = b / BINS, (b + 1) / BINS
        inside = [r for r in scored if low <= r["top5_p"][0] < high or (b == BINS - 1 and r["top5_p"][0] == 1.0)]
        if inside:
            confidence = float(np.mean([r["top5_p"][0] for r in inside]))
            correct = sum(map(hit1, inside)) / len(inside)
            ece += len(inside) / len(scored) * abs(correct - confidence)
            rows.append(
                {
                    "low": low,
                    "high": high,
                    "images": len(inside),
                    "confidence": round(confidence, 6),
                    "accuracy": round(correct, 6),
                }
            )
        else:
            rows.append({"low": low, "high": high, "images": 0, "confidence": None, "accuracy": None})
    return {"bins": rows, "ece": round(ece, 6) if scored else None}


def histogram(records: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Counts of top-1 confidence in ten bins, for correct and wrong answers."""
    correct, wrong = [0] * BINS, [0] * BINS
    for r in records:
        if r["top5"]:
            slot = min(int(r["top5_p"][0] * BINS), BINS - 1)
            (correct if hit1(r) else wrong)[slot] += 1
    return {"correct": correct, "wrong": wrong}


def compare(measured: dict[str, Any], published: dict[str, Any] | None) -> dict[str, Any]:
    """Whether each published figure lies in the run's Wilson 95% interval."""
    if not published:
        return {"published": None, "verdict": "no published figures for this model file", "reproduced": None}
    checks = {}
    for key in ("top1", "top5"):
        low, high = measured[f"{key}_interval95"]
        checks[key] = {
            "published": published[key],
            "measured": measured[key],
            "interval95": [low, high],
            "within": bool(low <= published[key] <= high),
        }
    reproduced = all(check["within"] for check in checks.values())
    n = measured["images"]
    verdict = (
        f"reproduced: both published figures lie within the 95% Wilson intervals of this {n}-image sample"
        if reproduced
        else f"NOT reproduced: a published figure lies outside the 95% Wilson interval of this {n}-image sample"
    )
    return {"published": published, "checks": checks, "reproduced": reproduced, "verdict": verdict}
