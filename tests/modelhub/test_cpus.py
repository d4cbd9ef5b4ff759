"""CPUs available to the process: affinity capped by the cgroup CPU quota, read from fake cgroup files."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhub.cpus import available_cpus, cpu_quota
from modelhub.settings import load_settings

# mountinfo lines as a container sees them (fields: id parent dev root mountpoint options - type source super)
V2_MOUNT = "30 25 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNTS = (
    "31 25 0:28 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
    "32 25 0:29 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
)


def fake(tmp_path: Path, cgroup: str, mountinfo: str, files: dict[str, str]) -> Path:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    (tmp_path / "proc/self/mountinfo").write_text("22 1 0:20 / / rw - overlay overlay rw\n" + mountinfo)
    for name, text in files.items():
        path = tmp_path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("cpu_max", "quota", "cpus"),
    [
        ("200000 100000\n", 2.0, 2),
        ("150000 100000\n", 1.5, 1),  # rounded down: 2 workers would be throttled
        ("50000 100000\n", 0.5, 1),  # at least one
        ("max 100000\n", None, 8),  # no quota: the affinity mask
    ],
)
def test_cgroup_v2_cpu_max(tmp_path: Path, cpu_max: str, quota: float | None, cpus: int) -> None:
    root = fake(tmp_path, "0::/\n", V2_MOUNT, {"/sys/fs/cgroup/cpu.max": cpu_max})
    assert cpu_quota(root) == quota
    assert available_cpus(root, affinity=8) == cpus


def test_cgroup_v2_nested_group_and_parent_quota(tmp_path: Path) -> None:
    """Host view (no cgroup namespace): the process's own folder and its parents under the mount count."""
    root = fake(
        tmp_path,
        "0::/system.slice/app.service\n",
        V2_MOUNT,
        {
            "/sys/fs/cgroup/system.slice/app.service/cpu.max": "max 100000",
            "/sys/fs/cgroup/system.slice/cpu.max": "300000 100000",
        },
    )
    assert cpu_quota(root) == 3.0
    assert available_cpus(root, affinity=64) == 3
    assert available_cpus(root, affinity=2) == 2  # the affinity mask is smaller still


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    """A v1 container: the cpu controller's mount root is the container's cgroup path."""
    root = fake(
        tmp_path,
        "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
        V1_MOUNTS,
        {
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "200000\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cpu_quota(root) == 2.0
    assert available_cpus(root, affinity=64) == 2


def test_cgroup_v1_no_quota(tmp_path: Path) -> None:
    root = fake(
        tmp_path,
        "4:cpu,cpuacct:/docker/abc\n",
        V1_MOUNTS,
        {
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cpu_quota(root) is None
    assert available_cpus(root, affinity=6) == 6


def test_hybrid_layout_reads_the_v1_cpu_controller(tmp_path: Path) -> None:
    """v1 controllers plus an empty unified hierarchy (no cpu.max in it), as on this CI machine."""
    mounts = (
        "31 25 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
        "41 25 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    root = fake(
        tmp_path,
        "1:cpu:/ci/job1\n0::/ci/job1\n",
        mounts,
        {
            "/sys/fs/cgroup/cpu/ci/job1/cpu.cfs_quota_us": "100000",
            "/sys/fs/cgroup/cpu/ci/job1/cpu.cfs_period_us": "100000",
            "/sys/fs/cgroup/unified/ci/job1/cgroup.procs": "1\n",
        },
    )
    assert cpu_quota(root) == 1.0
    assert available_cpus(root, affinity=16) == 1


@pytest.mark.parametrize("text", ["", "garbage", "max", "100000 0", "-5 100000", "abc 100000"])
def test_unreadable_or_odd_cpu_max_means_no_quota(tmp_path: Path, text: str) -> None:
    root = fake(tmp_path, "0::/\n", V2_MOUNT, {"/sys/fs/cgroup/cpu.max": text})
    assert cpu_quota(root) is None
    assert available_cpus(root, affinity=3) == 3


def test_no_proc_files_means_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None
    assert available_cpus(tmp_path, affinity=0) == 1


def test_mount_point_with_escaped_space(tmp_path: Path) -> None:
    mounts = "30 25 0:26 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n"
    root = fake(tmp_path, "0::/\n", mounts, {"/sys/fs/cgroup x/cpu.max": "400000 100000"})
    assert cpu_quota(root) == 4.0


def test_settings_workers_default_uses_available_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelhub.settings.available_cpus", lambda: 3)
    assert load_settings({}, {}).effective_workers() == 3
    assert load_settings({"workers": 5}, {}).effective_workers() == 5
