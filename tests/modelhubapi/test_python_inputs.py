"""The Python API's inputs: lists (one batch), numpy images and tensors, file objects; ``top`` and URLs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support import SAMPLES_DIR

from modelhub.errors import BadRequest, PayloadTooLarge
from modelhub.settings import load_settings
from modelhubapi.service import build_api

CAT = SAMPLES_DIR / "cat_chelsea.png"
CUP = SAMPLES_DIR / "coffee_cup.jpg"


@pytest.fixture(scope="module")
def api(int8_model: Path) -> Any:
    return build_api(load_settings({"model_file": str(int8_model), "max_image_pixels": 2_000_000}, environ={}))


def top_labels(response: dict[str, Any], k: int = 3) -> list[str]:
    return [entry["label"] for entry in response["output"][0]["prediction"][:k]]


def probabilities(response: dict[str, Any]) -> np.ndarray:
    return np.array([entry["probability"] for entry in response["output"][0]["prediction"]])


@pytest.mark.model
def test_a_list_is_one_batch_answered_in_order(api: Any) -> None:
    cat, cup = api.predict(CAT, top=3), api.predict(CUP, top=3)
    both = api.predict([CUP, CAT, str(CUP)], top=3)
    assert isinstance(both, list) and [top_labels(r) for r in both] == [
        top_labels(cup),
        top_labels(cat),
        top_labels(cup),
    ]
    assert top_labels(cat)[0] == "Egyptian cat" and top_labels(cup)[0] == "espresso"
    np.testing.assert_allclose(probabilities(both[1]), probabilities(cat), atol=1e-6)


@pytest.mark.model
def test_file_objects_and_numpy_images_give_the_same_answer_as_the_file(api: Any) -> None:
    expected = api.predict(CAT)
    with open(CAT, "rb") as handle:
        from_handle = api.predict(handle)
    from_buffer = api.predict(io.BytesIO(CAT.read_bytes()))
    with Image.open(CAT) as image:
        hwc = np.asarray(image.convert("RGB"))
    assert hwc.dtype == np.uint8 and hwc.ndim == 3 and hwc.shape[2] == 3
    from_array = api.predict(hwc)
    for response in (from_handle, from_buffer, from_array):
        np.testing.assert_allclose(probabilities(response), probabilities(expected), atol=1e-6)
        assert response["output"][0]["shape"] == [1000]


@pytest.mark.model
def test_preprocessed_nchw_float32_goes_straight_to_the_model(api: Any) -> None:
    with Image.open(CAT) as cat, Image.open(CUP) as cup:
        tensors = np.concatenate(
            [api.model.preprocess(cat.convert("RGB"))["input"], api.model.preprocess(cup.convert("RGB"))["input"]]
        )
    assert tensors.dtype == np.float32 and tensors.shape == (2, 3, 224, 224)
    answers = api.predict(tensors, top=1)
    assert [top_labels(r, 1) for r in answers] == [["Egyptian cat"], ["espresso"]]
    with pytest.raises(BadRequest, match=r"float32 \[N, 3, 224, 224\]"):
        api.predict(np.zeros((1, 3, 200, 200), np.float32))


@pytest.mark.model
@pytest.mark.parametrize(
    "array", [np.zeros((64, 64, 3), np.float64), np.zeros((3, 64, 64), np.uint8), np.zeros((64, 64, 2), np.uint8)]
)
def test_other_arrays_are_refused_with_what_is_accepted(api: Any, array: np.ndarray) -> None:
    with pytest.raises(BadRequest) as info:
        api.predict(array)
    assert "HWC uint8" in info.value.message and "NCHW float32" in info.value.message


@pytest.mark.model
@pytest.mark.parametrize("top", ["5", 0, -1, 2.5, True])
def test_top_must_be_a_positive_int(api: Any, top: Any) -> None:
    with pytest.raises(BadRequest) as info:
        api.predict(CAT, top=top)
    assert info.value.message == f"top must be a positive int or None, not {top!r}"


@pytest.mark.model
def test_a_pil_image_meets_the_pixel_limit_as_an_upload_does(api: Any) -> None:
    with pytest.raises(PayloadTooLarge, match="over the limit of 2000000 pixels"):
        api.predict(Image.new("RGB", (2000, 1001)))
    with pytest.raises(PayloadTooLarge):
        api.predict(np.zeros((1001, 2000, 3), np.uint8))


@pytest.mark.model
@pytest.mark.parametrize("url", ["https://example.org/cat.jpg", "http://127.0.0.1:8080/x.png?a=1"])
def test_a_url_says_what_to_do_with_it(api: Any, url: str) -> None:
    with pytest.raises(BadRequest) as info:
        api.predict(url)
    message = info.value.message
    assert "is a URL" in message and "download the image first" in message and "not found" not in message


@pytest.mark.model
def test_a_folder_says_it_is_a_folder(api: Any) -> None:
    with pytest.raises(BadRequest, match="is a folder"):
        api.predict(SAMPLES_DIR)
