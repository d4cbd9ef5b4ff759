"""Golden outputs: does the served pipeline reproduce the reference implementation on the sample images?

A golden file ``<golden_dir>/<sha256 of the model file>.json`` (written by the independent
reference script ``contrib_src/golden/reference.py``) holds, per sample image, the five most
probable classes and their probabilities.  A pipeline reproduces them when, for every sample, its
own five most probable classes are the same, in the same order (two golden classes whose
probabilities lie within the tolerance may swap), and the probability of each golden class is
within :data:`TOLERANCE` of the golden one.  The check runs at warm-up (:func:`warm_up`) and in
``modelhub verify``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .contract import LabelScores
from .errors import ConfigError, ModelHubError
from .fetch import sha256_file
from .slots import Deadline

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
TOP = 5
WARM_UP_SECONDS = 60.0  # the most the golden check may take (or the request timeout, if longer)


@dataclass(frozen=True)
class SampleCheck:
    """One sample: the golden top 5, the live one, the largest probability difference, and the verdict."""

    name: str
    expected: list[dict[str, Any]]  # [{"index", "label", "probability"}], from the golden file
    actual: list[dict[str, Any]]  # the same from the live pipeline ([] when it could not run)
    max_difference: float | None
    problem: str | None  # None: reproduced

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class Report:
    """The check of one model file against its golden file."""

    sha256: str
    golden_file: Path
    samples: list[SampleCheck] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return bool(self.samples) and all(sample.ok for sample in self.samples)


def golden_dir(settings: Any) -> Path:
    """Where golden files are read and written: ``golden_dir``, else ``<contrib>/golden``."""
    folder: Path | None = getattr(settings, "golden_dir", None)
    return Path(folder) if folder else settings.contrib_path / "golden"


def golden_path(folder: Path, sha256: str) -> Path:
    return folder / f"{sha256.lower()}.json"


def load_golden(folder: Path, sha256: str) -> dict[str, Any] | None:
    """The golden document for a model file, ``None`` if there is none; a broken file is a ConfigError."""
    path = golden_path(folder, sha256)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        samples = document["samples"]
        if not isinstance(samples, dict) or not all(
            isinstance(entry.get("top5"), list) and entry["top5"] for entry in samples.values()
        ):
            raise ValueError("'samples' must map each image to a non-empty 'top5' list")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"golden file {path} is not valid: {error}") from None
    return dict(document)


def top_entries(scores: np.ndarray, labels: Sequence[str], k: int = TOP) -> list[dict[str, Any]]:
    order = np.argsort(-scores, kind="stable")[:k]
    return [{"index": int(i), "label": labels[int(i)], "probability": float(scores[i])} for i in order]


def compare(
    name: str, expected: list[dict[str, Any]], scores: np.ndarray, labels: Sequence[str], tolerance: float = TOLERANCE
) -> SampleCheck:
    """Check one sample's live probabilities (all classes) against its golden top entries."""
    actual = top_entries(scores, labels, len(expected))
    if len(scores) != len(labels):
        return SampleCheck(name, expected, actual, None, f"{len(scores)} scores for {len(labels)} labels")
    if not all(isinstance(entry.get("index"), int) and 0 <= entry["index"] < len(scores) for entry in expected):
        return SampleCheck(name, expected, actual, None, "the golden file names a class the model does not have")
    differences = [abs(float(scores[entry["index"]]) - float(entry["probability"])) for entry in expected]
    largest = max(differences)
    if largest > tolerance:
        worst = expected[differences.index(largest)]
        return SampleCheck(
            name,
            expected,
            actual,
            largest,
            f"probability of {worst['label']!r} is {float(scores[worst['index']]):.6f}, "
            f"golden {float(worst['probability']):.6f}",
        )
    for rank, (want, got) in enumerate(zip(expected, actual, strict=True), 1):
        if want["index"] != got["index"] and not _tie(expected, rank - 1, got["index"], tolerance):
            return SampleCheck(
                name, expected, actual, largest, f"rank {rank} is {got['label']!r}, golden {want['label']!r}"
            )
    return SampleCheck(name, expected, actual, largest, None)


