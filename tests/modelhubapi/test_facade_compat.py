"""``ModelHubAPI`` keeps the original ModelHub engine's contract: error dicts, ``numpyToFile``, output shapes.

The behaviours come from the original engine's documentation and source (``modelhubapi/pythonapi.py``
of modelhub-ai/modelhub-engine); the modern API (``build_api``) raises typed errors instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import FAKE_CONFIG

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubAPI

TWO_OUTPUTS = json.loads(json.dumps(FAKE_CONFIG))
TWO_OUTPUTS["model"]["io"]["output"] = [
    {"name": "probabilities", "type": "label_list", "description": "classes"},
    {"name": "mask", "type": "mask_image"},
]
MASK = [[0, 1, 1, 0], [0, 2, 2, 0]]
LABELS = [{"label": "class_0", "probability": 0.3}, {"label": "class_1", "probability": 0.7}]

RETURNS = {
    "label list and mask": f"return [{LABELS!r}, np.asarray({MASK!r})]",
    "one label list": f"return {LABELS!r}",
    "a list of one label list": f"return [{LABELS!r}]",
    "one array": f"return np.asarray({MASK!r})",
    "a list of one array": f"return [np.asarray({MASK!r})]",
    "NotImplementedError": "raise NotImplementedError",
}


def model_source(body: str) -> str:
    return (
        "import os\nimport numpy as np\nfrom modelhublib.model import ModelBase\n"
        "class Model(ModelBase):\n"
        "    def infer(self, input):\n"
        "        assert os.path.isfile(input), input\n"
        f"        {body}\n"
    )


@pytest.fixture
def api_for(fake_package, tmp_path: Path):
    def build(returns: str, outputs: int = 1, config: bool = True) -> tuple[ModelHubAPI, Path]:
        spec = (
            TWO_OUTPUTS
            if outputs == 2
            else {
                **TWO_OUTPUTS,
                "model": {
                    **TWO_OUTPUTS["model"],
                    "io": {
                        **TWO_OUTPUTS["model"]["io"],
                        "output": [TWO_OUTPUTS["model"]["io"]["output"][0 if "label" in returns else 1]],
                    },
                },
            }
        )
        package = fake_package(
            f"p{abs(hash((returns, outputs, config)))}", config=spec, inference=model_source(RETURNS[returns])
        )
        if not config:
            (package / "model" / "config.json").unlink()
        model = load_model(package)
        return ModelHubAPI(model, str(package), load_settings({"output_dir": str(tmp_path / "out")}, {})), package

    return build


def test_numpy_to_file_false_puts_arrays_inline(api_for) -> None:
    api, package = api_for("label list and mask", outputs=2)
    result = api.predict(str(package / "sample_data" / "red.png"), numpyToFile=False)
    labels, mask = result["output"]
    assert labels["prediction"] == LABELS and labels["shape"] == [2] and labels["type"] == "label_list"
    assert mask["prediction"] == MASK and mask["shape"] == [2, 4] and mask["type"] == "mask_image"
    assert result["model"] == {"id": "fake-id", "name": "FakeNet"}


def test_numpy_to_file_saves_the_array_in_the_output_folder(api_for, tmp_path: Path) -> None:
    api, package = api_for("label list and mask", outputs=2)
    api.output_folder = str(tmp_path / "chosen")
    result = api.predict(str(package / "sample_data" / "red.png"), url_root="http://host/")
    url = result["output"][1]["prediction"]
    assert isinstance(url, str) and url.startswith("http://host/api/output/")
    saved = tmp_path / "chosen" / url.rsplit("/", 1)[1]
    assert np.array_equal(np.load(saved), np.asarray(MASK))


@pytest.mark.parametrize("returns", ["one label list", "a list of one label list", "one array", "a list of one array"])
def test_a_single_output_may_come_wrapped_in_a_list_or_not(api_for, returns: str) -> None:
    api, package = api_for(returns)
    (output,) = api.predict(str(package / "sample_data" / "red.png"), numpyToFile=False)["output"]
    assert output["prediction"] == (LABELS if "label" in returns else MASK)


def test_errors_come_back_as_dicts_naming_the_exception(api_for) -> None:
    api, package = api_for("NotImplementedError")
    result = api.predict(str(package / "sample_data" / "red.png"))
    assert set(result) == {"error"} and "NotImplementedError" in result["error"]
    missing = api.predict(str(package / "sample_data" / "nope.png"))
    assert set(missing) == {"error"} and "nope.png" in missing["error"]


def test_a_package_without_config_still_constructs(api_for) -> None:
    api, package = api_for("NotImplementedError", config=False)
    for call in (api.get_config, api.get_legal, api.get_model_io, api.get_samples):
        answer = call()
        assert "error" in answer and isinstance(answer["error"], str), call
    result = api.predict(str(package / "sample_data" / "red.png"))
    assert "NotImplementedError" in result["error"]


def test_description_calls(api_for) -> None:
    api, package = api_for("one label list")
    assert api.get_config()["id"] == "fake-id"
    assert api.get_model_io()["output"][0]["name"] == "probabilities"
    assert api.get_legal()["model_license"] == "fake model licence"
    samples = api.get_samples()
    assert samples["folder"] == str(package) + "/sample_data"
    assert sorted(samples["files"]) == ["blue.jpg", "red.png"]
