"""Unknown pixels: the label id for "no class" and the confidence threshold that produces it.

The label images follow the vision_msgs convention for uint8 class ids: the largest value,
``UNKNOWN_ID = 255``, is the unlabelled/unknown class (``vision_msgs/VisionClass``: "for vision
pipelines using less than 255 classes the UNLABELED is the maximum value in the uint8 range").
LabelInfo lists it as ``UNKNOWN_NAME``, ``SegmentationInfo.void_id`` carries it, the evaluation
counts it as wrong for every class (:func:`attendseg_ros.metrics.confusion_matrix`), and class
maps always map it to itself.

``min_confidence`` is a probability in [0, 1] (what LabelInfo's ``threshold`` holds); the
confidence image is ``round(p * 255)``, so a pixel is unknown when ``confidence / 255 <
min_confidence``. 0 switches the marking off. With C classes the top probability is never below
1/C, so thresholds under 1/C (0.09 for CamVid's 11) mark nothing.
"""

from __future__ import annotations

import math

import numpy as np

UNKNOWN_ID = 255
UNKNOWN_NAME = "unknown"


def confidence_cutoff(min_confidence: float) -> int:
    """The smallest uint8 confidence that is *not* unknown: ``ceil(min_confidence * 255)``.

    ``ValueError`` outside [0, 1]. Rounded to 6 decimals first so that e.g. 0.2 gives 51, not 52
    (0.2 * 255 is 51.000000000000007 in floating point).
    """
    if not (0.0 <= min_confidence <= 1.0) or math.isnan(min_confidence):
        raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
    return math.ceil(round(min_confidence * 255.0, 6))


def mark_unknown(labels: np.ndarray, confidence: np.ndarray, min_confidence: float) -> np.ndarray:
    """``labels`` with every pixel whose ``confidence / 255 < min_confidence`` set to ``UNKNOWN_ID``.

    Both arrays are uint8 ``(H, W)`` of the same shape. Returns ``labels`` itself (no copy) when
    ``min_confidence`` is 0, a new array otherwise; the inputs are never modified.
    """
    if labels.shape != confidence.shape:
        raise ValueError(f"labels {labels.shape} and confidence {confidence.shape} differ in shape")
    if labels.dtype != np.uint8 or confidence.dtype != np.uint8:
        raise ValueError(f"labels and confidence must be uint8, got {labels.dtype} and {confidence.dtype}")
    cutoff = confidence_cutoff(min_confidence)
    if cutoff == 0:
        return labels
    return np.where(confidence < cutoff, np.uint8(UNKNOWN_ID), labels)
