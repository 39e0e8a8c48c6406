"""Own data end to end: attendseg-dataset check/convert, then a fine-tuned model through export, eval and a bag."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from dataset_builders import (
    SIDEWALK7,
    copy_dataset,
    tree_digest,
)

from attendseg_ros.bag.io import BagError
from attendseg_ros.cli import dataset as dataset_cli
from attendseg_ros.cli import dataset_to_bag as dataset_to_bag_cli
from attendseg_ros.cli.evaluate import evaluate_model
from attendseg_ros.cli.evaluate import main as eval_main
from attendseg_ros.cli.evaluate_bag import evaluate_bag
from attendseg_ros.cli.export import main as export_main
from attendseg_ros.cli.train import main as train_main
from attendseg_ros.data import open_dataset
from attendseg_ros.modelfiles.sidecar import read_info


def _check(root: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    report_path = tmp_path / f"check_{root.name}.json"
    code = dataset_cli.main(["check", str(root), "--json", str(report_path), *extra])
    return code, json.loads(report_path.read_text())


def test_check_reports_layout_counts_classes_and_shares(folder_dataset: Path, cityscapes_dataset: Path,
                                                        tiny_camvid: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _check(folder_dataset, tmp_path)
    assert code == 0 and report["problems"] == []
    assert report["layout"] == "folder" and report["splits"] == {"train": 3, "val": 2, "test": 2}
    assert report["classes"] == list(SIDEWALK7) and report["ignore_index"] == 255
    assert sum(report["pixel_share"]["train"].values()) == pytest.approx(1.0)
    assert report["pixel_share"]["train"]["road"] > 0.1
    assert "folder layout, 7 classes" in capsys.readouterr().out
    code, report = _check(cityscapes_dataset, tmp_path)
    assert code == 0 and report["layout"] == "cityscapes" and len(report["classes"]) == 19
    assert report["splits"] == {"train": 3, "val": 2, "test": 2}
    # classes CamVid does not have are absent from train: a warning each, not an error
    assert {p["message"].split("'")[1] for p in report["problems"]} >= {"wall", "terrain", "truck", "bus"}
    assert {p["severity"] for p in report["problems"]} == {"warning"}
    code, report = _check(tiny_camvid, tmp_path)
    assert code == 0 and report["layout"] == "camvid" and report["splits"] == {"train": 4, "val": 4}
    code, report = _check(tiny_camvid, tmp_path, "--layout", "folder")  # forced: no images/<split>/ there
    assert code == 1 and report["layout"] == "folder" and "no train split" in report["problems"][0]["message"]


def test_check_names_every_problem_and_exits_1(folder_dataset: Path, tmp_path: Path) -> None:
    root = copy_dataset(folder_dataset, tmp_path / "broken")
    masks = sorted((root / "masks" / "train").iterdir())
    images = sorted((root / "images" / "val").iterdir())
    masks[0].write_bytes(masks[0].read_bytes()[:50])  # truncated
    cv2.imwrite(str(masks[1]), np.full((360, 480), 9, np.uint8))  # id 9 is not a class
    cv2.imwrite(str(masks[2]), np.zeros((100, 100), np.uint8))  # another size
    (root / "masks" / "val" / f"{images[0].stem}.png").unlink()  # image without mask
    (root / "masks" / "val" / "orphan.png").write_bytes(masks[2].read_bytes())  # mask without image
    before = tree_digest(root)
    code, report = _check(root, tmp_path)
    assert code == 1 and report["errors"] == 4 and report["warnings"] >= 1
    by_file = {Path(p["file"]).name: p for p in report["problems"] if p["file"]}
    assert "cannot read mask" in by_file[masks[0].name]["message"]
    assert "outside the class table: 9" in by_file[masks[1].name]["message"]
    assert "is 100x100 but image" in by_file[masks[2].name]["message"]
    assert by_file[images[0].name] == {"severity": "error", "message": "image without a mask", "split": "val",
                                       "file": str(images[0])}
    assert by_file["orphan.png"]["severity"] == "warning"
    assert tree_digest(root) == before  # check only reads


def _cvat_export(folder: Path, root: Path) -> dict[str, tuple[int, int, int]]:
    """A CVAT 'Segmentation mask' export of the folder dataset: colour masks, labelmap.txt, default.txt."""
    dataset = open_dataset(folder, "train")
    colors = {name: (40 * i + 15, 200 - 25 * i, 90 + 20 * i) for i, name in enumerate(SIDEWALK7)}
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    lut = np.zeros((256, 3), np.uint8)  # ignore (255) -> background black
    for index, name in enumerate(SIDEWALK7):
        lut[index] = colors[name]
    for sample in dataset.samples:
        _, labels = dataset.load(sample)
        (root / "JPEGImages" / sample.image.name).write_bytes(sample.image.read_bytes())
        cv2.imwrite(str(root / "SegmentationClass" / f"{sample.image.stem}.png"), lut[labels][..., ::-1])
    (root / "ImageSets" / "Segmentation" / "default.txt").write_text(
        "\n".join(s.image.stem for s in dataset.samples) + "\n")
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    lines += [f"{name}:{','.join(map(str, colors[name]))}::" for name in SIDEWALK7]
    (root / "labelmap.txt").write_text("\n".join(lines) + "\n")
    return colors


def test_convert_colour_masks_to_the_folder_layout(folder_dataset: Path, tmp_path: Path) -> None:
    source = tmp_path / "cvat"
    _cvat_export(folder_dataset, source)
    before = tree_digest(source)
    out = tmp_path / "converted"
    assert dataset_cli.main(["convert", str(source), "--out", str(out), "--ignore", "background",
                             "--val-every", "3"]) == 0
    table = yaml.safe_load((out / "classes.yaml").read_text())
    assert [c["name"] for c in table["classes"]] == list(SIDEWALK7) and table["ignore_index"] == 255
    original = open_dataset(folder_dataset, "train")
    converted = {s.image.stem: s for split in ("train", "val") for s in open_dataset(out, split).samples}
    assert len(open_dataset(out, "val")) == 1 and len(converted) == len(original)
    for sample in original.samples:
        _, expected = original.load(sample)
        _, labels = open_dataset(out, "train").load(converted[sample.image.stem])
        assert np.array_equal(labels, expected)  # classes by colour, background -> ignore
        assert converted[sample.image.stem].image.read_bytes() == sample.image.read_bytes()
    assert tree_digest(source) == before
    # background kept as a class: 8 classes, ids shifted by one
    assert dataset_cli.main(["convert", str(source), "--out", str(tmp_path / "with_bg")]) == 0
    assert open_dataset(tmp_path / "with_bg", "train").classes.names == ("background", *SIDEWALK7)


def test_convert_refuses_unknown_colours_and_existing_output(folder_dataset: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cvat"
    _cvat_export(folder_dataset, source)
    mask = sorted((source / "SegmentationClass").iterdir())[0]
    colours = cv2.imread(str(mask))
    colours[:2, :2] = (192, 224, 224)  # BGR of VOC's boundary colour 224,224,192
    cv2.imwrite(str(mask), colours)
    out = tmp_path / "converted"
    assert dataset_cli.main(["convert", str(source), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert mask.name in error and "(224, 224, 192): 4 px" in error and not out.exists()
    assert dataset_cli.main(["convert", str(source), "--out", str(out), "--ignore-color", "224,224,192"]) == 0
    assert dataset_cli.main(["convert", str(source), "--out", str(out), "--ignore-color", "224,224,192"]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tuned(folder_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 7-class model fine-tuned from the embedded one for 2 steps, exported with 2 calibration frames."""
    out = tmp_path_factory.mktemp("tuned")
    train_main(["--data", str(folder_dataset), "--out", str(out / "run"), "--init-from", "embedded",
                "--steps", "2", "--batch-size", "2", "--crop", "64", "96", "--final-crop", "64", "96",
                "--input-size", "64", "96", "--threads", "2"])
    export_main(["--model", str(out / "run" / "final.safetensors"), "--data", str(folder_dataset),
                 "--out", str(out / "export"), "--calib-count", "2"])
    name = read_info(out / "run" / "final.safetensors").name  # the files are named after the model, not CamVid
    assert name.startswith("attendseg_") and "camvid" not in name, name
    return {"safetensors": out / "run" / "final.safetensors", "int8": out / "export" / f"{name}.int8.onnx"}


