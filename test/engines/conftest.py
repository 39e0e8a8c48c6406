"""Fixtures for the engine tests: real CamVid val frames and the trained default model (when present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attendseg_ros.data.camvid import CamVid
from attendseg_ros.engines import EngineError, default_model_path


@pytest.fixture(scope="session")
def val_frames(camvid_dir: Path) -> list[np.ndarray]:
    """Six CamVid val frames (360x480 RGB uint8) spread over the split."""
    dataset = CamVid(camvid_dir, "val")
    indices = np.linspace(0, len(dataset) - 1, 6).astype(int)
    return [dataset[int(i)][0] for i in indices]


@pytest.fixture(scope="session")
def trained_model() -> dict[str, Path]:
    """The embedded trained model files (``onnx_int8``, ``safetensors``); skips when not shipped yet."""
    try:
        return {"onnx_int8": default_model_path("onnx"), "safetensors": default_model_path("safetensors")}
    except EngineError as exc:
        pytest.skip(f"trained default model not present: {exc}")
