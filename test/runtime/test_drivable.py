"""Drivable-area cleanup on hand-made label images (pure numpy, no ROS graph)."""

from __future__ import annotations

import numpy as np
import pytest

from attendseg_ros.runtime.drivable import DrivableConfig, class_mask, drivable_mask

ROAD, PAVEMENT, CAR, SKY = 3, 4, 8, 0


def scene() -> np.ndarray:
    """100x100: sky on top, road in the lower half with a car hole, a speck and a detached road patch."""
    labels = np.full((100, 100), SKY, np.uint8)
    labels[50:, :] = ROAD
    labels[70:73, 40:43] = CAR  # 9-pixel hole inside the road
    labels[60:80, 70:90] = CAR  # 400-pixel car: a big hole, kept
    labels[10:12, 10:12] = ROAD  # 4-pixel speck in the sky
    labels[20:35, 20:50] = ROAD  # 450-pixel road patch not connected to the bottom
    return labels


def test_class_mask_selects_ids() -> None:
    labels = np.array([[ROAD, PAVEMENT, CAR, 11]], np.uint8)
    np.testing.assert_array_equal(class_mask(labels, [ROAD, PAVEMENT]), [[True, True, False, False]])


def test_no_cleanup_is_the_class_mask() -> None:
    labels = scene()
    mask = drivable_mask(labels, DrivableConfig((ROAD,), 0.0, 0.0, connected_to_bottom=False))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    np.testing.assert_array_equal(mask == 255, labels == ROAD)


def test_specks_removed_small_holes_filled_big_holes_kept() -> None:
    labels = scene()
    mask = drivable_mask(labels, DrivableConfig((ROAD,), 0.001, 0.002, connected_to_bottom=False)) == 255
    # min region = 10 px: the 4-px speck goes, the 450-px patch stays; max hole = 20 px: car hole filled.
    assert not mask[10:12, 10:12].any()
    assert mask[20:35, 20:50].all()
    assert mask[70:73, 40:43].all()
    assert not mask[60:80, 70:90].any()
    assert mask[50:, :].sum() == 50 * 100 - 400


def test_only_regions_touching_the_bottom_are_kept() -> None:
    labels = scene()
    mask = drivable_mask(labels, DrivableConfig((ROAD,), 0.0, 0.0, connected_to_bottom=True)) == 255
    assert not mask[:50].any()  # speck and detached patch dropped
    np.testing.assert_array_equal(mask[50:], labels[50:] == ROAD)


def test_diagonal_contact_counts_as_connected() -> None:
    labels = np.zeros((4, 4), np.uint8)
    labels[3, 0] = ROAD
    labels[2, 1] = ROAD  # touches the bottom pixel only diagonally
    mask = drivable_mask(labels, DrivableConfig((ROAD,), 0.0, 0.0, connected_to_bottom=True))
    assert mask[2, 1] == 255


def test_nothing_drivable_and_everything_drivable() -> None:
    config = DrivableConfig((ROAD,))
    assert not drivable_mask(np.zeros((8, 8), np.uint8), config).any()
    assert (drivable_mask(np.full((8, 8), ROAD, np.uint8), config) == 255).all()
    assert not drivable_mask(np.zeros((8, 8), np.uint8), DrivableConfig(())).any()


def test_holes_touching_the_border_are_not_filled() -> None:
    labels = np.full((50, 50), ROAD, np.uint8)
    labels[45:, 20:23] = CAR  # a notch open to the bottom edge, 15 px
    mask = drivable_mask(labels, DrivableConfig((ROAD,), 0.0, 0.5, connected_to_bottom=False)) == 255
    assert not mask[45:, 20:23].any()


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="min_region_fraction"):
        DrivableConfig((ROAD,), min_region_fraction=2.0)
    with pytest.raises(ValueError, match="class ids"):
        DrivableConfig((300,))
    with pytest.raises(ValueError, match="uint8"):
        drivable_mask(np.zeros((4, 4), np.int32), DrivableConfig((ROAD,)))


