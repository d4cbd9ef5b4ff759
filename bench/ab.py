"""A/B: bench/run.py of two checkouts, alternately (A, B, A, B, ...) in one sitting, each with its own code.

    python bench/ab.py A_DIR B_DIR [--rounds 2] [--quick] [--models int8,float] [--seconds S]

Each checkout gets its own virtual environment, made once and reused: /tmp/ab-venv-<hash of the
checkout's path>, with the checkout installed editable (``pip install -e DIR``, versions pinned by
its framework/requirements.txt), so the server command ``modelhub`` and every import come from that
checkout.  A run is that venv's python on that checkout's bench/run.py; its bench/results/latest.json
is copied away after the run.  Prints, per model, each run's best requests/s and its ratio to the
in-process ceiling, the 1-client p50 minus the in-process latency, errors and what the server adds to
the 12 MP photo, and the medians per build.  Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENV_ROOT = Path("/tmp")
MARKER = ".ab-ready"  # holds the fingerprint of what the venv was made from


def fingerprint(checkout: Path) -> str:
    """What the venv depends on: the interpreter and the checkout's packaging files."""
    digest = hashlib.sha256(sys.version.encode())
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "framework/requirements.txt"):
        path = checkout / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"-") + b"\0")
    return digest.hexdigest()


def venv_for(checkout: Path) -> Path:
    return VENV_ROOT / f"ab-venv-{hashlib.sha256(str(checkout).encode()).hexdigest()[:12]}"


