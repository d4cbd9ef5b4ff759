"""The real MobileNetV2 graphs on real photos, through the contributor model and the Python API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage
import sklearn
from support import service_for

from modelhub.contrib import load_model
from modelhub.settings import load_settings
from modelhubapi import ModelHubService

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]
SKIMAGE = Path(skimage.__file__).parent / "data"
SKLEARN = Path(sklearn.__file__).parent / "datasets" / "images"

# photo -> classes of which at least one must be in the top 5
EXPECTED = {
    SKIMAGE / "chelsea.png": {"Egyptian cat", "tabby, tabby cat", "tiger cat"},
    SKIMAGE / "coffee.png": {"espresso", "cup", "coffee mug"},
    SKIMAGE / "rocket.jpg": {"missile", "projectile, missile", "space shuttle"},
    SKIMAGE / "motorcycle_left.png": {"moped", "motor scooter, scooter"},
    SKLEARN / "china.jpg": {"palace", "monastery", "pagoda, pagoda tree"},
    SKIMAGE / "camera.png": {"tripod", "reflex camera"},
}


def top5(api: ModelHubService, source: object) -> list[str]:
    return [entry["label"] for entry in api.predict(source, top=5)["output"][0]["prediction"]]


@pytest.fixture(scope="module", params=["int8", "float"])
def api(request: pytest.FixtureRequest, int8_model: Path, float_model: Path) -> ModelHubService:
    model_file = int8_model if request.param == "int8" else float_model
    settings = load_settings({"model_file": str(model_file)}, {})
    return service_for(
        load_model(REPO / "contrib_src", model_file=model_file, settings=settings), REPO / "contrib_src", settings
    )


@pytest.mark.parametrize("photo", list(EXPECTED), ids=lambda p: p.name)
def test_photos_get_their_class(api: ModelHubService, photo: Path) -> None:
    labels = top5(api, str(photo))
    assert EXPECTED[photo] & set(labels), labels


def test_full_label_list_in_class_order(api: ModelHubService) -> None:
    body = api.predict(str(SKIMAGE / "chelsea.png"))
    (output,) = body["output"]
    prediction = output["prediction"]
    assert output["shape"] == [1000] and len(prediction) == 1000
    assert prediction[0]["label"] == "tench, Tinca tinca" and prediction[999]["label"].startswith("toilet tissue")
    assert abs(sum(e["probability"] for e in prediction) - 1) < 1e-6
    assert body["model"] == {"id": "016c5f2a-9b58-44a9-bc93-10dc67385035", "name": "mobilenet"}


def test_bytes_path_and_sample_agree(api: ModelHubService) -> None:
    path = REPO / "contrib_src" / "sample_data" / "cat_chelsea.png"
    by_path = api.predict(str(path))["output"]
    assert api.predict(path.read_bytes())["output"] == by_path
    assert api.predict_sample("cat_chelsea.png")["output"] == by_path


def _renamed_copy(source: Path, target: Path) -> Path:
    """The int8 graph with the official float file's naming: `data` -> `mobilenetv20_...`, fixed batch 1."""
    onnx = pytest.importorskip("onnx")
    graph_model = onnx.load(str(source))
    graph = graph_model.graph
    renames = {graph.input[0].name: "data", graph.output[0].name: "mobilenetv20_output_flatten0_reshape0"}
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in (graph.input[0], graph.output[0]):
        value.name = renames[value.name]
        value.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(graph_model, str(target))
    return target


def test_both_naming_styles_and_fixed_batch(tmp_path: Path, int8_model: Path) -> None:
    renamed = _renamed_copy(int8_model, tmp_path / "renamed.onnx")
    apis = []
    for model_file in (int8_model, renamed):
        model = load_model(REPO / "contrib_src", model_file=model_file)
        apis.append(service_for(model, REPO / "contrib_src", load_settings({}, {})))
    session = apis[1].model.session
    assert (session.inputs[0].name, session.output_names, session.fixed_batch) == (
        "data",
        ["mobilenetv20_output_flatten0_reshape0"],
        1,
    )
    assert apis[0].model.session.fixed_batch is None
    photo = str(SKIMAGE / "chelsea.png")
    first, second = (np.array([e["probability"] for e in a.predict(photo)["output"][0]["prediction"]]) for a in apis)
    assert np.allclose(first, second, atol=1e-6)
    # A fixed-batch model still serves a batch: one run per item.
    batch = apis[1].plane.infer([photo, str(SKIMAGE / "coffee.png")])
    scores = batch.outputs[1]["probabilities"]
    assert scores.labels[scores.top(1)[0]] == "espresso"


def test_relative_paths_are_the_callers(monkeypatch: pytest.MonkeyPatch, int8_model: Path) -> None:
    # The engine runs package code from the package folder; a caller's relative paths must still mean
    # what they meant in the caller's directory.
    monkeypatch.chdir(int8_model.parent)
    model = load_model(REPO / "contrib_src", model_file=int8_model.name)
    assert model.session.path == int8_model.resolve()  # the caller's directory, symlinks resolved
