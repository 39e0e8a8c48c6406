"""Locate files shipped with the package: config/ (class tables, YAML, DDS profile) and weights/."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_NAME = "attendseg_ros"
_PACKAGE_DIR = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The config/ folder: the source tree, the venv's share dir (CMake install rules), or the ament share dir."""
    candidates = [
        _PACKAGE_DIR.parent / "config",  # source checkout / editable install
        Path(sys.prefix) / "share" / PACKAGE_NAME / "config",  # venv (the Makefile runs CMake's install rules)
    ]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE_NAME)) / "config")
    except Exception:  # noqa: BLE001 - ament index absent or package not registered: not an error here
        pass
    for candidate in candidates:
        if (candidate / "camvid11.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"attendseg_ros config/ not found (looked in {', '.join(str(c) for c in candidates)}); reinstall the package"
    )


def config_file(name: str) -> Path:
    path = config_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return path


def weights_dir() -> Path:
    """The embedded default model's folder (package data)."""
    return _PACKAGE_DIR / "weights"
