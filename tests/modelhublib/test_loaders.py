"""The contributor API's loaders, converters and dim_limits checks, on tiny inputs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from modelhub.errors import ImageDimensionsError, InvalidInput
from modelhublib.imageconverters import NumpyToNumpyConverter, PilToNumpyConverter
from modelhublib.imageloaders import NumpyImageLoader, PilImageLoader
from modelhublib.imageloaders.imageLoader import check_dim_limits, dim_limits
from modelhublib.processor import ImageProcessorBase

LIMITS = [{"min": 1, "max": 3}, {"min": 4}, {"min": 4}]
NEW_LAYOUT = {"model": {"io": {"input": {"single": {"dim_limits": LIMITS}}}}}
OLD_LAYOUT = {"model": {"io": {"input": {"dim_limits": LIMITS}}}}


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("config", [NEW_LAYOUT, OLD_LAYOUT])
def test_dim_limits_read_from_both_layouts(config: dict) -> None:
    assert dim_limits(config) == LIMITS


def test_dim_limits_of_a_named_input_win() -> None:
    config = {"model": {"io": {"input": {"t1": {"dim_limits": [{"min": 9}]}, "single": {"dim_limits": LIMITS}}}}}
    assert dim_limits(config, "t1") == [{"min": 9}]
    assert dim_limits({"model": {}}) is None


@pytest.mark.parametrize("dims,ok", [((3, 4, 4), True), ((4, 4, 4), False), ((1, 3, 10), False), ((1, 10, 3), False)])
def test_check_dim_limits(dims: tuple[int, int, int], ok: bool) -> None:
    if ok:
        check_dim_limits(dims, LIMITS)
    else:
        with pytest.raises(ImageDimensionsError) as info:
            check_dim_limits(dims, LIMITS)
        assert info.value.status == 422
        assert "x".join(map(str, dims)) in info.value.message


def test_pil_loader_from_bytes_path_and_image(tmp_path) -> None:
    data = png((6, 5))
    (tmp_path / "a.png").write_bytes(data)
    loader = PilImageLoader(NEW_LAYOUT)
    for source in (data, str(tmp_path / "a.png"), Image.open(io.BytesIO(data))):
        image = loader.load(source)
        assert image.size == (6, 5)


def test_loader_checks_dims_and_raises_422() -> None:
    with pytest.raises(ImageDimensionsError):
        PilImageLoader(NEW_LAYOUT).load(png((3, 3)))
    with pytest.raises(ImageDimensionsError):
        PilImageLoader(NEW_LAYOUT).load(png((5, 5), "RGBA"))


def test_chain_falls_through_to_numpy_and_fails_clearly() -> None:
    loader = PilImageLoader(NEW_LAYOUT)
    loader.setSuccessor(NumpyImageLoader(NEW_LAYOUT))
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 5, 5), np.float32))
    assert loader.load(buffer.getvalue()).shape == (2, 5, 5)
    with pytest.raises(InvalidInput) as info:
        loader.load(b"not an image at all")
    assert info.value.status == 400 and isinstance(info.value, OSError)


def test_numpy_loader_refuses_pickles() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInput):
        NumpyImageLoader(NEW_LAYOUT).load(buffer.getvalue())


def test_truncated_png_is_invalid_input() -> None:
    data = png((64, 64))
    with pytest.raises(InvalidInput):
        PilImageLoader(NEW_LAYOUT).load(data[: len(data) // 2])


def test_pil_converter_gives_float32_nchw() -> None:
    rgb = Image.fromarray(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3))
    array = PilToNumpyConverter().convert(rgb)
    assert array.dtype == np.float32 and array.shape == (1, 3, 2, 3)
    assert array[0, 1, 0, 0] == 1.0 and array[0, 0, 1, 2] == 15.0
    grey = PilToNumpyConverter().convert(Image.new("L", (4, 2), 7))
    assert grey.shape == (1, 1, 2, 4) and float(grey.max()) == 7.0
    array_in = np.ones((2, 5, 6))
    assert NumpyToNumpyConverter().convert(array_in) is array_in  # passed through as it is


def test_processor_base_runs_the_steps_in_order() -> None:
    calls: list[str] = []

    class Processor(ImageProcessorBase):
        def _preprocessBeforeConversionToNumpy(self, image):
            calls.append("before")
            return image.convert("L")

        def _preprocessAfterConversionToNumpy(self, npArr):
            calls.append("after")
            return npArr / 2

    array = Processor(NEW_LAYOUT).loadAndPreprocess(png((8, 4)))
    assert calls == ["before", "after"] and array.shape == (1, 1, 4, 8)
    with pytest.raises(NotImplementedError):
        Processor(NEW_LAYOUT).computeOutput(None)
