"""``modelhub verify``: do the served pipeline's outputs on the sample images match the golden outputs?

Without ``--url`` the model is loaded in this process (exactly as ``modelhub serve`` loads it) and
the samples run through its pipeline; with ``--url`` each sample is uploaded to a running server's
``POST /api/predict`` and the server's own ``get_config`` says which model file (sha256) it
serves.  ``--record`` first writes the golden file for the model file with the independent
reference implementation (``<contrib>/golden/reference.py``).  Exit status: 0 reproduced,
1 drift, 2 no golden file or another error.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelhub.errors import ConfigError, ModelHubError
from modelhub.settings import Settings

if TYPE_CHECKING:
    from modelhub.reproduction import Report

URL_TIMEOUT = 60.0


def add_parser(commands: Any, model_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    verify = commands.add_parser(
        "verify",
        help="check the pipeline against the golden outputs of the model file",
        description="Run the package's sample images through the pipeline (or a running server) and compare each\n"
        "with the golden outputs of the model file (same top-5 classes in order, probabilities within 1e-4).\n"
        "Exit 0 when all match, 1 on drift, 2 when there is nothing to compare with.",
        epilog="examples:\n  modelhub verify --variant int8\n  modelhub verify --url http://127.0.0.1:8080\n"
        "  modelhub verify --model-file my.onnx --record",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model_flags(verify)
    verify.add_argument("--url", help="check a running server (its POST /api/predict) instead of this process")
    verify.add_argument(
        "--record",
        action="store_true",
        help="first write the golden outputs of the model file with contrib_src/golden/reference.py",
    )
    verify.add_argument("--golden-dir", help="folder of <sha256>.json golden files (default <contrib>/golden)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """The command (numpy and the engine are imported here, not when the ``modelhub`` parser is built)."""
    settings = dataclasses.replace(settings, require_reproduced=False)  # the table says it, not a load error
    if args.record:
        if args.url:
            raise ModelHubError("--record writes golden outputs for a local model file; it cannot use --url")
        _write(f"recorded {record(settings)}")
    report = _check_url(args.url.rstrip("/") + "/", settings) if args.url else _check_local(settings)
    _write(table(report))
    return 0 if report.reproduced else 1


def record(settings: Settings) -> Path:
    """Write the golden file of the settings' model file with the package's reference script."""
    from modelhub.model_source import resolve_model_source
    from modelhub.reproduction import golden_dir

    source = resolve_model_source(settings)
    if source is None:
        raise ConfigError(f"the package {settings.contrib_path} uses no model file: there is nothing to record")
    script = settings.contrib_path / "golden" / "reference.py"
    spec = importlib.util.spec_from_file_location("modelhub_golden_reference", script)
    if spec is None or spec.loader is None or not script.is_file():
        raise ConfigError(f"no reference implementation at {script}")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    written: Path = reference.write_golden(
        Path(source.path),
        settings.contrib_path / "sample_data",
        settings.contrib_path / "model" / "labels.json",
        golden_dir(settings),
    )
    return written


def _check_local(settings: Settings) -> Report:
    from modelhub.host import load
    from modelhub.reproduction import check_plane

    plane = load(settings)
    report = check_plane(plane)
    if report is None:
        raise _no_golden(plane.source.sha256 if plane.source else "?", settings)
    return report


def _no_golden(sha256: str, settings: Settings) -> ModelHubError:
    from modelhub.reproduction import golden_dir, golden_path

    return ModelHubError(
        f"no golden outputs for the model file with sha256 {sha256} "
        f"({golden_path(golden_dir(settings), sha256)}); write them with `modelhub verify --record`"
    )


def _check_url(base: str, settings: Settings) -> Report:
    import numpy as np

    from modelhub.reproduction import Report, compare, golden_dir, golden_path, golden_samples, load_golden

    config = json.loads(_request(base + "api/get_config"))
    sha256 = str(config.get("model", {}).get("file", {}).get("sha256", ""))
    if not sha256:
        raise ModelHubError(f"{base}api/get_config names no model file sha256")
    document = load_golden(golden_dir(settings), sha256)
    if document is None:
        raise _no_golden(sha256, settings)
    report = Report(sha256, golden_path(golden_dir(settings), sha256))
    samples = settings.contrib_path / "sample_data"
    failed, runnable = golden_samples(document, lambda name: _local_sample(samples, name))
    report.samples.extend(failed)
    for name, path, expected in runnable:
        answer = json.loads(_request(base + "api/predict", path.read_bytes()))
        entries = answer["output"][0]["prediction"]  # without ?top: every class, in class-index order
        scores = np.asarray([float(entry["probability"]) for entry in entries])
        report.samples.append(compare(name, expected, scores, [str(entry["label"]) for entry in entries]))
    report.samples.sort(key=lambda sample: sample.name)
    return report


def _local_sample(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ModelHubError(f"sample {name} not found")
    return path


def _request(url: str, upload: bytes | None = None) -> bytes:
    """GET ``url``, or POST ``upload`` to it as the multipart field ``file``; the body of a 200 answer."""
    headers: dict[str, str] = {}
    body = None
    if upload is not None:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="sample"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + upload
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=URL_TIMEOUT) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as error:
        raise ModelHubError(f"{url} answered {error.code}: {error.read()[:300].decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ModelHubError(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None


def _top1(entries: list[dict[str, Any]]) -> str:
    return f"{entries[0]['label'][:22]} {float(entries[0]['probability']):.6f}" if entries else "-"


def table(report: Report) -> str:
    """The check as a text table, one sample a line, and a verdict."""
    from modelhub.reproduction import TOLERANCE

    lines = [
        f"golden outputs: {report.golden_file} (model sha256 {report.sha256})",
        f"{'sample':<30} {'golden top-1':<32} {'live top-1':<32} {'max |dp|':>9}  result",
    ]
    for sample in report.samples:
        difference = "-" if sample.max_difference is None else f"{sample.max_difference:.1e}"
        verdict = "ok" if sample.ok else f"DRIFT: {sample.problem}"
        lines.append(
            f"{sample.name[:30]:<30} {_top1(sample.expected):<32} {_top1(sample.actual):<32} {difference:>9}  {verdict}"
        )
    good = sum(sample.ok for sample in report.samples)
    rule = f"top 5 in order, probabilities within {TOLERANCE:g}"
    if report.reproduced:
        lines.append(f"reproduced: {good} of {len(report.samples)} samples match the golden outputs ({rule})")
    else:
        lines.append(
            f"DRIFT: {len(report.samples) - good} of {len(report.samples)} samples differ from the "
            f"golden outputs ({rule})"
        )
    return "\n".join(lines)


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
