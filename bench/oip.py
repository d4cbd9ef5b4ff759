"""Server CPU per request: /api/predict against the Open Inference Protocol routes, one server, one run.

    python bench/oip.py [--seconds 8] [--connections 2] [--model int8|float] [--rounds 1]

Starts ``modelhub serve`` as bench/server.py does and drives it with wrk (one thread, 2 connections,
about 8 s per route), in turn:

- ``predict``: ``POST /api/predict``, the 640x480 JPEG of bench/photos.py as multipart (bench/post.lua);
- ``oip-image``: ``POST /v2/models/mobilenet/infer``, the same JPEG as a binary BYTES ``image`` input
  (4-byte length prefix), the ``probabilities`` output [1, 1000] back as binary data;
- ``oip-tensor``: the same photo preprocessed in this process, a binary FP32 ``input`` [1, 3, 224, 224],
  ``probabilities`` back as binary data.

CPU is utime+stime of the server process and its workers from /proc (bench/server.py), before and after
each wrk run, divided by the requests wrk completed; every answer is checked to be a 200 first.  Prints
the table and the ratios to ``predict``; the target is ``oip-image`` <= 1.05x ``predict`` CPU per image.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import load  # noqa: E402
import photos  # noqa: E402
import server as server_mod  # noqa: E402

REPO = BENCH_DIR.parent
MODELS = {"int8": "mobilenetv2-12-int8.onnx", "float": "mobilenetv2-float-from-int8.onnx"}
TARGET_IMAGE_RATIO = 1.05
INFER = "/v2/models/mobilenet/infer"

# wrk script: POST the body of BENCH_BODY with the header Inference-Header-Content-Length: BENCH_HEADER_LENGTH
# and no Content-Type (as tritonclient sends it); the done() line is post.lua's, so load.py's fields apply.
BINARY_LUA = """
local handle = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = handle:read("*all")
handle:close()
wrk.headers["Inference-Header-Content-Length"] = os.getenv("BENCH_HEADER_LENGTH")
"""


def binary_body(header: dict[str, Any], data: bytes) -> tuple[bytes, int]:
    text = json.dumps(header).encode()
    return text + data, len(text)


def bodies(photo: Path, model_file: Path) -> dict[str, tuple[bytes, int]]:
    """The OIP request bodies (and their JSON lengths) for the photo."""
    from modelhub.inputs import decoded_image
    from modelhub.settings import load_settings
    from modelhubapi.service import build_api

    logging.getLogger("modelhub").setLevel(logging.ERROR)  # this process only preprocesses the photo
    data = photo.read_bytes()
    wanted = [{"name": "probabilities", "parameters": {"binary_data": True}}]
    image = {
        "inputs": [
            {"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(data) + 4}}
        ],
        "outputs": wanted,
    }
    plane = build_api(load_settings({"model_file": str(model_file)}, environ={})).plane
    tensor = plane.model.preprocess(decoded_image(data, plane.config, plane.settings))["input"]
    as_tensor = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(tensor.shape),
                "parameters": {"binary_data_size": tensor.nbytes},
            }
        ],
        "outputs": wanted,
    }
    return {
        "oip-image": binary_body(image, len(data).to_bytes(4, "little") + data),
        "oip-tensor": binary_body(as_tensor, tensor.astype("<f4").tobytes()),
    }


def check(url: str, body: bytes, header_length: int) -> None:
    request = urllib.request.Request(
        url + INFER, data=body, method="POST", headers={"Inference-Header-Content-Length": str(header_length)}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and int(response.headers["Inference-Header-Content-Length"]) > 0


def run_binary(
    server: Any, body_file: Path, header_length: int, script: Path, connections: int, seconds: float
) -> dict[str, Any]:
    """One wrk run on the OIP route; the same fields as load.run_wrk."""
    env = {**os.environ, "BENCH_BODY": str(body_file), "BENCH_PATH": INFER, "BENCH_HEADER_LENGTH": str(header_length)}
    command = [
        load.wrk_path(),
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        server.url,
    ]
    before = server.cpu_seconds()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=seconds + 60)
    after = server.cpu_seconds()
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    requests = raw["requests"]
    errors = raw["http_errors"] + raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "connections": connections,
        "requests": requests,
        "requests_per_s": requests / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": errors,
        "server_cpu_ms_per_request": (after - before) / requests * 1000 if requests else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--model", choices=sorted(MODELS), default="int8")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the three routes (alternating order)")
    args = parser.parse_args(argv)
    models_dir = Path(os.environ.get("MODELHUB_TEST_MODELS_DIR", REPO.parent / "shared" / "models"))
    model_file = models_dir / MODELS[args.model]
    if not model_file.is_file():
        raise SystemExit(f"no model file {model_file} (set MODELHUB_TEST_MODELS_DIR)")
    with tempfile.TemporaryDirectory(prefix="bench-oip-") as folder_name:
        folder = Path(folder_name)
        photo = folder / "photo-0.3mp.jpg"
        photos.make_photo(REPO / "contrib_src" / "sample_data" / photos.DEFAULT_SOURCE, 0.3072, photo)
        oip = bodies(photo, model_file)
        script = folder / "binary.lua"
        script.write_text(
            BINARY_LUA + load.LUA_SCRIPT.read_text().split("function done", 1)[1].join(["\nfunction done", ""])
        )
        files = {}
        for name, (body, _length) in oip.items():
            files[name] = folder / f"{name}.bin"
            files[name].write_bytes(body)
        server = server_mod.Server(model_file)
        try:
            server.wait_ready()
            status, _, _ = load.post_image(server.url, photo)
            assert status == 200
            for body, length in oip.values():
                check(server.url, body, length)

            def measure(route: str, seconds: float) -> dict[str, Any]:
                if route == "predict":
                    return load.run_wrk(server.url + "/api/predict", photo, args.connections, seconds, server)
                return run_binary(server, files[route], oip[route][1], script, args.connections, seconds)

            routes = ["predict", "oip-image", "oip-tensor"]
            for route in routes:  # warm-up: first requests of each kind, not counted
                measure(route, 1)
            results: dict[str, list[dict[str, Any]]] = {route: [] for route in routes}
            for round_index in range(args.rounds):
                for route in routes if round_index % 2 == 0 else routes[::-1]:
                    results[route].append(measure(route, args.seconds))
        finally:
            server.stop()
    print(
        f"model {args.model}, {args.connections} connections, {args.seconds:g} s per route, {args.rounds} round(s), "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'route':<12} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU ms/req':>11}")
    cpu = {}
    for route, runs in results.items():
        requests = sum(run["requests"] for run in runs)
        cpu_ms = sum(run["server_cpu_ms_per_request"] * run["requests"] for run in runs) / requests
        cpu[route] = cpu_ms
        last = runs[-1]
        print(
            f"{route:<12} {requests:>9} {sum(r['requests_per_s'] for r in runs) / len(runs):>8.1f} "
            f"{last['p50_ms']:>8.2f} {last['p99_ms']:>8.2f} {sum(r['errors'] for r in runs):>7} {cpu_ms:>11.2f}"
        )
    image_ratio = cpu["oip-image"] / cpu["predict"]
    print(
        f"oip-image  / predict CPU per image: {image_ratio:.3f}x "
        f"[{'x' if image_ratio <= TARGET_IMAGE_RATIO else ' '}] target <= {TARGET_IMAGE_RATIO}x"
    )
    print(
        f"oip-tensor / predict CPU per image: {cpu['oip-tensor'] / cpu['predict']:.3f}x "
        "(no decoding or preprocessing on the server)"
    )
    return 0 if all(run["errors"] == 0 for runs in results.values() for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
