"""A labelled folder of real photos for the evaluate tests, and an independent reference classifier."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import skimage
import sklearn
from PIL import Image, ImageOps

SKIMAGE = Path(skimage.__file__).parent / "data"
SKLEARN = Path(sklearn.__file__).parent / "datasets" / "images"

# Public-domain photos and the ImageNet class a person gives each: WordNet id and class index (labels.json).
PHOTOS = {
    SKIMAGE / "chelsea.png": ("n02123045", 281),  # tabby cat
    SKIMAGE / "coffee.png": ("n07930864", 968),  # cup
    SKIMAGE / "rocket.jpg": ("n03773504", 657),  # missile (a Falcon 9 launch)
    SKIMAGE / "motorcycle_left.png": ("n03791053", 670),  # motor scooter (the nearest class to a motorbike)
    SKLEARN / "china.jpg": ("n03877845", 698),  # palace
    SKIMAGE / "camera.png": ("n04485082", 872),  # tripod (the cameraman's)
}
INDEX = dict(PHOTOS.values())


def photo_set() -> list[tuple[Image.Image, str]]:
    """Each photo, then each photo mirrored: 12 real images, 6 classes, in this order."""
    originals = [(Image.open(path).convert("RGB"), wnid) for path, (wnid, _index) in PHOTOS.items()]
    return originals + [(ImageOps.mirror(image), wnid) for image, wnid in originals]


def write_val_layout(folder: Path) -> list[tuple[str, int]]:
    """ILSVRC2012_val_0000000N.JPEG files and LOC_val_solution.csv (rows in shuffled order, boxes after the id)."""
    folder.mkdir(parents=True)
    truth = []
    for number, (image, wnid) in enumerate(photo_set(), 1):
        name = f"ILSVRC2012_val_{number:08d}"
        image.save(folder / f"{name}.JPEG", quality=95)
        truth.append((f"{name}.JPEG", INDEX[wnid]))
    rows = [
        (f"ILSVRC2012_val_{n:08d}", f"{wnid} 10 20 100 200 {wnid} 5 5 50 50")
        for n, (_image, wnid) in enumerate(photo_set(), 1)
    ]
    with open(folder / "LOC_val_solution.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ImageId", "PredictionString"])
        writer.writerows(rows[::-1])
    return truth


def write_class_folders(folder: Path) -> list[tuple[str, int]]:
    """``<wnid>/`` folders for half the classes and ``<class index>/`` folders for the others; PNG and JPEG."""
    truth = []
    for number, (image, wnid) in enumerate(photo_set()):
        index = INDEX[wnid]
        sub = folder / (wnid if index % 2 else str(index))
        sub.mkdir(parents=True, exist_ok=True)
        name = f"photo{number:02d}.{'png' if number % 3 == 0 else 'jpg'}"
        image.save(sub / name)
        truth.append((f"{sub.name}/{name}", index))
    return truth


class Reference:
    """The ONNX Model Zoo's MobileNetV2 pipeline written out here, sharing no code with the served one."""

    def __init__(self, model_file: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])

    def __call__(self, image_path: Path) -> np.ndarray:
        return _reference(self.session, image_path)


def _reference(session: Any, image_path: Path) -> np.ndarray:
    image = Image.open(image_path).convert("RGB")
    scale = 256 / min(image.size)
    image = image.resize((int(round(image.width * scale)), int(round(image.height * scale))), Image.BILINEAR)
    left, top = image.width // 2 - 112, image.height // 2 - 112
    array = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255
    array = (array - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    logits = session.run(None, {session.get_inputs()[0].name: array.transpose(2, 0, 1)[None]})[0][0]
    exp = np.exp(logits.astype(np.float64) - logits.max())
    return exp / exp.sum()
