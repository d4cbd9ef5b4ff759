"""`modelhub verify`: the table, the exit status on drift, --record, --url against a running server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import CONTRIB_DIR, SAMPLES_DIR, modelhub_command, sha256_of

pytestmark = pytest.mark.model

GOLDEN = CONTRIB_DIR / "golden"
SAMPLES = sorted(p.name for p in SAMPLES_DIR.iterdir())


def verify(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [modelhub_command(), "verify", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def swapped(tmp_path: Path, served: Path, other: Path) -> Path:
    folder = tmp_path / "swapped"
    folder.mkdir()
    shutil.copy(GOLDEN / f"{sha256_of(other)}.json", folder / f"{sha256_of(served)}.json")
    return folder


def rows(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line for line in stdout.splitlines() if line.split() and line.split()[0] in SAMPLES}


@pytest.mark.parametrize("which", ["int8", "float"])
def test_verify_passes_for_the_test_models(which: str, int8_model: Path, float_model: Path) -> None:
    model = int8_model if which == "int8" else float_model
    result = verify("--model-file", str(model))
    assert result.returncode == 0, result.stdout + result.stderr
    table = rows(result.stdout)
    assert sorted(table) == SAMPLES and all(line.endswith("  ok") for line in table.values())
    assert (
        "reproduced: 6 of 6 samples match the golden outputs (top 5 in order, probabilities within 0.0001)"
        in result.stdout
    )
    assert f"{sha256_of(model)}.json" in result.stdout


def test_golden_of_the_float_file_against_the_int8_file_is_drift(
    int8_model: Path, float_model: Path, tmp_path: Path
) -> None:
    result = verify("--model-file", str(int8_model), "--golden-dir", str(swapped(tmp_path, int8_model, float_model)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DRIFT:" in result.stdout.splitlines()[-1]
    assert any("DRIFT: probability of" in line for line in rows(result.stdout).values())


def test_no_golden_file_then_record(int8_model: Path, tmp_path: Path) -> None:
    missing = verify("--model-file", str(int8_model), "--golden-dir", str(tmp_path))
    assert missing.returncode == 2
    assert f"no golden outputs for the model file with sha256 {sha256_of(int8_model)}" in missing.stderr
    assert "modelhub verify --record" in missing.stderr
    recorded = verify("--model-file", str(int8_model), "--golden-dir", str(tmp_path), "--record")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    written = tmp_path / f"{sha256_of(int8_model)}.json"
    assert f"recorded {written}" in recorded.stdout
    document = json.loads(written.read_text())
    committed = json.loads((GOLDEN / written.name).read_text())
    assert {name: [e["index"] for e in s["top5"]] for name, s in document["samples"].items()} == {
        name: [e["index"] for e in s["top5"]] for name, s in committed["samples"].items()
    }
    assert "reference.py" in document["made_by"]
    assert verify("--record", "--url", "http://127.0.0.1:9").returncode == 2


@pytest.mark.server
def test_verify_a_running_server(start_server, int8_model: Path, float_model: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_server("--model-file", str(int8_model), "--workers", "1")
    result = verify("--url", server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(rows(result.stdout)) == SAMPLES and "reproduced: 6 of 6" in result.stdout
    drift = verify("--url", server.url + "/", "--golden-dir", str(swapped(tmp_path, int8_model, float_model)))
    assert drift.returncode == 1 and "DRIFT" in drift.stdout
    unreachable = verify("--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr


@pytest.mark.server
def test_serve_refuses_to_become_ready_when_reproduction_is_required(
    start_server, int8_model: Path, float_model: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    env = {
        "MODELHUB_REQUIRE_REPRODUCED": "true",
        "MODELHUB_GOLDEN_DIR": str(swapped(tmp_path, int8_model, float_model)),
    }
    server = start_server("--model-file", str(int8_model), "--workers", "1", env=env, wait=False)
    assert server.process.wait(120) == 2
    log = server.log()
    assert "REPRODUCTION FAILED" in log
    assert "modelhub: error: MODELHUB_REQUIRE_REPRODUCED is set and the pipeline does not reproduce" in log


def test_record_for_the_default_file_as_the_docker_build_does(int8_model: Path, tmp_path: Path) -> None:
    """`modelhub fetch && modelhub verify --record` in the image: no --model-file, the variant's downloaded file."""
    root = tmp_path / "root"
    shutil.copytree(CONTRIB_DIR, root / "contrib_src", ignore=shutil.ignore_patterns("golden", "*.onnx"))
    (root / "contrib_src" / "golden").mkdir()
    shutil.copy(CONTRIB_DIR / "golden" / "reference.py", root / "contrib_src" / "golden")
    shutil.copy(int8_model, root / "contrib_src" / "model" / "downloaded.onnx")
    entry = {
        "src_url": "https://example.org/downloaded.onnx",
        "dest_file_path": "contrib_src/model/downloaded.onnx",
        "sha256": sha256_of(int8_model),
        "size": int8_model.stat().st_size,
        "variant": "int8",
        "default": True,
    }
    (root / "init").mkdir()
    (root / "init" / "init.json").write_text(json.dumps({"docker_id": "x", "external_contrib_files": [entry]}))
    result = verify("--record", env={"MODELHUB_ROOT": str(root)})
    assert result.returncode == 0, result.stdout + result.stderr
    written = root / "contrib_src" / "golden" / f"{sha256_of(int8_model)}.json"
    assert f"recorded {written}" in result.stdout and "reproduced: 6 of 6" in result.stdout
    assert json.loads(written.read_text())["model"]["file"] == "downloaded.onnx"
