"""Paired bursts: the servers of two checkouts side by side, short wrk bursts alternating between them.

    python bench/pair.py A_DIR B_DIR [--model int8] [--connections 2,8] [--rounds 4] [--seconds 6]

Both servers run at once (the idle one costs nothing) with the checkout's own ``modelhub`` (the venvs of
``bench/ab.py``).  Each burst gives requests/s and the server's CPU per request (main process and workers,
from /proc).  A burst lasts a few seconds and the next one goes to the other build, so a pair sees the same
state of a shared machine: finer than whole ``bench/run.py`` runs (``bench/ab.py``) for a change of the
request path, where both builds share the in-process ceiling.  Prints every burst and, per connection
count, the medians and B against A.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import ab  # noqa: E402
import load  # noqa: E402
import photos  # noqa: E402
import run as bench_run  # noqa: E402
from server import Server  # noqa: E402


def summary(connections: int, bursts: dict[str, list[dict[str, float]]]) -> str:
    """The medians of each build's bursts and B against A."""
    keys = ("requests_per_s", "server_cpu_ms_per_request", "p50_ms")
    a, b = ({key: statistics.median(burst[key] for burst in bursts[label]) for key in keys} for label in "AB")
    wins = sum(y["requests_per_s"] > x["requests_per_s"] for x, y in zip(bursts["A"], bursts["B"], strict=True))
    return (
        f"c={connections} medians: A {a['requests_per_s']:.1f} req/s, {a['server_cpu_ms_per_request']:.3f} ms CPU; "
        f"B {b['requests_per_s']:.1f} req/s, {b['server_cpu_ms_per_request']:.3f} ms CPU; B vs A: "
        f"x{b['requests_per_s'] / a['requests_per_s']:.3f} req/s, "
        f"{b['server_cpu_ms_per_request'] - a['server_cpu_ms_per_request']:+.3f} ms CPU per request, "
        f"p50 {b['p50_ms'] - a['p50_ms']:+.2f} ms; B faster in {wins} of {len(bursts['A'])} pairs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--model", choices=sorted(bench_run.MODELS), default="int8")
    parser.add_argument("--connections", default="2,8")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=bench_run.MODELS_DIR,
    )
    args = parser.parse_args(argv)
    checkouts = {"A": args.a.resolve(), "B": args.b.resolve()}
    venvs = {label: ab.ensure_venv(path, args.models_dir) for label, path in checkouts.items()}
    model_file = args.models_dir / bench_run.MODELS[args.model]
    servers: dict[str, Server] = {}
    with tempfile.TemporaryDirectory() as folder:
        image = photos.make_photos(bench_run.CONTRIB / "sample_data", Path(folder))["0.3MP"]
        try:
            for label, venv in venvs.items():
                env = ab.child_env(venv, args.models_dir)
                servers[label] = Server(model_file, env=env, program=[str(venv / "bin" / "modelhub")])
            for server in servers.values():
                server.wait_ready()
            for label in servers:
                print(f"{label} = {checkouts[label]} @ {ab.git_describe(checkouts[label])}", flush=True)
            for connections in [int(x) for x in args.connections.split(",")]:
                bursts: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
                load.run_wrk(servers["A"].url + "/api/predict", image, connections, 2, servers["A"])  # warm-up
                load.run_wrk(servers["B"].url + "/api/predict", image, connections, 2, servers["B"])
                for round_ in range(1, args.rounds + 1):
                    for label, server in servers.items():
                        burst = load.run_wrk(server.url + "/api/predict", image, connections, args.seconds, server)
                        bursts[label].append(burst)
                        print(
                            f"c={connections} round {round_} {label}: {burst['requests_per_s']:6.1f} req/s, "
                            f"{burst['server_cpu_ms_per_request']:.3f} ms server CPU per request, "
                            f"p50 {burst['p50_ms']:.2f} ms, {burst['errors']} errors",
                            flush=True,
                        )
                print(summary(connections, bursts), flush=True)
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
