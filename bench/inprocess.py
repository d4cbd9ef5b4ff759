"""The in-process ceiling: decode + preprocessing + onnxruntime + postprocessing + JSON in a loop, no HTTP.

It runs the same functions the server runs for one upload (the contributor package's
preprocessing, ``modelhub.runtime.OnnxSession`` with the server's session options, the
package's ``computeOutput`` and the server's JSON encoder, orjson), without Flask, the HTTP server,
validation or the network, in ``processes`` processes of ``threads`` onnxruntime threads.  Like a
server worker, each process keeps Pillow's freed image blocks for the next photo
(``modelhub.images.keep_image_memory``), so the reference pays the same memory costs as the server.
"""

from __future__ import annotations

import io
import multiprocessing
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

STAGES = ("decode", "preprocess", "inference", "postprocess_json")


class Pipeline:
    """One process's copy of the serving pipeline, stage by stage."""

    def __init__(self, contrib_dir: Path, model_file: Path, threads: int) -> None:
        if str(contrib_dir) not in sys.path:
            sys.path.insert(0, str(contrib_dir))
        import orjson  # the server's JSON encoder (Flask's JSON provider uses it)
        import processing  # the contributor package's preprocessing (contrib_src/processing.py)
        from PIL import Image

        try:
            from modelhub.images import keep_image_memory
        except ImportError:  # a tree from before the kept image blocks (for bench/ab.py)
            pass
        else:
            keep_image_memory()
        self._image = Image
        self._processing = processing
        self._processor = processing.ImageProcessor({})
        self._dumps = orjson.dumps
        try:
            from modelhub.runtime import OnnxSession
        except ImportError:  # a tree from before the engine's batch contract (for bench/ab.py)
            from modelhub.runtime import OnnxRunner  # type: ignore[attr-defined]

            runner = OnnxRunner(model_file, intra_op_threads=threads, inter_op_threads=1)
            self.run = runner.run
        else:
            session = OnnxSession(model_file, intra_op_threads=threads, inter_op_threads=1)
            name, logits = session.inputs[0].name, session.output_names[0]
            self.run = lambda batch: session.run({name: batch})[logits]

    def stages(self, data: bytes) -> tuple[float, ...]:
        """Run one image; return the seconds each stage took."""
        t0 = time.perf_counter()
        image = self._image.open(io.BytesIO(data))
        image.load()
        t1 = time.perf_counter()
        batch = self._processing.preprocess_image(image)
        t2 = time.perf_counter()
        logits = self.run(batch)
        t3 = time.perf_counter()
        labels = self._processor.computeOutput(logits)
        self._dumps({"output": [{"prediction": labels, "shape": [len(labels)], "type": "label_list"}]})
        t4 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3


def stage_times(contrib_dir: Path, model_file: Path, data: bytes, threads: int, iterations: int) -> dict[str, float]:
    """Median milliseconds per stage and in total, one image at a time in this process."""
    pipeline = Pipeline(contrib_dir, model_file, threads)
    for _ in range(5):
        pipeline.stages(data)
    rows = [pipeline.stages(data) for _ in range(iterations)]
    result = {name: statistics.median(row[i] for row in rows) * 1000 for i, name in enumerate(STAGES)}
    result["total"] = statistics.median(sum(row) for row in rows) * 1000
    return result


def _worker(
    contrib_dir: Path, model_file: Path, data: bytes, threads: int, seconds: float, barrier: Any, results: Any
) -> None:
    pipeline = Pipeline(contrib_dir, model_file, threads)
    for _ in range(5):
        pipeline.stages(data)
    barrier.wait()
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        pipeline.stages(data)
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    results.put((count / (now - start), (time.process_time() - cpu_start) / count))


def throughput(
    contrib_dir: Path, model_file: Path, data: bytes, processes: int, threads: int, seconds: float
) -> tuple[float, float]:
    """Images per second of ``processes`` processes running the pipeline flat out together, and CPU ms per image."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(contrib_dir, model_file, data, threads, seconds, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds + 120
    while len(rates) < processes:
        try:
            rates.append(results.get(timeout=0.5))
        except queue.Empty:
            failed = [worker.exitcode for worker in workers if worker.exitcode not in (None, 0)]
            if failed or time.monotonic() > deadline:  # a dead worker leaves the others waiting at the barrier
                for worker in workers:
                    worker.terminate()
                raise RuntimeError(f"in-process workers failed (exit codes {failed}) or timed out") from None
    for worker in workers:
        worker.join()
    return sum(rate for rate, _ in rates), statistics.mean(cpu for _, cpu in rates) * 1000


def ceiling(
    contrib_dir: Path, model_file: Path, data: bytes, cores: int, seconds: float, iterations: int
) -> dict[str, Any]:
    """Throughput for each processes x threads layout of ``cores``, the best one, and its stage times."""
    layouts = sorted({(cores, 1), (1, cores), (1, 1)})
    measured = {f"{p}x{t}": throughput(contrib_dir, model_file, data, p, t, seconds) for p, t in layouts}
    rates = {key: value[0] for key, value in measured.items()}
    best = max(rates, key=lambda key: rates[key])
    threads = int(best.split("x")[1])
    return {
        "images_per_s": rates[best],
        "best_layout": best,
        "cpu_ms_per_image": measured[best][1],
        "layouts_images_per_s": rates,
        # one image at a time, with the best layout's thread count: the single-image latency
        "stages_ms": stage_times(contrib_dir, model_file, data, threads, iterations),
    }
