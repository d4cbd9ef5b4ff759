"""Loading contributor packages, including ones written for the original ModelHub engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelhub.config import read_config
from modelhub.contrib import load_model
from modelhub.errors import ConfigError
from modelhubapi import ModelHubAPI


def test_legacy_package_runs_unchanged(fake_package, tmp_path: Path) -> None:
    # The package opens model/config.json and model/labels.txt by relative path and imports
    # its sibling module by name, as packages for the original engine did.
    package = fake_package()
    cwd = os.getcwd()
    model = load_model(package)
    assert os.getcwd() == cwd  # the engine restores the working directory
    api = ModelHubAPI(model, package)
    response = api.predict(str(package / "sample_data" / "red.png"))
    labels = response["output"][0]["prediction"]
    assert [entry["label"] for entry in labels] == ["red", "green", "blue"]
    assert max(labels, key=lambda e: e["probability"])["label"] == "red"
    # Uploaded bytes reach a legacy model as a file path in a per-request folder, removed afterwards.
    blue = (package / "sample_data" / "blue.jpg").read_bytes()
    top = api.predict(blue, top=1)["output"][0]["prediction"]
    assert top[0]["label"] == "blue"


def test_two_packages_with_same_module_names_in_one_process(fake_package) -> None:
    first = fake_package("one")
    second = fake_package(
        "two",
        processing=(
            "from modelhublib.processor import ImageProcessorBase\n"
            "class FakeProcessor(ImageProcessorBase):\n"
            "    def _preprocessBeforeConversionToNumpy(self, image):\n"
            "        return image.convert('RGB')\n"
            "    def computeOutput(self, r):\n"
            "        return [{'label': 'second', 'probability': 1.0}]\n"
        ),
    )
    api_one = ModelHubAPI(load_model(first), first)
    api_two = ModelHubAPI(load_model(second), second)
    sample = str(first / "sample_data" / "red.png")
    assert api_one.predict(sample)["output"][0]["prediction"][0]["label"] == "red"
    assert api_two.predict(sample)["output"][0]["prediction"] == [{"label": "second", "probability": 1.0}]


def test_model_raising_in_init_is_a_clear_config_error(fake_package, caplog) -> None:
    package = fake_package(
        inference="from modelhublib.model import ModelBase\n"
        "class Model(ModelBase):\n"
        "    def __init__(self):\n"
        "        raise RuntimeError('weights corrupt')\n"
    )
    with pytest.raises(ConfigError) as info:
        load_model(package)
    assert "RuntimeError: weights corrupt" in info.value.message and str(package) in info.value.message
    assert "Traceback" in caplog.text


def test_missing_inference_and_missing_class(fake_package) -> None:
    package = fake_package(inference="X = 1\n")
    with pytest.raises(ConfigError, match="no class Model"):
        load_model(package)
    (package / "inference.py").unlink()
    with pytest.raises(ConfigError, match="no inference.py"):
        load_model(package)


@pytest.mark.parametrize(
    "text,message",
    [
        (None, "config file missing"),
        ("{oops", "malformed JSON at line 1"),
        ("[]", "must be a JSON object"),
        ('{"id": 1}', "required key"),
    ],
)
def test_config_problems(fake_package, text: str | None, message: str) -> None:
    package = fake_package()
    config = package / "model" / "config.json"
    if text is None:
        config.unlink()
    else:
        config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(package)


def test_model_file_and_settings_are_offered_when_accepted(fake_package, tmp_path: Path) -> None:
    package = fake_package(
        inference=(
            "from modelhublib.model import ModelBase\n"
            "class Model(ModelBase):\n"
            "    accepts_in_memory = True\n"
            "    def __init__(self, model_file=None, settings=None):\n"
            "        self.model_file, self.settings = model_file, settings\n"
            "    def infer(self, input):\n"
            "        return [{'label': type(input).__name__, 'probability': 1.0}]\n"
        )
    )
    model = load_model(package, model_file=tmp_path / "m.onnx", settings="S")
    assert model.model_file == tmp_path / "m.onnx" and model.settings == "S"
    # An in-memory model receives the uploaded bytes themselves: no temporary file.
    api = ModelHubAPI(model, package)
    data = (package / "sample_data" / "red.png").read_bytes()
    assert api.predict(data)["output"][0]["prediction"][0]["label"] == "bytes"