def _tie(expected: list[dict[str, Any]], position: int, index: int, tolerance: float) -> bool:
    """Golden classes whose probabilities lie within the tolerance of each other may come in either order."""
    here = float(expected[position]["probability"])
    return any(entry["index"] == index and abs(float(entry["probability"]) - here) <= tolerance for entry in expected)


def golden_samples(
    document: dict[str, Any],
    locate: Callable[[str], Path],
) -> tuple[list[SampleCheck], list[tuple[str, Path, list[dict[str, Any]]]]]:
    """The golden samples that cannot be checked (missing or changed file), and ``(name, path, top5)`` of the rest."""
    failed: list[SampleCheck] = []
    runnable: list[tuple[str, Path, list[dict[str, Any]]]] = []
    for name, entry in sorted(document["samples"].items()):
        try:
            path = locate(name)
        except ModelHubError:
            failed.append(SampleCheck(name, entry["top5"], [], None, "the sample file is missing"))
            continue
        if entry.get("sha256") and sha256_file(path) != entry["sha256"]:
            failed.append(SampleCheck(name, entry["top5"], [], None, "the sample file has changed"))
            continue
        runnable.append((name, path, entry["top5"]))
    return failed, runnable


def check_plane(plane: Any, folder: Path | None = None) -> Report | None:
    """Run the golden samples through ``plane``'s pipeline and compare; ``None`` without a golden file."""
    source = plane.source
    if source is None:
        return None
    folder = folder or golden_dir(plane.settings)
    document = load_golden(folder, source.sha256)
    if document is None:
        return None
    report = Report(source.sha256, golden_path(folder, source.sha256))
    failed, runnable = golden_samples(document, plane.files.sample_path)
    report.samples.extend(failed)
    if runnable:
        # Bounded, but not by a request timeout tuned for one image: six images must not fail a small one.
        deadline = Deadline(max(float(plane.settings.request_timeout), WARM_UP_SECONDS))
        prediction = plane.infer([path for _, path, _ in runnable], deadline=deadline)
        for (name, _, expected), outputs in zip(runnable, prediction.outputs, strict=True):
            scores = next((value for value in outputs.values() if isinstance(value, LabelScores)), None)
            if scores is None:
                report.samples.append(SampleCheck(name, expected, [], None, "the model gave no label list"))
            else:
                report.samples.append(compare(name, expected, np.asarray(scores.scores), scores.labels))
    report.samples.sort(key=lambda sample: sample.name)
    return report


def warm_up(plane: Any) -> bool | None:
    """Warm the model up with the golden check (or one sample without a golden file); the verdict.

    ``True``/``False``: whether the pipeline reproduces the golden outputs of its model file;
    ``None``: no golden file for it (the plain warm-up ran instead).  A mismatch is logged as an error.
    """
    try:
        report = check_plane(plane)
    except ModelHubError as error:
        plane.warm_up()  # one sample at a time: its error names the sample and the cause
        raise ConfigError(f"the warm-up check on the golden samples failed: {error.message}") from error
    if report is None:
        plane.warm_up()
        if plane.source is not None:
            log.warning(
                "no golden outputs for %s (sha256 %s) in %s: reproduction not checked; record them "
                "with `modelhub verify --record`",
                plane.source.file,
                plane.source.sha256,
                golden_dir(plane.settings),
            )
        return None
    if report.reproduced:
        log.info(
            "the pipeline reproduces the golden outputs of %s on %d samples (%s)",
            plane.source.file,
            len(report.samples),
            report.golden_file.name,
        )
        return True
    failed = [f"{sample.name}: {sample.problem}" for sample in report.samples if not sample.ok]
    log.error(
        "REPRODUCTION FAILED: the pipeline does NOT reproduce the golden outputs of %s (%s) on %d of %d "
        "samples: %s; predictions may differ from the reference; run `modelhub verify` for the table",
        plane.source.file,
        report.golden_file,
        len(failed),
        len(report.samples),
        "; ".join(failed),
    )
    return False
