"""The shared argument types: argparse refuses a bad value and names the argument."""

from __future__ import annotations

import argparse

import pytest

from attendseg_ros.cli.arguments import non_negative_int, positive_float, positive_int


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cmd")
    parser.add_argument("--batch-size", type=positive_int, default=1)
    parser.add_argument("--frames", type=non_negative_int, default=0)
    parser.add_argument("--rate", type=positive_float, default=1.0)
    return parser


@pytest.mark.parametrize(("argv", "expected"), [
    (["--batch-size", "3"], ("batch_size", 3)),
    (["--frames", "0"], ("frames", 0)),
    (["--rate", "0.5"], ("rate", 0.5)),
])
def test_valid_values_pass(argv: list[str], expected: tuple[str, object]) -> None:
    assert getattr(_parser().parse_args(argv), expected[0]) == expected[1]


@pytest.mark.parametrize(("argv", "argument"), [
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--batch-size", "two"], "--batch-size"),
    (["--frames", "-1"], "--frames"),
    (["--rate", "0"], "--rate"),
    (["--rate", "nan"], "--rate"),
])
def test_bad_values_name_the_argument(argv: list[str], argument: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert f"argument {argument}" in capsys.readouterr().err
