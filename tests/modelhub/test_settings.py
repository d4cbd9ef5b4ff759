from __future__ import annotations

from pathlib import Path

import pytest

from modelhub.errors import ConfigError
from modelhub.settings import describe, load_settings


def test_defaults() -> None:
    s = load_settings({}, {})
    assert (s.host, s.port, s.allow_url_fetch, s.allow_origin, s.data_dir) == ("127.0.0.1", 8080, False, "*", None)
    assert s.contrib_path == (Path(__file__).resolve().parents[2] / "contrib_src")
    assert s.effective_workers() >= 1


def test_environment_then_flags() -> None:
    env = {
        "MODELHUB_PORT": "9001",
        "MODELHUB_WORKERS": "3",
        "MODELHUB_ALLOW_URL_FETCH": "yes",
        "MODELHUB_URL_ALLOWLIST": "a.example, b.example",
        "MODELHUB_MODEL_FILE": "/m.onnx",
    }
    s = load_settings({"port": 9002, "workers": None}, env)
    assert s.port == 9002  # the flag wins
    assert s.workers == 3 and s.effective_workers() == 3  # None means "flag not given"
    assert s.allow_url_fetch is True and s.url_allowlist == ("a.example", "b.example")
    assert s.model_file == Path("/m.onnx")


@pytest.mark.parametrize(
    "env",
    [
        {"MODELHUB_PORT": "http"},
        {"MODELHUB_PORT": "70000"},
        {"MODELHUB_ALLOW_URL_FETCH": "maybe"},
        {"MODELHUB_MAX_CONNECTIONS": "0"},
        {"MODELHUB_MODEL_SHA256": "abc"},
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({}, env)
    assert "setting" in info.value.message


def test_unknown_flag() -> None:
    with pytest.raises(ConfigError):
        load_settings({"colour": "red"}, {})


def test_describe_lists_every_variable() -> None:
    names = [row[0] for row in describe()]
    assert "MODELHUB_MODEL_FILE" in names and "MODELHUB_MAX_UPLOAD_BYTES" in names
    assert all(name.startswith("MODELHUB_") for name in names)
