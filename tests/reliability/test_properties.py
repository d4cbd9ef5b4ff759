"""Property-based: random bytes, mutated images and random valid images of random sizes and modes.

The only outcomes allowed are a prediction or a 4xx error, through the Python API and the REST API,
and both APIs must agree.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from modelhub.errors import ModelHubError

pytestmark = [pytest.mark.model, pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")]

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def python_outcome(api: Any, data: bytes) -> int:
    try:
        response = api.predict(data, top=3)
    except ModelHubError as error:
        assert error.message and "Traceback" not in error.message
        return error.status
    prediction = response["output"][0]["prediction"]
    assert len(prediction) == 3 and all(0.0 <= e["probability"] <= 1.0 for e in prediction)
    return 200


def rest_outcome(app: Any, data: bytes) -> int:
    with app.test_client() as client:
        response = client.post(
            "/api/predict",
            data={"file": (io.BytesIO(data), "upload.jpg")},
            content_type="multipart/form-data",
            query_string={"top": "3"},
        )
    body = response.get_json()
    if response.status_code == 200:
        assert len(body["output"][0]["prediction"]) == 3
    else:
        assert set(body) == {"error"} and body["error"]
    return int(response.status_code)


def check(api: Any, app: Any, data: bytes) -> int:
    python, rest = python_outcome(api, data), rest_outcome(app, data)
    assert python == rest
    assert python == 200 or 400 <= python < 500, python
    return python


@SETTINGS
@given(data=st.binary(min_size=0, max_size=4096))
def test_random_bytes(real_api: Any, real_app: Any, data: bytes) -> None:
    check(real_api, real_app, data)


@SETTINGS
@given(
    prefix=st.sampled_from(
        [
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff\xe0",
            b"GIF89a",
            b"RIFF\x00\x00\x00\x00WEBP",
            b"II*\x00",
            b"BM",
            b"%PDF",
            b"<svg",
        ]
    ),
    rest=st.binary(max_size=2048),
)
def test_random_bytes_behind_real_signatures(real_api: Any, real_app: Any, prefix: bytes, rest: bytes) -> None:
    check(real_api, real_app, prefix + rest)


def _encode(size: tuple[int, int], mode: str, fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    width, height = size
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (height, width), dtype=np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


MODES_OF = {
    "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["L", "P"],
    "WEBP": ["RGB", "RGBA"],
    "TIFF": ["L", "RGB", "CMYK"],
    "BMP": ["RGB"],
}


@st.composite
def images(draw: Any) -> tuple[bytes, str, tuple[int, int]]:
    fmt = draw(st.sampled_from(sorted(MODES_OF)))
    mode = draw(st.sampled_from(MODES_OF[fmt]))
    size = (draw(st.integers(1, 400)), draw(st.integers(1, 400)))
    return _encode(size, mode, fmt, draw(st.integers(0, 2**16))), fmt, size


@SETTINGS
@given(image=images())
def test_random_valid_images(real_api: Any, real_app: Any, image: tuple[bytes, str, tuple[int, int]]) -> None:
    data, fmt, (width, height) = image
    status = check(real_api, real_app, data)
    if fmt not in ("PNG", "JPEG"):
        assert status == 415
    elif width < 32 or height < 32:
        assert status == 422
    else:
        assert status == 200


@SETTINGS
@given(
    image=images(),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=8),
    cut=st.floats(0.05, 1.0),
)
def test_mutated_images(
    real_api: Any, real_app: Any, image: tuple[bytes, str, tuple[int, int]], flips: list[tuple[float, int]], cut: float
) -> None:
    data = bytearray(image[0])
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    check(real_api, real_app, bytes(data[: max(1, int(len(data) * cut))]))


@SETTINGS
@given(image=images())
def test_python_api_accepts_paths_and_pil_images_alike(
    real_api: Any, tmp_path_factory: Any, image: tuple[bytes, str, tuple[int, int]]
) -> None:
    data = image[0]
    path = tmp_path_factory.mktemp("prop") / "input"
    path.write_bytes(data)
    assert python_outcome(real_api, data) == _outcome(lambda: real_api.predict(path, top=3))


def _outcome(call: Any) -> int:
    try:
        call()
    except ModelHubError as error:
        assert 400 <= error.status < 500
        return error.status
    return 200
