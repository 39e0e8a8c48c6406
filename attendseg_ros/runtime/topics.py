"""The one topic-naming rule: camera ``<ns>/<image>`` -> outputs in ``<ns>/segmentation/<output>``.

Pure string handling (no ROS): the node, the evaluation tools, the demo and the benchmarks all
name the node's outputs through these functions. Relative names stay relative, so a node
started in a namespace resolves them there as ROS does for any topic. The camera's intrinsics
are its sibling ``<ns>/camera_info``, as image_transport's CameraPublisher names them.
"""

from __future__ import annotations

OUTPUT_NAMESPACE = "segmentation"
CAMERA_INFO = "camera_info"


def _sibling(input_topic: str, name: str) -> str:
    """``(/cam/front/image_raw, x)`` -> ``/cam/front/x``; ``(image_raw, x)`` -> ``x``."""
    topic = input_topic.rstrip("/")
    if "/" not in topic:
        return name
    namespace = topic.rsplit("/", 1)[0]
    return f"{namespace}/{name}" if namespace else f"/{name}"


def output_prefix(input_topic: str) -> str:
    """``/cam/front/image_raw`` -> ``/cam/front/segmentation``; ``image_raw`` -> ``segmentation``."""
    return _sibling(input_topic, OUTPUT_NAMESPACE)


def output_topic(input_topic: str, output: str) -> str:
    """``(/cam/image_raw, labels)`` -> ``/cam/segmentation/labels``."""
    return f"{output_prefix(input_topic)}/{output}"


def camera_info_topic(input_topic: str) -> str:
    """``/cam/image_raw`` -> ``/cam/camera_info``: where the camera publishes its CameraInfo."""
    return _sibling(input_topic, CAMERA_INFO)