def _reference(labels: np.ndarray, config: DrivableConfig) -> np.ndarray:
    """The definition, pixel by pixel on the whole image (slow, obviously right)."""
    import cv2

    area = labels.size
    mask = np.isin(labels, config.class_ids)
    count, ids = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    for component in range(1, count):
        pixels = ids == component
        big = pixels.sum() >= round(config.min_region_fraction * area)
        keep[component] = big and (pixels[-1].any() or not config.connected_to_bottom)
    mask = keep[ids]
    count, ids = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=8)
    for component in range(1, count):
        pixels = ids == component
        on_border = pixels[0].any() or pixels[-1].any() or pixels[:, 0].any() or pixels[:, -1].any()
        if not on_border and pixels.sum() <= round(config.max_hole_fraction * area):
            mask |= pixels
    return mask.astype(np.uint8) * 255


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_reference_definition_on_random_scenes(seed: int) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    blocks = rng.choice([ROAD, SKY, CAR, PAVEMENT], size=(6, 8), p=[0.4, 0.3, 0.2, 0.1]).astype(np.uint8)
    labels = cv2.resize(blocks, (80, 60), interpolation=cv2.INTER_NEAREST)
    specks = rng.random(labels.shape) < 0.02
    labels[specks] = rng.choice([ROAD, CAR], size=int(specks.sum())).astype(np.uint8)
    for config in (DrivableConfig((ROAD,), 0.002, 0.003, True), DrivableConfig((ROAD, PAVEMENT), 0.01, 0.02, False),
                   DrivableConfig((ROAD,), 0.0, 0.0, True), DrivableConfig((CAR,), 0.001, 0.5, False)):
        np.testing.assert_array_equal(drivable_mask(labels, config), _reference(labels, config), err_msg=str(config))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("shape", "size"), [((60, 80), (120, 160)), ((60, 80), (100, 133)), ((57, 83), (61, 250)),
                                             ((60, 80), (60, 80)), ((60, 80), (45, 100)), ((60, 80), (30, 40))])
def test_at_the_labels_resolution_equals_the_mask_of_the_upsampled_labels(seed: int, shape: tuple, size: tuple) -> None:
    """drivable_mask(labels, config, size) is the mask of the labels resized to size, computed the cheap way."""
    import cv2

    from attendseg_ros.engines.base import resize_labels

    rng = np.random.default_rng(seed)
    blocks = rng.choice([ROAD, SKY, CAR, PAVEMENT], size=(6, 8), p=[0.5, 0.2, 0.2, 0.1]).astype(np.uint8)
    labels = cv2.resize(blocks, shape[::-1], interpolation=cv2.INTER_NEAREST)
    specks = rng.random(labels.shape) < 0.03  # one-pixel specks and holes: their areas decide their fate
    labels[specks] = rng.choice([ROAD, CAR], size=int(specks.sum())).astype(np.uint8)
    for config in (DrivableConfig((ROAD,), 0.001, 0.001, True), DrivableConfig((ROAD,), 0.0003, 0.0004, True),
                   DrivableConfig((ROAD, PAVEMENT), 0.01, 0.02, False), DrivableConfig((CAR,), 0.0002, 0.5, False),
                   DrivableConfig((ROAD,), 0.0, 0.0, True)):
        expected = drivable_mask(resize_labels(labels, size), config)
        got = drivable_mask(labels, config, size)
        assert got.shape == size
        np.testing.assert_array_equal(got, expected, err_msg=f"{config} {shape}->{size}")


def test_upsampling_counts_the_output_pixels() -> None:
    import cv2

    from attendseg_ros.runtime.drivable import upsampling

    labels = np.arange(6 * 7, dtype=np.uint8).reshape(6, 7)
    ids = np.arange(6 * 7, dtype=np.int32).reshape(6, 7) % 5
    for size in [(6, 7), (10, 11), (13, 20), (12, 30)]:
        resized = cv2.resize(labels, size[::-1], interpolation=cv2.INTER_NEAREST)
        repeats = upsampling(labels.shape, size)
        np.testing.assert_array_equal(repeats.pixels().ravel(), np.bincount(resized.ravel(), minlength=labels.size))
        np.testing.assert_array_equal(repeats.areas(ids, 5), np.bincount(ids.ravel(), repeats.pixels().ravel()))
        np.testing.assert_array_equal(repeats.crop(1, 2, 3, 4).areas(ids[1:4, 2:6], 5),
                                      np.bincount(ids[1:4, 2:6].ravel(), repeats.pixels()[1:4, 2:6].ravel(), 5))
    assert upsampling((6, 7), (5, 20)) is None  # rows dropped: no upsampling
