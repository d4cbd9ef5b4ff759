"""Static checks run with the tests: ruff (lint and format) on the whole tree, mypy on the shipped code."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    pytest.importorskip("ruff")
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_clean() -> None:
    pytest.importorskip("ruff")
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    pytest.importorskip("mypy")
    result = _run("mypy", "framework", "contrib_src")
    assert result.returncode == 0, result.stdout + result.stderr
