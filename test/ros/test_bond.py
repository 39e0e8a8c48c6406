"""The Nav2 bond across two real processes: a lifecycle node here, a manager-like peer (bond_peer.py).

The node side is a small rclpy LifecycleNode wired as the segmentation node is: ManagerBond
started in on_activate, stopped in on_deactivate (test_navigation_node.py bonds the segmentation
node itself). The peer forms and breaks the bond as nav2_lifecycle_manager does, or is killed to
stand for a crashed manager.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from support import Peer

from attendseg_ros.ros.bond import BOND_TOPIC, ManagerBond

FORM_TIMEOUT = 20.0  # discovery on a loaded 2-core machine can take seconds
_names = itertools.count()


class BondedNode(LifecycleNode):
    """A managed node with the bond wiring the segmentation node gets."""

    def __init__(self, name: str, context: Context, heartbeat_timeout: float) -> None:
        super().__init__(name, context=context)
        self.heartbeat_timeout = heartbeat_timeout
        self.bond: ManagerBond | None = None
        self.broken_reports = 0

    def _on_broken(self) -> None:
        self.broken_reports += 1

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.bond = ManagerBond(self, self.heartbeat_timeout, on_broken=self._on_broken)
        self.bond.start()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.bond is not None:
            self.bond.stop()
        return super().on_deactivate(state)


@pytest.fixture
def node_factory() -> Iterator:
    context = Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    nodes: list[BondedNode] = []

    def make(heartbeat_timeout: float = 4.0) -> BondedNode:
        node = BondedNode(f"bond_test_node_{next(_names)}", context, heartbeat_timeout)
        executor.add_node(node)
        nodes.append(node)
        if not spinner.is_alive():
            spinner.start()
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        return node

    yield make
    for node in nodes:
        if node.bond is not None:
            node.bond.stop()
    executor.shutdown()
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def _bond_entities(node: LifecycleNode) -> int:
    entities = [*node.publishers, *node.subscriptions]
    return sum(entity.topic_name == f"/{BOND_TOPIC}" for entity in entities)


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def test_bond_forms_like_nav2_and_a_manager_break_is_noticed(node_factory) -> None:
    node = node_factory()
    peer = Peer(node.get_name())
    try:
        peer.wait_for("ready", FORM_TIMEOUT)
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        peer.wait_for("formed", FORM_TIMEOUT)  # what the lifecycle manager waits for after activate
        assert node.bond is not None and node.bond.wait_until_formed(FORM_TIMEOUT)
        assert node.bond.bond_id == node.get_name()
        assert _bond_entities(node) == 2  # bondpy's publisher and subscription
        peer.send("break")  # the manager breaks the bond
        _until(node.bond.is_broken, 5.0, "the node to see the broken bond")
        _until(lambda: node.broken_reports == 1, 2.0, "the on_broken callback")
    finally:
        peer.close()


def test_deactivate_breaks_the_bond_for_the_manager(node_factory) -> None:
    node = node_factory()
    peer = Peer(node.get_name())
    try:
        peer.wait_for("ready", FORM_TIMEOUT)
        node.trigger_activate()
        peer.wait_for("formed", FORM_TIMEOUT)
        # as a manager deactivates: some time after the bond formed (on both sides; see stop())
        assert node.bond is not None and node.bond.wait_until_formed(FORM_TIMEOUT)
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        peer.wait_for("broken", 5.0)
        assert node.broken_reports == 0  # our own break is not reported as a failure
        assert _bond_entities(node) == 0  # released from the node, not only destroyed
    finally:
        peer.close()


def test_a_crashed_manager_is_noticed_again_after_reactivation(node_factory) -> None:
    # Two heartbeat timeouts in one node: bondpy's own Bond raises in its timer thread on the
    # second one and never reports it broken; ManagerBond's must report both.
    node = node_factory(heartbeat_timeout=1.5)
    for cycle in (1, 2):
        peer = Peer(node.get_name(), timeout=1.5)
        try:
            peer.wait_for("ready", FORM_TIMEOUT)
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
            peer.wait_for("formed", FORM_TIMEOUT)
            assert node.bond is not None and node.bond.wait_until_formed(FORM_TIMEOUT)
            peer.process.kill()  # no break message: only the missing heartbeats tell
            peer.process.wait()
            _until(lambda: node.broken_reports == cycle, 10.0, f"heartbeat timeout number {cycle}")  # noqa: B023
            assert node.bond.is_broken()
            assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        finally:
            peer.close()


def test_invalid_timeouts_raise(node_factory) -> None:
    node = node_factory()
    with pytest.raises(ValueError, match="0 < heartbeat_period < heartbeat_timeout"):
        ManagerBond(node, heartbeat_timeout=0.0)
    with pytest.raises(ValueError, match=r"got 0\.5 and 0\.2"):
        ManagerBond(node, heartbeat_timeout=0.2, heartbeat_period=0.5)
