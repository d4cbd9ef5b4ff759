"""The engine's bounds on decode work for JPEGs (modelhub.jpeg, wired into modelhub.images).

Scan bombs are refused from the segment structure before a pixel is decoded; a JPEG whose
declared size is larger than its data is a 400, on the batch path (``decode``) and the path of
original-style models (``check_input``), with no false alarm on real photos or flat grey images.
"""

from __future__ import annotations

import importlib.util
import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile

from modelhub import jpeg
from modelhub.config import DimLimit, InputSpec
from modelhub.errors import ImageTooComplex, InvalidInput, PayloadTooLarge
from modelhub.images import check_input, decode

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC = InputSpec("single", ("image/png", "image/jpeg"), (DimLimit(1, 4), DimLimit(32), DimLimit(32)))
LIMIT = 64_000_000


def photo(size: tuple[int, int] = (320, 240), mode: str = "RGB", **save: Any) -> bytes:
    """A JPEG with detail everywhere (no flat areas)."""
    base = Image.radial_gradient("L").resize(size)
    noise = Image.effect_noise(size, 60)
    grey = Image.blend(base, noise, 0.5)
    image = Image.merge("RGB", (grey, noise, base)) if mode == "RGB" else grey
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


def real_jpegs() -> list[Path]:
    paths = sorted((REPO_ROOT / "contrib_src" / "sample_data").glob("*.jpg"))
    for package, folder in (("skimage", "data"), ("sklearn", "datasets/images")):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            root = Path(next(iter(spec.submodule_search_locations))) / folder
            paths += sorted(root.glob("*.jpg")) if root.is_dir() else []
    return paths


def smallest_scan(data: bytes, layout: jpeg.JpegLayout) -> bytes:
    """The shortest scan (SOS header and entropy-coded data) of a progressive JPEG."""
    scans = [data[data.rindex(b"\xff\xda", 0, end) : end] for end in layout.scan_ends]
    return min(scans, key=len)


def scan_bomb(repeats: int) -> bytes:
    """A progressive JPEG whose last scan is repeated ``repeats`` more times before EOI."""
    data = photo((64, 64), progressive=True)
    layout = jpeg.walk(data)
    assert layout.end is not None
    return data[: layout.end] + smallest_scan(data, layout) * repeats + data[layout.end :]


def enlarged(data: bytes, factor: int = 2) -> bytes:
    """``data`` with the frame header's height multiplied: the data now ends early."""
    out = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2"):
        at = data.find(marker)
        if at > 0:
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            out[at + 5 : at + 7] = (height * factor).to_bytes(2, "big")
            return bytes(out)
    raise AssertionError("no SOF marker")


# -- the walk --------------------------------------------------------------------------


def test_walk_counts_baseline_and_progressive_scans() -> None:
    assert jpeg.walk(photo()).scans == 1
    assert jpeg.walk(photo(mode="L")).scans == 1
    progressive = jpeg.walk(photo(progressive=True))
    assert 5 <= progressive.scans <= 20
    assert progressive.end is not None and len(progressive.scan_ends) == progressive.scans


def test_walk_skips_stuffing_and_restart_markers() -> None:
    data = photo((256, 256), restart_marker_blocks=4)
    layout = jpeg.walk(data)
    assert data.count(b"\xff\xd0") > 0 and data.count(b"\xff\x00") > 0
    assert layout.scans == 1 and layout.end == len(data) - 2


def test_walk_on_real_photos() -> None:
    for path in real_jpegs():
        layout = jpeg.check_complete(path.read_bytes())
        assert 1 <= layout.scans <= 20, path.name


# -- scan bombs: 422 before decoding ---------------------------------------------------


