"""What metrics cost: the same server with MODELHUB_METRICS on and off, alternated, under wrk.

    python bench/metrics_cost.py [--rounds 5] [--seconds 8] [--connections 2] [--model int8] [--access-log]

Both servers (``modelhub serve``, default workers) run at once but only one is loaded at a time; each
round runs wrk against every configuration in turn (the order flips every round), after a short
warm-up, so drift of a shared machine falls on both.  Prints requests/s and server CPU ms per request
per round, and the median of each round's on/off ratio; ``--access-log`` adds a third server with the
access log off too.  On a shared machine the throughput of one run swings by more than the 2% target,
so the script also measures the metrics work itself: the CPU time of what one predict request records
(the request hooks' counter, histogram and gauge, the five stage histograms and the batch size, in
multiprocess mode, i.e. writes to the mmap'ed files), against the server's CPU time per request.
The target: metrics cost under 2% of throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import load  # noqa: E402
import photos  # noqa: E402
import server as server_mod  # noqa: E402

REPO = BENCH_DIR.parent
MODELS = Path(os.environ.get("MODELHUB_TEST_MODELS_DIR", REPO.parent / "shared" / "models"))
MODEL_FILES = {"int8": "mobilenetv2-12-int8.onnx", "float": "mobilenetv2-float-from-int8.onnx"}


def recording_cpu_us(iterations: int = 20000) -> float:
    """CPU microseconds the metrics of one predict request take (multiprocess mode), best of 5."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-cost-prom-")
    from modelhub.prediction import Prediction, Timings
    from modelhubapi.metrics import AppMetrics, method_label

    metrics = AppMetrics(None)
    timings = Timings({"decode": 0.003, "preprocess": 0.002, "queue": 0.0, "inference": 0.004, "postprocess": 0.0005})
    prediction = Prediction([{}], timings)
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(iterations):
            clock = time.perf_counter()  # what the before_request/after_request hooks do, without Flask
            metrics.in_flight.inc()
            metrics.observe(prediction)
            metrics.requests.labels("/api/predict", method_label("POST"), "200").inc()
            metrics.latency.labels("/api/predict").observe(time.perf_counter() - clock)
            metrics.in_flight.dec()
        best = min(best, (time.process_time() - started) / iterations * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--model", choices=sorted(MODEL_FILES), default="int8")
    parser.add_argument("--access-log", action="store_true", help="also a server with metrics and access log off")
    args = parser.parse_args()
    configs = {"metrics on": {"MODELHUB_METRICS": "on"}, "metrics off": {"MODELHUB_METRICS": "off"}}
    if args.access_log:
        configs["metrics+access log off"] = {"MODELHUB_METRICS": "off", "MODELHUB_ACCESS_LOG": "off"}
    model = MODELS / MODEL_FILES[args.model]
    folder = Path(tempfile.mkdtemp(prefix="metrics-cost-"))
    image = photos.make_photos(REPO / "contrib_src" / "sample_data", folder)["0.3MP"]
    servers = {
        name: server_mod.Server(model, env={"MODELHUB_LOG_LEVEL": "warning", **env}) for name, env in configs.items()
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    try:
        for running in servers.values():
            running.wait_ready()
        for round_number in range(args.rounds):
            names = list(configs) if round_number % 2 == 0 else list(reversed(configs))
            for name in names:
                url = servers[name].url + "/api/predict"
                load.run_wrk(url, image, args.connections, 1.0)  # warm-up: caches, connections
                run = load.run_wrk(url, image, args.connections, args.seconds, servers[name])
                if run["errors"]:
                    raise SystemExit(f"{name}: {run['errors']} errors")
                results[name].append({"rps": run["requests_per_s"], "cpu_ms": run["server_cpu_ms_per_request"]})
                print(
                    f"round {round_number + 1} {name:>22}: {run['requests_per_s']:7.1f} req/s  "
                    f"{run['server_cpu_ms_per_request']:.3f} CPU ms/request",
                    flush=True,
                )
    finally:
        for running in servers.values():
            running.stop()
    summary = {
        name: {
            "median_rps": statistics.median(r["rps"] for r in runs),
            "median_cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
            "runs": runs,
        }
        for name, runs in results.items()
    }
    off = results["metrics off"]
    for name, values in summary.items():  # paired: each round's ratio to "metrics off" in the same round
        runs = results[name]
        values["rps_vs_off"] = statistics.median(r["rps"] / o["rps"] - 1 for r, o in zip(runs, off, strict=True))
        values["cpu_vs_off"] = statistics.median(r["cpu_ms"] / o["cpu_ms"] - 1 for r, o in zip(runs, off, strict=True))
        print(
            f"{name:>22}: median {values['median_rps']:.1f} req/s ({values['rps_vs_off']:+.2%} vs off, paired), "
            f"{values['median_cpu_ms']:.3f} CPU ms/request ({values['cpu_vs_off']:+.2%})"
        )
    recording = recording_cpu_us()
    share = recording / 1000 / summary["metrics off"]["median_cpu_ms"]
    print(f"metrics of one predict request: {recording:.1f} CPU us = {share:.2%} of the server's CPU per request")
    cost = -summary["metrics on"]["rps_vs_off"]
    print(
        f"metrics cost: {cost:+.2%} of throughput under wrk (noise included), {share:.2%} of CPU measured "
        f"directly (target < 2%): {'[x]' if share < 0.02 else '[ ]'}"
    )
    out = BENCH_DIR / "results" / "metrics_cost.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "model": model.name,
                "connections": args.connections,
                "seconds": args.seconds,
                "recording_cpu_us": recording,
                "recording_share_of_cpu": share,
                "summary": summary,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
