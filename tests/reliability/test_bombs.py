"""Uploads that are small but ask for huge work: each is bounded in time and memory, or refused.

* Upscaling bombs: a thin PNG within every input limit (pixels, ``dim_limits``) whose resize to a
  shorter side of 256 would multiply its pixels (32 x 2 000 000 -> 256 x 16 000 000, ~15 GiB).
* 16-bit images: an 8000 x 8000 16-bit grey PNG of ~124 KB.
* Progressive-JPEG scan bombs: one scan repeated thousands of times (libjpeg decodes each) -> 422.
* Progressive JPEGs whose coefficient buffer would not fit the memory bound -> 413.
* A JPEG whose frame header declares more rows than its data holds -> 400 "truncated".

Through the Flask test client with the real int8 model; peak memory is measured in a fresh process
running the real data plane (``VmHWM`` after ``clear_refs``), as a worker would see it.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from reliability_support import SAMPLES_DIR, error_of

from modelhub import jpeg

pytestmark = pytest.mark.model

PEAK_LIMIT_MB = 400


def upload(client: Any, data: bytes, name: str = "image.png") -> Any:
    return client.post("/api/predict", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def flat_png(width: int, height: int, colour_type: int = 2, depth: int = 8) -> bytes:
    """A PNG of one colour, written row by row (the test never holds the pixels)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" + bytes(width * channels * depth // 8)
    compressor = zlib.compressobj(9)
    rows_per_chunk = max(1, (1 << 22) // len(row))
    parts = []
    for start in range(0, height, rows_per_chunk):
        parts.append(compressor.compress(row * min(rows_per_chunk, height - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def photo_jpeg(size: tuple[int, int] = (320, 240), **save: Any) -> bytes:
    with Image.open(SAMPLES_DIR / "coffee_cup.jpg") as image:
        small = image.convert("RGB").resize(size)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


def scan_bomb(repeats: int, size: tuple[int, int] = (2000, 2000)) -> bytes:
    """A progressive JPEG whose last scan (a 14-byte refinement of every luma block) is repeated."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 200)).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    layout = jpeg.walk(data)
    assert layout.end is not None
    last = data[data.rindex(b"\xff\xda", 0, layout.scan_ends[-1]) : layout.scan_ends[-1]]
    return data[: layout.end] + last * repeats + data[layout.end :]


def flat_jpeg(size: tuple[int, int], **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 200)).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def enlarged_jpeg(data: bytes) -> bytes:
    at = min(i for i in (data.find(b"\xff\xc0"), data.find(b"\xff\xc2")) if i > 0)
    height = int.from_bytes(data[at + 5 : at + 7], "big")
    return data[: at + 5] + (height * 2).to_bytes(2, "big") + data[at + 7 :]


ATTACKS = {
    "png_200000x32_rgb": lambda: flat_png(200_000, 32),
    "png_32x2000000_rgb": lambda: flat_png(32, 2_000_000),
    "png_32x2000000_rgba": lambda: flat_png(32, 2_000_000, colour_type=6),
    "png_8000x8000_grey16": lambda: flat_png(8000, 8000, colour_type=0, depth=16),
    "png_8000x8000_rgba": lambda: flat_png(8000, 8000, colour_type=6),
    "jpeg_scan_bomb_10000": lambda: scan_bomb(10_000),
    "jpeg_8000x8000_progressive": lambda: flat_jpeg((8000, 8000), progressive=True),
    "jpeg_7000x6000_progressive": lambda: flat_jpeg((7000, 6000), progressive=True),
    "jpeg_8000x8000_baseline": lambda: flat_jpeg((8000, 8000)),
}
EXPECTED = {"jpeg_scan_bomb_10000": 422, "jpeg_8000x8000_progressive": 413}


# -- answers and time ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["png_200000x32_rgb", "png_32x2000000_rgb", "png_8000x8000_grey16"])
def test_bombs_within_the_limits_are_answered_quickly(client: Any, name: str) -> None:
    data = ATTACKS[name]()
    assert len(data) < 200_000
    started = time.perf_counter()
    response = upload(client, data)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["output"][0]["prediction"]) == 1000
    assert elapsed < 6, f"{name}: {elapsed:.1f} s"


def test_progressive_scan_bomb_is_422_at_once(client: Any) -> None:
    bomb = scan_bomb(10_000)
    started = time.perf_counter()
    response = upload(client, bomb, "bomb.jpg")
    assert time.perf_counter() - started < 1
    assert response.status_code == 422
    assert "scans" in error_of(response) and str(jpeg.MAX_JPEG_SCANS) in error_of(response)


def test_huge_progressive_jpeg_is_413_before_decoding(client: Any) -> None:
    """Progressive decoding keeps every coefficient: 64 megapixels would need 448 MB."""
    response = upload(client, flat_jpeg((8000, 8000), progressive=True), "big.jpg")
    assert response.status_code == 413
    assert "progressive" in error_of(response) and "MiB" in error_of(response)


def test_normal_progressive_jpeg_is_fine(client: Any) -> None:
    assert upload(client, photo_jpeg(progressive=True), "p.jpg").status_code == 200
    assert upload(client, scan_bomb(20), "p.jpg").status_code == 200  # repeated scans, but few
    assert upload(client, scan_bomb(95), "p.jpg").status_code == 422  # 105 scans


@pytest.mark.parametrize("save", [{}, {"progressive": True}], ids=["baseline", "progressive"])
def test_jpeg_with_enlarged_height_is_400_truncated(client: Any, save: dict[str, Any]) -> None:
    data = enlarged_jpeg(photo_jpeg(**save))
    response = upload(client, data, "cup.jpg")
    assert response.status_code == 400
    assert "truncated" in error_of(response)


def test_sample_photos_are_not_called_truncated(client: Any) -> None:
    for path in sorted(SAMPLES_DIR.glob("*.jpg")):
        assert upload(client, path.read_bytes(), path.name).status_code == 200, path.name


# -- peak memory in a fresh worker-like process ----------------------------------------

MEASURE = r"""
import json, os, sys, time
from modelhubapi.service import build_api
from modelhub.errors import ModelHubError
from modelhub.settings import load_settings

def status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

api = build_api(load_settings({"model_file": sys.argv[1]}))
api.predict(open(sys.argv[2], "rb").read())
results = {}
for name in sys.argv[4:]:
    data = open(os.path.join(sys.argv[3], name), "rb").read()
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM to the current RSS
    before = status_kb("VmRSS")
    started = time.perf_counter()
    try:
        api.predict(data)
        status = 200
    except ModelHubError as error:
        status = error.status
    seconds = time.perf_counter() - started
    results[name] = {"status": status, "seconds": round(seconds, 2),
                     "peak_mb": round((status_kb("VmHWM") - before) / 1024, 1)}
print(json.dumps(results))
"""


def measure(model: Path, folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "MODELHUB_MAX_IMAGE_PIXELS": "64000000", "MODELHUB_MAX_UPLOAD_BYTES": str(20 << 20)}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(model), str(SAMPLES_DIR / "cat_chelsea.png"), str(folder), *names],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_peak_memory_of_each_bomb_is_bounded(int8_model: Path, tmp_path: Path) -> None:
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs /proc/self/clear_refs (Linux) to reset the peak")
    for name, make in ATTACKS.items():
        (tmp_path / name).write_bytes(make())
    results = measure(int8_model, tmp_path, list(ATTACKS))
    print(json.dumps(results, indent=1))
    for name, result in results.items():
        assert result["status"] == EXPECTED.get(name, 200), (name, result)
        assert result["peak_mb"] < PEAK_LIMIT_MB, (name, result)
