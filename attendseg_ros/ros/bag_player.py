"""``attendseg-play-bag``: play a rosbag2 over ROS 2 at its recorded pace, without rosbag2.

The package's own player, for ``evaluate.launch.py`` where ``ros2 bag play`` is not installed (the
PyPI wheels have no rosbag2). It reads the bag with :class:`~attendseg_ros.bag.io.RecordedMessages`
(the pure-Python rosbags reader), publishes each message's recorded bytes unchanged on its topic
with the QoS its publisher offered when it was recorded, keeps the recorded intervals (divided by
``--rate``), waits until reliable subscribers have acknowledged everything, and exits: status 0 when
all was played, 1 with one line naming the reason when the bag cannot be read or played.

    attendseg-play-bag BAG [--topics /camera/image_raw /camera/labels_gt] [--rate 0.5]
                       [--wait-for-subscribers 60] [--ros-args ...]
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosReliability

from ..bag.io import BagError, RecordedMessages
from .messages import wait_for_acknowledgement

NODE_NAME = "attendseg_play_bag"
ACK_TIMEOUT = 10.0  # seconds to wait for reliable subscribers to acknowledge the last messages
# After every topic has a subscriber, the subscribers' side of the matching may still be in progress,
# and a best-effort subscriber (the segmentation node's) drops what a publisher it has not matched
# yet sends: the first frame was lost about one run in four without this pause.
SETTLE_TIME = 1.0


class PlaybackError(RuntimeError):
    """The bag cannot be played: no subscriber came, or the node was shut down while playing."""


def qos_profile(recorded: Qos) -> QoSProfile:
    """The rclpy profile of a recorded offered QoS (keep-last 10 where the bag says "system default")."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_ALL if recorded.history == QosHistory.KEEP_ALL else HistoryPolicy.KEEP_LAST,
        depth=recorded.depth if recorded.depth > 0 else 10,
        reliability=(ReliabilityPolicy.BEST_EFFORT if recorded.reliability == QosReliability.BEST_EFFORT
                     else ReliabilityPolicy.RELIABLE),
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if recorded.durability == QosDurability.TRANSIENT_LOCAL
                    else DurabilityPolicy.VOLATILE),
    )


def message_type(msgtype: str) -> type:
    """``sensor_msgs/msg/Image`` -> the rclpy message class; ``ValueError`` if it is not installed."""
    package, _, name = msgtype.rpartition("/")
    try:
        return getattr(importlib.import_module(package.replace("/", ".")), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"message type {msgtype} is not installed here ({exc})") from exc


class BagPlayer(Node):
    """One publisher per recorded topic; :meth:`play` publishes the bag once at the recorded pace."""

    def __init__(self, messages: RecordedMessages, rate: float = 1.0, **kwargs: object) -> None:
        super().__init__(NODE_NAME, **kwargs)
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        if not messages.topics:
            raise BagError(messages.path, "has no topics to play")
        self.messages = messages
        self.rate = rate
        self.publishers_by_topic: dict[str, Publisher] = {}
        for topic in messages.topics.values():
            try:
                msg_type = message_type(topic.msgtype)
            except ValueError as exc:
                raise BagError(messages.path, f"cannot play {topic.name}: {exc}") from exc
            self.publishers_by_topic[topic.name] = self.create_publisher(msg_type, topic.name, qos_profile(topic.qos))

    def wait_for_subscribers(self, timeout: float) -> None:
        """Wait until every topic has a subscriber, then :data:`SETTLE_TIME`; ``PlaybackError`` on timeout."""
        deadline = time.monotonic() + timeout
        while waiting := [t for t, p in self.publishers_by_topic.items() if p.get_subscription_count() == 0]:
            if time.monotonic() > deadline:
                raise PlaybackError(f"no subscriber on {', '.join(waiting)} within {timeout:.0f} s")
            if not rclpy.ok(context=self.context):
                raise PlaybackError("shut down while waiting for subscribers")
            time.sleep(0.05)
        time.sleep(SETTLE_TIME)

    def play(self) -> int:
        """Publish every message once, at the recorded intervals / rate; the number published."""
        count = len(self.messages)
        topics = ", ".join(f"{t.name} ({t.count})" for t in self.messages.topics.values())
        self.get_logger().info(f"playing {self.messages.path}: {count} messages on {topics} at rate {self.rate:g}")
        start, first, published = time.monotonic(), None, 0
        for topic, log_time, raw in self.messages:
            first = log_time if first is None else first
            due = start + (log_time - first) / 1e9 / self.rate
            while (wait := due - time.monotonic()) > 0:
                time.sleep(min(wait, 0.1))
            if not rclpy.ok(context=self.context):
                raise PlaybackError(f"shut down after {published} of {count} messages")
            self.publishers_by_topic[topic].publish(raw)
            published += 1
        for topic, publisher in self.publishers_by_topic.items():
            wait_for_acknowledgement(publisher, ACK_TIMEOUT, self.get_logger(), topic)
        self.get_logger().info(f"played {published} messages in {time.monotonic() - start:.1f} s")
        return published


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="attendseg-play-bag", description=__doc__.split("\n\n")[0])
    p.add_argument("bag", help="rosbag2 folder (or .mcap/.db3 file)")
    p.add_argument("--topics", nargs="+", default=None, help="topics to play (default: all)")
    p.add_argument("--rate", type=float, default=1.0, help="playback rate factor (0.5 = half the recorded speed)")
    p.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                   help=f"first wait up to this long for a subscriber on every topic, then {SETTLE_TIME:g} s more "
                        "for the matching to complete on their side (0 = start at once)")
    return p.parse_args(argv)


def main(args: list[str] | None = None) -> int:
    """Play the bag (see the module docstring); exit status 0, or 1 with the reason on stderr."""
    argv = sys.argv if args is None else args
    options = parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    player: BagPlayer | None = None
    try:
        player = BagPlayer(RecordedMessages(options.bag, options.topics), options.rate)
        if options.wait_for_subscribers > 0:
            player.wait_for_subscribers(options.wait_for_subscribers)
        player.play()
        return 0
    except (BagError, ValueError, PlaybackError) as exc:
        print(f"attendseg-play-bag: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        print("attendseg-play-bag: interrupted", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C (launch forwards one) must not cut this short
        if player is not None:
            player.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
