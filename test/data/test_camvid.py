"""CamVid readers (both layouts), class tables and errors naming the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from attendseg_ros.data import CamVid, DatasetError, detect_layout, load_class_table


def test_segnet_layout(camvid_dir: Path) -> None:
    val = CamVid(camvid_dir, "val")
    assert (val.layout, val.variant) == ("camvid", "segnet11") and len(val) == 101
    image, labels = val[0]
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    assert labels.shape == (360, 480) and labels.dtype == np.uint8
    assert labels.max() <= 11 and val.classes.void_id == 11
    assert val.classes.names[3] == "Road"


def test_class_table_and_palette() -> None:
    table = load_class_table("camvid11")
    assert table.num_classes == 11 and table.ids(["Road"]) == [3]
    palette = table.palette()
    assert palette.shape == (256, 3) and tuple(palette[3]) == (128, 64, 128) and tuple(palette[11]) == (0, 0, 0)
    with pytest.raises(ValueError, match="unknown class names"):
        table.ids(["Lava"])
    assert load_class_table("camvid32").num_classes == 31


def _write_camvid32(root: Path) -> np.ndarray:
    (root / "val").mkdir(parents=True)
    (root / "val_labels").mkdir()
    (root / "label_colors.txt").write_text("128 64 128\tRoad\n128 128 128\tSky\n0 0 0\tVoid\n")
    image = np.full((8, 10, 3), 50, np.uint8)
    colors = np.zeros((8, 10, 3), np.uint8)
    colors[:4] = (128, 128, 128)  # Sky (id 1)
    colors[4:] = (128, 64, 128)  # Road (id 0)
    colors[7, 9] = (1, 2, 3)  # unknown colour -> void
    cv2.imwrite(str(root / "val" / "f001.png"), image)
    cv2.imwrite(str(root / "val_labels" / "f001_L.png"), colors[..., ::-1])
    expected = np.zeros((8, 10), np.uint8)
    expected[:4] = 1
    expected[7, 9] = 2
    return expected


def test_camvid32_layout_decodes_colours(tmp_path: Path) -> None:
    expected = _write_camvid32(tmp_path)
    assert detect_layout(tmp_path) == "camvid"
    dataset = CamVid(tmp_path, "val")
    assert dataset.variant == "camvid32"
    assert dataset.classes.names == ("Road", "Sky") and dataset.classes.void_id == 2
    assert np.array_equal(dataset[0][1], expected)


def test_mismatched_pair_names_the_files(tmp_path: Path) -> None:
    _write_camvid32(tmp_path)
    cv2.imwrite(str(tmp_path / "val_labels" / "f001_L.png"), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"f001_L.png.*f001.png"):
        CamVid(tmp_path, "val")[0]


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    _write_camvid32(tmp_path)
    (tmp_path / "val" / "f001.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"f001.png"):
        CamVid(tmp_path, "val")[0]
    with pytest.raises(DatasetError, match="neither"):
        CamVid(tmp_path / "val", "val")


def test_packed_copy_reads_as_the_original(tiny_camvid: Path, tmp_path: Path) -> None:
    from attendseg_ros.data import pack_segnet

    summary = pack_segnet(tiny_camvid, tmp_path / "packed", splits=("val",), quality=95)
    original, packed = CamVid(tiny_camvid, "val"), CamVid(tmp_path / "packed", "val")
    assert summary["frames"] == len(packed) == len(original) == 4
    assert all(s.image.suffix == ".webp" for s in packed.samples)
    assert summary["psnr_db"] > 35
    for (image_a, labels_a), (image_b, labels_b) in zip(
        (original[i] for i in range(4)), (packed[i] for i in range(4)), strict=True
    ):
        assert np.array_equal(labels_a, labels_b)
        assert np.abs(image_a.astype(int) - image_b.astype(int)).mean() < 3
