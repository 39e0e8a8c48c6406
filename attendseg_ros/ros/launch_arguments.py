"""What the launch files share: node parameters as launch arguments, and unknown arguments refused.

Launch arguments are text; :func:`parameter_value` turns the text of a node parameter's launch
argument into the parameter's type (from its descriptor in :mod:`attendseg_ros.ros.parameters`),
with an error naming the argument. ``ros2 launch`` accepts any ``name:=value`` and silently ignores
names the file does not declare (``class_mapp:=navigation`` ran with the default class map):
:func:`check_command_line` refuses them when the file was started directly with ``ros2 launch``. An
including launch file passes its own arguments on the command line too, so a file included by
another checks nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from rcl_interfaces.msg import ParameterType

from .parameters import SPEC_BY_NAME

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_list(text: str, name: str, items: str = "names") -> list[str]:
    """``"[a, b]"`` (a YAML list) or ``"a,b"`` -> ``["a", "b"]``; ``""`` -> ``[]``; ValueError naming ``name``."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = None
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ValueError(f"{name} must be a list of {items}, e.g. '[a, b]', got {text!r}")
        return value
    return [item.strip() for item in text.split(",") if item.strip()]


def parameter_value(name: str, text: str) -> Any:
    """The launch argument of node parameter ``name`` as that parameter's type; ValueError naming it."""
    kind = SPEC_BY_NAME[name].type
    text = text.strip()
    if kind == ParameterType.PARAMETER_BOOL:
        if text.lower() not in (*_TRUE, *_FALSE):
            raise ValueError(f"launch argument {name}: {text!r} is not true or false")
        return text.lower() in _TRUE
    if kind == ParameterType.PARAMETER_INTEGER:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"launch argument {name}: {text!r} is not an integer") from None
    if kind == ParameterType.PARAMETER_DOUBLE:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"launch argument {name}: {text!r} is not a number") from None
    if kind == ParameterType.PARAMETER_STRING_ARRAY:
        return parse_list(text, name, "topic names" if name == "camera_topics" else "names")
    return text


def started_directly(launch_file: str, argv: Sequence[str] | None = None) -> bool:
    """Whether this process is ``ros2 launch <package> <launch_file>`` (not another file including it)."""
    words = sys.argv if argv is None else argv
    return any(Path(word).name == launch_file for word in words[1:] if ":=" not in word)


def unknown_arguments(given: Iterable[str], declared: Iterable[str]) -> list[str]:
    """The names of ``name:=value`` items in ``given`` that are not ``declared``."""
    known = set(declared)
    names = [item.split(":=", 1)[0] for item in given if ":=" in item]
    return [name for name in names if name not in known]


def check_command_line(launch_file: str, declared: Iterable[str], given: Iterable[str],
                       argv: Sequence[str] | None = None) -> None:
    """ValueError naming every launch argument in ``given`` that ``launch_file`` does not declare.

    Only when the file was started directly (:func:`started_directly`); ``given`` is the launch
    context's ``argv`` (the ``name:=value`` items of the command line).
    """
    declared = sorted(declared)
    unknown = unknown_arguments(given, declared)
    if unknown and started_directly(launch_file, argv):
        raise ValueError(
            f"{launch_file} has no launch argument {', '.join(unknown)}; its arguments are {', '.join(declared)} "
            f"(ros2 launch attendseg_ros {launch_file} --show-args); other node parameters go in params_file"
        )