def test_export_calibrates_on_the_datasets_train_frames(tuned: dict[str, Path], folder_dataset: Path) -> None:
    calibration = json.loads(tuned["int8"].with_suffix(".calibration.json").read_text())
    train_names = {s.image.name for s in open_dataset(folder_dataset, "train").samples}
    assert len(calibration["frames"]) == 2 and set(calibration["frames"]) <= train_names
    sidecar = json.loads(tuned["int8"].with_suffix(".json").read_text())
    assert [c["name"] for c in sidecar["classes"]["classes"]] == list(SIDEWALK7)


def test_eval_reads_the_models_classes_on_every_layout(tuned: dict[str, Path], folder_dataset: Path,
                                                        cityscapes_dataset: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "r.json"
    assert eval_main(["--data", str(folder_dataset), "--split", "test", "--model", str(tuned["int8"]),
                      "--json", str(report_path)]) is None
    report = json.loads(report_path.read_text())
    assert report["frames"] == 2 and report["class_names"] == list(SIDEWALK7) and report["layout"] == "folder"
    assert 0.0 <= report["miou"] <= 1.0
    # the CamVid-11 model on the 7-class dataset: refused without a class map, scored with one
    with pytest.raises(ValueError, match="pass --class-map"):
        evaluate_model(folder_dataset, "test")
    merged = evaluate_model(folder_dataset, "test", class_map="navigation")
    assert merged["frames"] == 2 and merged["miou"] > 0.5
    with pytest.raises(ValueError, match="are not those of"):  # the 7-class model on Cityscapes' 19
        evaluate_model(cityscapes_dataset, "test", model=tuned["int8"])
    with pytest.raises(SystemExit) as exit_info:
        eval_main(["--data", str(folder_dataset), "--batch-size", "0"])
    assert exit_info.value.code == 2 and "--batch-size" in capsys.readouterr().err


def test_bag_from_a_folder_dataset_scored_with_the_models_classes(tuned: dict[str, Path], folder_dataset: Path,
                                                                  tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    assert dataset_to_bag_cli.main(["--data", str(folder_dataset), "--split", "test", "--out", str(bag)]) == 0
    report = evaluate_bag(bag, mode="offline", model=tuned["int8"])
    assert report["frames"] == 2 and len(report["class_iou"]) == 7
    direct = evaluate_model(folder_dataset, "test", model=tuned["int8"])
    assert report["miou"] == pytest.approx(direct["miou"], abs=1e-9)  # the same frames, the same metrics
    with pytest.raises(ValueError, match=r"labelled in class table 'sidewalk7'.*model predicts 'camvid11'"):
        evaluate_bag(bag, mode="offline")  # the embedded CamVid-11 model: refused before any frame
    with pytest.raises(BagError):
        evaluate_bag(tmp_path / "missing", mode="offline", model=tuned["int8"])
