"""config/nav2_semantic_segmentation_layer.yaml agrees with what the node publishes."""

from __future__ import annotations

import yaml

from attendseg_ros.data import load_class_table
from attendseg_ros.interop import identity_class_map, label_info_for
from attendseg_ros.resources import config_file
from attendseg_ros.ros.segmentation_node import NODE_NAME, output_prefix

CONFIG = yaml.safe_load(config_file("nav2_semantic_segmentation_layer.yaml").read_text())
LAYER = CONFIG["local_costmap"]["local_costmap"]["ros__parameters"]["semantic_segmentation_layer"]
NODE = CONFIG[NODE_NAME]["ros__parameters"]


def _cost_of() -> dict[str, int]:
    source = LAYER[LAYER["observation_sources"]]
    costs: dict[str, int] = {}
    for class_type in source["class_types"]:
        for name in source[class_type]["classes"]:
            assert name not in costs, f"{name} is in two class types"
            costs[name] = source[class_type]["base_cost"]
    return costs


def test_every_label_info_name_has_a_cost() -> None:
    # The layer logs an error for a LabelInfo name missing from its class types and ignores those pixels.
    content = label_info_for(identity_class_map(load_class_table("camvid11")), NODE["min_confidence"])
    costs = _cost_of()
    assert {name for _, name in content.classes} == set(costs)
    assert costs["Road"] == 0 and costs["Car"] == costs["Pedestrian"] == 254
    assert costs["unknown"] == 255  # nav2 NO_INFORMATION


def test_topics_are_the_nodes_outputs_and_settings_fit_the_layer() -> None:
    prefix = output_prefix(NODE["camera_topics"][0])
    source = LAYER[LAYER["observation_sources"]]
    assert source["segmentation_topic"] == f"{prefix}/labels"
    assert source["confidence_topic"] == f"{prefix}/confidence"
    assert source["labels_topic"] == f"{prefix}/label_info"
    assert NODE["output_resolution"] == "input"  # one label per point of the registered cloud
    assert source["use_cost_selection"] is False and LAYER["combination_method"] == 1
    assert CONFIG["lifecycle_manager_perception"]["ros__parameters"]["node_names"] == [NODE_NAME]


def test_the_node_section_uses_the_nodes_parameters() -> None:
    from attendseg_ros.ros import parameters

    for name, value in NODE.items():
        assert name in parameters.SPEC_BY_NAME, name
        assert parameters.validate(name, value) is None, name
    assert parameters.wants_bond(NODE["autostart"], NODE["bond_timeout"])
