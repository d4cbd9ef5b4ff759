"""Golden outputs: made by an independent reference, reproduced by the served pipeline, drift detected."""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import CONTRIB_DIR, SAMPLES_DIR, sha256_of

from modelhub.errors import ConfigError
from modelhub.host import ModelHost
from modelhub.reproduction import TOLERANCE, check_plane, compare, golden_path, load_golden
from modelhub.settings import load_settings
from modelhubapi.app import create_app
from modelhubapi.service import build_api

GOLDEN = CONTRIB_DIR / "golden"
REFERENCE = GOLDEN / "reference.py"
LABELS = json.loads((CONTRIB_DIR / "model" / "labels.json").read_text())


def _reference() -> Any:
    spec = importlib.util.spec_from_file_location("golden_reference_under_test", REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _settings(model: Path, **more: Any) -> Any:
    return load_settings({"model_file": str(model), **more}, {})


def _swapped_golden(tmp_path: Path, served: Path, other: Path) -> Path:
    """A golden folder where ``served``'s sha256 holds the golden outputs of ``other`` (another model file)."""
    folder = tmp_path / "golden"
    folder.mkdir()
    shutil.copy(golden_path(GOLDEN, sha256_of(other)), golden_path(folder, sha256_of(served)))
    return folder


# -- the golden files and their reference ------------------------------------------------


def test_the_reference_shares_no_code_with_the_served_pipeline() -> None:
    tree = ast.parse(REFERENCE.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == {"numpy", "PIL", "onnxruntime"}, imported


@pytest.mark.model
@pytest.mark.parametrize("which", ["int8", "float"])
def test_golden_files_ship_for_the_test_models(which: str, int8_model: Path, float_model: Path) -> None:
    model = int8_model if which == "int8" else float_model
    document = load_golden(GOLDEN, sha256_of(model))
    assert document is not None, f"no golden file for {model.name}"
    assert document["model"] == {"file": model.name, "sha256": sha256_of(model), "bytes": model.stat().st_size}
    assert "reference.py" in document["made_by"] and document["tolerance"] == TOLERANCE
    samples = sorted(p.name for p in SAMPLES_DIR.iterdir())
    assert sorted(document["samples"]) == samples
    for name, entry in document["samples"].items():
        assert entry["sha256"] == sha256_of(SAMPLES_DIR / name)
        probabilities = [e["probability"] for e in entry["top5"]]
        assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)
        assert all(LABELS[e["index"]] == e["label"] for e in entry["top5"])
    cat = document["samples"]["cat_chelsea.png"]["top5"][0]["label"]
    assert cat in ("Egyptian cat", "tabby, tabby cat", "tiger cat")


@pytest.mark.model
def test_recording_again_gives_the_committed_file(int8_model: Path, tmp_path: Path) -> None:
    written = _reference().write_golden(int8_model, SAMPLES_DIR, CONTRIB_DIR / "model" / "labels.json", tmp_path)
    assert written == golden_path(tmp_path, sha256_of(int8_model))
    fresh, committed = json.loads(written.read_text()), load_golden(GOLDEN, sha256_of(int8_model))
    assert committed is not None
    for name, entry in committed["samples"].items():
        again = fresh["samples"][name]["top5"]
        assert [e["index"] for e in again] == [e["index"] for e in entry["top5"]]
        assert np.allclose(
            [e["probability"] for e in again], [e["probability"] for e in entry["top5"]], rtol=0, atol=1e-6
        )


# -- the comparison --------------------------------------------------------------------


def _scores(pairs: dict[int, float], size: int = 10) -> np.ndarray:
    scores = np.zeros(size)
    for index, value in pairs.items():
        scores[index] = value
    return scores


def _golden(pairs: list[tuple[int, float]]) -> list[dict[str, Any]]:
    return [{"index": i, "label": f"c{i}", "probability": p} for i, p in pairs]


LABELS10 = [f"c{i}" for i in range(10)]


def test_compare_accepts_small_differences_and_ties() -> None:
    golden = _golden([(3, 0.5), (1, 0.3), (7, 0.100001), (2, 0.1), (0, 0.0)])
    same = compare("x", golden, _scores({3: 0.50005, 1: 0.3, 7: 0.100001, 2: 0.1}), LABELS10)
    assert same.ok and same.max_difference == pytest.approx(5e-5)
    swapped = compare("x", golden, _scores({3: 0.5, 1: 0.3, 7: 0.09999, 2: 0.10001}), LABELS10)
    assert swapped.ok, swapped.problem  # 7 and 2 are a tie within the tolerance


def test_compare_names_the_drift() -> None:
    golden = _golden([(3, 0.5), (1, 0.3), (7, 0.1), (2, 0.05), (0, 0.01)])
    far = compare("x", golden, _scores({3: 0.49, 1: 0.31, 7: 0.1, 2: 0.05, 0: 0.01}), LABELS10)
    assert not far.ok and "probability of 'c3' is 0.490000, golden 0.500000" in (far.problem or "")
    other_class = compare("x", golden, _scores({3: 0.5, 1: 0.3, 7: 0.1, 2: 0.05, 0: 0.01, 9: 0.2}), LABELS10)
    assert not other_class.ok and "rank 3 is 'c9', golden 'c7'" in (other_class.problem or "")
    bad = compare("x", _golden([(12, 0.5)]), _scores({3: 0.5}), LABELS10)
    assert not bad.ok and "does not have" in (bad.problem or "")


def test_a_broken_golden_file_is_a_clear_error(tmp_path: Path) -> None:
    golden_path(tmp_path, "ab" * 32).write_text('{"samples": {"x.png": {"top5": []}}}')
    with pytest.raises(ConfigError, match="is not valid"):
        load_golden(tmp_path, "ab" * 32)
    assert load_golden(tmp_path, "cd" * 32) is None


# -- the served pipeline -----------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("which", ["int8", "float"])
def test_the_served_pipeline_reproduces_the_golden_outputs(which: str, int8_model: Path, float_model: Path) -> None:
    api = build_api(_settings(int8_model if which == "int8" else float_model))
    assert api.plane.reproduced is True
    assert api.get_config()["model"]["file"]["reproduced"] is True
    report = check_plane(api.plane)
    assert report is not None and report.reproduced and len(report.samples) == 6
    assert max(s.max_difference or 0 for s in report.samples) < 1e-5


@pytest.mark.model
def test_an_altered_pipeline_is_drift(int8_model: Path) -> None:
    """BGR instead of RGB, a classic preprocessing mistake: caught on every sample."""
    api = build_api(_settings(int8_model))
    model = api.plane.model
    original = model.preprocess
    model.preprocess = lambda image: {name: np.ascontiguousarray(x[:, ::-1]) for name, x in original(image).items()}
    report = check_plane(api.plane)
    assert report is not None and not report.reproduced
    assert not any(s.ok for s in report.samples)  # all six


@pytest.mark.model
def test_another_model_file_is_drift_and_logged_loudly(
    int8_model: Path, float_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _swapped_golden(tmp_path, int8_model, float_model)
    with caplog.at_level(logging.INFO):
        api = build_api(_settings(int8_model, golden_dir=str(folder)))
    assert api.plane.reproduced is False and api.get_config()["model"]["file"]["reproduced"] is False
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "REPRODUCTION FAILED" in r.getMessage()]
    assert errors and "does NOT reproduce" in errors[0].getMessage()
    app = create_app(_settings(int8_model, golden_dir=str(folder)))
    ready = app.test_client().get("/v2/health/ready")
    assert ready.status_code == 200 and ready.get_json() == {"ready": True, "reproduced": False}


@pytest.mark.model
def test_without_a_golden_file_reproduced_is_null(int8_model: Path, tmp_path: Path) -> None:
    app = create_app(_settings(int8_model, golden_dir=str(tmp_path)))
    client = app.test_client()
    assert client.get("/api/get_config").get_json()["model"]["file"]["reproduced"] is None
    assert client.get("/v2/health/ready").get_json() == {"ready": True}


@pytest.mark.model
@pytest.mark.parametrize("golden", ["swapped", "none"])
def test_require_reproduced_keeps_the_server_unready(
    golden: str, int8_model: Path, float_model: Path, tmp_path: Path
) -> None:
    folder = _swapped_golden(tmp_path, int8_model, float_model) if golden == "swapped" else tmp_path
    app = create_app(_settings(int8_model, golden_dir=str(folder), require_reproduced="true"), background=True)
    host: ModelHost = app.extensions["modelhub"].host
    assert host.wait(30) is False
    ready = app.test_client().get("/v2/health/ready")
    assert ready.status_code == 503 and ready.get_json()["ready"] is False
    message = ready.get_json()["error"]
    assert "MODELHUB_REQUIRE_REPRODUCED" in message and sha256_of(int8_model) in message
    assert ("does not reproduce" if golden == "swapped" else "has no golden outputs") in message
    assert app.test_client().get("/api/predict_sample?filename=cat_chelsea.png").status_code == 503
    # the same file with its own golden outputs is ready
    ok = create_app(_settings(int8_model, require_reproduced="true"))
    assert ok.test_client().get("/v2/health/ready").get_json() == {"ready": True, "reproduced": True}


@pytest.mark.model
def test_the_check_keeps_warm_up_small(int8_model: Path, tmp_path: Path) -> None:
    """The golden check replaces the one-sample warm-up: six samples in one batch, measured."""
    checked = build_api(_settings(int8_model)).plane
    plain = build_api(_settings(int8_model, golden_dir=str(tmp_path))).plane
    assert checked.reproduced is True and plain.reproduced is None
    assert checked.warmup_seconds is not None and plain.warmup_seconds is not None
    logging.getLogger(__name__).info(
        "warm-up with the golden check %.3f s, plain %.3f s", checked.warmup_seconds, plain.warmup_seconds
    )
    assert checked.warmup_seconds < 2.0


@pytest.mark.model
def test_a_missing_or_changed_sample_is_not_reproduced(int8_model: Path, tmp_path: Path) -> None:
    document = load_golden(GOLDEN, sha256_of(int8_model))
    assert document is not None
    document["samples"]["gone.png"] = document["samples"]["cat_chelsea.png"]
    document["samples"]["coffee_cup.jpg"]["sha256"] = "0" * 64
    golden_path(tmp_path, sha256_of(int8_model)).write_text(json.dumps(document))
    api = build_api(_settings(int8_model, golden_dir=str(tmp_path)))
    report = check_plane(api.plane)
    assert api.plane.reproduced is False and report is not None
    problems = {s.name: s.problem for s in report.samples if not s.ok}
    assert problems == {"gone.png": "the sample file is missing", "coffee_cup.jpg": "the sample file has changed"}
