"""Shared fixtures: the CamVid folder, a small random-weight model in every format, ROS env."""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test/support.py: test-only helpers
CAMVID = Path(os.environ.get("CAMVID_DIR", REPO.parent / "shared" / "camvid"))

# Every test run talks DDS on its own domain, local to this machine, so that parallel runs
# (other sessions, CI) never see each other's topics: the caller's ROS_DOMAIN_ID confines every
# test, the launch tests included; without one, a random domain (and the launch tests one each).
DOMAIN_FROM_CALLER = bool(os.environ.get("ROS_DOMAIN_ID"))
if not DOMAIN_FROM_CALLER:
    os.environ["ROS_DOMAIN_ID"] = str(random.Random(os.getpid()).randint(1, 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "attendseg_ros_test_logs"))
# Images of 640x480 and up need the large-data Fast DDS profile (ENVIRONMENT.md). Fast DDS reads it
# once per process, at the first participant, so it is set here before any test creates one.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_large_data.xml"))


@pytest.fixture(scope="session")
def caller_domain_id() -> int | None:
    """The ROS_DOMAIN_ID the caller set (every test then stays in it), or None (the suite chose one)."""
    return int(os.environ["ROS_DOMAIN_ID"]) if DOMAIN_FROM_CALLER else None


@pytest.fixture(scope="session")
def camvid_dir() -> Path:
    if not (CAMVID / "val").is_dir():
        pytest.fail(f"CamVid not found at {CAMVID} (set CAMVID_DIR); the tests need ../shared/camvid")
    return CAMVID


@pytest.fixture(scope="session")
def random_model(tmp_path_factory: pytest.TempPathFactory, camvid_dir: Path) -> dict[str, Path]:
    """An 11-class AttendSeg with random weights (seed 0) at input 96x128, in every format.

    Keys: ``safetensors``, ``onnx_fp32``, ``onnx_int8``; each file has its ``.json`` sidecar.
    """
    import torch

    from attendseg_ros.data import load_class_table
    from attendseg_ros.model import create_model
    from attendseg_ros.modelfiles.checkpoint import ModelInfo, save_model
    from attendseg_ros.modelfiles.export import export_onnx, quantize_int8

    torch.manual_seed(0)
    model = create_model("attendseg_camvid11").eval()
    info = ModelInfo(config=model.config, classes=load_class_table("camvid11"), input_size=(96, 128), name="random")
    out = tmp_path_factory.mktemp("random_model")
    weights = save_model(out / "random.safetensors", model, info)
    fp32 = export_onnx(model, info, out / "random.fp32.onnx")
    int8, _ = quantize_int8(fp32, out / "random.int8.onnx", info, camvid_dir, count=4)
    return {"safetensors": weights, "onnx_fp32": fp32, "onnx_int8": int8}


@pytest.fixture(scope="session")
def tiny_camvid(tmp_path_factory: pytest.TempPathFactory, camvid_dir: Path) -> Path:
    """Four CamVid val frames as both the train and val split of a temporary SegNet folder."""
    root = tmp_path_factory.mktemp("tiny") / "camvid"
    names = sorted(p.name for p in (camvid_dir / "val").glob("*.png"))[:4]
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for name in names:
            shutil.copy(camvid_dir / "val" / name, root / split / name)
            shutil.copy(camvid_dir / "valannot" / name, root / f"{split}annot" / name)
    return root


@pytest.fixture(scope="session")
def folder_dataset(tmp_path_factory: pytest.TempPathFactory, camvid_dir: Path) -> Path:
    """A folder-layout dataset (7 classes) of 3 train, 2 val and 2 test frames (dataset_builders.py). Read only."""
    from dataset_builders import build_folder

    return build_folder(tmp_path_factory.mktemp("folder") / "sidewalk7", camvid_dir)


@pytest.fixture(scope="session")
def cityscapes_dataset(tmp_path_factory: pytest.TempPathFactory, camvid_dir: Path) -> Path:
    """A Cityscapes-layout dataset of 3 train, 2 val and 2 test frames (dataset_builders.py). Read only."""
    from dataset_builders import build_cityscapes

    return build_cityscapes(tmp_path_factory.mktemp("cityscapes") / "cityscapes", camvid_dir)
