"""Scraping the worker processes' value files while workers come and go."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from modelhubapi.metrics_files import ValueFiles


def _counter_file(folder: Path, pid: int, value: float) -> None:
    values = MmapedDict(str(folder / f"counter_{pid}.db"))
    values.write_value(mmap_key("requests", "requests_total", (), (), "requests"), value, 0)
    values.close()


def test_a_new_process_empty_file_does_not_break_the_scrape(tmp_path: Path) -> None:
    _counter_file(tmp_path, 101, 3)
    (tmp_path / "counter_102.db").write_bytes(b"")  # created, not yet sized: prometheus/client_python#1199
    registry = CollectorRegistry()
    ValueFiles(registry, str(tmp_path))
    text = generate_latest(registry).decode()
    assert "requests_total 3.0" in text


def test_files_of_every_process_are_summed(tmp_path: Path) -> None:
    _counter_file(tmp_path, 101, 3)
    _counter_file(tmp_path, 102, 4)
    registry = CollectorRegistry()
    ValueFiles(registry, str(tmp_path))
    assert "requests_total 7.0" in generate_latest(registry).decode()
