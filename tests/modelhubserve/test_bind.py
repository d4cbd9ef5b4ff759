"""The listening socket's errors: a privileged port refused says what to do."""

from __future__ import annotations

import errno
import socket

import pytest
from modelhubserve.server import bind

from modelhub.errors import ConfigError


def test_privileged_port_refused_names_the_capability_and_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    with pytest.raises(ConfigError) as info:
        bind("0.0.0.0", 80)
    assert str(info.value) == (
        "cannot listen on 0.0.0.0:80: Permission denied (a port below 1024 needs "
        "CAP_NET_BIND_SERVICE; choose another with MODELHUB_PORT or --port)"
    )
    with pytest.raises(ConfigError) as high:
        bind("127.0.0.1", 8080)
    assert str(high.value) == "cannot listen on 127.0.0.1:8080: Permission denied"
