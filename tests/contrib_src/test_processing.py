"""Tests for contrib_src/processing.py (MobileNetV2 pre- and postprocessing)."""

from __future__ import annotations

import importlib.util
import io
import json
import math
from pathlib import Path

import numpy as np
import processing
import pytest
from PIL import Image
from processing import (
    CROP_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESIZE_SHORTER_SIDE,
    ImageProcessor,
    apply_exif_orientation,
    center_crop,
    crop_box,
    load_labels,
    normalize,
    preprocess_image,
    resize_shorter_side,
    resized_size,
    softmax,
    to_rgb,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRIB = REPO_ROOT / "contrib_src"
SAMPLE_DATA = CONTRIB / "sample_data"
PARITY_TOLERANCE = 1e-5


# --------------------------------------------------------------------------- helpers


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _photo_paths() -> list[Path]:
    paths = sorted(p for p in SAMPLE_DATA.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    skimage_dir = _package_dir("skimage")
    if skimage_dir is not None:
        for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "motorcycle_left.png"):
            candidate = skimage_dir / "data" / name
            if candidate.exists():
                paths.append(candidate)
    sklearn_dir = _package_dir("sklearn")
    if sklearn_dir is not None:
        for name in ("china.jpg", "flower.jpg"):
            candidate = sklearn_dir / "datasets" / "images" / name
            if candidate.exists():
                paths.append(candidate)
    return paths


def reference_preprocess(img: Image.Image) -> np.ndarray:
    """Straightforward ONNX Model Zoo style reference, written independently."""
    img = img.convert("RGB")
    width, height = img.size
    scale = 256 / min(width, height)
    if width < height:
        new_size = (256, int(round(scale * height)))
    else:
        new_size = (int(round(scale * width)), 256)
    img = img.resize(new_size, Image.BILINEAR)
    width, height = img.size
    left = width // 2 - 112
    top = height // 2 - 112
    img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, dtype=np.float64) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def _variants(img: Image.Image) -> dict[str, Image.Image]:
    width, height = img.size
    return {
        "original": img,
        "down_300x200": img.resize((300, 200), Image.BILINEAR),
        "up_x1.7": img.resize((int(width * 1.7), int(height * 1.7)), Image.BILINEAR),
        "portrait_crop": img.crop((0, 0, max(1, height * 2 // 3), height)),
        "tiny_40x30": img.resize((40, 30), Image.BILINEAR),
    }


def _coordinate_image(width: int, height: int) -> Image.Image:
    """Mode "I" image whose pixel (x, y) holds y * 10000 + x."""
    ys, xs = np.mgrid[0:height, 0:width]
    return Image.fromarray((ys * 10000 + xs).astype(np.int32), mode="I")


# --------------------------------------------------------------------------- constants


def test_constants_match_reference() -> None:
    assert RESIZE_SHORTER_SIDE == 256
    assert CROP_SIZE == 224
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert IMAGENET_STD == (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- normalize


def test_normalize_2x2_uint8_exact_values() -> None:
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 1] = 255
    rgb[1, 0] = (51, 102, 153)
    out = normalize(rgb)
    assert out.shape == (1, 3, 2, 2)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    expected_black = (-2.1179039301310043, -2.0357142857142856, -1.8044444444444445)
    expected_white = (2.2489082969432315, 2.428571428571429, 2.64)
    # 51/255 = 0.2, 102/255 = 0.4, 153/255 = 0.6
    expected_mixed = ((0.2 - 0.485) / 0.229, (0.4 - 0.456) / 0.224, (0.6 - 0.406) / 0.225)
    for c in range(3):
        assert out[0, c, 0, 0] == pytest.approx(expected_black[c], abs=1e-6)
        assert out[0, c, 1, 1] == pytest.approx(expected_black[c], abs=1e-6)
        assert out[0, c, 0, 1] == pytest.approx(expected_white[c], abs=1e-6)
        assert out[0, c, 1, 0] == pytest.approx(expected_mixed[c], abs=1e-6)


def test_normalize_float_hwc_and_nchw_match_uint8() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    from_uint8 = normalize(rgb)
    hwc_float = rgb.astype(np.float32)
    nchw_float = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
    nchw_copy = nchw_float.copy()
    np.testing.assert_allclose(normalize(hwc_float), from_uint8, atol=1e-6, rtol=0)
    np.testing.assert_allclose(normalize(nchw_float), from_uint8, atol=1e-6, rtol=0)
    np.testing.assert_allclose(normalize(rgb.transpose(2, 0, 1)[None]), from_uint8, atol=0, rtol=0)
    np.testing.assert_array_equal(nchw_float, nchw_copy)  # input left untouched
    assert normalize(hwc_float.astype(np.float64)).dtype == np.float32


@pytest.mark.parametrize("shape", [(2, 2), (2, 2, 4), (3, 2, 2), (2, 3, 2, 2), (1, 4, 2, 2)])
def test_normalize_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        normalize(np.zeros(shape, dtype=np.uint8))


# --------------------------------------------------------------------------- crop


@pytest.mark.parametrize(
    ("width", "height", "left", "top"),
    [
        (224, 224, 0, 0),
        (225, 225, 0, 0),
        (226, 226, 1, 1),
        (227, 300, 1, 38),
        (231, 385, 3, 80),
        (385, 256, 80, 16),
        (256, 341, 16, 58),
    ],
)
def test_crop_offsets(width: int, height: int, left: int, top: int) -> None:
    assert crop_box(width, height) == (left, top, left + 224, top + 224)
    cropped = center_crop(_coordinate_image(width, height))
    assert cropped.size == (224, 224)
    arr = np.asarray(cropped)
    assert arr[0, 0] == top * 10000 + left
    assert arr[223, 223] == (top + 223) * 10000 + left + 223


def test_crop_small_size_parameter() -> None:
    assert crop_box(5, 4, size=2) == (1, 1, 3, 3)
    arr = np.asarray(center_crop(_coordinate_image(5, 4), size=2))
    np.testing.assert_array_equal(arr, [[10001, 10002], [20001, 20002]])


def test_crop_too_small_raises() -> None:
    with pytest.raises(ValueError):
        crop_box(223, 300)


# --------------------------------------------------------------------------- resize


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((451, 300), (385, 256)),  # 256 / 300 * 451 = 384.85
        ((300, 451), (256, 385)),
        ((500, 333), (384, 256)),  # 384.38
        ((640, 427), (384, 256)),  # 383.70
        ((513, 512), (256, 256)),  # 256.5 -> round half to even
        ((512, 515), (256, 258)),  # 257.5 -> 258
        ((256, 256), (256, 256)),
        ((1, 1), (256, 256)),
        ((1, 3), (256, 768)),
        ((100, 10), (2560, 256)),
    ],
)
def test_resized_size_rounding(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert resized_size(*size) == expected


def test_resized_size_rejects_empty() -> None:
    with pytest.raises(ValueError):
        resized_size(0, 10)


def test_resize_shorter_side_matches_pil_bilinear() -> None:
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, size=(300, 451, 3), dtype=np.uint8), mode="RGB")
    out = resize_shorter_side(img)
    assert out.size == (385, 256)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((385, 256), Image.BILINEAR)))


