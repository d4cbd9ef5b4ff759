"""A non-editable ``pip install .``: the engine without the package, and a command that says what to set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO_ROOT, SAMPLES_DIR


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --no-deps --target`` of a copy of the sources (the dependencies are this venv's)."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    for name in ("setup.py", "setup.cfg"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "framework", source / "framework", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(work / "target"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"pip could not build the package here (no registry for setuptools?): {done.stderr[-500:]}")
    target = work / "target"
    where = subprocess.run(
        [sys.executable, "-c", "import modelhubserve.cli as c; print(c.__file__)"],
        text=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=work,
    )
    assert where.stdout.strip() == str(target / "modelhubserve" / "cli.py")  # the installed copy runs, not this tree
    return target


def modelhub(installed: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
    return subprocess.run(
        [sys.executable, "-m", "modelhubserve.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=installed.parent,
        env={**environ, "PYTHONPATH": str(installed), **env},
    )


@pytest.mark.slow
def test_the_installed_command_says_what_to_set(installed: Path) -> None:
    done = modelhub(installed, "predict", str(SAMPLES_DIR / "cat_chelsea.png"))
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line == (
        f"modelhub: error: no contributor package at {installed.parent}/contrib_src: set MODELHUB_ROOT "
        f"to your clone of the repository (the folder holding contrib_src/ and init/), or pass --contrib "
        f"PACKAGE_FOLDER; a non-editable `pip install .` installs the engine, not the package"
    )


@pytest.mark.slow
@pytest.mark.model
def test_the_installed_command_works_once_told_where_the_clone_is(installed: Path, int8_model: Path) -> None:
    done = modelhub(
        installed,
        "predict",
        str(SAMPLES_DIR / "cat_chelsea.png"),
        "--top",
        "1",
        "--format",
        "csv",
        "--model-file",
        str(int8_model),
        MODELHUB_ROOT=str(REPO_ROOT),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split(",")[4] == "Egyptian cat"