def child_env(venv: Path, models_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        MODELHUB_TEST_MODELS_DIR=str(models_dir),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def ensure_venv(checkout: Path, models_dir: Path) -> Path:
    """The checkout's venv, made (or remade, when its packaging changed) with the checkout installed editable."""
    venv = venv_for(checkout)
    marker = venv / MARKER
    wanted = fingerprint(checkout)
    python = venv / "bin" / "python"
    if not (marker.is_file() and marker.read_text().strip() == wanted and python.exists()):
        print(f"[ab] making {venv} for {checkout} (pip install -e, needs PyPI or pip's cache)", flush=True)
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", str(checkout)]
        pins = checkout / "framework" / "requirements.txt"
        if pins.is_file():
            install += ["-c", str(pins)]  # the Docker image's versions, so both builds run the same libraries
        subprocess.run(install, check=True, env=child_env(venv, models_dir), cwd=checkout)
        marker.write_text(wanted + "\n")
    # the engine must come from this checkout, not from wherever else it is installed
    found = subprocess.run(
        [str(python), "-c", "import modelhub; print(modelhub.__file__)"],
        capture_output=True,
        text=True,
        env=child_env(venv, models_dir),
        cwd="/",
        check=False,
    )
    location = Path(found.stdout.strip()).resolve() if found.returncode == 0 else None
    if location is None or not location.is_relative_to(checkout):
        raise SystemExit(f"{venv}: modelhub is {location or found.stderr.strip()}, not from {checkout}")
    if not (venv / "bin" / "modelhub").exists():
        raise SystemExit(f"{venv}: no modelhub command")
    return venv


def git_describe(checkout: Path) -> str:
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    return commit + ("+uncommitted" if git("status", "--porcelain", "--untracked-files=no") else "")


def run_once(
    label: str, checkout: Path, venv: Path, models_dir: Path, run_args: list[str], out: Path, timeout: float
) -> dict[str, Any] | None:
    """One bench/run.py of ``checkout``; its report (also copied to ``out``), or None when it failed."""
    latest = checkout / "bench" / "results" / "latest.json"
    log_path = out.with_suffix(".log")
    command = [str(venv / "bin" / "python"), str(checkout / "bench" / "run.py"), *run_args]
    started_wall = time.time()
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=checkout,
            env=child_env(venv, models_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        killed: list[bool] = []

        def kill() -> None:  # a run that hangs is killed; the other runs still happen
            killed.append(True)
            process.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                if line.startswith("["):  # run.py's progress lines
                    print(f"      {label}: {line.rstrip()}", flush=True)
            process.wait()
        finally:
            timer.cancel()
    if killed:
        print(f"      {label}: killed after {timeout:.0f} s (log {log_path})")
        return None
    elapsed = time.perf_counter() - started
    if process.returncode != 0 or not latest.is_file() or latest.stat().st_mtime < started_wall:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
        print(f"      {label}: FAILED (exit {process.returncode}) after {elapsed:.0f} s; log {log_path}:\n{tail}")
        return None
    shutil.copyfile(latest, out)
    print(f"      {label}: done in {elapsed:.0f} s -> {out}", flush=True)
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def metrics(report: dict[str, Any], model: str) -> dict[str, Any] | None:
    """The figures compared, for one model of one run (None where an older run.py did not measure them)."""
    result = report.get("models", {}).get(model)
    if result is None:
        return None
    levels = result["server"]["levels"]
    best = max(levels, key=lambda level: level["requests_per_s"])
    targets = result["targets"]
    large = targets.get("large_server_adds_ms")
    if large is None and "large_overhead" in result["server"]:
        large = result["server"]["large_overhead"]["server_adds_ms"]
    return {
        "ceiling_images_per_s": result["ceiling"]["images_per_s"],
        "best_requests_per_s": best["requests_per_s"],
        "best_connections": best["connections"],
        "throughput_vs_ceiling": targets["throughput_vs_ceiling"],
        "p50_1_client_minus_inprocess_ms": targets["latency_1_client_minus_inprocess_ms"],
        "errors": targets["errors_total"],
        "large_server_adds_ms": large,
        "load_average_at_start": report.get("machine", {}).get("load_average_at_start", [None])[0],
    }


def _median(values: list[Any]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


HEADER = (
    f"  {'run':<10} {'ceiling/s':>9} {'best req/s (conn)':>18} {'vs ceiling':>10} {'1-client p50 - in-proc':>23} "
    f"{'errors':>6} {'12 MP server adds':>17} {'load':>5}"
)


def _row(name: str, m: dict[str, Any]) -> str:
    conn = f" ({m['best_connections']})" if m.get("best_connections") is not None else ""
    return (
        f"  {name:<10} {_fmt(m['ceiling_images_per_s'], '9.1f')} "
        f"{_fmt(m['best_requests_per_s'], '.1f') + conn:>18} {_fmt(m['throughput_vs_ceiling'], '10.0%')} "
        f"{_fmt(m['p50_1_client_minus_inprocess_ms'], '+.2f', ' ms'):>23} {_fmt(m['errors'], '6.0f')} "
        f"{_fmt(m['large_server_adds_ms'], '+.1f', ' ms'):>17} {_fmt(m['load_average_at_start'], '5.2f')}"
    )


def summarize(runs: list[dict[str, Any]], models: list[str]) -> dict[str, Any]:
    """Print the side-by-side table per model; return it as data."""
    summary: dict[str, Any] = {}
    for model in models:
        print(f"\n== {model}")
        print(HEADER)
        per_build: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
        rows = []
        for run in runs:
            m = metrics(run["report"], model) if run["report"] else None
            name = f"{run['index']} {run['build']}"
            if m is None:
                print(f"  {name:<10} (failed or no {model} in this run)")
            else:
                print(_row(name, m))
                per_build[run["build"]].append(m)
            rows.append({"run": run["index"], "build": run["build"], "metrics": m})
        medians: dict[str, dict[str, Any] | None] = {}
        for build, items in per_build.items():
            if not items:
                medians[build] = None
                continue
            middle: dict[str, Any] = {key: _median([item[key] for item in items]) for key in items[0]}
            middle["best_connections"] = None
            middle["errors"] = sum(item["errors"] for item in items)  # the total, not a median
            medians[build] = middle
            print(_row(f"median {build}", middle) + f"  ({len(items)} runs; errors: their total)")
        a, b = medians["A"], medians["B"]
        if a and b:
            ratio = b["best_requests_per_s"] / a["best_requests_per_s"]
            points = (b["throughput_vs_ceiling"] - a["throughput_vs_ceiling"]) * 100
            p50 = b["p50_1_client_minus_inprocess_ms"] - a["p50_1_client_minus_inprocess_ms"]
            large = None
            if a["large_server_adds_ms"] is not None and b["large_server_adds_ms"] is not None:
                large = b["large_server_adds_ms"] - a["large_server_adds_ms"]
            print(
                f"  B vs A (medians): best req/s x{ratio:.3f}; vs ceiling {points:+.1f} points; 1-client p50 - "
                f"in-process {p50:+.2f} ms; 12 MP server adds {_fmt(large, '+.1f', ' ms')}"
            )
        summary[model] = {"runs": rows, "medians": medians}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a_dir", type=Path, help="checkout A (the baseline)")
    parser.add_argument("b_dir", type=Path, help="checkout B")
    parser.add_argument("--rounds", type=int, default=2, help="A+B pairs (default 2)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to run.py (int8 only, short)")
    parser.add_argument("--models", default=None, help="pass --models to run.py (comma list of int8,float)")
    parser.add_argument("--seconds", type=float, default=None, help="pass --seconds to run.py")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path(os.environ.get("MODELHUB_TEST_MODELS_DIR", REPO.parent / "shared" / "models")),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the copied reports (default: bench/results/ab-<time> of this checkout)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take (default 900)")
    args = parser.parse_args(argv)
    checkouts = {"A": args.a_dir.resolve(), "B": args.b_dir.resolve()}
    for label, checkout in checkouts.items():
        if not (checkout / "bench" / "run.py").is_file() or not (checkout / "setup.py").is_file():
            raise SystemExit(f"{label}: {checkout} has no bench/run.py or setup.py")
    if not args.models_dir.is_dir():
        raise SystemExit(f"models folder missing: {args.models_dir} (set --models-dir or MODELHUB_TEST_MODELS_DIR)")
    run_args = (["--quick"] if args.quick else []) + (["--models", args.models] if args.models else [])
    run_args += ["--seconds", f"{args.seconds:g}"] if args.seconds else []
    models = (args.models or ("int8" if args.quick else "int8,float")).split(",")
    out = args.out or BENCH_DIR / "results" / f"ab-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    venvs = {label: ensure_venv(checkout, args.models_dir.resolve()) for label, checkout in checkouts.items()}
    described = {label: git_describe(checkout) for label, checkout in checkouts.items()}
    for label, checkout in checkouts.items():
        print(f"[ab] {label}: {checkout} @ {described[label]} (venv {venvs[label]})")
    if checkouts["A"] == checkouts["B"]:
        print("[ab] A and B are the same checkout: the differences below are the noise of this machine")
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    for round_number in range(1, args.rounds + 1):
        for label in ("A", "B"):
            index = len(runs) + 1
            print(
                f"[ab] {time.perf_counter() - started:5.0f} s: run {index}/{2 * args.rounds}: {label} "
                f"(round {round_number})",
                flush=True,
            )
            report = run_once(
                label,
                checkouts[label],
                venvs[label],
                args.models_dir.resolve(),
                run_args,
                out / f"run-{index}-{label}.json",
                args.timeout,
            )
            runs.append({"index": index, "build": label, "report": report})
    print(f"\nA = {checkouts['A']} @ {described['A']}\nB = {checkouts['B']} @ {described['B']}")
    print(
        f"bench/run.py {' '.join(run_args)}; {args.rounds} rounds (A, B alternately) in "
        f"{time.perf_counter() - started:.0f} s"
    )
    summary = summarize(runs, models)
    (out / "summary.json").write_text(
        json.dumps(
            {
                "checkouts": {
                    label: {"dir": str(checkouts[label]), "commit": described[label], "venv": str(venvs[label])}
                    for label in checkouts
                },
                "run_args": run_args,
                "rounds": args.rounds,
                "models": summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nreports, logs and summary.json in {out}")
    return 0 if all(run["report"] for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
