"""The dataset interface: every layout through one reader registry, classes.yaml, bad input named by file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from dataset_builders import (
    CAMVID_TO_CITYSCAPES_ID,
    SIDEWALK7,
    camvid_frames,
    copy_dataset,
    sidewalk_lut,
)

from attendseg_ros.data import DatasetError, Normalization, dataset_splits, detect_layout, load_classes_yaml
from attendseg_ros.data.dataset import LAYOUTS, layout_reader, open_dataset


def test_every_layout_is_registered_and_detected(folder_dataset: Path, cityscapes_dataset: Path,
                                                 tiny_camvid: Path, tmp_path: Path) -> None:
    assert set(LAYOUTS) == {"folder", "cityscapes", "camvid"}
    for root, layout in ((folder_dataset, "folder"), (cityscapes_dataset, "cityscapes"), (tiny_camvid, "camvid")):
        assert detect_layout(root) == layout
        assert layout_reader(layout).layout == layout
        assert open_dataset(root, "train").layout == layout
    assert dataset_splits(folder_dataset) == ("train", "val", "test")
    with pytest.raises(DatasetError, match="no known dataset layout"):
        detect_layout(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset layout 'voc'"):
        open_dataset(folder_dataset, layout="voc")
    with pytest.raises(DatasetError, match=r"leftImg8bit.*does not exist"):  # a forced layout that does not fit
        open_dataset(folder_dataset, "train", layout="cityscapes")


def test_folder_layout(folder_dataset: Path, camvid_dir: Path) -> None:
    train = open_dataset(folder_dataset, "train")
    assert train.classes.names == SIDEWALK7 and train.classes.void_id == 255
    assert train.classes.drivable == ("road", "sidewalk")
    assert train.normalization == Normalization((0.4, 0.4, 0.4), (0.25, 0.25, 0.25))
    assert len(train) == 3 and {s.image.suffix for s in train.samples} == {".png", ".jpg"}
    stem, _, camvid_labels = camvid_frames(camvid_dir, 7)[0]
    image, labels = train[[s.image.stem for s in train.samples].index(stem)]
    assert image.shape == (360, 480, 3) and labels.dtype == np.uint8
    assert np.array_equal(labels, sidewalk_lut()[camvid_labels])  # ids as written, void -> 255
    assert train.sequence_of(train.samples[0]) == stem.split("_")[0]
    assert len(open_dataset(folder_dataset, "test")) == 2


def test_cityscapes_maps_label_ids_to_the_19_classes(cityscapes_dataset: Path, camvid_dir: Path,
                                                     tmp_path: Path) -> None:
    train = open_dataset(cityscapes_dataset, "train")
    assert train.classes.num_classes == 19 and train.classes.names[:2] == ("road", "sidewalk")
    assert train.classes.colors[0] == (128, 64, 128) and train.classes.void_id == 255
    assert {train.sequence_of(s) for s in train.samples} == {"aachen", "bremen"}
    _, _, camvid_labels = camvid_frames(camvid_dir, 7)[0]
    _, labels = train[0]
    names = train.classes.names
    camvid = ("sky", "building", "pole", "road", "sidewalk", "vegetation", "traffic sign", "fence", "car", "person",
              "bicycle")
    expected = np.full(256, 255, np.uint8)
    expected[: len(camvid)] = [names.index(n) for n in camvid]
    assert np.array_equal(labels, expected[camvid_labels])  # void (labelId 0) is ignored
    assert len(open_dataset(cityscapes_dataset, "train", sequences=("aachen",))) == 2

    # labelTrainIds masks are read as they are (0-18, 255); an id beyond them is named
    root = copy_dataset(cityscapes_dataset, tmp_path / "trainids")
    for mask in (root / "gtFine").rglob("*_labelIds.png"):
        train_ids = expected[np.vectorize({v: k for k, v in CAMVID_TO_CITYSCAPES_ID.items()}.get)(
            cv2.imread(str(mask), cv2.IMREAD_UNCHANGED))]
        cv2.imwrite(str(mask).replace("_labelIds", "_labelTrainIds"), train_ids)
        mask.unlink()
    assert np.array_equal(open_dataset(root, "train")[0][1], labels)
    broken = next((root / "gtFine" / "val").rglob("*.png"))
    cv2.imwrite(str(broken), np.full((360, 480), 19, np.uint8))
    with pytest.raises(DatasetError, match=rf"{broken.name}.*outside the class table: 19"):
        open_dataset(root, "val").load_all()


def _write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


GOOD = {"classes": [{"name": "road", "color": [1, 2, 3]}, {"name": "sky", "color": [4, 5, 6]}]}


def test_classes_yaml(tmp_path: Path) -> None:
    table, normalization = load_classes_yaml(_write_yaml(tmp_path / "classes.yaml", GOOD))
    assert table.names == ("road", "sky") and table.void_id == 255 and normalization is None
    assert table.name == tmp_path.name and table.palette()[1].tolist() == [4, 5, 6]
    table, normalization = load_classes_yaml(_write_yaml(
        tmp_path / "classes.yaml", {**GOOD, "ignore_index": 2, "drivable": ["road"], "mean": [0.5] * 3,
                                    "std": [0.2] * 3, "name": "yard"}))
    assert (table.void_id, table.drivable, table.name) == (2, ("road",), "yard")
    assert normalization == Normalization((0.5,) * 3, (0.2,) * 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "class table not found"),
        ("classes: [unclosed", "cannot read the class table"),
        ({"ignore_index": 255}, "'classes' must be a non-empty list"),
        ({"classes": [{"name": "road"}]}, r"classes\[0\].color: expected \[r, g, b\]"),
        ({"classes": [{"name": "a", "color": [1, 2, 3]}, {"name": "a", "color": [1, 2, 3]}]}, "appears twice"),
        ({"classes": [{"name": "a", "color": [1, 2, 300]}]}, r"classes\[0\].color"),
        ({**GOOD, "ignore_index": 1}, "'ignore_index' 1 is a class id"),
        ({**GOOD, "ignore_index": 256}, "'ignore_index' must be an integer"),
        ({**GOOD, "drivable": ["lava"]}, r"'drivable' names \['lava'\]"),
        ({**GOOD, "mean": [0.5, 0.5, 0.5]}, "give both 'mean' and 'std'"),
        ({**GOOD, "mean": [120, 110, 100], "std": [60, 60, 60]}, "'mean' is in fractions of 255"),
        ({**GOOD, "ignore_idx": 255}, r"unknown field\(s\) \['ignore_idx'\]"),
    ],
)
def test_malformed_classes_yaml_names_file_and_field(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "classes.yaml"
    if content is not None:
        _write_yaml(path, content)
    with pytest.raises(DatasetError, match=message) as error:
        load_classes_yaml(path)
    assert str(path) in str(error.value)


def _first_mask(root: Path, split: str = "train") -> Path:
    return sorted((root / "masks" / split).iterdir())[0]


def _first_image(root: Path, split: str = "train") -> Path:
    return sorted((root / "images" / split).iterdir())[0]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated image", r"cannot read image .*{image}"),
        ("truncated mask", r"cannot read mask .*{mask}"),
        ("mask of another size", r"mask .*{mask} is 240x180 but image .*{image} is 480x360"),
        ("ids outside the table", r"mask .*{mask} holds ids outside the class table: 7 \(1 px\), 200 \(2 px\)"),
        ("colour mask", r"mask .*{mask} has 3 channels"),
        ("image without mask", r"have no mask: .*{image}"),
        ("empty split", r"no labelled train frames"),
    ],
)
def test_bad_input_is_named_before_anything_trains(folder_dataset: Path, tmp_path: Path, damage: str,
                                                   message: str) -> None:
    root = copy_dataset(folder_dataset, tmp_path / "broken")
    image, mask = _first_image(root), _first_mask(root)
    if damage == "truncated image":
        image.write_bytes(image.read_bytes()[:200])
    elif damage == "truncated mask":
        mask.write_bytes(mask.read_bytes()[:100])
    elif damage == "mask of another size":
        cv2.imwrite(str(mask), np.zeros((180, 240), np.uint8))
    elif damage == "ids outside the table":
        labels = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
        labels[0, :3] = (7, 200, 200)
        cv2.imwrite(str(mask), labels)
    elif damage == "colour mask":
        cv2.imwrite(str(mask), np.zeros((360, 480, 3), np.uint8))
    elif damage == "image without mask":
        mask.unlink()
    else:
        for path in [*(root / "images" / "train").iterdir(), *(root / "masks" / "train").iterdir()]:
            path.unlink()
    with pytest.raises(DatasetError, match=message.format(image=image.name, mask=mask.name)):
        open_dataset(root, "train").load_all((64, 96))