def test_resize_noop_returns_same_image() -> None:
    img = Image.new("RGB", (256, 300))
    assert resize_shorter_side(img).size == (256, 300)


# --------------------------------------------------------------------------- colour modes


def _rgb(img: Image.Image) -> list[list[list[int]]]:
    out = to_rgb(img)
    assert out.mode == "RGB"
    return np.asarray(out).tolist()


def test_to_rgb_rgb_is_unchanged() -> None:
    img = Image.new("RGB", (2, 2), (1, 2, 3))
    assert to_rgb(img) is img


def test_to_rgb_grey_and_bilevel() -> None:
    grey = Image.fromarray(np.array([[0, 17], [128, 255]], dtype=np.uint8), mode="L")
    assert _rgb(grey) == [[[0, 0, 0], [17, 17, 17]], [[128, 128, 128], [255, 255, 255]]]
    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    assert _rgb(bilevel) == [[[0, 0, 0], [255, 255, 255]]]


def test_to_rgb_palette_and_palette_alpha() -> None:
    pal = Image.new("P", (2, 1))
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.putpixel((1, 0), 1)
    assert _rgb(pal) == [[[10, 20, 30], [200, 100, 50]]]
    pal.info["transparency"] = 0  # transparent entry keeps its colour, alpha is dropped
    assert _rgb(pal) == [[[10, 20, 30], [200, 100, 50]]]
    pa = Image.new("PA", (1, 1))
    pa.putpalette([10, 20, 30] + [0] * 765)
    pa.putpixel((0, 0), (0, 77))
    assert _rgb(pa) == [[[10, 20, 30]]]


