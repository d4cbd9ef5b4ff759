"""A bad setting or an unreadable file stops ``modelhub serve``/``predict`` with one line and status 2.

Never a traceback, and never a server that starts and then answers 500 on every route (a CR/LF in a
header-bound setting).  The line is ``modelhub: error: ...``.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from modelhubserve import cli, production
from reliability_support import write_fake_model_file
from support import FAKE_CONFIG, modelhub_command

from modelhub.errors import ConfigError
from modelhub.settings import load_settings


@pytest.fixture
def package(fake_package: Callable[..., Path]) -> Path:
    root = fake_package()
    write_fake_model_file(root)
    return root


def model_flags(package: Path) -> list[str]:
    return ["--contrib", str(package), "--model-file", str(package / "model" / "fake.onnx")]


def one_error_line(output: str) -> str:
    """The output ends with exactly one ``modelhub: error:`` line and holds no traceback."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("modelhub: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], output
    return errors[0]


def run_modelhub(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str]:
    done = subprocess.run(
        [modelhub_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MODELHUB_LOG_LEVEL": "info", **(env or {})},
    )
    return done.returncode, done.stdout + done.stderr


def serve_exits(start_server: Callable[..., Any], *args: str, env: dict[str, str] | None = None) -> str:
    """Start ``modelhub serve``; it must exit with status 2 (a server that comes up fails the test)."""
    server = start_server(*args, env=env, wait=False)
    try:
        code = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"modelhub serve did not stop on the bad setting:\n{server.log()}")
    assert code == 2, server.log()
    return one_error_line(server.log())


# -- settings: refused by load_settings, with the setting's name ------------------------------

BAD_SETTINGS = [
    ({"MODELHUB_LOG_LEVEL": "loud"}, "log_level must be one of debug, info, warning, error, critical"),
    ({"MODELHUB_ALLOW_ORIGIN": "x\r\ny"}, "allow_origin contains a control character"),
    ({"MODELHUB_ALLOW_ORIGIN": "https://app.example\r\nSet-Cookie: a=1"}, "allow_origin contains a control"),
    ({"MODELHUB_ALLOW_ORIGIN": "https://a.example, https://b.example"}, "allow_origin must be"),
    ({"MODELHUB_ALLOW_ORIGIN": "https://a.example/path"}, "allow_origin must be"),
    ({"MODELHUB_ALLOW_ORIGIN": "app.example"}, "allow_origin must be"),
    ({"MODELHUB_PUBLIC_URL": "https://models.example.org/\r\nX: y"}, "public_url contains a control character"),
    ({"MODELHUB_PUBLIC_URL": "models.example.org/mobilenet"}, "public_url must be"),
    ({"MODELHUB_PUBLIC_URL": "ftp://models.example.org/"}, "public_url must be"),
    ({"MODELHUB_PUBLIC_URL": "https://user:pw@models.example.org/"}, "public_url must be"),
    ({"MODELHUB_PUBLIC_URL": "https://models.example.org/?a=1"}, "public_url must be"),
    ({"MODELHUB_PUBLIC_URL": "https://models.example.org:http/"}, "public_url must be"),
    ({"MODELHUB_ALLOWED_HOSTS": "models.example.org:8080"}, "allowed_hosts: 'models.example.org:8080' is not"),
    ({"MODELHUB_ALLOWED_HOSTS": "https://models.example.org"}, "allowed_hosts"),
    ({"MODELHUB_ALLOWED_HOSTS": "a\tb"}, "allowed_hosts contains a control character"),
    ({"MODELHUB_TRUSTED_PROXIES": "proxy.example"}, "trusted_proxies: 'proxy.example' is not an IP address"),
    ({"MODELHUB_TRUSTED_PROXIES": "10.0.0.0/33"}, "trusted_proxies"),
    ({"MODELHUB_TRUSTED_PROXIES": "*"}, "trusted_proxies"),
    ({"MODELHUB_MODEL_VARIANT": "int8\n"}, None),  # stripped: a trailing newline from a file is fine
    ({"MODELHUB_MODEL_VARIANT": "in\nt8"}, "model_variant contains a control character"),
]


