"""README.md stays true: every setting documented, the two set-up commands first."""

from __future__ import annotations

from support import REPO_ROOT

from modelhub.settings import describe

README = (REPO_ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [name for name, _default, _kind in describe() if f"`{name}`" not in README]
    assert not missing, missing


def test_set_up_commands_come_first() -> None:
    blocks = README.split("```bash\n")
    serve, tests = blocks[1].split("\n")[0], blocks[2].split("\n")[0]
    assert "modelhub fetch" in serve and serve.endswith("modelhub serve")
    assert tests.endswith("python -m pytest") and '".[test]"' in tests
    assert "<!-- test-command -->" in README.split(tests)[0]  # .ci/run runs exactly this line
