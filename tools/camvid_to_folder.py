"""CamVid drives relabelled through a class map, written as a folder-layout dataset (the fine-tuning measurement).

    python tools/camvid_to_folder.py --camvid ../shared/camvid --out /tmp/sidewalk7 \\
        --class-map navigation --split train=train:0016E5 --split test=train:0006R0 --split val=val

Each ``--split NAME=SOURCE_SPLIT[:SEQ,...]`` writes the frames of those CamVid drives to
``images/NAME`` (PNG, copied) and their labels, mapped by the class map, to ``masks/NAME``; CamVid's
void becomes the ignore index 255. ``classes.yaml`` is the class map's target table. The CamVid
folder is only read.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import yaml

from attendseg_ros.data.camvid import CamVid
from attendseg_ros.interop.class_map import load_class_map


def convert(camvid: Path, out: Path, class_map: str, splits: dict[str, tuple[str, tuple[str, ...]]]) -> dict:
    counts = {}
    mapping = None
    for name, (source, sequences) in splits.items():
        dataset = CamVid(camvid, source, sequences=sequences or None)
        mapping = mapping or load_class_map(class_map, dataset.classes)
        (out / "images" / name).mkdir(parents=True, exist_ok=True)
        (out / "masks" / name).mkdir(parents=True, exist_ok=True)
        for sample in dataset.samples:
            _, labels = dataset.load(sample)
            shutil.copyfile(sample.image, out / "images" / name / sample.image.name)
            cv2.imwrite(str(out / "masks" / name / f"{sample.image.stem}.png"), mapping.apply(labels))
        counts[name] = len(dataset)
    assert mapping is not None
    ordered = sorted(mapping.classes, key=lambda t: t.id)
    table = {
        "name": mapping.name,
        "ignore_index": 255,
        "classes": [{"name": t.name, "color": list(t.color)} for t in ordered],
        "drivable": list(mapping.drivable),
    }
    (out / "classes.yaml").write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
    return {"out": str(out), "frames": counts, "classes": [t.name for t in ordered]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--camvid", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--class-map", default="navigation")
    parser.add_argument("--split", action="append", required=True, metavar="NAME=SPLIT[:SEQ,...]")
    args = parser.parse_args()
    splits = {}
    for spec in args.split:
        name, _, source = spec.partition("=")
        split, _, sequences = source.partition(":")
        splits[name] = (split, tuple(s for s in sequences.split(",") if s))
    print(json.dumps(convert(args.camvid, args.out, args.class_map, splits), indent=2))


if __name__ == "__main__":
    main()
