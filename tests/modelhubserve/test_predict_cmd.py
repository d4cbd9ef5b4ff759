"""``modelhub predict`` on folders, globs and stdin, in table, JSON Lines and CSV, and ``modelhub --help``."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from modelhubserve import cli
from support import SAMPLES_DIR, modelhub_command

TOP1 = {"cat_chelsea.png": "Egyptian cat", "coffee_cup.jpg": "espresso"}


def run(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([modelhub_command(), *args], capture_output=True, timeout=120, cwd=cwd, input=stdin)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """photos/cat_chelsea.png, photos/more/coffee_cup.jpg, photos/.hidden/x.png, photos/notes.txt."""
    (tmp_path / "photos" / "more").mkdir(parents=True)
    (tmp_path / "photos" / ".hidden").mkdir()
    shutil.copy(SAMPLES_DIR / "cat_chelsea.png", tmp_path / "photos" / "cat_chelsea.png")
    shutil.copy(SAMPLES_DIR / "coffee_cup.jpg", tmp_path / "photos" / "more" / "coffee_cup.jpg")
    shutil.copy(SAMPLES_DIR / "cat_chelsea.png", tmp_path / "photos" / ".hidden" / "x.png")
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    return tmp_path


@pytest.mark.model
def test_a_folder_is_searched_recursively_and_written_as_csv(photos: Path, int8_model: Path) -> None:
    done = run("predict", "photos", "--format", "csv", "--top", "2", "--model-file", str(int8_model), cwd=photos)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode())))
    assert [(r["file"], r["rank"], r["label"]) for r in rows if r["rank"] == "1"] == [
        ("photos/cat_chelsea.png", "1", "Egyptian cat"),
        ("photos/more/coffee_cup.jpg", "1", "espresso"),
    ]
    assert len(rows) == 4 and rows[0]["index"] == "285" and float(rows[0]["probability"]) > 0.3
    summary = done.stderr.decode().strip().splitlines()[-1]
    assert summary.startswith("2 images in ") and "images/s, 0 failed" in summary


@pytest.mark.model
def test_a_quoted_glob_and_a_table(photos: Path, int8_model: Path) -> None:
    done = run("predict", "photos/**/*.jpg", "--top", "3", "--model-file", str(int8_model), cwd=photos)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].split() == ["file", "rank", "probability", "index", "label"]
    assert lines[1].split()[:2] == ["photos/more/coffee_cup.jpg", "1"] and lines[1].endswith("espresso")
    assert len(lines) == 4 and lines[2].split()[0] == "2"  # the file is named once per image


@pytest.mark.model
def test_stdin_takes_an_image_or_a_list_of_paths(photos: Path, int8_model: Path) -> None:
    image = run(
        "predict",
        "-",
        "--format",
        "jsonl",
        "--model-file",
        str(int8_model),
        cwd=photos,
        stdin=(SAMPLES_DIR / "cat_chelsea.png").read_bytes(),
    )
    assert image.returncode == 0, image.stderr
    (answer,) = [json.loads(line) for line in image.stdout.splitlines()]
    assert answer["file"] == "-" and answer["output"][0]["prediction"][0]["label"] == "Egyptian cat"
    listed = run(
        "predict",
        "-",
        "--json",
        "--top",
        "1",
        "--model-file",
        str(int8_model),
        cwd=photos,
        stdin=b"photos/more/coffee_cup.jpg\nphotos/cat_chelsea.png\n",
    )
    answers = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(a["file"], a["output"][0]["prediction"][0]["label"]) for a in answers] == [
        ("photos/more/coffee_cup.jpg", "espresso"),
        ("photos/cat_chelsea.png", "Egyptian cat"),
    ]


@pytest.mark.model
def test_bad_inputs_are_each_named_and_the_rest_are_answered(photos: Path, int8_model: Path) -> None:
    done = run(
        "predict",
        "photos/notes.txt",
        "nothing.jpg",
        "https://example.org/cat.jpg?size=large",
        "photos/cat_chelsea.png",
        "--json",
        "--batch",
        "4",
        "--model-file",
        str(int8_model),
        cwd=photos,
    )
    assert done.returncode == 1
    answers = {a["file"]: a for a in map(json.loads, done.stdout.splitlines())}
    assert answers["photos/notes.txt"]["status"] == 415
    assert answers["nothing.jpg"]["error"] == "input file 'nothing.jpg' not found"
    url = answers["https://example.org/cat.jpg?size=large"]["error"]
    assert "reads local files, not URLs" in url and "curl -o image.jpg 'https://example.org/cat.jpg?size=large'" in url
    assert answers["photos/cat_chelsea.png"]["output"][0]["prediction"][0]["label"] == "Egyptian cat"
    assert done.stderr.decode().strip().splitlines()[-1].endswith("3 failed")


def test_a_model_file_that_is_a_folder_says_so(photos: Path) -> None:
    done = run("predict", "photos/cat_chelsea.png", "--model-file", "photos", cwd=photos)
    assert done.returncode == 2
    line = done.stderr.decode().strip().splitlines()[-1]
    assert line.startswith("modelhub: error: model file ") and "is a folder" in line


def test_the_help_says_what_each_command_is_for() -> None:
    parser = cli.build_parser()
    top = parser.format_help()
    for command, summary in (
        ("serve", "run the production REST server"),
        ("predict", "classify image files, folders or stdin"),
        ("fetch", "download and verify the model files"),
    ):
        assert command in top and summary in top
        sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        text = sub.format_help()
        assert "examples:" in text and f"modelhub {command}" in text.split("examples:")[1], command
        assert sub.description and len(sub.description) > 40
    every = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command, sub in every.items():  # commands added later too: each has an example
        assert "examples:" in sub.format_help() and f"modelhub {command} " in sub.format_help(), command
        assert f"    {command} " in top  # listed with what it is for


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.model
def test_batches_of_the_model_and_a_progress_bar_on_a_terminal(
    int8_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelhubserve import predict_cmd

    from modelhubapi import service

    sizes: list[int] = []
    real_build = service.build_api

    def spying_build(settings: object) -> object:
        api = real_build(settings)  # type: ignore[arg-type]
        model, real_predict = api.model, api.model.predict
        monkeypatch.setattr(
            model, "predict", lambda inputs: sizes.append(len(next(iter(inputs.values())))) or real_predict(inputs)
        )
        return api

    monkeypatch.setattr(service, "build_api", spying_build)
    args = cli.build_parser().parse_args(
        [
            "predict",
            str(SAMPLES_DIR),
            "--batch",
            "4",
            "--workers",
            "2",
            "--format",
            "jsonl",
            "--top",
            "1",
            "--model-file",
            str(int8_model),
        ]
    )
    terminal, out = _Terminal(), io.StringIO()
    settings = cli._settings(args)
    assert predict_cmd.run(args, settings, out, terminal) == 0
    assert sorted(sizes) == [2, 4]  # six samples in batches of four (the int8 file's batch is free)
    labels = [json.loads(line)["output"][0]["prediction"][0]["label"] for line in out.getvalue().splitlines()]
    assert labels[1:3] == ["Egyptian cat", "espresso"] and len(labels) == 6
    bar = terminal.getvalue()
    assert "\rpredict [" in bar and "6/6 images" in bar and bar.splitlines()[-1].startswith("6 images in ")


@pytest.mark.model
def test_a_reader_that_stops_early_ends_it_quietly(tmp_path: Path, int8_model: Path) -> None:
    for i in range(12):
        shutil.copy(SAMPLES_DIR / "coffee_cup.jpg", tmp_path / f"cup{i}.jpg")
    command = [modelhub_command(), "predict", str(tmp_path), "--top", "1000", "--model-file", str(int8_model)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().split() == [b"file", b"rank", b"probability", b"index", b"label"]
    process.stdout.close()  # as `| head -1` does: 12 x 1000 rows do not fit in the pipe
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in errors and "modelhub: error" not in errors and "Broken pipe" not in errors