@pytest.mark.parametrize("env,said", BAD_SETTINGS)
def test_bad_settings_are_one_clear_error(env: dict[str, str], said: str | None) -> None:
    if said is None:
        load_settings({}, env)
        return
    with pytest.raises(ConfigError) as info:
        load_settings({}, env)
    assert said in info.value.message and "\n" not in info.value.message and "\r" not in info.value.message


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"MODELHUB_LOG_LEVEL": "WARNING"}, ("log_level", "WARNING")),
        ({"MODELHUB_ALLOW_ORIGIN": "https://app.example:8443"}, ("allow_origin", "https://app.example:8443")),
        ({"MODELHUB_ALLOW_ORIGIN": "null"}, ("allow_origin", "null")),
        ({"MODELHUB_ALLOW_ORIGIN": ""}, ("allow_origin", "")),
        ({"MODELHUB_PUBLIC_URL": "http://[::1]:8080/x"}, ("public_root", "http://[::1]:8080/x/")),
        ({"MODELHUB_PUBLIC_URL": "https://models.example.org"}, ("public_root", "https://models.example.org/")),
        (
            {"MODELHUB_ALLOWED_HOSTS": "models.example.org, .example.net,127.0.0.1"},
            ("allowed_hosts", ("models.example.org", ".example.net", "127.0.0.1")),
        ),
        (
            {"MODELHUB_TRUSTED_PROXIES": "10.0.0.0/8, ::1,192.0.2.7"},
            ("trusted_proxies", ("10.0.0.0/8", "::1", "192.0.2.7")),
        ),
        ({}, ("public_root", "")),
    ],
)
def test_good_settings_are_accepted(env: dict[str, str], expected: tuple[str, Any]) -> None:
    name, value = expected
    assert getattr(load_settings({}, env), name) == value


# -- the command: one line, status 2 --------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "predict"])
@pytest.mark.parametrize("how", ["flag", "env"])
def test_unknown_log_level(command: str, how: str) -> None:
    args = [command, *(["--log-level", "loud"] if how == "flag" else []), *(["x.png"] if command == "predict" else [])]
    code, output = run_modelhub(*args, env={"MODELHUB_LOG_LEVEL": "loud"} if how == "env" else None)
    assert code == 2
    assert "log_level must be one of debug, info, warning, error, critical, not 'loud'" in one_error_line(output)


@pytest.mark.server
@pytest.mark.parametrize(
    "name,value",
    [
        ("MODELHUB_ALLOW_ORIGIN", "x\r\ny"),
        ("MODELHUB_ALLOW_ORIGIN", "x\ny"),
        ("MODELHUB_PUBLIC_URL", "https://m.example/\r\nSet-Cookie: a=1"),
        ("MODELHUB_ALLOWED_HOSTS", "a.example\r\nb.example"),
    ],
)
def test_header_bound_setting_with_cr_lf_stops_the_server(
    start_server: Callable[..., Any], package: Path, name: str, value: str
) -> None:
    line = serve_exits(start_server, *model_flags(package), "--workers", "1", env={name: value})
    assert "contains a control character" in line


def test_header_bound_setting_with_cr_lf_stops_predict(package: Path) -> None:
    image = package / "sample_data" / "red.png"
    code, output = run_modelhub("predict", *model_flags(package), str(image), env={"MODELHUB_ALLOW_ORIGIN": "x\r\ny"})
    assert code == 2 and "allow_origin contains a control character" in one_error_line(output)


@pytest.mark.server
def test_dim_limits_given_as_a_string_stop_the_server(
    start_server: Callable[..., Any], fake_package: Callable[..., Path]
) -> None:
    config = json.loads(json.dumps(FAKE_CONFIG))
    config["model"]["io"]["input"]["single"]["dim_limits"][1]["min"] = "32"
    root = fake_package("string_limits", config=config)
    write_fake_model_file(root)
    line = serve_exits(start_server, *model_flags(root), "--workers", "1")
    assert "config.json" in line and "dim_limits[1].min" in line and "'32'" in line


# -- a model file that cannot be read ----------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; the in-process tests below cover it")
def test_unreadable_model_file_stops_the_server(start_server: Callable[..., Any], package: Path) -> None:
    model = package / "model" / "fake.onnx"
    model.chmod(0)
    try:
        line = serve_exits(start_server, *model_flags(package), "--workers", "1")
    finally:
        model.chmod(0o644)
    assert f"cannot read {model}: Permission denied" in line


@pytest.fixture
def unreadable(package: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The model file of ``package``, which every ``open`` in this process (and its forks) refuses, as for
    a chmod 000 file of another user (the tests run as root here, who may read any file)."""
    model = (package / "model" / "fake.onnx").resolve()
    real_open = builtins.open

    def refusing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.path.realpath(os.fspath(file)) == str(model):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    monkeypatch.setattr(io, "open", refusing_open)
    with pytest.raises(PermissionError):  # the reproduction holds: the file cannot be opened
        with open(model, "rb"):
            pass
    return model


@pytest.mark.parametrize("command", ["serve", "predict"])
def test_unreadable_model_file_is_one_line(
    unreadable: Path, package: Path, command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the server started although the model file cannot be read")

    monkeypatch.setattr(production, "serve_app", no_server)
    extra = ["--workers", "1"] if command == "serve" else [str(package / "sample_data" / "red.png")]
    code = cli.main([command, *model_flags(package), *extra])  # serve: the preflight child reads the file
    captured = capsys.readouterr()
    assert code == 2
    line = one_error_line(captured.err)
    assert line == f"modelhub: error: cannot read {unreadable}: Permission denied"
