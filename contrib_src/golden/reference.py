"""Independent reference implementation of the ONNX Model Zoo MobileNetV2 pipeline: the golden outputs.

This script shares no code with the served pipeline (``contrib_src/processing.py``,
``geometry.py``, ``colour.py``, ``inference.py`` and the engine under ``framework/``): it imports
only Pillow, numpy and onnxruntime, and writes each step out in full, as the zoo's model card
describes it:

1. open the file with Pillow, apply its EXIF orientation (``ImageOps.exif_transpose``), convert to RGB;
2. resize so the shorter side is 256 pixels, the longer ``int(round(256 * longer / shorter))``,
   with Pillow's bilinear filter;
3. crop the central 224 x 224 pixels (left ``width // 2 - 112``, top ``height // 2 - 112``);
4. divide by 255, subtract the ImageNet mean (0.485, 0.456, 0.406), divide by the standard
   deviation (0.229, 0.224, 0.225), lay out as float32 NCHW ``[1, 3, 224, 224]``;
5. run the model with a fresh onnxruntime session (default options, CPU), one image per call;
6. softmax over the 1000 logits in float64; keep the 5 most probable classes.

The golden file for a model is ``<sha256 of the model file>.json`` beside this script:

    python contrib_src/golden/reference.py MODEL.onnx [--samples DIR] [--labels FILE] [--out DIR]

``modelhub verify --record`` runs the same function for the model file it is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import PIL
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
SHORTER_SIDE = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float64)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float64)
TOP = 5
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reference_input(path: Path) -> np.ndarray:
    """Steps 1-4: the float32 ``[1, 3, 224, 224]`` tensor of one image file."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = image.size
    if width <= height:
        size = (SHORTER_SIDE, int(round(SHORTER_SIDE * height / width)))
    else:
        size = (int(round(SHORTER_SIDE * width / height)), SHORTER_SIDE)
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = size[0] // 2 - CROP // 2, size[1] // 2 - CROP // 2
    pixels = np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.float64) / 255.0
    normalised = (pixels - MEAN) / STD  # [224, 224, 3]
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)


def reference_probabilities(session: onnxruntime.InferenceSession, path: Path) -> np.ndarray:
    """Steps 5-6: the 1000 probabilities (float64) of one image."""
    feed = {session.get_inputs()[0].name: reference_input(path)}
    logits = np.asarray(session.run(None, feed)[0], dtype=np.float64).reshape(-1)
    exponentials = np.exp(logits - logits.max())
    return np.asarray(exponentials / exponentials.sum())


def golden_document(model: Path, samples: Path, labels: list[str]) -> dict[str, Any]:
    """The golden outputs of every sample image for ``model``, and how they were made."""
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    results: dict[str, Any] = {}
    for path in sorted(p for p in samples.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        probabilities = reference_probabilities(session, path)
        order = np.argsort(-probabilities, kind="stable")[:TOP]
        results[path.name] = {
            "sha256": file_sha256(path),
            "top5": [{"index": int(i), "label": labels[int(i)], "probability": float(probabilities[i])} for i in order],
        }
    return {
        "model": {"file": model.name, "sha256": file_sha256(model), "bytes": model.stat().st_size},
        "made_by": "contrib_src/golden/reference.py: an implementation of the ONNX Model Zoo MobileNetV2 "
        "pipeline that shares no code with the served one (see its docstring for every step)",
        "steps": [
            "Pillow open, EXIF orientation, RGB",
            "shorter side to 256, bilinear, int(round(...))",
            "centre crop 224 (start = size // 2 - 112)",
            "/255, ImageNet mean/std, NCHW float32",
            "onnxruntime CPU session, default options, one image per run",
            "softmax in float64, top 5",
        ],
        "software": {
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
            "pillow": PIL.__version__,
            "machine": platform.machine(),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tolerance": 1e-4,
        "samples": results,
    }


def write_golden(model: Path, samples: Path, labels_file: Path, out: Path) -> Path:
    """Write ``out/<sha256>.json`` for ``model``; returns its path."""
    labels = json.loads(labels_file.read_text(encoding="utf-8"))
    document = golden_document(model, samples, labels)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{document['model']['sha256']}.json"
    target.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("model", type=Path, help="the ONNX model file")
    parser.add_argument("--samples", type=Path, default=PACKAGE / "sample_data", help="folder of sample images")
    parser.add_argument("--labels", type=Path, default=PACKAGE / "model" / "labels.json", help="class names")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for <sha256>.json (default: beside me)")
    args = parser.parse_args(argv)
    sys.stdout.write(f"{write_golden(args.model, args.samples, args.labels, args.out)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
