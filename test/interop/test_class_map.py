"""Class maps: parsing, validation errors naming the entry, the lookup table and the target table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from attendseg_ros.data import load_class_table
from attendseg_ros.interop import (
    UNKNOWN_ID,
    ClassMapError,
    class_map_path,
    identity_class_map,
    label_info_for,
    load_class_map,
    mark_unknown,
    parse_class_map,
)
from attendseg_ros.resources import config_dir
from attendseg_ros.runtime.drivable import DrivableConfig, drivable_mask

CAMVID = load_class_table("camvid11")
ALL = list(CAMVID.names)  # Sky Building Pole Road Pavement Tree SignSymbol Fence Car Pedestrian Bicyclist
ROAD, CAR = CAMVID.names.index("Road"), CAMVID.names.index("Car")


def small_map(**changes: object) -> dict:
    """A valid three-class map of the CamVid classes, with top-level ``changes``."""
    data: dict = {
        "name": "small",
        "classes": [
            {"name": "free", "from": ["Road", "Pavement"], "drivable": True},
            {"name": "lethal", "from": ["Car", "Pedestrian", "Bicyclist"], "color": [255, 0, 0]},
            {"name": "rest", "from": ["Building", "Pole", "Tree", "SignSymbol", "Fence"]},
        ],
        "unknown": ["Sky"],
    }
    data.update(changes)
    return data


def test_lookup_table_merges_renames_and_sends_classes_to_unknown() -> None:
    mapped = parse_class_map(small_map(), CAMVID)
    labels = np.array([[ROAD, CAR, 0], [4, 9, 11]], np.uint8)  # Road Car Sky / Pavement Pedestrian void
    assert np.array_equal(mapped.apply(labels), [[0, 1, UNKNOWN_ID], [0, 1, UNKNOWN_ID]])
    assert mapped.lut[UNKNOWN_ID] == UNKNOWN_ID and mapped.lut.dtype == np.uint8
    assert not mapped.lut.flags.writeable
    table = mapped.table()
    assert table.names == ("free", "lethal", "rest") and table.void_id == UNKNOWN_ID
    assert table.colors[0] == CAMVID.colors[ROAD]  # default: the first source class's colour
    assert table.colors[1] == (255, 0, 0)
    assert mapped.drivable == ("free",) and table.drivable == ("free",)
    assert mapped.maps_to_unknown


def test_explicit_ids_leave_gaps_that_the_table_fills_with_empty_names() -> None:
    data = small_map(classes=[
        {"name": "free", "id": 9, "from": ["Road", "Pavement"]},
        {"name": "lethal", "id": 2, "from": ["Car", "Pedestrian", "Bicyclist"]},
        {"name": "rest", "id": 0, "from": ["Building", "Pole", "Tree", "SignSymbol", "Fence"]},
    ])
    mapped = parse_class_map(data, CAMVID)
    assert mapped.names_by_id() == {0: "rest", 2: "lethal", 9: "free"}
    table = mapped.table()
    assert len(table.names) == 10 and table.names[9] == "free" and table.names[1] == ""
    assert mapped.apply(np.array([[ROAD, CAR]], np.uint8)).tolist() == [[9, 2]]


def test_identity_changes_nothing() -> None:
    identity = identity_class_map(CAMVID)
    labels = np.array([[0, 10, 11, UNKNOWN_ID]], np.uint8)
    assert identity.apply(labels) is labels
    assert np.array_equal(identity.lut, np.arange(256))
    assert identity.table() is CAMVID and identity.drivable == CAMVID.drivable
    assert identity.names_by_id() == dict(enumerate(CAMVID.names)) and not identity.maps_to_unknown
    assert load_class_map("", CAMVID).identity and load_class_map(None, CAMVID).identity


def test_labels_label_info_and_drivable_mask_follow_the_map_together() -> None:
    # A map that makes Pavement drivable alongside Road: the published labels, the LabelInfo that
    # names them and the drivable mask computed on them must all agree.
    mapped = parse_class_map(small_map(), CAMVID)
    labels = np.full((4, 6), CAR, np.uint8)
    labels[2:, :3], labels[2:, 3:] = ROAD, 4  # bottom-left Road, bottom-right Pavement
    confidence = np.full_like(labels, 255)
    confidence[0, 0] = 10  # one uncertain pixel
    published = mapped.apply(mark_unknown(labels, confidence, 0.5))
    info = label_info_for(mapped, 0.5).names_by_id()
    assert {info[i] for i in np.unique(published)} == {"free", "lethal", "unknown"}
    table = mapped.table()
    config = DrivableConfig(tuple(table.ids(list(mapped.drivable))), 0.0, 0.0, connected_to_bottom=False)
    mask = drivable_mask(published, config)
    assert np.array_equal(mask > 0, np.isin(labels, [ROAD, 4]))


def test_shipped_maps_load_for_camvid11() -> None:
    shipped = sorted(p.stem for p in (config_dir() / "class_maps").glob("*.yaml"))
    assert {"navigation", "autoware"} <= set(shipped)
    for name in shipped:
        mapped = load_class_map(name, CAMVID)
        assert not mapped.identity and mapped.lut[list(range(11))].max() < UNKNOWN_ID  # every class mapped
    navigation = load_class_map("navigation", CAMVID)
    assert navigation.names_by_id() == {
        0: "road", 1: "sidewalk", 2: "obstacle", 3: "vehicle", 4: "person", 5: "vegetation", 6: "sky",
    }
    assert navigation.drivable == ("road",)


def test_autoware_map_uses_the_fusion_nodes_ids() -> None:
    # autoware_image_projection_based_fusion: the label id is the index in this list
    order = ["UNKNOWN", "BUILDING", "WALL", "OBSTACLE", "TRAFFIC_LIGHT", "TRAFFIC_SIGN", "PERSON", "VEHICLE",
             "BIKE", "ROAD", "SIDEWALK", "ROAD_PAINT", "CURBSTONE", "CROSSWALK", "VEGETATION", "SKY"]
    autoware = load_class_map("autoware", CAMVID)
    for class_id, name in autoware.names_by_id().items():
        assert order[class_id] == name
    assert autoware.apply(np.array([[CAR, ROAD]], np.uint8)).tolist() == [[7, 9]]


def test_load_by_path_and_inline_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(small_map()))
    assert load_class_map(str(path), CAMVID).name == "small"
    inline = load_class_map(yaml.safe_dump(small_map(), default_flow_style=True).strip(), CAMVID)
    assert inline.names_by_id() == {0: "free", 1: "lethal", 2: "rest"}
    with pytest.raises(FileNotFoundError, match=r"no class map named 'nope'; shipped: \[.*'navigation'"):
        class_map_path("nope")
    with pytest.raises(ClassMapError, match="inline YAML"):
        load_class_map("{classes: [", CAMVID)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": []}, r"`classes` must be a non-empty list"),
        ({"colour": 1}, r"unknown keys \['colour'\]"),
        ({"source": "camvid32"}, r"written for class table 'camvid32', but the model's is 'camvid11'"),
        ({"unknown": []}, r"source classes \['Sky'\] are not mapped"),
        ({"unknown": ["Sky", "Road"]}, r"`unknown`: source class 'Road' is already mapped to 'free'"),
        ({"unknown": ["Sky", "Skyy"]}, r"unknown source classes \['Skyy'\]; the model's classes are \['Sky'"),
    ],
)
def test_top_level_errors_name_the_problem(change: dict, message: str) -> None:
    with pytest.raises(ClassMapError, match=message):
        parse_class_map(small_map(**change), CAMVID)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "", "from": ["Road"]}, r"classes\[0\]: `name` must be a non-empty string"),
        ({"name": "x", "from": ["Rd"]}, r"classes\[0\] \('x'\): `from`: unknown source classes \['Rd'\]"),
        ({"name": "x", "from": []}, r"classes\[0\] \('x'\): `from` must list at least one"),
        ({"name": "x", "from": "Road"}, r"classes\[0\] \('x'\): `from`: expected a list"),
        ({"name": "x", "from": ["Road"], "id": 255}, r"\('x'\): `id` must be an integer within \[0, 254\]"),
        ({"name": "x", "from": ["Road"], "id": True}, r"`id` must be an integer"),
        ({"name": "x", "from": ["Road"], "color": [0, 0, 256]}, r"\('x'\): `color` must be three integers"),
        ({"name": "x", "from": ["Road"], "drivable": "yes"}, r"\('x'\): `drivable` must be true or false"),
        ({"name": "x", "from": ["Road"], "form": []}, r"\('x'\): unknown keys \['form'\]"),
        ({"name": "unknown", "from": ["Road"]}, r"'unknown' is reserved for id 255"),
    ],
)
def test_entry_errors_name_the_entry(entry: dict, message: str) -> None:
    data = small_map()
    data["classes"] = [entry, *data["classes"][1:]]
    with pytest.raises(ClassMapError, match=message):
        parse_class_map(data, CAMVID)


def test_duplicate_names_ids_and_sources() -> None:
    data = small_map()
    data["classes"][2]["name"] = "free"
    with pytest.raises(ClassMapError, match="target class name 'free' appears twice"):
        parse_class_map(data, CAMVID)
    data = small_map()
    data["classes"][2]["id"] = 0
    with pytest.raises(ClassMapError, match="id 0 is used by both 'free' and 'rest'"):
        parse_class_map(data, CAMVID)
    data = small_map()
    data["classes"][1]["from"].append("Road")
    with pytest.raises(ClassMapError, match=r"classes\[1\] \('lethal'\): `from`: source class 'Road' is already"):
        parse_class_map(data, CAMVID)
    with pytest.raises(ClassMapError, match="expected a mapping"):
        parse_class_map(["free"], CAMVID)