def test_to_rgb_drops_alpha() -> None:
    rgba = Image.new("RGBA", (1, 1), (9, 8, 7, 0))
    assert _rgb(rgba) == [[[9, 8, 7]]]
    assert _rgb(rgba) == np.asarray(rgba.convert("RGB")).tolist()
    la = Image.new("LA", (1, 1), (42, 3))
    assert _rgb(la) == [[[42, 42, 42]]]


def test_to_rgb_cmyk_and_ycbcr() -> None:
    cmyk = Image.new("CMYK", (3, 1))
    cmyk.putpixel((0, 0), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (255, 0, 0, 0))
    cmyk.putpixel((2, 0), (0, 0, 0, 255))
    assert _rgb(cmyk) == [[[255, 255, 255], [0, 255, 255], [0, 0, 0]]]
    ycbcr = Image.new("YCbCr", (1, 1), (128, 128, 128))
    assert _rgb(ycbcr) == np.asarray(ycbcr.convert("RGB")).tolist()
    assert _rgb(ycbcr) == [[[128, 128, 128]]]


@pytest.mark.parametrize(("mode", "dtype"), [("I;16", "<u2"), ("I;16L", "<u2"), ("I;16B", ">u2")])
def test_to_rgb_16_bit_scales_by_257(mode: str, dtype: str) -> None:
    values = np.array([[0, 128, 129, 257], [1000, 32896, 65278, 65535]], dtype=dtype)
    img = Image.frombytes(mode, (4, 2), values.tobytes())
    assert img.mode == mode
    grey = [[v[0] for v in row] for row in _rgb(img)]
    # 128/257 = 0.498 -> 0, 129/257 = 0.502 -> 1, 1000/257 = 3.89 -> 4, 32896/257 = 128, 65278/257 = 254
    assert grey == [[0, 0, 1, 1], [4, 128, 254, 255]]


def test_to_rgb_32_bit_integer_and_float() -> None:
    as_int = Image.fromarray(np.array([[-5, 257, 65535, 70000]], dtype=np.int32), mode="I")
    assert [v[0] for v in _rgb(as_int)[0]] == [0, 1, 255, 255]
    as_float = Image.fromarray(np.array([[128.4, 128.6, 65535.0, math.nan]], dtype=np.float32), mode="F")
    assert [v[0] for v in _rgb(as_float)[0]] == [0, 1, 255, 0]


@pytest.mark.parametrize("mode", ["LAB", "HSV", "RGBX", "RGBa"])
def test_to_rgb_other_modes_follow_pil(mode: str) -> None:
    img = Image.new(mode, (1, 1), (120, 130, 140))
    assert _rgb(img) == np.asarray(img.convert("RGB")).tolist()


def test_to_rgb_premultiplied_grey_alpha() -> None:
    img = Image.new("La", (1, 1), (100, 128))
    assert _rgb(img) == np.asarray(img.convert("LA").convert("RGB")).tolist()


def test_to_rgb_unconvertible_mode_raises_oserror(monkeypatch: pytest.MonkeyPatch) -> None:
    img = Image.new("HSV", (1, 1))

    def refuse(*_args: object, **_kwargs: object) -> Image.Image:
        raise ValueError("conversion not supported")

    monkeypatch.setattr(img, "convert", refuse)
    with pytest.raises(OSError):
        to_rgb(img)


# --------------------------------------------------------------------------- EXIF


def _with_orientation(arr: np.ndarray, orientation: int | None) -> Image.Image:
    buffer = io.BytesIO()
    img = Image.fromarray(arr, mode="L")
    if orientation is None:
        img.save(buffer, format="PNG")
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(buffer, format="PNG", exif=exif)
    buffer.seek(0)
    reopened = Image.open(buffer)
    reopened.load()
    return reopened


