"""Every command's --help prints and exits 0 (argparse formats each help string only then)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import attendseg_ros.cli

COMMANDS = sorted(
    name for _, name, _ in pkgutil.iter_modules(attendseg_ros.cli.__path__)
    if hasattr(importlib.import_module(f"attendseg_ros.cli.{name}"), "main")
)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_prints(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    main = importlib.import_module(f"attendseg_ros.cli.{name}").main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out
