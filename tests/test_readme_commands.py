"""README's shell commands paste and run from a fresh clone: files they name exist, URLs with ``?`` are quoted."""

from __future__ import annotations

import re
import shlex

from support import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)
URL = re.compile(r"https?://[^\s\"']+")


def command_lines() -> list[str]:
    lines = []
    for block in BASH_BLOCKS:
        for line in block.splitlines():
            code = re.split(r"\s#\s", line, maxsplit=1)[0].strip()  # without a trailing comment
            if code and not code.startswith("#"):
                lines.append(code)
    return lines


def test_there_are_commands_to_check() -> None:
    assert len(command_lines()) > 10


def test_urls_with_a_query_are_quoted() -> None:
    """zsh (macOS's shell) refuses an unquoted ``?``; bash would glob it."""
    for line in command_lines():
        for match in URL.finditer(line):
            if "?" in match.group(0) or "&" in match.group(0):
                before = line[match.start() - 1] if match.start() else ""
                assert before in "\"'", f"unquoted URL in README: {line}"


def test_files_the_commands_send_are_shipped() -> None:
    """``curl -F file=@X``, ``< X`` and ``modelhub predict X`` name files of the repository."""
    named = []
    for line in command_lines():
        named += re.findall(r"file=@([^\s\"']+)", line)
        named += re.findall(r"<\s*([^\s|]+)", line)
        if "modelhub predict" in line:
            words = shlex.split(line.split("modelhub predict", 1)[1].split("<")[0])
            named += [w for w in words if not w.startswith("-") and "/" in w and "*" not in w and w != "-"]
    assert "contrib_src/sample_data/cat_chelsea.png" in named
    missing = [name for name in named if not (REPO_ROOT / name).exists()]
    assert not missing, missing
    assert "@cat.jpg" not in "\n".join(command_lines())