def test_scan_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = scan_bomb(2000)

    def no_decoding(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("decoded a scan bomb")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for check in (lambda: decode(bomb, SPEC, max_pixels=LIMIT), lambda: check_input(bomb, SPEC, max_pixels=LIMIT)):
        with pytest.raises(ImageTooComplex) as caught:
            check()
        assert caught.value.status == 422 and "100 scans" in str(caught.value)


def test_scan_limit_boundary() -> None:
    at_limit = scan_bomb(jpeg.MAX_JPEG_SCANS - jpeg.walk(scan_bomb(0)).scans)
    assert jpeg.walk(at_limit).scans == jpeg.MAX_JPEG_SCANS
    decode(at_limit, SPEC, max_pixels=LIMIT)  # still decoded
    with pytest.raises(ImageTooComplex):
        decode(scan_bomb(jpeg.MAX_JPEG_SCANS), SPEC, max_pixels=LIMIT)


def test_scan_limit_shrinks_for_large_images() -> None:
    assert jpeg.scan_limit(320 * 240) == jpeg.MAX_JPEG_SCANS == 100
    assert jpeg.scan_limit(64_000_000) == 32  # 32 passes over the largest image the default limit admits
    assert jpeg.scan_limit(10**12) == jpeg.MIN_JPEG_SCANS
    bomb = scan_bomb(40)
    assert jpeg.walk(bomb).scans > 40
    with pytest.raises(ImageTooComplex, match="more than 32 scans"):
        jpeg.check_complete(bomb, 64_000_000)
    assert jpeg.check_complete(bomb, 64 * 64).scans == jpeg.walk(bomb).scans


def test_scan_bomb_work_is_bounded() -> None:
    bomb = scan_bomb(10_000)
    started = time.perf_counter()
    with pytest.raises(ImageTooComplex):
        decode(bomb, SPEC, max_pixels=LIMIT)
    assert time.perf_counter() - started < 0.5


def resized_header(data: bytes, width: int, height: int) -> bytes:
    at = min(i for i in (data.find(b"\xff\xc0"), data.find(b"\xff\xc2")) if i > 0)
    return data[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 9 :]


def test_progressive_decode_memory_is_bounded_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    progressive, baseline = photo(progressive=True), photo()
    frame = jpeg.walk(resized_header(progressive, 8000, 8000)).frame
    assert frame is not None and frame.progressive and frame.sampling == ((2, 2), (1, 1), (1, 1))
    assert frame.coefficient_bytes() == 8000 * 8000 * 3 // 2 * 2  # 4:2:0, two bytes a coefficient
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda *_: pytest.fail("decoded"))
    with pytest.raises(PayloadTooLarge, match="progressive JPEG of 8000x8000 pixels needs 427 MiB"):
        decode(resized_header(progressive, 8000, 8000), SPEC, max_pixels=LIMIT)
    with pytest.raises(PayloadTooLarge):
        check_input(resized_header(progressive, 6000, 6000 * 4 // 3), SPEC, max_pixels=LIMIT)
    jpeg.check_complete(resized_header(progressive, 7000, 6000), 42_000_000)  # 280 MiB: decoded
    jpeg.check_complete(resized_header(baseline, 8000, 8000), 64_000_000)  # baseline: no coefficient buffer


def test_too_many_segments_and_bad_lengths() -> None:
    data = photo()
    comments = b"\xff\xfe\x00\x02" * (jpeg.MAX_JPEG_MARKERS + 1)
    with pytest.raises(ImageTooComplex):
        decode(data[:2] + comments + data[2:], SPEC, max_pixels=LIMIT)
    with pytest.raises(InvalidInput):
        jpeg.walk(data[:2] + b"\xff\xfe\x00\x01" + data[2:])


# -- data that ends early: 400 ---------------------------------------------------------


@pytest.mark.parametrize("save", [{}, {"progressive": True}, {"restart_marker_rows": 1}], ids=str)
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_enlarged_frame_header_is_truncated(mode: str, save: dict[str, Any]) -> None:
    data = enlarged(photo(mode=mode, **save))
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # Pillow itself decodes it without complaint: the rows are padded with grey
    for check in (lambda: decode(data, SPEC, max_pixels=LIMIT), lambda: check_input(data, SPEC, max_pixels=LIMIT)):
        with pytest.raises(InvalidInput) as caught:
            check()
        assert caught.value.status == 400 and "truncated" in str(caught.value)


def test_enlarged_by_one_block_row_is_truncated() -> None:
    data = photo((320, 240))
    at = data.find(b"\xff\xc0")
    patched = data[: at + 5] + (240 + 16).to_bytes(2, "big") + data[at + 7 :]
    with pytest.raises(InvalidInput, match="truncated"):
        decode(patched, SPEC, max_pixels=LIMIT)


def test_missing_end_marker_is_truncated() -> None:
    data = photo()
    with pytest.raises(InvalidInput, match="truncated"):
        decode(data[:-2], SPEC, max_pixels=LIMIT)
    with pytest.raises(InvalidInput, match="truncated"):
        check_input(data[: len(data) // 2], SPEC, max_pixels=LIMIT)


def test_no_false_alarm_on_real_photos(tmp_path: Path) -> None:
    photos = real_jpegs()
    assert len(photos) >= 5
    for path in photos:
        data = path.read_bytes()
        assert not jpeg.reads_past_end(data, jpeg.walk(data)), path.name  # the exact test itself
        decode(data, SPEC, max_pixels=LIMIT)
        check_input(path, SPEC, max_pixels=LIMIT)


@pytest.mark.parametrize("save", [{}, {"progressive": True}], ids=str)
@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_no_false_alarm_on_flat_mid_grey(mode: str, save: dict[str, Any]) -> None:
    """Flat grey 128 looks like libjpeg's padding: the exact test clears it."""
    buffer = io.BytesIO()
    colour = {"RGB": (128, 128, 128), "L": 128, "CMYK": (127, 127, 127, 127)}[mode]
    Image.new(mode, (96, 80), colour).save(buffer, "JPEG", **save)
    data = buffer.getvalue()
    image = decode(data, SPEC, max_pixels=LIMIT)
    assert jpeg.padding_suspect(image)
    check_input(data, SPEC, max_pixels=LIMIT)
    with pytest.raises(InvalidInput, match="truncated"):
        decode(enlarged(data, 3), SPEC, max_pixels=LIMIT)
