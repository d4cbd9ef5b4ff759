"""The ``modelhub`` command: serve, predict, fetch."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelhub import __version__
from modelhub.errors import ModelHubError
from modelhub.settings import Settings, load_settings

log = logging.getLogger("modelhub")


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-file", help="serve this ONNX file (MODELHUB_MODEL_FILE)")
    parser.add_argument("--model-sha256", help="expected sha256 of --model-file (MODELHUB_MODEL_SHA256)")
    parser.add_argument("--variant", dest="model_variant", help="variant from init/init.json, e.g. float or int8")
    parser.add_argument("--contrib", dest="contrib_dir", help="contributor package folder (default contrib_src)")
    parser.add_argument("--log-level", help="debug, info, warning, error, critical")


def _ray_flags(parser: argparse.ArgumentParser) -> None:
    ray = parser.add_argument_group('Ray Serve (--engine ray; pip install -e ".[ray]")')
    ray.add_argument("--engine", choices=("server", "ray"), help="server (default): this machine; ray: Ray Serve")
    ray.add_argument("--ray-address", help="Ray cluster to join (host:port); default: start a local Ray instance")
    ray.add_argument("--replicas", type=int, help="replicas (default 1)")
    ray.add_argument("--min-replicas", type=int, help="autoscale from this many replicas (with --max-replicas)")
    ray.add_argument("--max-replicas", type=int, help="autoscale up to this many replicas")
    ray.add_argument("--replica-cpus", type=float, help="CPUs per replica = its onnxruntime threads (default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelhub", description="Serve and run a ModelHub model package.")
    parser.add_argument("--version", action="version", version=f"modelhub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the production REST server")
    _model_flags(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    serve.add_argument(
        "--allow-url-fetch",
        action="store_true",
        default=None,
        help="allow GET /api/predict?fileurl= for hosts in MODELHUB_URL_ALLOWLIST",
    )
    _ray_flags(serve)

    predict = commands.add_parser("predict", help="classify images without a server")
    _model_flags(predict)
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--top", type=int, default=5, help="classes to show per image (default 5)")
    predict.add_argument("--json", action="store_true", help="print JSON (one response per image)")

    fetch = commands.add_parser("fetch", help="download and verify the files listed in init/init.json")
    fetch.add_argument("--variant", action="append", dest="variants", help="only this variant (repeatable)")
    fetch.add_argument("--log-level", help="debug, info, warning, error, critical")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    names = (
        "model_file",
        "model_sha256",
        "model_variant",
        "contrib_dir",
        "host",
        "port",
        "workers",
        "allow_url_fetch",
        "log_level",
        "engine",
        "ray_address",
        "replicas",
        "min_replicas",
        "max_replicas",
        "replica_cpus",
    )
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    autoscale = given.get("min_replicas") is not None or given.get("max_replicas") is not None
    if autoscale and given.get("replicas") is not None:
        raise ModelHubError("--replicas and --min-replicas/--max-replicas exclude each other")
    if autoscale and (given.get("min_replicas") is None or given.get("max_replicas") is None):
        raise ModelHubError("--min-replicas and --max-replicas go together")
    return load_settings(given)


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


def _predict(args: argparse.Namespace, settings: Settings) -> int:
    from modelhubapi.service import build_api

    if args.top < 1:
        raise ModelHubError("--top must be at least 1")
    paths = [Path(p).resolve() for p in args.images]  # before any change of working directory
    api = build_api(settings)
    failures = 0
    for shown, path in zip(args.images, paths, strict=True):
        try:
            response = api.predict(path, top=args.top)
        except (ModelHubError, OSError) as error:
            failures += 1
            message, status = (
                (error.message, error.status) if isinstance(error, ModelHubError) else (_os_error(error), 400)
            )
            if args.json:
                _print(json.dumps({"file": shown, "error": message, "status": status}))
            else:
                sys.stderr.write(f"{shown}: error: {message}\n")
            continue
        if args.json:
            _print(json.dumps({"file": shown, **response}))
        else:
            _print(_format_text(shown, response))
    return 1 if failures else 0


def _os_error(error: OSError) -> str:
    """One line for a file the process could not open or read (``PermissionError``, ``EIO``...)."""
    reason = error.strerror or str(error) or type(error).__name__
    return f"cannot read {error.filename}: {reason}" if error.filename else f"cannot read a file: {reason}"


def _format_text(name: str, response: dict[str, Any]) -> str:
    lines = [f"{name}  ({response['processing_time'] * 1000:.0f} ms)"]
    for output in response["output"]:
        if output["type"] == "label_list":
            for rank, entry in enumerate(output["prediction"], 1):
                lines.append(f"  {rank}. {entry['probability'] * 100:6.2f}%  {entry['label']}")
        else:
            lines.append(f"  {output['name']}: {output['prediction']}")
    return "\n".join(lines)


def _fetch(args: argparse.Namespace, settings: Settings) -> int:
    from modelhub.fetch import fetch_all

    for file, downloaded in fetch_all(settings.root, args.variants):
        log.info("%s %s (sha256 %s)", "downloaded" if downloaded else "already present", file.dest, file.sha256)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command == "serve" and settings.engine == "ray":
            from .ray_engine import serve_on_ray

            serve_on_ray(settings)
            return 0
        if args.command == "serve":
            from .production import serve

            serve(settings)
            return 0
        if args.command == "predict":
            return _predict(args, settings)
        return _fetch(args, settings)
    except ModelHubError as error:
        sys.stderr.write(f"modelhub: error: {error.message}\n")
        return 2
    except OSError as error:  # a file of the model or package that cannot be read (e.g. no permission)
        sys.stderr.write(f"modelhub: error: {_os_error(error)}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