def test_exif_orientation_6_rotates_clockwise() -> None:
    arr = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)  # 3 wide, 2 high
    img = _with_orientation(arr, 6)
    assert img.getexif().get(0x0112) == 6
    upright = apply_exif_orientation(img)
    assert upright.size == (2, 3)
    np.testing.assert_array_equal(np.asarray(upright), [[4, 1], [5, 2], [6, 3]])
    np.testing.assert_array_equal(np.asarray(upright), np.rot90(arr, k=-1))


@pytest.mark.parametrize("orientation", [None, 1])
def test_exif_orientation_absent_or_normal_is_noop(orientation: int | None) -> None:
    img = _with_orientation(np.array([[1, 2, 3]], dtype=np.uint8), orientation)
    assert apply_exif_orientation(img) is img
    plain = Image.new("RGB", (3, 2))
    assert apply_exif_orientation(plain) is plain


def test_preprocess_applies_exif_orientation() -> None:
    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, size=(240, 300), dtype=np.uint8)
    rotated_file = _with_orientation(arr, 6)
    upright = Image.fromarray(np.ascontiguousarray(np.rot90(arr, k=-1)), mode="L")
    np.testing.assert_array_equal(preprocess_image(rotated_file), preprocess_image(upright))


# --------------------------------------------------------------------------- softmax


def test_softmax_known_values() -> None:
    probs = softmax(np.array([0.0, math.log(3.0)], dtype=np.float32))
    np.testing.assert_allclose(probs, [0.25, 0.75], atol=1e-7)


def test_softmax_is_stable_and_sums_to_one() -> None:
    np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0], dtype=np.float32)), [0.5, 0.5])
    np.testing.assert_allclose(softmax([-1000.0, 0.0]), [0.0, 1.0])
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=20, size=(1, 1000)).astype(np.float32)
    probs = softmax(logits)
    assert probs.shape == (1, 1000)
    assert np.all(np.isfinite(probs))
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    assert int(np.argmax(probs)) == int(np.argmax(logits))


def test_softmax_rejects_empty() -> None:
    with pytest.raises(ValueError):
        softmax([])


# --------------------------------------------------------------------------- full pipeline


def test_preprocess_image_output_layout() -> None:
    out = preprocess_image(Image.new("RGB", (300, 451), (255, 0, 128)))
    assert out.shape == (1, 3, 224, 224)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    assert out[0, 0, 0, 0] == pytest.approx((1.0 - 0.485) / 0.229, abs=1e-6)
    assert out[0, 1, 0, 0] == pytest.approx((0.0 - 0.456) / 0.224, abs=1e-6)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1", "YCbCr"])
def test_preprocess_image_accepts_modes(mode: str) -> None:
    img = Image.new("RGB", (230, 250), (30, 60, 90))
    if mode == "I;16":
        img = Image.frombytes("I;16", (230, 250), np.full((250, 230), 20000, dtype="<u2").tobytes())
    else:
        img = img.convert(mode)
    out = preprocess_image(img)
    assert out.shape == (1, 3, 224, 224)
    assert np.all(np.isfinite(out))


def test_sample_data_has_photos() -> None:
    photos = [p for p in SAMPLE_DATA.iterdir() if p.is_file()]
    assert len(photos) >= 6
    suffixes = {p.suffix.lower() for p in photos}
    assert ".png" in suffixes and ".jpg" in suffixes
    notice = (CONTRIB / "license" / "sample_data").read_text(encoding="utf-8")
    for photo in photos:
        assert photo.name in notice, f"{photo.name} has no licence entry"


@pytest.mark.parametrize("path", _photo_paths(), ids=lambda p: p.name)
def test_parity_with_reference_on_real_photos(path: Path) -> None:
    with Image.open(path) as opened:
        opened.load()
        base = opened.copy()
    for name, variant in _variants(base).items():
        ours = preprocess_image(variant)
        expected = reference_preprocess(variant)
        assert ours.shape == expected.shape == (1, 3, 224, 224), name
        diff = float(np.max(np.abs(ours - expected)))
        assert diff < PARITY_TOLERANCE, f"{path.name}/{name}: max abs diff {diff}"


def test_enough_parity_photos() -> None:
    assert len(_photo_paths()) >= 5


# --------------------------------------------------------------------------- labels & ImageProcessor


