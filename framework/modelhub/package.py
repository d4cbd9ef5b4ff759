"""The files of a contributor package that describe it: samples, thumbnail, licences."""

from __future__ import annotations

import logging
from pathlib import Path

from .paths import safe_file

log = logging.getLogger(__name__)

SAMPLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".json", ".npy", ".nii", ".gz", ".dcm", ".tif", ".tiff"})
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LEGAL_FILES = (
    ("modelhub_license", "framework", "LICENSE"),
    ("modelhub_acknowledgements", "framework", "NOTICE"),
    ("model_license", "license", "model"),
    ("sample_data_license", "license", "sample_data"),
)


class PackageFiles:
    """Read-only views of ``<package>/sample_data``, ``<package>/model`` and the licence texts."""

    def __init__(self, package_dir: Path, framework_dir: Path) -> None:
        self.package_dir = package_dir
        self.framework_dir = framework_dir
        self.samples_dir = package_dir / "sample_data"

    def samples(self) -> list[str]:
        """Sample file names, sorted: regular files of a known kind inside the folder (no links out of it)."""
        if not self.samples_dir.is_dir():
            return []
        root = self.samples_dir.resolve()
        names = []
        for entry in self.samples_dir.iterdir():
            if entry.name.startswith(".") or entry.suffix.lower() not in SAMPLE_SUFFIXES:
                continue
            try:
                target = entry.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling link, link loop
                continue
            if target.is_file() and target.is_relative_to(root):
                names.append(entry.name)
        return sorted(names)

    def sample_path(self, name: str) -> Path:
        return safe_file(self.samples_dir, name, "sample")

    def thumbnail_path(self, name: str) -> Path:
        return safe_file(self.package_dir / "model", name, "thumbnail")

    def legal(self) -> dict[str, str]:
        """The four licence texts; a missing one is logged and given as an empty string."""
        texts = {}
        for key, where, name in LEGAL_FILES:
            path = (self.framework_dir if where == "framework" else self.package_dir / where) / name
            try:
                texts[key] = path.read_text(encoding="utf-8")
            except OSError:
                log.warning("legal text %s missing", path)
                texts[key] = ""
        return texts

    def warm_up_sample(self, multi_input: bool) -> Path | None:
        """The first sample a warm-up can predict on (a JSON request for multi-input models)."""
        suffixes = (".json",) if multi_input else IMAGE_SUFFIXES
        names = [name for name in self.samples() if Path(name).suffix.lower() in suffixes]
        return self.sample_path(names[0]) if names else None
