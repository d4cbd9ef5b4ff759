"""``modelhub predict``: classify image files, folders, globs or stdin in-process, without a server.

Images go through the model in batches of its batch size (one at a time where the batch is fixed),
decoded and preprocessed by ``--workers`` threads while onnxruntime runs each batch on as many
threads; answers are written in the order of the inputs, a progress bar shows on a terminal, and
the images per second are reported at the end (on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

from modelhub.errors import ModelHubError
from modelhub.progress import is_tty
from modelhub.settings import Settings
from modelhub.slots import Deadline

from .predict_inputs import Item, expand
from .predict_output import FORMATS, Writer

DESCRIPTION = """\
Classify images with the model, in this process (no server). IMAGE may be a file, a folder
(searched recursively for .jpg, .jpeg, .png, .webp, .bmp, .tif, .tiff, .gif files), a quoted glob
('photos/**/*.jpg') or - for stdin (one image, or a list of paths one per line). The exit status is 1
if an image failed (its error is in the output), 2 if the model or a setting is wrong."""

EXAMPLES = """\
examples:
  modelhub predict contrib_src/sample_data/cat_chelsea.png --top 3
  modelhub predict contrib_src/sample_data --format csv > predictions.csv
  modelhub predict 'contrib_src/sample_data/*.jpg' --format jsonl
  modelhub predict - < contrib_src/sample_data/coffee_cup.jpg"""

# Images per model call when the model's batch is free: smaller batches keep the threads' decoding and the model
# overlapping (96 photos, int8 file, 2 workers on the 2-core development machine: batch 8 177-181 images/s in
# quiet runs, batch 32 95-118, batch 1 69-123).
MAX_BATCH = 8


def add_arguments(predict: argparse.ArgumentParser) -> None:
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image file, folder, quoted glob, or -")
    predict.add_argument("--top", type=int, default=5, help="classes to show per image (default 5)")
    predict.add_argument(
        "--format", choices=FORMATS, default=None, help="table (default), jsonl (one ModelHub response per line) or csv"
    )
    predict.add_argument("--json", action="store_true", help="the same as --format jsonl")
    predict.add_argument(
        "--workers",
        type=int,
        default=None,
        dest="predict_workers",
        help="threads that decode and preprocess, and onnxruntime threads (default: one per core)",
    )
    predict.add_argument(
        "--batch",
        type=int,
        default=None,
        help=f"images per model call (default: the model's batch size, at most {MAX_BATCH})",
    )


def run(args: argparse.Namespace, settings: Settings, stdout: TextIO, stderr: TextIO) -> int:
    from modelhubapi.service import build_api

    if args.top < 1:
        raise ModelHubError("--top must be at least 1")
    for flag, value in (("--workers", args.predict_workers), ("--batch", args.batch)):
        if value is not None and value < 1:
            raise ModelHubError(f"{flag} must be at least 1")
    items, problems = expand(args.images, sys.stdin.buffer)
    workers = args.predict_workers or settings.effective_workers()
    if "MODELHUB_INTRA_OP_THREADS" not in os.environ:  # a batch's inference uses the cores as well
        settings = dataclasses.replace(settings, intra_op_threads=workers)
    writer = Writer(
        stdout, "jsonl" if args.json else args.format or "table", [i.name for i in items] + [p.name for p in problems]
    )
    for problem in problems:
        writer.error(problem.name, problem.message, problem.status)
    if not items:
        return 1
    api = build_api(settings)
    metadata = api.plane.metadata()
    size = args.batch or (min(max(metadata.max_batch_size, 1), MAX_BATCH) if metadata else 1)
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    bar = _Bar(stderr, len(items)) if is_tty(stderr) else None
    started, failures = time.perf_counter(), len(problems)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="predict")
    try:
        for answers in pool.map(lambda batch: list(_predict(api, batch, args.top)), batches):
            for item, response, error in answers:
                if error is None:
                    writer.result(item.name, response)
                else:
                    failures += 1
                    writer.error(item.name, *error)
            stdout.flush()
            if bar is not None:
                bar.add(len(answers))
    except BrokenPipeError:  # `modelhub predict photos | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())  # no second error when Python flushes stdout
        return 1
    finally:  # Ctrl-C or a closed pipe: the batches not started yet are dropped, not run
        pool.shutdown(wait=False, cancel_futures=True)
    seconds = time.perf_counter() - started
    if bar is not None:
        bar.close()
    stderr.write(
        f"{len(items)} image{'s' * (len(items) != 1)} in {seconds:.2f} s: "
        f"{len(items) / max(seconds, 1e-9):.1f} images/s, {failures} failed\n"
    )
    return 1 if failures else 0


def _predict(api: Any, batch: list[Item], top: int) -> Iterator[tuple[Item, Any, tuple[str, int] | None]]:
    """Each item's response, as one batch; when the batch fails, one by one, so each error is its own."""
    try:
        responses = api.predict([item.source for item in batch], top=top, deadline=Deadline(None))
    except (ModelHubError, OSError) as error:
        if len(batch) > 1:
            for item in batch:
                yield from _predict(api, [item], top)
            return
        yield batch[0], None, _error(error)
        return
    yield from ((item, response, None) for item, response in zip(batch, responses, strict=True))


def _error(error: ModelHubError | OSError) -> tuple[str, int]:
    if isinstance(error, ModelHubError):
        return error.message, error.status
    reason = error.strerror or str(error) or type(error).__name__
    return (f"cannot read {error.filename}: {reason}" if error.filename else f"cannot read a file: {reason}"), 400


class _Bar:
    """``predict: 37/120 images, 45.2 images/s`` redrawn on a terminal."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total, self.done, self.start = stream, total, 0, time.perf_counter()

    def add(self, count: int) -> None:
        self.done += count
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        filled = 30 * self.done // self.total
        self.stream.write(
            f"\rpredict [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} images, {rate:.1f} images/s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
