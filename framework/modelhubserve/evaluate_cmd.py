"""``modelhub evaluate``: top-1/top-5 of the served pipeline on a labelled folder, with a report."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from modelhub.cpus import available_cpus
from modelhub.errors import BadRequest
from modelhub.settings import Settings

PROTOCOLS = ("modelhub", "oip")  # as modelhub.evaluation.classify.PROTOCOLS (kept light: no import here)

log = logging.getLogger("modelhub.evaluate")


def _cores() -> int:
    return available_cpus()  # the affinity mask capped by the cgroup CPU quota (docker run --cpus)


def add_parser(commands: Any, model_flags: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="measure top-1/top-5 accuracy on a labelled image folder, through the served pipeline",
        description="Layouts: ImageNet val (ILSVRC2012_val_*.JPEG with LOC_val_solution.csv or "
        "ILSVRC2012_validation_ground_truth.txt) or class folders (DIR/<wnid or index>/*.jpg).",
        epilog="examples:\n  modelhub evaluate /path/to/imagenet/val --variant float --out report/\n"
        "  modelhub evaluate photos/ --url http://127.0.0.1:8080 --protocol oip",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model_flags(evaluate)
    evaluate.add_argument("folder", help="the labelled image folder")
    evaluate.add_argument(
        "--labels",
        metavar="FILE",
        help="ground-truth file (LOC_val_solution.csv or the devkit's "
        "ILSVRC2012_validation_ground_truth.txt); default: found beside the images",
    )
    evaluate.add_argument("--url", help="evaluate the server at this URL instead of the local pipeline")
    evaluate.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="modelhub",
        help="with --url: POST /api/predict (modelhub, default) or /v2/models/{name}/infer (oip)",
    )
    evaluate.add_argument("--limit", type=int, metavar="N", help="only the first N images (sorted by name)")
    evaluate.add_argument(
        "--workers",
        dest="eval_workers",
        type=int,
        default=0,
        metavar="N",
        help="processes classifying at once (default: one per core)",
    )
    evaluate.add_argument(
        "--published",
        metavar="VARIANT",
        help="compare with the published figures of this variant of init/init.json (default: the model file's "
        "own, found by its sha256 or its variant); for a re-saved or converted copy of a published file",
    )
    evaluate.add_argument("--out", default="report", help="report folder (default: report/); also the cache")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from modelhub.evaluation import classes
    from modelhub.evaluation.classify import Target, software
    from modelhub.evaluation.dataset import load_dataset
    from modelhub.evaluation.html import render
    from modelhub.evaluation.published import published_for
    from modelhub.evaluation.report import build_results, summary, write_json, write_text
    from modelhub.evaluation.runner import evaluate_items

    if args.limit is not None and args.limit < 1:
        raise BadRequest("--limit must be at least 1")
    if args.eval_workers < 0:
        raise BadRequest("--workers must be at least 1 (0: one per core)")
    out = Path(args.out).expanduser().resolve()
    dataset = load_dataset(Path(args.folder), Path(args.labels) if args.labels else None, skip=out)
    items = dataset.items[: args.limit] if args.limit else dataset.items
    target = Target(settings, args.url, args.protocol)
    workers = args.eval_workers or _cores()
    records, described, counts = evaluate_items(target, items, out, workers)
    model = described.get("model_file") or {}
    published = published_for(settings.root, model.get("sha256"), args.published or model.get("variant"))
    results = build_results(dataset, records, described, counts, classes.names(), published, software())
    write_json(out / "results.json", results)
    write_text(out / "index.html", render(results))
    sys.stdout.write(summary(results) + f"\nreport: {out / 'index.html'}\n")
    return 0
