"""The ``modelhub`` command: serve, predict, fetch, evaluate (``predict`` lives in :mod:`.predict_cmd`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from modelhub import __version__
from modelhub.errors import ModelHubError
from modelhub.package import check_package
from modelhub.settings import Settings, load_settings

from . import predict_cmd, verify
from .evaluate_cmd import add_parser as add_evaluate
from .evaluate_cmd import run as run_evaluate

log = logging.getLogger("modelhub")


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-file", help="the ONNX file to use (MODELHUB_MODEL_FILE)")
    parser.add_argument("--model-sha256", help="expected sha256 of --model-file (MODELHUB_MODEL_SHA256)")
    parser.add_argument(
        "--variant", dest="model_variant", help="a variant the package lists (init/init.json: float or int8)"
    )
    parser.add_argument("--contrib", dest="contrib_dir", help="contributor package folder (default contrib_src)")
    parser.add_argument("--log-level", help="debug, info, warning, error, critical")


def _command(commands: Any, name: str, summary: str, description: str, examples: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _ray_flags(parser: argparse.ArgumentParser) -> None:
    ray = parser.add_argument_group('Ray Serve (--engine ray; pip install -e ".[ray]")')
    ray.add_argument("--engine", choices=("server", "ray"), help="server (default): this machine; ray: Ray Serve")
    ray.add_argument("--ray-address", help="Ray cluster to join (host:port); default: start a local Ray instance")
    ray.add_argument("--replicas", type=int, help="replicas (default 1)")
    ray.add_argument("--min-replicas", type=int, help="autoscale from this many replicas (with --max-replicas)")
    ray.add_argument("--max-replicas", type=int, help="autoscale up to this many replicas")
    ray.add_argument("--replica-cpus", type=float, help="CPUs per replica = its onnxruntime threads (default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelhub",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve and run a ModelHub model package (MobileNetV2 by default).",
        epilog="Run `modelhub COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"modelhub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(
        commands,
        "serve",
        "run the production REST server (the Docker image's command)",
        "Verify the model file, load and warm up the model, then serve the REST API, the Open "
        "Inference Protocol\nand the page on http://HOST:PORT/ with one worker process per core.",
        "examples:\n  modelhub serve\n  modelhub serve --variant int8 --port 8081\n"
        "  modelhub serve --model-file ../shared/models/mobilenetv2-12-int8.onnx --workers 2\n"
        "  modelhub serve --engine ray --replicas 2   # on Ray Serve (pip install -e '.[ray]')",
    )
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

    predict = _command(
        commands,
        "predict",
        "classify image files, folders or stdin without a server",
        predict_cmd.DESCRIPTION,
        predict_cmd.EXAMPLES,
    )
    _model_flags(predict)
    predict_cmd.add_arguments(predict)

    verify.add_parser(commands, _model_flags)

    fetch = _command(
        commands,
        "fetch",
        "download and verify the model files the package lists",
        "Download the model files of the package's list (init/init.json for contrib_src), check "
        "size and sha256,\nand move each into place; a file already present with the right hash "
        "is kept.",
        "examples:\n  modelhub fetch\n  modelhub fetch --variant int8\n  modelhub fetch --contrib path/to/package",
    )
    fetch.add_argument("--variant", action="append", dest="variants", help="only this variant (repeatable)")
    fetch.add_argument("--contrib", dest="contrib_dir", help="contributor package folder (default contrib_src)")
    fetch.add_argument(
        "--mirror", help="download each file as MIRROR/<file name> (http(s)/file URL or folder); sha256 still checked"
    )
    fetch.add_argument("--log-level", help="debug, info, warning, error, critical")
    add_evaluate(commands, _model_flags)
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
        "golden_dir",
    )
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    autoscale = given.get("min_replicas") is not None or given.get("max_replicas") is not None
    if autoscale and given.get("replicas") is not None:
        raise ModelHubError("--replicas and --min-replicas/--max-replicas exclude each other")
    if autoscale and (given.get("min_replicas") is None or given.get("max_replicas") is None):
        raise ModelHubError("--min-replicas and --max-replicas go together")
    return load_settings(given)


def _os_error(error: OSError) -> str:
    """One line for a file the process could not open or read (``PermissionError``, ``EIO``...)."""
    reason = error.strerror or str(error) or type(error).__name__
    return f"cannot read {error.filename}: {reason}" if error.filename else f"cannot read a file: {reason}"


def _fetch(args: argparse.Namespace, settings: Settings) -> int:
    from modelhub.fetch import fetch_files
    from modelhub.model_source import package_model_files

    listed = package_model_files(settings)
    if not listed.files and not args.variants:  # with --variant: "unknown model variant ... (known: none)"
        log.info("the package %s lists no model file: nothing to fetch", settings.contrib_path)
        return 0
    for file, downloaded in fetch_files(listed.files, args.variants, mirror=args.mirror or None):
        log.info("%s %s (sha256 %s)", "downloaded" if downloaded else "already present", file.dest, file.sha256)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command == "evaluate":
            return run_evaluate(args, settings)
        check_package(settings)
        if args.command == "verify":
            return verify.run(args, settings)
        if args.command == "serve" and settings.engine == "ray":
            from .ray_engine import serve_on_ray

            serve_on_ray(settings)
            return 0
        if args.command == "serve":
            from .production import serve

            serve(settings)
            return 0
        if args.command == "predict":
            return predict_cmd.run(args, settings, sys.stdout, sys.stderr)
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
