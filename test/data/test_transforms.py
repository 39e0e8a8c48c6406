"""The shared preprocessing and the batched augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attendseg_ros.data import Augmentation, Normalization, preprocess


def test_preprocess_normalises_per_channel() -> None:
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 0, 255, 51
    norm = Normalization(mean=(0.5, 0.5, 0.2), std=(0.5, 0.25, 0.1))
    x = preprocess(frame, None, norm)
    assert x.shape == (1, 3, 4, 6) and x.dtype == np.float32
    assert np.allclose(x[0, 0], -1.0) and np.allclose(x[0, 1], 2.0) and np.allclose(x[0, 2], 0.0, atol=1e-6)


def test_preprocess_resizes_and_numpy_matches_torch() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 30, 40, 3), dtype=np.uint8)
    x = preprocess(frames, (15, 20))
    assert x.shape == (2, 3, 15, 20)
    same_size = preprocess(frames)
    assert np.allclose(preprocess(torch.from_numpy(frames)).numpy(), same_size, atol=1e-5)


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((1, 4, 4, 4), np.uint8)]
)
def test_preprocess_refuses_bad_frames(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        preprocess(bad)


def test_augmentation_keeps_labels_aligned() -> None:
    # A frame whose colour encodes its label: after any scale/crop/flip the two still agree.
    labels = np.zeros((60, 80), np.uint8)
    labels[:, 40:] = 1
    labels[30:, :] = 2
    colors = np.array([[200, 0, 0], [0, 200, 0], [0, 0, 200]], np.uint8)
    images = torch.from_numpy(colors[labels][None].repeat(4, 0))
    aug = Augmentation(crop=(32, 48), scale_range=(0.8, 1.2), brightness=0, contrast=0, saturation=0)
    out_images, out_labels = aug(
        images, torch.from_numpy(labels[None].repeat(4, 0)), 11, torch.Generator().manual_seed(1)
    )
    assert out_images.shape == (4, 32, 48, 3) and out_labels.shape == (4, 32, 48)
    assert out_images.dtype == torch.uint8 and out_labels.dtype == torch.uint8
    inside = out_labels != 11
    predicted = out_images.float().argmax(dim=-1)
    # away from class borders (bilinear blending), colour and label agree
    agree = (predicted == out_labels.long())[inside].float().mean()
    assert agree > 0.95


def test_augmentation_pads_with_void_outside_the_frame() -> None:
    images = torch.full((1, 10, 10, 3), 100, dtype=torch.uint8)
    labels = torch.zeros((1, 10, 10), dtype=torch.uint8)
    aug = Augmentation(crop=(40, 40), scale_range=(1.0, 1.0), flip=False, brightness=0, contrast=0, saturation=0)
    _, out_labels = aug(images, labels, 11, torch.Generator().manual_seed(0))
    values = set(out_labels.unique().tolist())
    assert values == {0, 11}


def test_augmentation_gamma_jitter_darkens_and_brightens() -> None:
    """Gamma in [1 - g, 1 + g] changes mid-tones both ways and keeps black and white fixed."""
    n = 64
    images = torch.full((n, 8, 8, 3), 128, dtype=torch.uint8)
    images[:, 0, 0] = 0
    images[:, 0, 1] = 255
    labels = torch.zeros(n, 8, 8, dtype=torch.uint8)
    aug = Augmentation(
        crop=(8, 8), scale_range=(1.0, 1.0), flip=False, brightness=0, contrast=0, saturation=0, gamma=0.5
    )
    out, _ = aug(images, labels, void_id=11, generator=torch.Generator().manual_seed(0))
    mid = out[:, 4, 4, 0].float()
    assert mid.min() < 100 and mid.max() > 156  # 128 ** gamma spans both sides of 128
    assert int(out[:, 0, 0].max()) == 0 and int(out[:, 0, 1].min()) == 255
    plain = Augmentation(crop=(8, 8), scale_range=(1.0, 1.0), flip=False, brightness=0, contrast=0, saturation=0)
    assert torch.equal(plain(images, labels, 11, torch.Generator().manual_seed(0))[0], images)


def test_preprocess_is_exactly_the_formula_and_writes_into_out() -> None:
    """The lookup tables (OpenCV's LUT straight into the batch) give bit for bit (x / 255 - mean) / std."""
    import cv2

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    norm = Normalization()
    resized = cv2.resize(frame, (40, 30), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    expected = ((resized / 255.0 - np.asarray(norm.mean)) / np.asarray(norm.std)).astype(np.float32).transpose(2, 0, 1)
    batch = np.full((3, 3, 30, 40), np.nan, np.float32)
    returned = preprocess(frame[:, :, :], (30, 40), norm, out=batch[1:2])
    assert np.shares_memory(returned, batch)
    np.testing.assert_array_equal(batch[1], expected)
    assert np.isnan(batch[0]).all() and np.isnan(batch[2]).all()  # only its row written
    np.testing.assert_array_equal(preprocess(np.ascontiguousarray(frame[::-1])[::-1], (30, 40), norm)[0], expected)
    with pytest.raises(ValueError, match=r"out must be a C-contiguous float32 array of shape \(1, 3, 30, 40\)"):
        preprocess(frame, (30, 40), norm, out=np.empty((1, 3, 40, 30), np.float32))
