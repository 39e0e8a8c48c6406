"""config/nav2_*.yaml: one Nav2 layer example per class table the node can publish, each agreeing with it.

The layer ignores the pixels of a LabelInfo name that no class type lists ("CRITICAL ERROR ... will be
ignored"), so every name a shipped class map (and the model's own table) can publish, ``unknown``
included, must have exactly one class type in its example.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from attendseg_ros.data import load_class_table
from attendseg_ros.interop import UNKNOWN_NAME, load_class_map
from attendseg_ros.interop.class_map import CLASS_MAP_DIR
from attendseg_ros.interop.label_info import label_info_for
from attendseg_ros.resources import config_dir, config_file
from attendseg_ros.ros import parameters
from attendseg_ros.ros.segmentation_node import NODE_NAME, output_prefix

MODEL_CLASSES = load_class_table("camvid11")  # the embedded model's table
SHIPPED_MAPS = sorted(p.stem for p in (config_dir() / CLASS_MAP_DIR).glob("*.yaml"))
EXAMPLES = {"": "nav2_camvid11.yaml", **{name: f"nav2_{name}.yaml" for name in SHIPPED_MAPS}}


def _example(class_map: str) -> dict[str, Any]:
    return yaml.safe_load(config_file(EXAMPLES[class_map]).read_text())


def _source(config: dict[str, Any]) -> dict[str, Any]:
    layer = config["local_costmap"]["local_costmap"]["ros__parameters"]["semantic_segmentation_layer"]
    return layer[layer["observation_sources"]]


def _cost_of(config: dict[str, Any]) -> dict[str, int]:
    source = _source(config)
    costs: dict[str, int] = {}
    for class_type in source["class_types"]:
        for name in source[class_type]["classes"]:
            assert name not in costs, f"{name} is in two class types"
            costs[name] = source[class_type]["base_cost"]
    return costs


def test_every_shipped_class_map_has_an_example() -> None:
    assert SHIPPED_MAPS == ["autoware", "navigation"]  # a new map needs its nav2_<name>.yaml here
    for name in EXAMPLES.values():
        assert config_file(name).is_file(), name
    assert sorted(p.name for p in config_dir().glob("nav2_*.yaml")) == sorted(EXAMPLES.values())


@pytest.mark.parametrize("class_map", list(EXAMPLES), ids=[n or "model" for n in EXAMPLES])
def test_every_name_the_node_publishes_has_a_class_type(class_map: str) -> None:
    config = _example(class_map)
    node = config[f"/**/{NODE_NAME}"]["ros__parameters"]
    assert node["class_map"] == class_map
    assert node["min_confidence"] > 0  # unknown pixels occur, so "unknown" is in label_info
    mapped = load_class_map(class_map, MODEL_CLASSES)
    content = label_info_for(mapped, node["min_confidence"])
    published = {name for _, name in content.classes}
    costs = _cost_of(config)
    assert published == set(costs), (sorted(published - set(costs)), sorted(set(costs) - published))
    assert costs[UNKNOWN_NAME] == 255  # nav2 NO_INFORMATION
    assert mapped.drivable and all(costs[name] == 0 for name in mapped.drivable)  # the road is free


@pytest.mark.parametrize("class_map", list(EXAMPLES), ids=[n or "model" for n in EXAMPLES])
def test_topics_are_the_nodes_outputs_and_settings_fit_the_layer(class_map: str) -> None:
    config = _example(class_map)
    node = config[f"/**/{NODE_NAME}"]["ros__parameters"]
    layer = config["local_costmap"]["local_costmap"]["ros__parameters"]["semantic_segmentation_layer"]
    source = _source(config)
    prefix = output_prefix(node["camera_topics"][0])
    assert source["segmentation_topic"] == f"{prefix}/labels"
    assert source["confidence_topic"] == f"{prefix}/confidence"
    assert source["labels_topic"] == f"{prefix}/label_info"
    assert node["output_resolution"] == "input"  # one label per point of the registered cloud
    assert source["use_cost_selection"] is False and layer["combination_method"] == 1
    assert layer["use_approximate_time_sync"] is True and layer["sensor_data_depth"] == 10
    assert config["/**/lifecycle_manager_perception"]["ros__parameters"]["node_names"] == [NODE_NAME]
    for name, value in node.items():  # the node section uses the node's parameters, with valid values
        assert name in parameters.SPEC_BY_NAME, name
        assert parameters.validate(name, value) is None, name
    assert parameters.wants_bond(node["autostart"], node["bond_timeout"])