def test_labels_file() -> None:
    labels = json.loads((CONTRIB / "model" / "labels.json").read_text(encoding="utf-8"))
    assert isinstance(labels, list) and len(labels) == 1000
    assert all(isinstance(label, str) and label for label in labels)
    assert labels[0] == "tench, Tinca tinca"
    assert labels[1] == "goldfish, Carassius auratus"
    assert labels[281] == "tabby, tabby cat"
    assert labels[999] == "toilet tissue, toilet paper, bathroom tissue"


def test_load_labels_does_not_depend_on_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    load_labels.cache_clear()
    labels = load_labels()
    assert len(labels) == 1000
    assert load_labels() is labels


@pytest.fixture
def processor() -> ImageProcessor:
    config = json.loads((CONTRIB / "model" / "config.json").read_text(encoding="utf-8"))
    return ImageProcessor(config)


def test_processor_load_and_preprocess_matches_fast_path(processor: ImageProcessor) -> None:
    for path in sorted(SAMPLE_DATA.iterdir()):
        via_api = processor.loadAndPreprocess(str(path))
        with Image.open(path) as img:
            fast = processor.preprocess_pil(img)
        assert via_api.shape == fast.shape == (1, 3, 224, 224)
        assert via_api.dtype == np.float32
        assert float(np.max(np.abs(via_api - fast))) < PARITY_TOLERANCE, path.name


def test_processor_rejects_non_pil(processor: ImageProcessor) -> None:
    with pytest.raises(IOError):
        processor._preprocessBeforeConversionToNumpy(np.zeros((4, 4, 3), dtype=np.uint8))


def test_compute_output_label_list(processor: ImageProcessor) -> None:
    logits = np.zeros((1, 1000), dtype=np.float32)
    logits[0, 281] = 10.0
    result = processor.computeOutput(logits)
    assert len(result) == 1000
    labels = load_labels()
    assert [entry["label"] for entry in result] == list(labels)
    assert all(type(entry["probability"]) is float for entry in result)
    assert all(type(entry["label"]) is str for entry in result)
    assert sum(entry["probability"] for entry in result) == pytest.approx(1.0, abs=1e-9)
    best = max(result, key=lambda entry: entry["probability"])
    assert best["label"] == "tabby, tabby cat"
    expected = math.exp(10.0) / (math.exp(10.0) + 999)
    assert best["probability"] == pytest.approx(expected, rel=1e-9)
    assert processor.computeOutput(logits[0]) == result


@pytest.mark.parametrize("shape", [(1, 999), (2, 1000), (1000, 1), (1, 1, 1000)])
def test_compute_output_rejects_bad_shapes(processor: ImageProcessor, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        processor.computeOutput(np.zeros(shape, dtype=np.float32))


def test_module_has_no_cwd_relative_paths() -> None:
    assert processing.LABELS_PATH.is_absolute()
    assert processing.LABELS_PATH.exists()


def _save(img: Image.Image, path: Path, **params: object) -> Path:
    img.save(path, **params)
    return path


def test_processor_api_matches_fast_path_for_odd_modes(processor: ImageProcessor, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rgb = Image.fromarray(rng.integers(0, 256, size=(250, 300, 3), dtype=np.uint8), mode="RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    sixteen = Image.frombytes("I;16", (300, 250), rng.integers(0, 65536, size=(250, 300), dtype="<u2").tobytes())
    files = [
        _save(rgb.convert("P"), tmp_path / "palette.png"),
        _save(rgb.convert("L"), tmp_path / "grey.png"),
        _save(rgb.convert("RGBA"), tmp_path / "alpha.png"),
        _save(sixteen, tmp_path / "sixteen.png"),
        _save(rgb, tmp_path / "rotated.jpg", exif=exif, quality=95),
        _save(rgb.convert("CMYK"), tmp_path / "cmyk.jpg", quality=95),
    ]
    for path in files:
        via_api = processor.loadAndPreprocess(str(path))
        with Image.open(path) as img:
            fast = processor.preprocess_pil(img)
        assert float(np.max(np.abs(via_api - fast))) < PARITY_TOLERANCE, path.name
    with Image.open(tmp_path / "rotated.jpg") as rotated:
        assert processor.preprocess_pil(rotated).shape == (1, 3, 224, 224)
