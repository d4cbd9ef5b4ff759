"""``index.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched) of a run's results."""

from __future__ import annotations

from html import escape
from typing import Any

from . import svg

STYLE = """body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#b42318;font-weight:bold}figure{margin:1em 0}
code{background:#f3f3f3;padding:0 3px}"""


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in pairs)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _reproduction(results: dict[str, Any]) -> str:
    reproduction, overall = results["reproduction"], results["overall"]
    published = reproduction.get("published")
    css = {True: "ok", False: "bad", None: ""}[reproduction.get("reproduced")]
    parts = [f'<p class="{css}">{escape(reproduction["verdict"])}</p>']
    if published:
        note = "" if published["same_file"] else " (figures of the published file; the file evaluated differs)"
        rows = [
            [
                key,
                f"{published[key]:.2f}",
                f"{overall[key]:.2f}",
                f"{check['interval95'][0]:.2f} - {check['interval95'][1]:.2f}",
                "yes" if check["within"] else "no",
            ]
            for key, check in reproduction["checks"].items()
        ]
        parts.append(
            f"<p>Published for <code>{escape(published['file'])}</code>{escape(note)}: "
            f"{escape(str(published.get('source') or ''))}</p>"
        )
        parts.append(_table(["figure", "published %", "measured %", "95% interval", "within"], rows))
    parts.append(f"<p>{escape(reproduction['method'])}</p>")
    return "".join(parts)


def _charts(results: dict[str, Any]) -> str:
    per_class = sorted(results["per_class"], key=lambda row: (-row["top1"], row["class"]))
    accuracy = svg.bars(
        "Top-1 accuracy per class (sorted)",
        [row["top1"] for row in per_class],
        y_label="top-1 %",
        x_label=f"{len(per_class)} classes",
        y_max=100,
        names=[f"{row['class']} {row['name']} ({row['images']} images)" for row in per_class],
        ticks=[str(row["class"]) for row in per_class] if len(per_class) <= 20 else None,
    )
    histogram = results["confidence_histogram"]
    ticks = [f"{b / 10:.1f}" for b in range(10)]
    confidence = svg.stacked(
        "Top-1 confidence",
        [histogram["correct"], histogram["wrong"]],
        [svg.BLUE, svg.RED],
        y_label="images",
        x_label="probability of the top class (bin start)",
        y_max=max(max(c + w for c, w in zip(histogram["correct"], histogram["wrong"], strict=True)), 1),
        ticks=ticks,
        legend=["top-1 right", "top-1 wrong"],
    )
    bins = results["calibration"]["bins"]
    reliability = svg.stacked(
        "Reliability diagram",
        [[100 * (b["accuracy"] or 0) for b in bins]],
        [svg.BLUE],
        y_label="top-1 accuracy %",
        x_label="confidence bin",
        y_max=100,
        ticks=ticks,
        names=[f"{b['images']} images" for b in bins],
        line=[10 * i + 5 for i in range(10)],
        legend=["accuracy", "perfect calibration"],
    )
    latency = results["latency"]
    keys = ["mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
    values = [latency[k] or 0 for k in keys]
    timing = svg.bars(
        "Latency per image",
        values,
        y_label="ms",
        x_label="statistic",
        y_max=max(values) * 1.1 or 1,
        ticks=[k.removesuffix("_ms") for k in keys],
        names=keys,
    )
    return "".join(f"<figure>{chart}</figure>" for chart in (accuracy, confidence, reliability, timing))


def render(results: dict[str, Any]) -> str:
    overall, evaluated, dataset = results["overall"], results["evaluated"], results["dataset"]
    model = evaluated.get("model_file") or {}
    summary = _rows(
        [
            ("evaluated", evaluated.get("where")),
            ("model file", model.get("file")),
            ("sha256", model.get("sha256")),
            ("variant", model.get("variant")),
            ("folder", dataset["folder"]),
            ("layout", dataset["layout"]),
            ("labels", dataset["labels_file"] or "class folders"),
            ("class ids", dataset["class_mapping"]),
            ("images", overall["images"]),
            ("classes", dataset["classes"]),
            ("rejected images", results["errors"]["count"]),
            (
                "top-1",
                f"{overall['top1']:.2f}% (95% CI {overall['top1_interval95'][0]:.2f} - "
                f"{overall['top1_interval95'][1]:.2f})",
            ),
            (
                "top-5",
                f"{overall['top5']:.2f}% (95% CI {overall['top5_interval95'][0]:.2f} - "
                f"{overall['top5_interval95'][1]:.2f})",
            ),
            ("expected calibration error", results["calibration"]["ece"]),
            ("created", results["created"]),
        ]
    )
    confused = _table(
        ["count", "true class", "predicted"],
        [
            [c["count"], f"{c['true']} {c['true_name']}", f"{c['predicted']} {c['predicted_name']}"]
            for c in results["confusions"]
        ],
    )
    classes = _table(
        ["class", "name", "images", "top-1 %", "top-5 %"],
        [[r["class"], r["name"], r["images"], r["top1"], r["top5"]] for r in results["per_class"]],
    )
    software = _rows(sorted(results["software"].items()))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Accuracy of '
        f"{escape(str(model.get('file') or 'the model'))}</title><style>{STYLE}</style></head><body>"
        f"<h1>Accuracy of {escape(str(model.get('file') or 'the model'))}</h1><table>{summary}</table>"
        f"<h2>Reproduction of the published figures</h2>{_reproduction(results)}"
        f"<h2>Plots</h2>{_charts(results)}<h2>Most confused pairs</h2>{confused}"
        f"<h2>Per class</h2>{classes}<h2>Software</h2><table>{software}</table></body></html>\n"
    )
