"""Benchmark photos, made from a sample photo of the contributor package (nothing downloaded)."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

DEFAULT_SOURCE = "flower_dahlia.jpg"


def make_photo(source: Path, megapixels: float, target: Path, quality: int = 90) -> tuple[int, int]:
    """Save ``source`` resized (4:3 crop, LANCZOS) to about ``megapixels`` as a JPEG; return (width, height)."""
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    # crop to 4:3 around the centre so every photo has the same shape
    width, height = image.size
    if width * 3 > height * 4:
        new_width = height * 4 // 3
        left = (width - new_width) // 2
        image = image.crop((left, 0, left + new_width, height))
    else:
        new_height = width * 3 // 4
        top = (height - new_height) // 2
        image = image.crop((0, top, width, top + new_height))
    out_width = int(round(math.sqrt(megapixels * 1e6 * 4 / 3) / 4)) * 4
    out_height = out_width * 3 // 4
    image.resize((out_width, out_height), Image.Resampling.LANCZOS).save(target, "JPEG", quality=quality)
    return out_width, out_height


def make_photos(samples_dir: Path, folder: Path) -> dict[str, Path]:
    """The standard request photo (0.3 MP) and the large photo (12 MP), as JPEG files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    source = samples_dir / DEFAULT_SOURCE
    photos = {"0.3MP": folder / "photo-0.3mp.jpg", "12MP": folder / "photo-12mp.jpg"}
    make_photo(source, 0.3072, photos["0.3MP"])  # 640 x 480
    make_photo(source, 12.0, photos["12MP"])  # 4000 x 3000
    return photos
