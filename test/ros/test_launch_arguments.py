"""Launch arguments as node parameters, and unknown arguments refused (no launch, no ROS graph)."""

from __future__ import annotations

import re

import pytest

from attendseg_ros.ros.launch_arguments import check_command_line, parameter_value, parse_list, started_directly

ROS2_LAUNCH = ["/venv/bin/ros2", "launch", "attendseg_ros", "segment.launch.py", "class_mapp:=navigation"]


def test_launch_argument_text_becomes_the_parameter_type() -> None:
    assert parameter_value("min_confidence", "0.5") == 0.5
    assert parameter_value("input_timeout", " 2 ") == 2.0
    assert parameter_value("threads", "3") == 3
    assert parameter_value("use_compressed", "True") is True and parameter_value("autostart", "false") is False
    assert parameter_value("camera_topics", "[a/image_raw, b/image_raw]") == ["a/image_raw", "b/image_raw"]
    assert parameter_value("class_map", "navigation") == "navigation"
    for name, text, reason in (("min_confidence", "high", "not a number"), ("threads", "1.5", "not an integer"),
                               ("autostart", "maybe", "not true or false")):
        with pytest.raises(ValueError, match=f"launch argument {name}: '{text}' is {reason}"):
            parameter_value(name, text)
    with pytest.raises(ValueError, match="camera_topics must be a list of topic names"):
        parse_list("[1, 2]", "camera_topics", "topic names")


def test_unknown_arguments_are_refused_only_when_the_file_was_started_directly() -> None:
    declared = ["class_map", "namespace"]
    with pytest.raises(ValueError, match=re.escape("segment.launch.py has no launch argument class_mapp; its "
                                                   "arguments are class_map, namespace")):
        check_command_line("segment.launch.py", declared, ["class_mapp:=navigation"], ROS2_LAUNCH)
    check_command_line("segment.launch.py", declared, ["class_map:=navigation"], ROS2_LAUNCH)
    # included by evaluate.launch.py: the command line holds that file's arguments
    included = ["/venv/bin/ros2", "launch", "attendseg_ros", "evaluate.launch.py", "bag:=x"]
    assert not started_directly("segment.launch.py", included)
    check_command_line("segment.launch.py", declared, ["bag:=x"], included)
    assert started_directly("segment.launch.py", ["ros2", "launch", "/src/launch/segment.launch.py"])
