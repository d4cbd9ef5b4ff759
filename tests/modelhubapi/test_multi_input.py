"""Multi-input models: a JSON naming one file per input, local files only under the data folder."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from support import FAKE_CONFIG, service_for

from modelhub.contrib import load_model
from modelhub.errors import BadRequest, Forbidden, NotFound, UnsupportedMediaType
from modelhub.settings import load_settings
from modelhubapi import ModelHubRESTAPI

INFERENCE = (
    "from modelhublib.model import ModelBase\n"
    "from modelhublib.processor import ImageProcessorBase\n"
    "import json\n"
    "class Model(ModelBase):\n"
    "    def __init__(self):\n"
    "        self.p = ImageProcessorBase(json.load(open('model/config.json')))\n"
    "    def infer(self, input):\n"
    "        sizes = {k: list(self.p.loadAndPreprocess(v['fileurl'], k).shape) for k, v in input.items()\n"
    "                 if k != 'format'}\n"
    "        return [{'label': k + ':' + 'x'.join(map(str, s)), 'probability': 0.5}\n"
    "                for k, s in sorted(sizes.items())]\n"
)


@pytest.fixture
def multi(fake_package, tmp_path: Path):
    config = copy.deepcopy(FAKE_CONFIG)
    limits = [{"min": 1, "max": 4}, {"min": 4}, {"min": 4}]
    config["model"]["io"]["input"] = {
        "format": ["application/json"],
        "t1": {"format": ["image/png"], "dim_limits": limits},
        "flair": {"format": ["image/png"], "dim_limits": limits},
    }
    package = fake_package("multi", config=config, inference=INFERENCE)
    data = tmp_path / "data"
    (data / "scans").mkdir(parents=True)
    Image.new("L", (10, 6)).save(data / "scans" / "t1.png")
    Image.new("RGB", (12, 8)).save(data / "flair.png")
    (tmp_path / "outside.png").write_bytes((data / "flair.png").read_bytes())
    settings = load_settings({"data_dir": str(data)}, {})
    return service_for(load_model(package), package, settings), package, settings, tmp_path


def request(t1: str, flair: str) -> dict:
    return {
        "format": ["application/json"],
        "t1": {"format": "image/png", "fileurl": t1},
        "flair": {"format": "image/png", "fileurl": flair},
    }


def test_dict_input_with_files_under_the_data_folder(multi) -> None:
    api, *_ = multi
    body = api.predict(request("scans/t1.png", "/data/flair.png"))
    assert [e["label"] for e in body["output"][0]["prediction"]] == ["flair:1x3x8x12", "t1:1x1x6x10"]


def test_json_file_and_json_upload(multi) -> None:
    api, _, _, tmp_path = multi
    text = json.dumps(request("scans/t1.png", "flair.png"))
    (tmp_path / "inputs.json").write_text(text)
    assert len(api.predict(str(tmp_path / "inputs.json"))["output"][0]["prediction"]) == 2
    assert len(api.predict(text.encode())["output"][0]["prediction"]) == 2


@pytest.mark.parametrize(
    "t1,error",
    [
        ("../outside.png", Forbidden),
        (None, Forbidden),
        ("scans/none.png", NotFound),
        ("file:///etc/passwd", BadRequest),
        ("scans/t1\x00.png", BadRequest),
    ],
)
def test_local_path_rules(multi, t1: str | None, error: type) -> None:
    api, *_ = multi
    with pytest.raises(error):
        api.predict(request(t1 or str(multi[3] / "outside.png"), "flair.png"))


def test_no_data_folder_means_no_local_files(multi) -> None:
    api, package, _, _ = multi
    closed = service_for(api.model, package, load_settings({}, {}))
    with pytest.raises(Forbidden, match="MODELHUB_DATA_DIR"):
        closed.predict(request("scans/t1.png", "flair.png"))


def test_inputs_must_match_the_config(multi) -> None:
    api, *_ = multi
    partial = request("scans/t1.png", "flair.png")
    del partial["flair"]
    partial["t2"] = {"fileurl": "flair.png"}
    with pytest.raises(BadRequest, match="missing flair; unknown t2"):
        api.predict(partial)


def test_urls_follow_the_fetch_policy(multi) -> None:
    api, *_ = multi
    with pytest.raises(Forbidden, match="disabled"):
        api.predict(request("http://images.example/t1.png", "flair.png"))


def test_rest_upload_of_the_json(multi) -> None:
    api, package, settings, _ = multi
    client = ModelHubRESTAPI(api.model, package, settings).app.test_client()
    data = json.dumps(request("scans/t1.png", "flair.png")).encode()
    response = client.post(
        "/api/predict", data={"file": (io.BytesIO(data), "in.json")}, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["output"][0]["shape"] == [2]


def test_single_input_model_refuses_json(fake_package) -> None:
    package = fake_package()
    api = service_for(load_model(package), package, load_settings({}, {}))
    with pytest.raises(UnsupportedMediaType):
        api.predict(request("a.png", "b.png"))
