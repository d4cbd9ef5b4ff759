"""The converters' contract, as the original ModelHub engine has it: which shape, dtype and errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from modelhub.errors import InvalidInput
from modelhublib.imageconverters import (
    ImageConverter,
    NumpyToNumpyConverter,
    PilToNumpyConverter,
    SitkToNumpyConverter,
)
from modelhublib.processor import ImageProcessorBase

NO_LIMITS = {"model": {"io": {"input": {"single": {"dim_limits": [{}, {}, {}]}}}}}


def sitk():
    return pytest.importorskip("SimpleITK")


# -- NumpyToNumpyConverter: a pass-through -------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4), (1, 2, 3, 4), (1, 1, 2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float64])
def test_numpy_converter_returns_the_array_itself(shape: tuple[int, ...], dtype: type) -> None:
    array = np.arange(int(np.prod(shape))).astype(dtype).reshape(shape)
    converted = NumpyToNumpyConverter().convert(array)
    assert converted is array
    assert converted.shape == shape and converted.dtype == dtype


@pytest.mark.parametrize("image", [Image.new("RGB", (5, 4)), [[1, 2], [3, 4]], None])
def test_numpy_converter_refuses_what_is_not_an_array(image: object) -> None:
    with pytest.raises(OSError) as info:
        NumpyToNumpyConverter().convert(image)
    assert type(image).__name__ in str(info.value)


# -- PilToNumpyConverter: [1, bands, height, width] float32 --------------------------------


def test_pil_grey_image_gets_batch_and_channel_axes() -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    array = PilToNumpyConverter().convert(Image.fromarray(pixels, "L"))
    assert array.shape == (1, 1, 3, 4) and array.dtype == np.float32
    assert np.array_equal(array[0, 0], pixels)


@pytest.mark.parametrize("mode,bands", [("RGB", 3), ("RGBA", 4), ("LA", 2), ("CMYK", 4)])
def test_pil_multiband_image_has_its_bands_first(mode: str, bands: int) -> None:
    pixels = (np.arange(2 * 5 * bands) % 251).astype(np.uint8).reshape(2, 5, bands)
    image = Image.frombytes(mode, (5, 2), pixels.tobytes())
    array = PilToNumpyConverter().convert(image)
    assert array.shape == (1, bands, 2, 5) and array.dtype == np.float32
    for band in range(bands):
        assert np.array_equal(array[0, band], pixels[:, :, band])


def test_pil_values_are_kept_as_stored() -> None:
    bilevel = Image.new("1", (3, 2), 1)
    assert PilToNumpyConverter().convert(bilevel).tolist() == [[[[1.0] * 3] * 2]]
    palette = Image.new("P", (3, 2), 5)
    assert PilToNumpyConverter().convert(palette).tolist() == [[[[5.0] * 3] * 2]]  # indices, not colours
    deep = Image.fromarray(np.full((2, 3), 40000, np.uint16))
    assert float(PilToNumpyConverter().convert(deep).max()) == 40000.0


def test_pil_rgb_png_through_the_processor_is_float32_1x3xhxw(tmp_path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (9, 6), (10, 20, 30)).save(buffer, "PNG")
    (tmp_path / "rgb.png").write_bytes(buffer.getvalue())
    for source in (str(tmp_path / "rgb.png"), buffer.getvalue()):
        array = ImageProcessorBase(NO_LIMITS).loadAndPreprocess(source)
        assert array.shape == (1, 3, 6, 9) and array.dtype == np.float32
        assert array[0, :, 0, 0].tolist() == [10.0, 20.0, 30.0]


@pytest.mark.parametrize("image", [np.zeros((2, 2)), b"\x89PNG", None])
def test_pil_converter_refuses_what_is_not_a_pil_image(image: object) -> None:
    with pytest.raises(OSError):
        PilToNumpyConverter().convert(image)


# -- SitkToNumpyConverter: batch axis in front of SimpleITK's (z, y, x) array ---------------


def test_sitk_2d_image_gives_1x1xhxw() -> None:
    pixels = np.arange(8, dtype=np.int16).reshape(2, 4)
    array = SitkToNumpyConverter().convert(sitk().GetImageFromArray(pixels))
    assert array.shape == (1, 1, 2, 4) and array.dtype == np.float32
    assert np.array_equal(array[0, 0], pixels)


def test_sitk_volume_gives_1xzxhxw() -> None:
    voxels = np.arange(3 * 2 * 4, dtype=np.uint8).reshape(3, 2, 4)
    image = sitk().GetImageFromArray(voxels)
    assert image.GetSize() == (4, 2, 3)
    array = SitkToNumpyConverter().convert(image)
    assert array.shape == (1, 3, 2, 4) and array.dtype == np.float32
    assert np.array_equal(array[0], voxels)


def test_sitk_multicomponent_2d_image_keeps_components_last() -> None:
    pixels = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)
    image = sitk().GetImageFromArray(pixels, isVector=True)
    assert image.GetNumberOfComponentsPerPixel() == 3
    array = SitkToNumpyConverter().convert(image)
    assert array.shape == (1, 2, 4, 3) and array.dtype == np.float32
    assert np.array_equal(array[0], pixels)


def test_sitk_multicomponent_volume_keeps_components_last() -> None:
    image = sitk().Image([4, 2, 5], sitk().sitkVectorFloat32, 2)
    array = SitkToNumpyConverter().convert(image)
    assert array.shape == (1, 5, 2, 4, 2) and array.dtype == np.float32


@pytest.mark.parametrize("image", [np.zeros((2, 2)), Image.new("L", (2, 2))])
def test_sitk_converter_refuses_what_is_not_a_sitk_image(image: object) -> None:
    with pytest.raises(OSError):
        SitkToNumpyConverter().convert(image)


# -- ImageConverter: the chain ------------------------------------------------------------


class Recording(ImageConverter):
    def __init__(self, name: str, accepts: type, calls: list[str]) -> None:
        super().__init__()
        self.name, self.accepts, self.calls = name, accepts, calls

    def _convert(self, image: object) -> np.ndarray:
        self.calls.append(self.name)
        if not isinstance(image, self.accepts):
            raise InvalidInput(f"{self.name} cannot")
        return np.array([self.name])


def test_abstract_converter_has_no_conversion() -> None:
    with pytest.raises(NotImplementedError):
        ImageConverter()._convert(None)


def test_chain_asks_the_successor_when_a_converter_fails() -> None:
    calls: list[str] = []
    first = Recording("first", int, calls)
    first.setSuccessor(Recording("second", str, calls))
    assert first.convert("x").tolist() == ["second"]
    assert calls == ["first", "second"]


def test_set_successor_replaces_the_previous_one() -> None:
    calls: list[str] = []
    first = Recording("first", int, calls)
    first.setSuccessor(Recording("old", str, calls))
    first.setSuccessor(Recording("new", str, calls))
    assert first.convert("x").tolist() == ["new"]
    assert calls == ["first", "new"]


def test_chain_that_cannot_convert_raises_an_oserror_naming_the_type() -> None:
    first = Recording("first", int, [])
    first.setSuccessor(Recording("second", int, []))
    with pytest.raises(OSError) as info:
        first.convert(2.5)
    assert '"float"' in str(info.value)


def test_conversion_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInput) as info:
        NumpyToNumpyConverter().convert(None)
    assert info.value.status == 400


def test_processor_converts_each_loaded_type() -> None:
    processor = ImageProcessorBase(NO_LIMITS)
    array = np.ones((2, 3), np.int8)
    assert processor._convertToNumpy(array) is array
    assert processor._convertToNumpy(Image.new("L", (3, 2))).shape == (1, 1, 2, 3)
    assert processor._convertToNumpy(sitk().Image([3, 2, 4], sitk().sitkUInt8)).shape == (1, 4, 2, 3)
    with pytest.raises(OSError):
        processor._convertToNumpy("not an image")
