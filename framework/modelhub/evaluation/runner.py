"""Classify every image of a data set, in worker processes, with a per-image cache that makes runs resumable.

Each result is one JSON line of ``<out>/cache/<run key>.jsonl``, appended (and flushed) as soon as it is
known; the key is made of what decides the answers (:func:`run_key`), so another model or changed pipeline
code never reuses them.  A run reads the cache first and classifies only the images
it lacks.  Results do not depend on the number of workers: every image is classified alone, in its own
call, by the same pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from modelhub.progress import is_tty

from .classify import ImageRejected, LocalClassifier, RemoteClassifier, Target, build
from .dataset import Item

log = logging.getLogger(__name__)
TOP = 5
_worker: LocalClassifier | RemoteClassifier | None = None


def record_of(item: Item, probabilities: np.ndarray | None, latency: float, error: str | None) -> dict[str, Any]:
    """The cached result of one image: its label, top-5 classes and probabilities, the label's probability."""
    if probabilities is None:
        return {
            "name": item.name,
            "label": item.label,
            "top5": [],
            "top5_p": [],
            "p_label": 0.0,
            "latency": latency,
            "error": error,
        }
    order = np.argsort(-probabilities, kind="stable")[:TOP]
    return {
        "name": item.name,
        "label": item.label,
        "top5": [int(i) for i in order],
        "top5_p": [float(probabilities[i]) for i in order],
        "p_label": float(probabilities[item.label]),
        "latency": latency,
        "error": None,
    }


def classify_item(classifier: Callable[[bytes], np.ndarray], item: Item) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        data = item.path.read_bytes()
        probabilities = classifier(data)
    except ImageRejected as error:
        return record_of(item, None, time.perf_counter() - started, error.message)
    except OSError as error:
        return record_of(item, None, time.perf_counter() - started, f"cannot read: {error.strerror or error}")
    return record_of(item, probabilities, time.perf_counter() - started, None)


def _init_worker(target: Target) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which ends the pool
    logging.getLogger("modelhub").setLevel(logging.ERROR)  # the parent has logged the same load already
    _worker = build(target)


def _in_worker(item: Item) -> dict[str, Any]:
    assert _worker is not None
    return classify_item(_worker, item)


def run_key(target: Target, model: dict[str, Any]) -> str:
    """The cache's name: what decides the answers, so a change of any of them starts a new cache.

    Locally: the model file's sha256 and the code of the pipeline (the contributor package's Python files and
    model/ JSON, the engine's modules), so fixing a preprocessing bug never reuses the old answers.  For a
    server: its URL, the protocol and the sha256 of the model file it reports.
    """
    digest = hashlib.sha256()
    if target.url:
        digest.update(f"{target.url}|{target.protocol}|{model.get('sha256')}".encode())
        return digest.hexdigest()[:16]
    digest.update(f"local|{model.get('sha256')}".encode())
    package = target.settings.contrib_path
    engine = Path(__file__).resolve().parents[1]
    for path in [
        *sorted(package.glob("*.py")),
        *sorted((package / "model").glob("*.json")),
        *sorted(engine.glob("*.py")),
    ]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def read_cache(path: Path, items: Sequence[Item]) -> dict[str, dict[str, Any]]:
    """The cached results of ``items`` (same name and label); a line cut short by an interruption is skipped."""
    wanted = {item.name: item.label for item in items}
    found: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return found
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and wanted.get(record.get("name", "")) == record.get("label"):
                found[record["name"]] = record
    return found


class Bar:
    """``evaluate [####....] 120/500 24.0 img/s ETA 0:16`` on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, total: int, done: int) -> None:
        self.stream, self.total, self.start_done = stream, total, done
        self.start = self.last = time.monotonic()
        self.shown = is_tty(stream)

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.shown or (not force and now - self.last < 0.1):
            return
        self.last = now
        rate = (done - self.start_done) / max(now - self.start, 1e-6)
        left = int((self.total - done) / rate) if rate > 0 else 0
        filled = int(30 * done / max(self.total, 1))
        self.stream.write(
            f"\revaluate [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} "
            f"{rate:.1f} img/s ETA {left // 60}:{left % 60:02d} "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _results(
    target: Target, todo: list[Item], workers: int, classifier: LocalClassifier | RemoteClassifier
) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(todo) <= 1:
        for item in todo:
            yield classify_item(classifier, item)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no onnxruntime state is forked
    with context.Pool(min(workers, len(todo)), initializer=_init_worker, initargs=(target,)) as pool:
        yield from pool.imap_unordered(_in_worker, todo, chunksize=1)


def evaluate_items(
    target: Target, items: Sequence[Item], out: Path, workers: int, stream: TextIO | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """Every item's result (in ``items`` order), the description of what was evaluated, and the counts."""
    classifier = build(target)
    description = classifier.describe()
    cache_path = out / "cache" / f"{run_key(target, description['model_file'])}.jsonl"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cached = read_cache(cache_path, items)
    todo = [item for item in items if item.name not in cached]
    log.info(
        "%d image(s): %d from the cache %s, %d to classify with %d worker(s)",
        len(items),
        len(cached),
        cache_path,
        len(todo),
        max(1, min(workers, len(todo))),
    )
    bar = Bar(stream or sys.stderr, len(items), len(cached))
    results = dict(cached)
    try:
        with open(cache_path, "a", encoding="utf-8") as cache:
            if cache.tell() and not cache_path.read_bytes().endswith(b"\n"):
                cache.write("\n")  # after a line cut short by a kill: never glue a new result to it
            for record in _results(target, todo, workers, classifier):
                cache.write(json.dumps(record) + "\n")
                cache.flush()
                results[record["name"]] = record
                bar.update(len(results))
        bar.update(len(results), force=True)
    finally:
        bar.close()
    description["cache"] = str(cache_path)
    counts = {"images": len(items), "cached": len(cached), "classified": len(todo)}
    return [results[item.name] for item in items], description, counts
