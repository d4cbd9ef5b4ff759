"""Bad uploads to /api/predict: each gets a clear 4xx with a JSON error body, never a 5xx.

Runs in-process against the real int8 model through the Flask test client, and checks that
the Python API decides the same way for the same bytes (the type comes from the bytes).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from reliability_support import SAMPLES_DIR, error_of, labels_of, make_image

from modelhub.errors import ModelHubError

pytestmark = pytest.mark.model


def upload(client: Any, data: bytes, name: str = "image.jpg", field: str = "file", **kw: Any) -> Any:
    return client.post("/api/predict", data={field: (io.BytesIO(data), name)}, content_type="multipart/form-data", **kw)


def python_status(api: Any, data: bytes) -> int:
    try:
        api.predict(data)
    except ModelHubError as error:
        return error.status
    return 200


# -- the request itself ---------------------------------------------------------------


def test_empty_body_without_content_type(client: Any) -> None:
    response = client.post("/api/predict")
    assert response.status_code == 415
    assert "multipart/form-data" in error_of(response)


def test_empty_multipart_body(client: Any) -> None:
    response = client.post("/api/predict", content_type="multipart/form-data; boundary=xyz", data=b"")
    assert response.status_code == 400
    assert "no file uploaded" in error_of(response)


def test_no_file_field(client: Any) -> None:
    response = client.post("/api/predict", data={"name": "cat"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "'file'" in error_of(response)


def test_wrong_field_name(client: Any) -> None:
    response = upload(client, make_image(), field="image")
    assert response.status_code == 400
    message = error_of(response)
    assert "no multipart field 'file'" in message and "image" in message


def test_two_files_in_the_field(client: Any) -> None:
    data = {"file": [(io.BytesIO(make_image()), "a.png"), (io.BytesIO(make_image()), "b.png")]}
    response = client.post("/api/predict", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "exactly one file" in error_of(response)


def test_file_plus_another_file_field(client: Any) -> None:
    data = {"file": (io.BytesIO(make_image()), "a.png"), "other": (io.BytesIO(make_image()), "b.png")}
    response = client.post("/api/predict", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "exactly one file" in error_of(response)


@pytest.mark.parametrize(
    "body",
    [
        b"garbage without any boundary",
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nno closing boundary',
        b"--xyz\r\nbroken header line\r\n\r\nabc\r\n--xyz--\r\n",
        b"--xyz--\r\n",
    ],
)
def test_malformed_multipart(client: Any, body: bytes) -> None:
    response = client.post("/api/predict", content_type="multipart/form-data; boundary=xyz", data=body)
    assert response.status_code == 400
    assert "'file'" in error_of(response)


def test_multipart_without_boundary(client: Any) -> None:
    response = client.post("/api/predict", content_type="multipart/form-data", data=b"abc")
    assert response.status_code == 400
    error_of(response)


@pytest.mark.parametrize(
    "content_type",
    ["image/png", "application/octet-stream", "application/json", "application/x-www-form-urlencoded", "text/plain"],
)
def test_wrong_content_type(client: Any, content_type: str) -> None:
    response = client.post("/api/predict", data=make_image(), content_type=content_type)
    assert response.status_code == 415
    message = error_of(response)
    assert "multipart/form-data" in message and content_type.split(";")[0] in message


def test_get_without_fileurl(client: Any) -> None:
    response = client.get("/api/predict")
    assert response.status_code == 400
    assert "fileurl" in error_of(response)


@pytest.mark.parametrize("top", ["0", "-1", "abc", "1.5"])
def test_bad_top(client: Any, top: str) -> None:
    response = upload(client, make_image(), query_string={"top": top})
    assert response.status_code == 400
    assert "top must be a positive integer" in error_of(response)


def test_wrong_method_and_unknown_route(client: Any) -> None:
    assert client.put("/api/predict").status_code == 405
    response = client.get("/api/nothing")
    assert response.status_code == 404
    error_of(response)


# -- the uploaded bytes -----------------------------------------------------------------


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect/></svg>'


def _non_images() -> list[tuple[str, bytes, str, str]]:
    """(case, bytes, file name, what the message must say)."""
    rng = __import__("random").Random(7)
    return [
        ("random bytes named .jpg", bytes(rng.randrange(256) for _ in range(4096)), "photo.jpg", "not an image"),
        ("text file", b"hello, this is not an image\n" * 20, "notes.png", "text/plain"),
        ("pdf", _pdf(), "scan.jpg", "application/pdf"),
        ("svg", SVG, "drawing.svg", "svg"),
        ("svg named png", SVG, "drawing.png", "svg"),
        ("json", b'{"a": 1}', "x.jpg", "application/json"),
        ("zip", b"PK\x03\x04" + bytes(100), "x.jpg", "application/zip"),
    ]


@pytest.mark.parametrize("case,data,name,said", _non_images(), ids=[c[0] for c in _non_images()])
def test_non_image_upload_is_415(client: Any, real_api: Any, case: str, data: bytes, name: str, said: str) -> None:
    response = upload(client, data, name)
    assert response.status_code == 415, case
    message = error_of(response)
    assert said in message and "image/png, image/jpeg" in message
    assert python_status(real_api, data) == 415


@pytest.mark.parametrize(
    "fmt,mime", [("GIF", "image/gif"), ("TIFF", "image/tiff"), ("WEBP", "image/webp"), ("BMP", "image/bmp")]
)
@pytest.mark.parametrize("name", ["image.png", "image.jpg", "image"])
def test_image_formats_outside_the_config_are_415_whatever_the_name(
    client: Any, real_api: Any, fmt: str, mime: str, name: str
) -> None:
    data = make_image((64, 64), fmt=fmt)
    response = upload(client, data, name)
    assert response.status_code == 415
    assert error_of(response) == f"unsupported image type {mime}: this model accepts image/png, image/jpeg"
    assert python_status(real_api, data) == 415


@pytest.mark.parametrize(
    "fmt,name", [("PNG", "photo.jpg"), ("JPEG", "drawing.png"), ("PNG", "noext"), ("JPEG", "x.gif")]
)
def test_accepted_formats_are_decided_by_bytes_not_name(client: Any, fmt: str, name: str) -> None:
    response = upload(client, make_image((64, 64), fmt=fmt), name)
    assert response.status_code == 200, response.get_json()


def test_zero_byte_file(client: Any, real_api: Any) -> None:
    response = upload(client, b"", "empty.jpg")
    assert response.status_code == 400
    assert error_of(response) == "the uploaded file is empty"
    assert python_status(real_api, b"") == 400


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_image(client: Any, real_api: Any, fmt: str, keep: float) -> None:
    sample = SAMPLES_DIR / ("cat_chelsea.png" if fmt == "PNG" else "coffee_cup.jpg")
    data = sample.read_bytes()
    cut = data[: int(len(data) * keep)]
    response = upload(client, cut, sample.name)
    assert response.status_code == 400, response.get_json()
    message = error_of(response)
    assert "truncated or corrupt" in message or "not a readable image" in message
    assert python_status(real_api, cut) == 400


def test_corrupt_jpeg_body(client: Any) -> None:
    data = bytearray((SAMPLES_DIR / "coffee_cup.jpg").read_bytes())
    data[600:] = bytes(len(data) - 600)  # header intact, entropy-coded data zeroed
    response = upload(client, bytes(data))
    assert response.status_code in (200, 400)  # libjpeg may decode zeros as a grey picture
    if response.status_code == 400:
        error_of(response)


# -- sizes ---------------------------------------------------------------------------------


def png_header_only(width: int, height: int, bit_depth: int = 1, colour: int = 0) -> bytes:
    """A PNG of ``width`` x ``height`` made of rows of zeros, streamed through zlib (a few hundred KB)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + bytes((width * bit_depth + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = png_header_only(30000, 30000)
    assert len(data) < 200_000
    return data


def test_decompression_bomb_is_413_before_decoding(
    client: Any, real_api: Any, bomb: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(*args: Any, **kw: Any) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.core, "zip_decoder", no_decoding)
    response = upload(client, bomb, "bomb.png")
    assert response.status_code == 413
    message = error_of(response)
    assert "too large" in message and "900000000" in message
    assert python_status(real_api, bomb) == 413


def test_pixel_limit_is_configurable_and_checked_from_the_header(
    app_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_with(max_image_pixels=100 * 100)
    small, large = make_image((100, 100)), png_header_only(101, 100, 8)
    with app.test_client() as c:
        assert upload(c, small, "ok.png").status_code == 200
        monkeypatch.setattr(Image.Image, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
        response = upload(c, large, "big.png")
    assert response.status_code == 413
    assert error_of(response) == "image of 101x100 pixels is over the limit of 10000 pixels"


def test_default_pixel_limit_between_pillow_warning_and_error(client: Any) -> None:
    # 10000 x 10000 = 1e8 pixels: over the default limit of 64e6, under Pillow's own error threshold.
    response = upload(client, png_header_only(10000, 10000), "big.png")
    assert response.status_code == 413
    assert "over the limit of 64000000 pixels" in error_of(response)


@pytest.mark.parametrize("size", [(8, 8), (31, 200), (200, 31), (1, 1)])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_below_dim_limits_is_422(client: Any, real_api: Any, size: tuple[int, int], fmt: str) -> None:
    data = make_image(size, fmt=fmt)
    response = upload(client, data)
    assert response.status_code == 422
    message = error_of(response)
    assert "must be at least 32" in message and f"{size[1]}x{size[0]}" in message
    assert python_status(real_api, data) == 422


def test_dim_limits_edge_is_accepted(client: Any) -> None:
    assert upload(client, make_image((32, 32))).status_code == 200


def test_upload_over_the_size_limit_is_413(app_with: Any) -> None:
    limit = 10_000
    app = app_with(max_upload_bytes=limit)
    with app.test_client() as c:
        big = upload(c, bytes(limit * 20))
        just_over = upload(c, make_image((64, 64)) + bytes(limit))  # within the multipart slack
        at_limit = upload(c, make_image((64, 64)))
    assert big.status_code == 413 and just_over.status_code == 413
    assert error_of(big) == error_of(just_over) == f"the upload is larger than the limit of {limit} bytes"
    assert at_limit.status_code == 200


class _Exploding(io.RawIOBase):
    """A request body that fails the test if more than ``allowed`` bytes are read from it."""

    def __init__(self, allowed: int) -> None:
        self.allowed, self.read_bytes = allowed, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.read_bytes += len(buffer)
        assert self.read_bytes <= self.allowed, f"read {self.read_bytes} bytes of an oversized body"
        buffer[: len(buffer)] = b"x" * len(buffer)
        return len(buffer)


def test_oversized_body_is_not_read(app_with: Any) -> None:
    app = app_with(max_upload_bytes=10_000)
    body = _Exploding(allowed=0)
    with app.test_client() as c:
        response = c.post(
            "/api/predict",
            content_type="multipart/form-data; boundary=xyz",
            environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(10**10)},
        )
    assert response.status_code == 413
    error_of(response)
    assert body.read_bytes == 0


# -- image modes and encodings: all accepted ------------------------------------------------


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    with Image.open(SAMPLES_DIR / "cat_chelsea.png") as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def cat_labels(real_api: Any, cat: Image.Image) -> list[str]:
    buffer = io.BytesIO()
    cat.save(buffer, "PNG")
    return labels_of(real_api.predict(buffer.getvalue(), top=5))


def _encode(image: Image.Image, fmt: str, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def _variants(cat: Image.Image) -> dict[str, tuple[bytes, bool | None]]:
    """name -> (bytes, colour kept).  Colour variants keep the top-1 label, grey ones share a top-3 label."""
    rotated = cat.transpose(Image.Transpose.ROTATE_90)  # stored sideways, EXIF says: turn back
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    grey16 = Image.fromarray(__import__("numpy").asarray(cat.convert("L")).astype("uint16") * 257)
    assert grey16.mode == "I;16"
    return {
        "1-channel L png": (_encode(cat.convert("L"), "PNG"), False),
        "1-bit png": (_encode(cat.convert("1"), "PNG"), None),  # dithered: only a valid answer is expected
        "2-channel LA png": (_encode(cat.convert("LA"), "PNG"), False),
        "3-channel jpeg": (_encode(cat, "JPEG", quality=95), True),
        "4-channel RGBA png": (_encode(cat.convert("RGBA"), "PNG"), True),
        "palette png": (_encode(cat.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), "PNG"), True),
        "palette png with transparency": (
            _encode(cat.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0),
            True,
        ),
        "16-bit grey png": (_encode(grey16, "PNG"), False),
        "CMYK jpeg": (_encode(cat.convert("CMYK"), "JPEG", quality=95), True),
        "EXIF-rotated jpeg": (_encode(rotated, "JPEG", quality=95, exif=exif.tobytes()), True),
        "progressive jpeg": (_encode(cat, "JPEG", quality=90, progressive=True), True),
        "grey jpeg": (_encode(cat.convert("L"), "JPEG", quality=90), False),
        "interlaced png": (_interlaced_png(cat), True),
    }


def _interlaced_png(image: Image.Image) -> bytes:
    """Adam7-interlaced PNG (Pillow cannot write them), built by hand from the RGB rows."""
    import numpy as np

    pixels = np.asarray(image)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", image.width, image.height, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


def test_interlaced_png_really_is_interlaced(cat: Image.Image) -> None:
    with Image.open(io.BytesIO(_interlaced_png(cat))) as image:
        assert image.info.get("interlace") == 1
        assert image.convert("RGB").tobytes() == cat.tobytes()


def test_every_mode_and_encoding_gives_a_sensible_prediction(
    client: Any, cat: Image.Image, cat_labels: list[str]
) -> None:
    for name, (data, colour) in _variants(cat).items():
        response = upload(client, data, "cat", query_string={"top": "5"})
        assert response.status_code == 200, (name, response.get_json())
        labels = labels_of(response.get_json())
        probabilities = [e["probability"] for e in response.get_json()["output"][0]["prediction"]]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < probabilities[0] <= 1
        if colour:
            assert labels[0] == cat_labels[0], name
        elif colour is False:
            assert set(labels[:3]) & set(cat_labels), (name, labels, cat_labels)


def test_sample_paths_round_trip(real_api: Any) -> None:
    for path in sorted(Path(SAMPLES_DIR).iterdir()):
        response = real_api.predict(path.read_bytes(), top=1)
        assert response["output"][0]["prediction"][0]["probability"] > 0.1, path.name
