"""``modelhub serve --engine ray``: what it says before Ray starts (no cluster needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelhub.errors import ConfigError
from modelhub.settings import load_settings


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelhubserve.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_without_ray_installed_it_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # A "ray" package that cannot be imported, first on the path: as on a machine without the extra.
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    result = _serve("--engine", "ray", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "modelhub: error: --engine ray needs Ray Serve, which is not installed (ray): "
        'pip install -e ".[ray]" (or pip install "ray[serve]")'
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--engine", "ray", "--replicas", "2", "--min-replicas", "1", "--max-replicas", "3"],
            "--replicas and --min-replicas/--max-replicas exclude each other",
        ),
        (["--engine", "ray", "--max-replicas", "3"], "--min-replicas and --max-replicas go together"),
        (
            ["--engine", "ray", "--min-replicas", "4", "--max-replicas", "3"],
            "invalid setting: autoscaling needs 0 <= min_replicas <= max_replicas and max_replicas >= 1",
        ),
        (["--engine", "ray", "--replicas", "0"], "invalid setting: replicas must be >= 1"),
        (["--engine", "ray", "--replica-cpus", "0"], "invalid setting: replica_cpus must be > 0"),
    ],
)
def test_bad_replica_flags(args: list[str], message: str) -> None:
    result = _serve(*args)
    assert (result.returncode, result.stderr) == (2, f"modelhub: error: {message}\n")


def test_engine_setting() -> None:
    assert load_settings({}, environ={}).engine == "server"
    assert load_settings({}, environ={"MODELHUB_ENGINE": "ray", "MODELHUB_REPLICAS": "3"}).replicas == 3
    with pytest.raises(ConfigError, match="engine must be server or ray"):
        load_settings({"engine": "spark"}, environ={})
