"""Argument types shared by the commands: a bad value is refused by argparse, naming the argument."""

from __future__ import annotations

import argparse


def _number(text: str, kind: type, minimum: float, what: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum or value != value:  # NaN compares false
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1 (a batch size, a frame count, an image side)."""
    return int(_number(text, int, 1, "an integer of at least 1"))


def non_negative_int(text: str) -> int:
    """An integer ≥ 0 (0 usually meaning 'the default' or 'all')."""
    return int(_number(text, int, 0, "an integer of at least 0"))


def positive_float(text: str) -> float:
    """A number > 0."""
    value = float(_number(text, float, 0.0, "a number greater than 0"))
    if value == 0.0:
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text!r}")
    return value
