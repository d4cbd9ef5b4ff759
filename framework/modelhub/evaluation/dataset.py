"""A labelled image folder: its images and each image's class index.

Two layouts are read.  The ImageNet validation layout: flat ``ILSVRC2012_val_*.JPEG`` files with the
ground truth either as ``LOC_val_solution.csv`` (WordNet ids) or as the devkit's 50000-line
``ILSVRC2012_validation_ground_truth.txt`` (``ILSVRC2012_ID`` per line, line N for image N), found in the
folder or the one above it, or named with ``labels``.  The class-folder layout: ``DIR/<wnid or class
index>/*.jpg``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import classes
from .classes import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG", re.IGNORECASE)
DEVKIT_FILE = "ILSVRC2012_validation_ground_truth.txt"
LOC_FILE = "LOC_val_solution.csv"


@dataclass(frozen=True)
class Item:
    name: str  # path relative to the folder, with '/' (the key of the result cache)
    path: Path
    label: int


@dataclass(frozen=True)
class Dataset:
    folder: Path
    items: list[Item]
    layout: str  # "imagenet-val" or "class-folders"
    labels_file: str | None
    mapping: str  # how the ids became class indices


def load_dataset(folder: Path, labels: Path | None = None, skip: Path | None = None) -> Dataset:
    """The images of ``folder`` and their labels; ``skip``: a folder inside it that is not data (the report)."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    if labels is not None:
        labels = Path(labels).expanduser().resolve()
        if not labels.is_file():
            raise DatasetError(f"labels file {labels} does not exist")
        return _imagenet_val(folder, labels)
    for place in (folder, folder.parent):
        for name in (LOC_FILE, DEVKIT_FILE):
            if (place / name).is_file():
                return _imagenet_val(folder, place / name)
    return _class_folders(folder, skip.resolve() if skip else None)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _imagenet_val(folder: Path, labels: Path) -> Dataset:
    try:
        if labels.suffix.lower() == ".csv":
            truth, mapping = _loc_solution(labels), f"WordNet ids mapped with {classes.SOURCE}"
        else:
            truth, mapping = _devkit_truth(labels)
    except UnicodeDecodeError:
        raise DatasetError(f"{labels.name} is not a text file (UTF-8)") from None
    images = _images(folder)
    if not images:
        raise DatasetError(f"{folder} holds no .JPEG/.jpg/.png image")
    missing = [p.name for p in images if p.name not in truth]
    if missing:
        raise DatasetError(f"{len(missing)} image(s) of {folder} have no entry in {labels.name}, such as {missing[0]}")
    items = [Item(p.name, p, truth[p.name]) for p in images]
    return Dataset(folder, items, "imagenet-val", str(labels), mapping)


def _loc_solution(path: Path) -> dict[str, int]:
    """``ImageId,PredictionString`` rows: the first WordNet id of the boxes is the image's class."""
    truth: dict[str, int] = {}
    with _open(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [cell.strip() for cell in header[:2]] != ["ImageId", "PredictionString"]:
            raise DatasetError(f"{path.name}: the first line must be 'ImageId,PredictionString'")
        for number, row in enumerate(reader, 2):
            if not row:
                continue
            words = row[1].split() if len(row) > 1 else []
            if not words:
                raise DatasetError(f"{path.name}, line {number}: no WordNet id for {row[0]!r}")
            try:
                truth[f"{row[0].strip()}.JPEG"] = classes.from_wnid(words[0])
            except DatasetError as error:
                raise DatasetError(f"{path.name}, line {number}: {error.message}") from None
    return truth


def _devkit_truth(path: Path) -> tuple[dict[str, int], str]:
    ids: dict[str, int] = {}
    with _open(path) as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text.isdigit() or not 1 <= int(text) <= classes.CLASSES:
                raise DatasetError(
                    f"{path.name}, line {number}: expected an ILSVRC2012_ID from 1 to 1000, not {text[:40]!r}"
                )
            ids[f"ILSVRC2012_val_{number:08d}.JPEG"] = int(text)
    meta = path.parent / "meta.mat"
    if meta.is_file():
        devkit, mapping = classes.devkit_from_meta(meta), f"ILSVRC2012_ID mapped with the devkit's {meta}"
    else:
        devkit = classes.devkit_from_package(ids)
        mapping = (
            f"ILSVRC2012_ID mapped with the permutation implied by {classes.SOURCE}'s validation labels "
            f"(checked on all {len(ids)} lines; no meta.mat beside the file)"
        )
    unknown = sorted(set(ids.values()) - set(devkit))
    if unknown:
        raise DatasetError(f"{path.name}: ILSVRC2012_ID {unknown[0]} is not in {meta.name}")
    return {name: devkit[devkit_id] for name, devkit_id in ids.items()}, mapping


def _class_folders(folder: Path, skip: Path | None) -> Dataset:
    items: list[Item] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p != skip):
        label = classes.from_folder_name(sub.name)
        items.extend(Item(f"{sub.name}/{p.name}", p, label) for p in _images(sub))
    if not items:
        raise DatasetError(
            f"{folder} is neither an ImageNet validation folder (ILSVRC2012_val_*.JPEG with "
            f"{LOC_FILE} or {DEVKIT_FILE}) nor class folders (<wnid or index>/*.jpg)"
        )
    return Dataset(folder, items, "class-folders", None, f"folder names (WordNet ids with {classes.SOURCE})")


def _open(path: Path) -> TextIO:
    try:
        return open(path, encoding="utf-8", newline="")
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error.strerror or error}") from None
