"""Which model file is served and how it is labelled: variants, hashes, folders, the unverified warning."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from modelhub.errors import ConfigError, IntegrityError
from modelhub.model_source import resolve_model_source
from modelhub.settings import Settings, load_settings

TINY = b"the tiny variant's bytes"
LARGE = b"the large variant's bytes, longer"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository layout whose init/init.json lists two variants, both present."""
    (tmp_path / "contrib_src" / "model").mkdir(parents=True)
    (tmp_path / "init").mkdir()
    entries = []
    for variant, data in (("tiny", TINY), ("large", LARGE)):
        dest = f"contrib_src/model/{variant}.bin"
        (tmp_path / dest).write_bytes(data)
        entries.append(
            {
                "src_url": f"https://example.invalid/{variant}.bin",
                "dest_file_path": dest,
                "sha256": sha(data),
                "size": len(data),
                "variant": variant,
                "default": variant == "tiny",
            }
        )
    (tmp_path / "init" / "init.json").write_text(json.dumps({"external_contrib_files": entries}))
    return tmp_path


def settings(root: Path, **overrides: str) -> Settings:
    return load_settings({"root": str(root), **overrides}, environ={})


def copy_of(root: Path, data: bytes) -> str:
    path = root / "elsewhere.bin"
    path.write_bytes(data)
    return str(path)


def test_unknown_variant_with_a_model_file_is_refused(root: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model_source(settings(root, model_file=copy_of(root, TINY), model_variant="banana"))
    assert info.value.message == "unknown model variant 'banana' (known: tiny, large)"


def test_a_variant_the_file_is_not_is_refused(root: Path) -> None:
    with pytest.raises(IntegrityError) as info:
        resolve_model_source(settings(root, model_file=copy_of(root, TINY), model_variant="large"))
    message = info.value.message
    assert "is not the 'large' variant" in message and sha(TINY) in message and sha(LARGE) in message


def test_the_variant_a_file_is_labels_it(root: Path) -> None:
    source = resolve_model_source(settings(root, model_file=copy_of(root, LARGE), model_variant="large"))
    assert source is not None and (source.variant, source.verified) == ("large", True)
    source = resolve_model_source(settings(root, model_file=copy_of(root, LARGE)))  # recognised by its hash
    assert source is not None and (source.variant, source.verified) == ("large", True)


def test_a_hash_given_for_an_unlisted_file_verifies_it_without_a_variant(root: Path) -> None:
    data = b"my own model"
    source = resolve_model_source(settings(root, model_file=copy_of(root, data), model_sha256=sha(data)))
    assert source is not None and (source.variant, source.verified) == (None, True)
    with pytest.raises(IntegrityError, match="is not the 'tiny' variant"):
        resolve_model_source(
            settings(root, model_file=copy_of(root, data), model_sha256=sha(data), model_variant="tiny")
        )


@pytest.mark.parametrize("value", ["z" * 64, "g" + "0" * 63, "0" * 63, "0" * 65])
def test_model_sha256_must_be_hex(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"model_sha256": value}, environ={})
    assert "model_sha256 must be 64 hex digits" in info.value.message
    assert load_settings({"model_sha256": "A" * 64}, environ={}).model_sha256 == "A" * 64


def test_a_folder_as_model_file_says_so(root: Path) -> None:
    with pytest.raises(IntegrityError) as info:
        resolve_model_source(settings(root, model_file=str(root / "contrib_src")))
    assert "is a folder" in info.value.message and "does not exist" not in info.value.message


def test_an_unverified_file_is_reported_once_per_process(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    chosen = settings(root, model_file=copy_of(root, b"unlisted bytes"))
    with caplog.at_level(logging.WARNING, logger="modelhub.model_source"):
        first = resolve_model_source(chosen)
        second = resolve_model_source(chosen)
    assert first == second and first is not None and first.verified is False and first.variant is None
    assert [r.getMessage().count("UNVERIFIED") for r in caplog.records] == [1]
