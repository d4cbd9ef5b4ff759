"""Fixtures of the reliability suite: the real model in-process, Flask clients, image makers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    real_settings,
)

from modelhub.settings import load_settings


@pytest.fixture(scope="session")
def real_api(int8_model: Path) -> Any:
    """The real MobileNetV2 API (int8 model), built once per session."""
    from modelhubapi.service import build_api

    return build_api(real_settings(int8_model))


@pytest.fixture(scope="session")
def real_app(real_api: Any) -> Any:
    from modelhub.host import ModelHost
    from modelhubapi.app import create_app

    return create_app(real_api.settings, host=ModelHost(real_api.settings, real_api.plane))


@pytest.fixture
def client(real_app: Any) -> Iterator[Any]:
    with real_app.test_client() as test_client:
        yield test_client


@pytest.fixture
def app_with(real_api: Any) -> Callable[..., Any]:
    """A Flask app around the shared real model, with other settings (limits, URL policy)."""
    from modelhub.dataplane import DataPlane
    from modelhub.host import ModelHost
    from modelhubapi.app import create_app

    def build(**overrides: Any) -> Any:
        settings = load_settings({"model_file": str(real_api.settings.model_file), **overrides}, environ={})
        plane = DataPlane(real_api.model, settings.contrib_path, real_api.plane.config, settings, real_api.source)
        return create_app(settings, host=ModelHost(settings, plane))

    return build
