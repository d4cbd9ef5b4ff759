"""Bounded work in contrib_src/processing.py: strips, grey resizing, extreme aspect ratios, 16 bits.

``prepare_image`` must give the bytes of the plain chain (orientation, RGB, resize, crop on the whole
image) for every normal image, while copying only a strip of a large image at a time, and must
not build the huge resized image of an extreme aspect ratio (the upscaling bomb).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import geometry
import numpy as np
import pytest
from colour import to_grey, to_rgb
from geometry import (
    MAX_EXACT_RESIZED_PIXELS,
    apply_exif_orientation,
    center_crop,
    prepare_image,
    resize_shorter_side,
    source_box,
    upright_region,
)
from PIL import Image

METHODS = [None, *Image.Transpose][:8]


def plain_chain(img: Image.Image) -> Image.Image:
    """The steps one after another on the whole image: what prepare_image must reproduce."""
    return center_crop(resize_shorter_side(to_rgb(apply_exif_orientation(img))))


def textured(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(-1000, 70000, (height, width), dtype=np.int32))
    if mode == "F":
        return Image.fromarray(rng.uniform(-10, 66000, (height, width)).astype(np.float32))
    if mode == "P":
        return image.quantize(64)
    if mode == "PA":
        return image.quantize(64).convert("PA")
    if mode == "La":
        return image.convert("LA").convert("La")
    return image.convert(mode)


def with_orientation(img: Image.Image, orientation: int) -> Image.Image:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    img.save(buffer, "PNG", exif=exif)
    buffer.seek(0)
    reopened = Image.open(buffer)
    reopened.load()
    return reopened


@pytest.fixture
def small_strips(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Strips of a few rows, so small test images go through the strip path."""
    monkeypatch.setattr(geometry, "STRIP_PIXELS", 997)  # where prepare_image reads it
    yield


MODES = ["RGB", "L", "1", "LA", "La", "RGBA", "P", "PA", "CMYK", "YCbCr", "I;16", "I", "F", "RGBX", "RGBa"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(300, 200), (97, 411), (40, 33), (256, 256), (1000, 70)])
def test_strips_give_the_same_bytes(small_strips: None, mode: str, size: tuple[int, int]) -> None:
    img = textured(size, mode)
    assert prepare_image(img).tobytes() == plain_chain(img).tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_strips_with_every_exif_orientation(small_strips: None, orientation: int, mode: str) -> None:
    img = with_orientation(textured((331, 217), mode, seed=orientation), orientation)
    out = prepare_image(img)
    assert out.size == (224, 224) and out.mode == "RGB"
    assert out.tobytes() == plain_chain(img).tobytes()


@pytest.mark.parametrize("method", METHODS)
def test_upright_region_is_a_crop_of_the_transposed_image(method: Image.Transpose | None) -> None:
    img = textured((37, 23))
    upright = img if method is None else img.transpose(method)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x0, x1 = sorted(rng.integers(0, upright.width + 1, 2))
        y0, y1 = sorted(rng.integers(0, upright.height + 1, 2))
        box = (int(x0), int(y0), int(x1) + 1, int(y1) + 1)
        box = (box[0], box[1], min(box[2], upright.width), min(box[3], upright.height))
        assert upright_region(img, method, box).tobytes() == upright.crop(box).tobytes(), (method, box)
    assert source_box((0, 0, *upright.size), img.size, method) == (0, 0, *img.size)


@pytest.mark.parametrize("mode", ["L", "1", "LA", "I;16", "I", "F"])
def test_grey_resized_before_rgb_is_identical(mode: str) -> None:
    """Bilinear resizing treats each channel alike: resize in L then expand == expand then resize."""
    img = textured((403, 299), mode)
    grey_first = center_crop(resize_shorter_side(to_grey(img))).convert("RGB")
    rgb_first = center_crop(resize_shorter_side(to_rgb(img)))
    assert grey_first.tobytes() == rgb_first.tobytes()


def test_sixteen_bit_table_matches_integer_rounding() -> None:
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    img = Image.fromarray(values)
    expected = ((values.astype(np.int64) + 128) // 257).astype(np.uint8)
    assert np.array_equal(np.asarray(to_grey(img)), expected)


# -- extreme aspect ratios: the upscaling bomb -----------------------------------------


@pytest.fixture
def resize_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every size Image.resize is asked for."""
    sizes: list[tuple[int, int]] = []
    original = Image.Image.resize

    def recording(self: Image.Image, size: Any, *args: Any, **kwargs: Any) -> Image.Image:
        sizes.append(tuple(size))
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording)
    return sizes


@pytest.mark.parametrize("size", [(32, 200_000), (200_000, 32), (40, 3000), (5000, 300)])
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "I;16"])
def test_extreme_aspect_ratio_never_builds_the_resized_image(
    resize_sizes: list[tuple[int, int]], size: tuple[int, int], mode: str
) -> None:
    img = textured(size, mode) if size[0] * size[1] <= 2_000_000 else Image.new(mode, size)
    out = prepare_image(img)
    assert out.size == (224, 224) and out.mode == "RGB"
    assert resize_sizes and max(w * h for w, h in resize_sizes) <= 224 * 224


@pytest.mark.parametrize("size", [(40, 3000), (3000, 40), (300, 6000)])
@pytest.mark.parametrize("orientation", [1, 6, 3])
def test_extreme_aspect_ratio_is_close_to_the_plain_chain(size: tuple[int, int], orientation: int) -> None:
    img = with_orientation(textured(size, "RGB"), orientation)
    ours = np.asarray(prepare_image(img), dtype=np.int16)
    expected = np.asarray(plain_chain(img), dtype=np.int16)
    assert np.abs(ours - expected).max() <= 1


def test_normal_aspect_ratios_stay_exact(resize_sizes: list[tuple[int, int]]) -> None:
    """Up to 16:1 the full resized image is built (and so the output is the reference one)."""
    for size in [(4000, 250), (250, 4000), (4000, 3000), (1600, 100)]:
        img = textured(size) if size[0] * size[1] <= 4_000_000 else Image.new("RGB", size)
        resize_sizes.clear()
        assert prepare_image(img).tobytes() == plain_chain(img).tobytes()
        assert resize_sizes and max(w * h for w, h in resize_sizes) <= MAX_EXACT_RESIZED_PIXELS
