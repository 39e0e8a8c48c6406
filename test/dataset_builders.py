"""Small datasets in every layout, built in a temporary folder from a few CamVid frames (tests only).

The folder and Cityscapes datasets use other class tables than CamVid's: the folder one has the 7
classes of a sidewalk robot (CamVid's 11 merged as ``config/class_maps/navigation.yaml`` merges them,
void -> 255), the Cityscapes one its 19 classes through labelIds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml

from attendseg_ros.data import load_class_table
from attendseg_ros.interop.class_map import load_class_map

SIDEWALK7 = ("road", "sidewalk", "obstacle", "vehicle", "person", "vegetation", "sky")
# CamVid-11 id -> Cityscapes labelId (void -> 0, "unlabeled")
CAMVID_TO_CITYSCAPES_ID = {0: 23, 1: 11, 2: 17, 3: 7, 4: 8, 5: 21, 6: 20, 7: 13, 8: 26, 9: 24, 10: 33, 11: 0}
SPLIT_FRAMES = {"train": 3, "val": 2, "test": 2}


def camvid_frames(camvid_dir: Path, count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``count`` val frames spread over CamVid val: (stem, rgb, labels)."""
    from attendseg_ros.data import CamVid

    dataset = CamVid(camvid_dir, "val")
    picks = np.linspace(0, len(dataset) - 1, count).round().astype(int)
    return [(dataset.samples[i].image.stem, *dataset[int(i)]) for i in picks]


def sidewalk_lut() -> np.ndarray:
    return load_class_map("navigation", load_class_table("camvid11")).lut


def build_folder(root: Path, camvid_dir: Path, splits: dict[str, int] = SPLIT_FRAMES) -> Path:
    """The folder layout: 7 classes, ignore 255, mean/std given, JPEG and PNG images."""
    frames = camvid_frames(camvid_dir, sum(splits.values()))
    lut = sidewalk_lut()
    table = {
        "name": "sidewalk7",
        "ignore_index": 255,
        "classes": [{"name": n, "color": [30 * i, 255 - 30 * i, 100]} for i, n in enumerate(SIDEWALK7)],
        "drivable": ["road", "sidewalk"],
        "mean": [0.4, 0.4, 0.4],
        "std": [0.25, 0.25, 0.25],
    }
    root.mkdir(parents=True)
    (root / "classes.yaml").write_text(yaml.safe_dump(table, sort_keys=False))
    index = 0
    for split, count in splits.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "masks" / split).mkdir(parents=True)
        for stem, rgb, labels in frames[index : index + count]:
            suffix = ".jpg" if index % 2 else ".png"
            cv2.imwrite(str(root / "images" / split / f"{stem}{suffix}"), rgb[..., ::-1])
            cv2.imwrite(str(root / "masks" / split / f"{stem}.png"), lut[labels])
            index += 1
    return root


def build_cityscapes(root: Path, camvid_dir: Path, splits: dict[str, int] = SPLIT_FRAMES) -> Path:
    """The Cityscapes layout with labelIds masks (CamVid classes as their Cityscapes labelIds)."""
    frames = camvid_frames(camvid_dir, sum(splits.values()))
    to_id = np.zeros(256, np.uint8)
    for camvid, cityscapes in CAMVID_TO_CITYSCAPES_ID.items():
        to_id[camvid] = cityscapes
    index = 0
    for split, count in splits.items():
        for number, (_stem, rgb, labels) in enumerate(frames[index : index + count]):
            city = "aachen" if number % 2 == 0 else "bremen"
            base = f"{city}_{number:06d}_000019"
            (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
            (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "leftImg8bit" / split / city / f"{base}_leftImg8bit.png"), rgb[..., ::-1])
            cv2.imwrite(str(root / "gtFine" / split / city / f"{base}_gtFine_labelIds.png"), to_id[labels])
            index += 1
    return root


def copy_dataset(source: Path, target: Path) -> Path:
    """A copy to break (a test never modifies the shared fixtures)."""
    shutil.copytree(source, target)
    return target


def tree_digest(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to show that nothing was modified)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
