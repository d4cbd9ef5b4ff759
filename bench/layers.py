"""Where a request's CPU goes, layer by layer, in one process (no network, no wrk).

    python bench/layers.py [--model int8|float] [--rounds 5] [--per-round 80]

Each layer adds one step on top of the previous one, for the same 640x480 JPEG:

    pipeline     decode + preprocessing + onnxruntime + computeOutput + JSON (the ceiling's loop)
    dataplane    the engine's ``DataPlane.infer``: input checks, decode, the model's stages, the
                 inference slot and the deadline, stage timings (``Prediction``)
    api.predict  plus the ModelHub response dict (``ModelHubService.predict``)
    wsgi         plus the Flask app: route, body read, multipart parsing, metrics and the JSON
                 response (no HTTP server)

Rounds alternate the layers so that a busy machine skews them alike; the best round is shown.
The difference between two lines is that layer's cost; what the HTTP server adds on top shows
in ``bench/run.py`` (server CPU per request against the in-process CPU per image).
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import inprocess  # noqa: E402
import load  # noqa: E402
import photos  # noqa: E402
import run as bench_run  # noqa: E402

BOUNDARY = "modelhub-bench-layers"


def layers(model_file: Path, data: bytes) -> dict[str, Callable[[], object]]:
    from modelhub.host import ModelHost
    from modelhub.settings import load_settings
    from modelhubapi.app import create_app
    from modelhubapi.service import build_api

    settings = load_settings({"model_file": str(model_file)})
    api = build_api(settings)
    app = create_app(settings, host=ModelHost(settings, api.plane))
    pipeline = inprocess.Pipeline(bench_run.CONTRIB, model_file, threads=1)
    body = load.multipart_body(data, "photo.jpg", BOUNDARY)

    def wsgi() -> object:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/predict",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        }
        statuses: list[str] = []
        payload = b"".join(app(environ, lambda status, headers, exc=None: statuses.append(status)))
        if not statuses[0].startswith("200"):
            raise RuntimeError(f"{statuses[0]}: {payload[:300]!r}")
        return payload

    return {
        "pipeline": lambda: pipeline.stages(data),
        "dataplane": lambda: api.plane.infer([data]),
        "api.predict": lambda: api.predict(data),
        "wsgi": wsgi,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(bench_run.MODELS), default="int8")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=80)
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=bench_run.MODELS_DIR,
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model_file = args.models_dir / bench_run.MODELS[args.model]
    with tempfile.TemporaryDirectory() as folder:
        data = photos.make_photos(bench_run.CONTRIB / "sample_data", Path(folder))["0.3MP"].read_bytes()
    steps = layers(model_file, data)
    for step in steps.values():
        for _ in range(5):
            step()
    best = {name: float("inf") for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            started = time.process_time()
            for _ in range(args.per_round):
                step()
            best[name] = min(best[name], (time.process_time() - started) / args.per_round * 1000)
    previous = None
    for name, cpu_ms in best.items():
        added = "" if previous is None else f"  ({cpu_ms - previous:+.3f})"
        print(f"{name:12s} {cpu_ms:7.3f} ms CPU per request{added}")
        previous = cpu_ms


if __name__ == "__main__":
    main()
