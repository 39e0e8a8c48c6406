"""The one topic-naming rule: camera ``<ns>/<image>`` -> outputs in ``<ns>/segmentation/<output>``.

Pure string handling (no ROS): the node, the evaluation tools, the demo and the benchmarks all
name the node's outputs through these two functions. Relative names stay relative, so a node
started in a namespace resolves them there as ROS does for any topic.
"""

from __future__ import annotations

OUTPUT_NAMESPACE = "segmentation"


def output_prefix(input_topic: str) -> str:
    """``/cam/front/image_raw`` -> ``/cam/front/segmentation``; ``image_raw`` -> ``segmentation``."""
    topic = input_topic.rstrip("/")
    if "/" not in topic:
        return OUTPUT_NAMESPACE
    namespace = topic.rsplit("/", 1)[0]
    return f"{namespace}/{OUTPUT_NAMESPACE}" if namespace else f"/{OUTPUT_NAMESPACE}"


def output_topic(input_topic: str, output: str) -> str:
    """``(/cam/image_raw, labels)`` -> ``/cam/segmentation/labels``."""
    return f"{output_prefix(input_topic)}/{output}"
