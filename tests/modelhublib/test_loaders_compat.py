"""The loaders' contract, as the original ModelHub engine has it: inputs, dimensions, errors, dim_limits."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from modelhub.errors import ImageDimensionsError, InvalidInput
from modelhublib.imageloaders import ImageLoader, NumpyImageLoader, PilImageLoader, SitkImageLoader
from modelhublib.processor import ImageProcessorBase

OPEN = {"model": {"io": {"input": {"single": {"dim_limits": [{}, {}, {}]}}}}}
MULTI = {"model": {"io": {"input": {"t1": {"dim_limits": [{}, {}, {}]}, "t2": {"dim_limits": [{}, {}, {}]}}}}}


def sitk():
    return pytest.importorskip("SimpleITK")


def limited(axis: int, config: dict = OPEN, key: str = "single", **bounds: int) -> dict:
    config = copy.deepcopy(config)
    config["model"]["io"]["input"][key]["dim_limits"][axis].update(bounds)
    return config


def png_bytes(size: tuple[int, int] = (4, 2), mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


def png_file(tmp_path: Path, size: tuple[int, int] = (4, 2), mode: str = "L") -> str:
    path = tmp_path / f"{mode}_{size[0]}x{size[1]}.png"
    path.write_bytes(png_bytes(size, mode))
    return str(path)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def nrrd(tmp_path: Path, image: Any, name: str = "image.nrrd") -> Path:
    path = tmp_path / name
    sitk().WriteImage(image, str(path))
    return path


class Spy(ImageLoader):
    """Loads anything as the string "spy"; records its calls."""

    def __init__(self, config: Any = OPEN) -> None:
        super().__init__(config)
        self.calls: list[Any] = []

    def _load(self, input: Any) -> Any:
        self.calls.append(input)
        return "spy"

    def _getImageDimensions(self, image: Any) -> list[int]:
        return [1, 1, 1]


# -- ImageLoader: abstract methods and the chain ------------------------------------------------


def test_abstract_loader_methods_raise_not_implemented() -> None:
    loader = ImageLoader(None)
    for method in (loader._load, loader._getImageDimensions, loader._checkConfigCompliance):
        with pytest.raises(NotImplementedError):
            method(None)


@pytest.mark.parametrize("input,named", [("missing/scan.png", "scan.png"), (None, '"NoneType"'), (3, '"int"')])
def test_loader_that_cannot_load_raises_an_oserror(input: Any, named: str) -> None:
    with pytest.raises(OSError) as info:
        ImageLoader(None).load(input)
    assert "Was not able to load" in str(info.value) and named in str(info.value)


def test_load_errors_are_invalid_input_and_name_no_folders() -> None:
    with pytest.raises(InvalidInput) as info:
        ImageLoader(None).load("/srv/secret/scratch/scan.png")
    assert info.value.status == 400 and "secret" not in str(info.value)


def test_set_successor_replaces_the_previous_one() -> None:
    old, new = Spy(), Spy()
    loader = PilImageLoader(OPEN)
    loader.setSuccessor(old)
    loader.setSuccessor(new)
    assert loader.load("no/such/image.png") == "spy"
    assert new.calls == ["no/such/image.png"] and old.calls == []


def test_successor_gets_a_stream_from_where_it_stood() -> None:
    stream = io.BytesIO(b"junk" + npy_bytes(np.arange(6).reshape(1, 2, 3)))
    stream.seek(4)
    loader = PilImageLoader(OPEN, NumpyImageLoader(OPEN))
    assert loader.load(stream).shape == (1, 2, 3)


def test_processor_chain_is_pil_then_sitk_then_numpy(tmp_path: Path) -> None:
    processor = ImageProcessorBase(OPEN)
    assert isinstance(processor._load(png_file(tmp_path)), Image.Image)
    assert isinstance(processor._load(str(nrrd(tmp_path, sitk().Image([4, 2], sitk().sitkUInt8)))), sitk().Image)
    (tmp_path / "a.npy").write_bytes(npy_bytes(np.zeros((3, 4, 4), np.int16)))
    loaded = processor._load(str(tmp_path / "a.npy"))
    assert isinstance(loaded, np.ndarray) and loaded.dtype == np.int16
    with pytest.raises(OSError):
        processor._load(str(tmp_path / "absent.png"))


def test_numpy_input_reaches_the_model_as_loaded(tmp_path: Path) -> None:
    (tmp_path / "a.npy").write_bytes(npy_bytes(np.arange(12, dtype=np.int32).reshape(3, 4)))
    array = ImageProcessorBase(OPEN).loadAndPreprocess(str(tmp_path / "a.npy"))
    assert array.shape == (3, 4) and array.dtype == np.int32


def test_sitk_input_reaches_the_model_as_float32_1xzxhxw(tmp_path: Path) -> None:
    voxels = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    path = nrrd(tmp_path, sitk().GetImageFromArray(voxels))
    array = ImageProcessorBase(OPEN).loadAndPreprocess(str(path))
    assert array.shape == (1, 2, 3, 4) and array.dtype == np.float32
    assert np.array_equal(array[0], voxels)


# -- PilImageLoader --------------------------------------------------------------------------


def test_pil_loader_accepts_paths_bytes_streams_and_images(tmp_path: Path) -> None:
    data = png_bytes((6, 3), "RGB")
    (tmp_path / "a.png").write_bytes(data)
    sources = (str(tmp_path / "a.png"), tmp_path / "a.png", data, io.BytesIO(data), Image.open(io.BytesIO(data)))
    for source in sources:
        assert PilImageLoader(OPEN).load(source).size == (6, 3)


@pytest.mark.parametrize("mode,bands", [("L", 1), ("P", 1), ("RGB", 3), ("RGBA", 4)])
def test_pil_dimensions_are_bands_height_width(tmp_path: Path, mode: str, bands: int) -> None:
    loader = PilImageLoader(OPEN)
    assert loader._getImageDimensions(loader.load(png_file(tmp_path, (5, 2), mode))) == [bands, 2, 5]


def test_pil_loader_cannot_load_a_non_image(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(OSError):
        PilImageLoader(OPEN).load(str(tmp_path / "notes.txt"))


# -- SitkImageLoader -------------------------------------------------------------------------


def test_sitk_loader_accepts_paths_and_images(tmp_path: Path) -> None:
    image = sitk().Image([5, 3], sitk().sitkInt16)
    path = nrrd(tmp_path, image)
    loader = SitkImageLoader(OPEN)
    assert loader.load(str(path)).GetSize() == (5, 3)
    assert loader.load(path).GetSize() == (5, 3)


def test_sitk_loader_passes_an_opened_image_through() -> None:
    image = sitk().Image([5, 3], sitk().sitkInt16)
    assert SitkImageLoader(OPEN).load(image) is image


def test_sitk_loader_reads_a_list_of_slices_as_one_volume(tmp_path: Path) -> None:
    slices = [str(nrrd(tmp_path, sitk().Image([4, 2], sitk().sitkUInt8) + k, f"s{k}.nrrd")) for k in range(3)]
    volume = SitkImageLoader(OPEN).load(slices)
    assert volume.GetSize() == (4, 2, 3)


@pytest.mark.parametrize(
    "size,components,dims",
    [([4, 2], 1, [1, 2, 4]), ([4, 2, 3], 1, [3, 2, 4]), ([4, 2], 3, [1, 2, 4]), ([4, 2, 1], 1, [1, 2, 4])],
)
def test_sitk_dimensions_are_z_height_width(size: list[int], components: int, dims: list[int]) -> None:
    pixel = sitk().sitkUInt8 if components == 1 else sitk().sitkVectorUInt8
    image = sitk().Image(size, pixel, components)
    assert SitkImageLoader(OPEN)._getImageDimensions(image) == dims


@pytest.mark.parametrize("input", [b"\x00\x01", io.BytesIO(b"\x00"), None])
def test_sitk_loader_loads_files_only(input: Any) -> None:
    with pytest.raises(OSError):
        SitkImageLoader(OPEN).load(input)


# -- NumpyImageLoader ------------------------------------------------------------------------


def test_numpy_loader_accepts_paths_bytes_streams_and_arrays(tmp_path: Path) -> None:
    array = np.arange(48, dtype=np.float32).reshape(3, 4, 4)
    data = npy_bytes(array)
    (tmp_path / "a.npy").write_bytes(data)
    loader = NumpyImageLoader(OPEN)
    for source in (str(tmp_path / "a.npy"), tmp_path / "a.npy", io.BytesIO(data)):
        loaded = loader.load(source)
        assert loaded.dtype == np.float32 and np.array_equal(loaded, array)


def test_numpy_loader_also_takes_bytes_and_arrays() -> None:
    array = np.arange(48, dtype=np.float32).reshape(3, 4, 4)
    loader = NumpyImageLoader(OPEN)
    assert loader.load(array) is array
    for source in (npy_bytes(array), bytearray(npy_bytes(array))):
        loaded = loader.load(source)
        assert loaded.dtype == np.float32 and np.array_equal(loaded, array)


def test_numpy_loader_reads_an_npz_of_one_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "one.npz", scan=np.ones((2, 3, 4)))
    assert NumpyImageLoader(OPEN).load(str(tmp_path / "one.npz")).shape == (2, 3, 4)
    np.savez(tmp_path / "two.npz", a=np.ones(2), b=np.ones(2))
    with pytest.raises(OSError):
        NumpyImageLoader(OPEN).load(str(tmp_path / "two.npz"))


def test_numpy_loader_never_unpickles(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(OSError):
        NumpyImageLoader(OPEN).load(str(tmp_path / "obj.npy"))


@pytest.mark.parametrize(
    "shape,dims", [((3, 4, 5), [3, 4, 5]), ((4, 5), [1, 4, 5]), ((1, 3, 4, 5), [1, 3, 4, 5]), ((6,), [1, 1, 6])]
)
def test_numpy_dimensions_are_the_shape(shape: tuple[int, ...], dims: list[int]) -> None:
    assert list(NumpyImageLoader(OPEN)._getImageDimensions(np.zeros(shape))) == dims


# -- dim_limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("axis,size", [(0, 1), (1, 2), (2, 4)])
def test_bounds_are_inclusive(tmp_path: Path, axis: int, size: int) -> None:
    config = limited(axis, min=size, max=size)
    assert PilImageLoader(config).load(png_file(tmp_path, (4, 2))).size == (4, 2)


@pytest.mark.parametrize("axis,bounds", [(0, {"min": 3}), (1, {"max": 1}), (2, {"min": 5}), (2, {"max": 3})])
def test_an_image_outside_a_bound_raises_an_oserror(tmp_path: Path, axis: int, bounds: dict[str, int]) -> None:
    with pytest.raises(OSError) as info:
        PilImageLoader(limited(axis, **bounds)).load(png_file(tmp_path, (4, 2)))
    assert "(1, 2, 4)" in str(info.value) or "1x2x4" in str(info.value)


def test_a_dimensions_error_is_422_and_names_the_axis(tmp_path: Path) -> None:
    with pytest.raises(ImageDimensionsError) as info:
        PilImageLoader(limited(2, min=5)).load(png_file(tmp_path, (4, 2)))
    assert info.value.status == 422 and "width must be at least 5, not 4" in str(info.value)


def test_only_the_first_three_axes_are_checked(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((3, 4, 5, 2)))
    config = copy.deepcopy(OPEN)
    config["model"]["io"]["input"]["single"]["dim_limits"].append({"min": 99})
    assert NumpyImageLoader(config).load(str(tmp_path / "v.npy")).shape == (3, 4, 5, 2)
    with pytest.raises(OSError):  # the first axis of a 4-D array is the first checked
        NumpyImageLoader(limited(0, max=2)).load(str(tmp_path / "v.npy"))


def test_a_multi_input_model_checks_the_limits_of_the_named_input(tmp_path: Path) -> None:
    config = limited(2, MULTI, "t2", min=5)
    path = png_file(tmp_path, (4, 2))
    assert PilImageLoader(config).load(path, id="t1").size == (4, 2)
    with pytest.raises(OSError):
        PilImageLoader(config).load(path, id="t2")
    with pytest.raises(OSError):
        ImageProcessorBase(config).loadAndPreprocess(path, id="t2")


def test_the_loader_that_loaded_checks_and_does_not_pass_the_image_on(tmp_path: Path) -> None:
    spy = Spy()
    loader = PilImageLoader(limited(1, min=3))
    loader.setSuccessor(spy)
    with pytest.raises(OSError):
        loader.load(png_file(tmp_path, (4, 2)))
    assert spy.calls == []
    volume = nrrd(tmp_path, sitk().Image([4, 2, 3], sitk().sitkUInt8))
    with pytest.raises(OSError):
        ImageProcessorBase(limited(0, max=2)).loadAndPreprocess(str(volume))


def test_limits_of_older_configs_and_of_an_input_in_memory_are_checked() -> None:
    older = {"model": {"io": {"input": {"dim_limits": [{"min": 3}, {}, {}]}}}}
    with pytest.raises(ImageDimensionsError):
        PilImageLoader(older).load(png_bytes())
    with pytest.raises(ImageDimensionsError):
        PilImageLoader(limited(1, max=1)).load(png_bytes((4, 2)))
