"""LabelInfo content: the classes that can appear in the labels, unknown exactly when it can occur."""

from __future__ import annotations

import pytest

from attendseg_ros.data import load_class_table
from attendseg_ros.interop import (
    UNKNOWN_ID,
    UNKNOWN_NAME,
    identity_class_map,
    label_info_content,
    label_info_for,
    load_class_map,
)

CAMVID = load_class_table("camvid11")


def test_identity_lists_the_model_classes_and_no_unknown_without_a_threshold() -> None:
    content = label_info_for(identity_class_map(CAMVID))
    assert content.classes == tuple(enumerate(CAMVID.names)) and content.threshold == 0.0
    assert UNKNOWN_ID not in content.names_by_id()


def test_threshold_adds_the_unknown_entry_last() -> None:
    content = label_info_for(identity_class_map(CAMVID), 0.4)
    assert content.classes[-1] == (UNKNOWN_ID, UNKNOWN_NAME) and len(content.classes) == 12
    assert content.threshold == pytest.approx(0.4)


def test_a_map_sending_classes_to_unknown_lists_it_even_without_a_threshold() -> None:
    data = {"classes": [{"name": "ground", "from": [n for n in CAMVID.names if n != "Sky"]}], "unknown": ["Sky"]}
    content = label_info_for(load_class_map(data, CAMVID))
    assert content.classes == ((0, "ground"), (UNKNOWN_ID, UNKNOWN_NAME))


def test_ids_are_sorted_and_gaps_are_kept() -> None:
    content = label_info_content({9: "ROAD", 1: "BUILDING", 15: "SKY"})
    assert content.classes == ((1, "BUILDING"), (9, "ROAD"), (15, "SKY"))


@pytest.mark.parametrize(
    ("names", "threshold", "message"),
    [
        ({255: "x"}, 0.0, r"class id 255 \('x'\) is outside \[0, 254\]"),
        ({0: ""}, 0.0, "empty, repeated or reserved"),
        ({0: "unknown"}, 0.0, "empty, repeated or reserved"),
        ({0: "a", 1: "a"}, 0.0, "empty, repeated or reserved"),
        ({0: "a"}, 1.5, r"min_confidence must be within \[0, 1\]"),
    ],
)
def test_invalid_content_raises(names: dict, threshold: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        label_info_content(names, threshold)
