"""Pillow keeps the memory of a decoded photo for the next one: a large photo is not faulted in afresh each time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import io, os, resource, sys
from PIL import Image
from modelhub.images import keep_image_memory
if sys.argv[1] == "keep":
    keep_image_memory()
photo = io.BytesIO()
Image.new("RGB", (4000, 3000), (120, 30, 200)).save(photo, "JPEG")
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with Image.open(io.BytesIO(photo.getvalue())) as image:
        image.load()
        image.resize((341, 256))
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(Image.core.get_blocks_max(), faults[-1])
"""


def decode_twice(mode: str, **env: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    blocks, faults = done.stdout.split()
    return int(blocks), int(faults)


def test_a_second_12_mp_photo_reuses_the_first_ones_memory() -> None:
    blocks, faults = decode_twice("keep")
    _, without = decode_twice("plain")
    # 4000 x 3000 x 4 bytes is 48 MB, 11 700 pages: without the cache each decode faults them all in.
    assert blocks == 4 and without > 10000 and faults < without / 3, (faults, without)


def test_the_users_pillow_blocks_max_wins() -> None:
    blocks, _ = decode_twice("keep", PILLOW_BLOCKS_MAX="1")
    assert blocks == 1


@pytest.mark.model
def test_loading_a_model_keeps_image_memory(int8_model: Path) -> None:
    script = (
        "import sys; from PIL import Image; from modelhub.settings import load_settings; "
        "from modelhubapi.service import build_api; "
        "build_api(load_settings({'model_file': sys.argv[1]}, environ={})); print(Image.core.get_blocks_max())"
    )
    done = subprocess.run([sys.executable, "-c", script, str(int8_model)], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-1] == "4"
