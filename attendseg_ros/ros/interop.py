"""ROS messages for the navigation outputs: LabelInfo, CameraInfo, CompressedImage (one function each).

The content is computed without ROS in :mod:`attendseg_ros.interop`; this module only fills
messages. vision_msgs is optional (rosdep on a ROS install, ../shared/ros2-tools in a venv; no
PyPI wheel): :func:`unavailable_outputs` says what cannot be published without it (and without
bondpy) so the node can say so once at start-up, and :func:`label_info_message` raises
:class:`OptionalPackageError` instead of an ImportError deep in a callback.

QoS: ``label_info`` is reliable + transient local (latched), as Nav2's semantic segmentation
layer subscribes to it (reliable, transient local, depth 5); ``camera_info`` and the compressed
images use the outputs' QoS.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from ..interop.camera_info import CameraGeometry, Roi, scale_geometry
from ..interop.compression import EncodedImage
from ..interop.label_info import LabelInfoContent

if TYPE_CHECKING:
    from sensor_msgs.msg import CameraInfo, CompressedImage
    from std_msgs.msg import Header

LABEL_INFO_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


class OptionalPackageError(RuntimeError):
    """An optional ROS package (vision_msgs, bondpy) is not installed; the text says how to get it."""


INSTALL_HINT = "install it with rosdep (ros-$ROS_DISTRO-{deb}) or, in a venv, ../shared/ros2-tools/install.sh"


@functools.cache
def label_info_type() -> type:
    """``vision_msgs.msg.LabelInfo``; :class:`OptionalPackageError` when vision_msgs is absent."""
    try:
        from vision_msgs.msg import LabelInfo
    except ImportError as exc:
        raise OptionalPackageError(
            f"vision_msgs is not installed ({exc}); {INSTALL_HINT.format(deb='vision-msgs')}"
        ) from exc
    return LabelInfo


def unavailable_outputs() -> list[str]:
    """One sentence per optional output this installation cannot provide (empty: everything works)."""
    lines = []
    try:
        label_info_type()
    except OptionalPackageError as exc:
        lines.append(
            f"not publishing <ns>/segmentation/label_info: {exc}. Nav2's semantic segmentation layer "
            "drops every frame without it; <ns>/segmentation/info still carries the class table"
        )
    from .bond import bondpy_missing

    reason = bondpy_missing()
    if reason is not None:
        lines.append(
            f"no bond with a Nav2 lifecycle manager: {reason}. Set the manager's bond_timeout to 0.0, "
            "or its bring-up aborts after bond_timeout / 2"
        )
    return lines


def label_info_message(content: LabelInfoContent, header: Header | None = None) -> Any:
    """A ``vision_msgs/LabelInfo`` with ``content``'s classes (id, name) and threshold."""
    msg = label_info_type()()  # raises OptionalPackageError without vision_msgs
    from vision_msgs.msg import VisionClass

    if header is not None:
        msg.header = header
    msg.class_map = [VisionClass(class_id=class_id, class_name=name) for class_id, name in content.classes]
    msg.threshold = float(content.threshold)
    return msg


def camera_geometry(info: CameraInfo) -> CameraGeometry:
    """The size-dependent part of a CameraInfo (K, P, size, binning, ROI)."""
    roi = info.roi
    return CameraGeometry(
        int(info.width), int(info.height), info.k, info.p, int(info.binning_x), int(info.binning_y),
        Roi(int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
    )


def scaled_camera_info(info: CameraInfo, width: int, height: int, header: Header) -> CameraInfo:
    """``info`` for an output of ``width`` x ``height`` pixels, stamped and framed with ``header``.

    K and P are scaled (:func:`attendseg_ros.interop.scale_geometry`), binning and ROI reset;
    D, R and the distortion model are unchanged (they do not depend on the pixel grid).
    """
    return camera_info_message(scale_geometry(camera_geometry(info), width, height), header, info)


def camera_info_message(geometry: CameraGeometry, header: Header, source: CameraInfo | None = None) -> CameraInfo:
    """A CameraInfo of ``geometry`` (size, K, P; from :func:`scale_geometry`, so binning and ROI are
    folded in and reset) with ``header``; D, R and the distortion model come from ``source`` (the
    camera's own CameraInfo), else none and the identity R."""
    from sensor_msgs.msg import CameraInfo, RegionOfInterest

    msg = CameraInfo()
    msg.header = header
    msg.width, msg.height = geometry.width, geometry.height
    if source is not None:
        msg.distortion_model = source.distortion_model
        msg.d = list(source.d)
        msg.r = source.r
    else:
        msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.k = geometry.k.reshape(-1)
    msg.p = geometry.p.reshape(-1)
    msg.binning_x = msg.binning_y = 0
    msg.roi = RegionOfInterest()  # the full output image
    return msg


def compressed_image_message(encoded: EncodedImage, header: Header) -> CompressedImage:
    """A ``sensor_msgs/CompressedImage`` for ``<topic>/compressed`` from an encoded output."""
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage()
    msg.header = header
    msg.format = encoded.format
    msg.data = encoded.data
    return msg
