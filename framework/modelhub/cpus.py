"""How many CPUs this process may use: its CPU affinity, capped by its cgroup's CPU quota (v1 or v2).

``docker run --cpus=2`` on a 64-core host leaves all 64 cores in the affinity mask and sets a quota
instead: ``cpu.max`` ("200000 100000") in cgroup v2, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in
cgroup v1.  The quota of the process's own cgroup and of each ancestor visible under the mount counts;
the smallest wins.  A fractional quota is rounded down (at least 1), so that the workers never need more
CPU time than the quota gives and are not throttled.  Files that are missing or unreadable mean "no quota".
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal (``\\040``)."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set[str]]]:
    """(fstype, root, mount point, super options) of each cgroup mount."""
    found = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((tail[0], _unescape(fields[3]), _unescape(fields[4]), set(tail[2].split(","))))
    return found


def _directories(root: Path, mount_root: str, mount_point: str, cgroup: str) -> list[Path]:
    """The cgroup's folder under the mount, then each parent folder up to the mount point."""
    base = root / mount_point.lstrip("/")
    inner = PurePosixPath(cgroup)
    outer = PurePosixPath(mount_root)
    relative = inner.relative_to(outer) if inner.is_relative_to(outer) else PurePosixPath(".")
    folders = [base / relative]
    for parent in relative.parents:
        folders.append(base / parent)
    return folders


def _v2_quota(folder: Path) -> float | None:
    text = _read(folder / "cpu.max")
    parts = text.split() if text else []
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(folder: Path) -> float | None:
    quota_text, period_text = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    try:
        quota, period = int((quota_text or "").strip()), int((period_text or "").strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None  # -1: no quota


def cpu_quota(root: Path = Path("/")) -> float | None:
    """The CPU quota of this process, in CPUs (``1.5`` for ``--cpus=1.5``); None when there is none.

    ``root`` is where ``proc/`` and the cgroup mounts are found (``/``; tests pass a folder of fake files).
    """
    cgroups, mountinfo = _read(root / "proc/self/cgroup"), _read(root / "proc/self/mountinfo")
    if cgroups is None or mountinfo is None:
        return None
    mounts = _mounts(mountinfo)
    quotas: list[float] = []
    for line in cgroups.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path:
            continue
        if hierarchy == "0" and controllers == "":  # the unified (v2) hierarchy
            matching = [(m_root, point) for kind, m_root, point, _ in mounts if kind == "cgroup2"]
            read = _v2_quota
        elif "cpu" in controllers.split(","):
            matching = [(m_root, point) for kind, m_root, point, opts in mounts if kind == "cgroup" and "cpu" in opts]
            read = _v1_quota
        else:
            continue
        for mount_root, mount_point in matching:
            for folder in _directories(root, mount_root, mount_point, path):
                quota = read(folder)
                if quota is not None:
                    quotas.append(quota)
    return min(quotas) if quotas else None


def available_cpus(root: Path = Path("/"), affinity: int | None = None) -> int:
    """CPUs this process can keep busy: the affinity mask's size, capped by the cgroup quota (at least 1)."""
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            affinity = os.cpu_count() or 1
    quota = cpu_quota(root)
    if quota is None:
        return max(1, affinity)
    limited = max(1, math.floor(quota))
    if limited < affinity:
        log.debug("cgroup CPU quota %.2f CPUs: %d of %d CPUs in the affinity mask", quota, limited, affinity)
    return max(1, min(affinity, limited))
