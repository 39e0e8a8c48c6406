"""The navigation parameters declared on a real node: descriptors enforce the ranges, validation names the cause."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter

from attendseg_ros.data import load_class_table
from attendseg_ros.interop.compression import JPEG_QUALITY, PNG_LEVEL
from attendseg_ros.ros import parameters
from attendseg_ros.ros.navigation_parameters import NAVIGATION_SPECS, validate, wants_bond


@pytest.fixture
def node() -> Iterator:
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("navigation_parameters_test", context=context)
    for spec in NAVIGATION_SPECS:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_names_do_not_clash_with_the_nodes_parameters() -> None:
    assert not {s.name for s in NAVIGATION_SPECS} & {s.name for s in parameters.SPECS}


def test_defaults_and_ranges_are_enforced(node) -> None:
    assert node.get_parameter("min_confidence").value == 0.0
    assert node.get_parameter("compressed_png_level").value == PNG_LEVEL
    assert node.get_parameter("compressed_jpeg_quality").value == JPEG_QUALITY
    assert node.set_parameters([Parameter("min_confidence", value=0.4)])[0].successful
    for name, value in (("min_confidence", 1.5), ("compressed_png_level", 10), ("compressed_jpeg_quality", 0)):
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful, name
    result = node.set_parameters([Parameter("class_map", value="navigation")])[0]
    assert not result.successful and "read-only" in result.reason  # fixed once declared


def test_class_map_validation_names_the_problem() -> None:
    camvid = load_class_table("camvid11")
    assert validate("class_map", "navigation", camvid) is None
    assert validate("class_map", "", camvid) is None
    assert "no class map named 'nav'" in validate("class_map", "nav", camvid)
    reason = validate("class_map", "{classes: [{name: road, from: [Rd]}]}", camvid)
    assert reason is not None and "unknown source classes ['Rd']" in reason
    assert validate("class_map", "anything", None) is None  # model not loaded yet: checked at configure


def test_bond_only_for_a_managed_node() -> None:
    assert wants_bond(autostart=False, bond_timeout=4.0)
    assert not wants_bond(autostart=True, bond_timeout=4.0)
    assert not wants_bond(autostart=False, bond_timeout=0.0)
