"""Class ids, folder layouts, ground-truth files and the statistics of ``modelhub evaluate`` (no model)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import CONTRIB_DIR

from modelhub.evaluation import classes, metrics
from modelhub.evaluation.classes import DatasetError
from modelhub.evaluation.dataset import load_dataset
from modelhub.evaluation.runner import Bar

LABELS = json.loads((CONTRIB_DIR / "model" / "labels.json").read_text())


def test_wordnet_ids_map_to_this_packages_class_order() -> None:
    assert classes.from_wnid("n02123045") == 281 and LABELS[281].startswith("tabby")
    assert classes.from_wnid("n01440764") == 0 and LABELS[0].startswith("tench")
    assert classes.from_wnid("n15075141") == 999 and LABELS[999].startswith("toilet tissue")
    assert classes.to_wnid(281) == "n02123045"
    assert all(classes.from_wnid(classes.to_wnid(i)) == i for i in range(1000))
    assert list(classes.names()) == LABELS  # the names the server returns, in the same order
    assert classes.from_folder_name("281") == 281 and classes.from_folder_name("n02123045") == 281
    for bad in ("n99999999", "tabby", "1000", "-1"):
        with pytest.raises(DatasetError, match="WordNet id|class index"):
            classes.from_folder_name(bad)


# The first lines of the devkit's ILSVRC2012_validation_ground_truth.txt, and what those images are.
DEVKIT_FIRST = [490, 361, 171, 822, 297]
FIRST_IMAGES = {"n01751748": 65, "n09193705": 970, "n02105855": 230, "n04263257": 809, "n03125729": 516}


def test_devkit_ids_through_the_packages_validation_labels() -> None:
    lines = {f"ILSVRC2012_val_{n:08d}.JPEG": devkit for n, devkit in enumerate(DEVKIT_FIRST, 1)}
    mapping = classes.devkit_from_package(lines)
    assert [mapping[d] for d in DEVKIT_FIRST] == list(FIRST_IMAGES.values())  # sea snake, alp, Shetland sheepdog...
    assert [classes.to_wnid(mapping[d]) for d in DEVKIT_FIRST] == list(FIRST_IMAGES)
    with pytest.raises(DatasetError, match="ILSVRC2012_val_00000002.JPEG .ILSVRC2012_ID 490. contradicts"):
        classes.devkit_from_package({"ILSVRC2012_val_00000001.JPEG": 490, "ILSVRC2012_val_00000002.JPEG": 490})


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_devkit_ground_truth_with_meta_mat(tmp_path: Path) -> None:
    from scipy.io import savemat

    for n in (1, 2, 3):
        (tmp_path / f"ILSVRC2012_val_{n:08d}.JPEG").write_bytes(jpeg())
    (tmp_path / "ILSVRC2012_validation_ground_truth.txt").write_text("7\n1\n7\n")
    synsets = np.array(
        [(1, "n02119789", "kit fox"), (7, "n02123045", "tabby"), (1001, "n02121808", "domestic cat")],
        dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O")],
    )
    savemat(tmp_path / "meta.mat", {"synsets": synsets})
    expected = [
        ("ILSVRC2012_val_00000001.JPEG", 281),
        ("ILSVRC2012_val_00000002.JPEG", 278),
        ("ILSVRC2012_val_00000003.JPEG", 281),
    ]
    dataset = load_dataset(tmp_path)  # found beside the images
    assert [(item.name, item.label) for item in dataset.items] == expected
    assert "meta.mat" in dataset.mapping
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"  # where the devkit keeps both files
    devkit.mkdir(parents=True)
    for name in ("ILSVRC2012_validation_ground_truth.txt", "meta.mat"):
        (tmp_path / name).rename(devkit / name)
    dataset = load_dataset(tmp_path, devkit / "ILSVRC2012_validation_ground_truth.txt")
    assert [(item.name, item.label) for item in dataset.items] == expected and "meta.mat" in dataset.mapping


def test_loc_solution_and_bad_ground_truth(tmp_path: Path) -> None:
    (tmp_path / "ILSVRC2012_val_00000001.JPEG").write_bytes(jpeg())
    solution = tmp_path / "LOC_val_solution.csv"
    solution.write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n02123045 1 2 3 4\n")
    assert [(i.name, i.label) for i in load_dataset(tmp_path).items] == [("ILSVRC2012_val_00000001.JPEG", 281)]
    (tmp_path / "ILSVRC2012_val_00000002.JPEG").write_bytes(jpeg())
    with pytest.raises(DatasetError, match="1 image.s. of .* have no entry in LOC_val_solution.csv"):
        load_dataset(tmp_path)
    solution.write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n99999999 1 2 3 4\n")
    with pytest.raises(DatasetError, match="line 2: 'n99999999' is not the WordNet id"):
        load_dataset(tmp_path)
    solution.write_text("id,label\n")
    with pytest.raises(DatasetError, match="ImageId,PredictionString"):
        load_dataset(tmp_path)
    devkit = tmp_path / "gt.txt"
    devkit.write_text("490\n1001\n")
    with pytest.raises(DatasetError, match="line 2: expected an ILSVRC2012_ID from 1 to 1000"):
        load_dataset(tmp_path, devkit)
    devkit.write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(DatasetError, match="gt.txt is not a text file"):
        load_dataset(tmp_path, devkit)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path, tmp_path / "missing.txt")


def test_the_report_folder_inside_class_folders_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "281").mkdir()
    (tmp_path / "281" / "cat.jpg").write_bytes(jpeg())
    (tmp_path / "report" / "cache").mkdir(parents=True)
    assert [item.name for item in load_dataset(tmp_path, skip=tmp_path / "report").items] == ["281/cat.jpg"]


def test_folders_that_are_not_data_sets(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="neither an ImageNet validation folder"):
        load_dataset(tmp_path)
    (tmp_path / "cats").mkdir()
    with pytest.raises(DatasetError, match="class folder 'cats' is neither"):
        load_dataset(tmp_path)


def test_wilson_interval() -> None:
    low, high = metrics.wilson(50, 100)
    assert (round(low, 2), round(high, 2)) == (40.38, 59.62)  # the textbook example
    assert metrics.wilson(0, 10)[0] == 0.0 and metrics.wilson(10, 10)[1] == pytest.approx(100.0)
    # 50000 images at 70.94%: the interval of a full ImageNet val run is about +-0.4 points
    low, high = metrics.wilson(35470, 50000)
    assert 0.39 < (high - low) / 2 < 0.41


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only() -> None:
    screen = Terminal()
    bar = Bar(screen, 200, 0)
    bar.update(50, force=True)
    bar.close()
    text = screen.getvalue()
    assert text.startswith("\revaluate [") and "50/200" in text and "img/s" in text and "ETA" in text
    pipe = io.StringIO()
    Bar(pipe, 200, 0).update(50, force=True)
    assert pipe.getvalue() == ""


def test_published_figures_by_sha256_then_by_variant() -> None:
    from support import REPO_ROOT

    from modelhub.evaluation.published import published_for

    zoo_float = "c1c513582d56afceff8516c73804e484c81c6a830712ab6d682253f4a3cd042f"
    found = published_for(REPO_ROOT, zoo_float, None)
    assert found is not None and (found["top1"], found["top5"], found["same_file"]) == (70.94, 89.99, True)
    found = published_for(REPO_ROOT, "0" * 64, "int8")
    assert found is not None and (found["top1"], found["top5"], found["same_file"]) == (68.30, 88.44, False)
    assert found["file"] == "mobilenetv2-12-int8.onnx"
    assert published_for(REPO_ROOT, "0" * 64, None) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "is not a folder"),
        ([".", "--limit", "0"], "--limit must be at least 1"),
        ([".", "--workers", "-1"], "--workers must be at least 1"),
        (["ILSVRC", "--url", "ftp://example.org"], "--url must be an http:// or https:// address"),
        (["ILSVRC", "--url", "http://127.0.0.1:9"], "cannot reach http://127.0.0.1:9/api/get_config"),
    ],
)
def test_command_line_errors(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelhubserve.cli import main

    (tmp_path / "ILSVRC" / "n02123045").mkdir(parents=True)
    (tmp_path / "ILSVRC" / "n02123045" / "cat.jpg").write_bytes(jpeg())
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", *args, "--out", str(tmp_path / "report")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("modelhub: error: ") and message in error and "Traceback" not in error
