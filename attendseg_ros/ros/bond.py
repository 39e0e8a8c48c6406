"""The bond a Nav2 lifecycle manager expects from each node it manages (bondpy).

Nav2's lifecycle_manager activates a managed node, then creates ``Bond("bond", <node name>)``
with heartbeat timeout ``bond_timeout`` (4 s by default; 0 turns bonds off) and period 0.1 s,
and aborts the whole bring-up when the bond has not formed after ``bond_timeout / 2``. Nav2's
own servers create their side in ``on_activate`` and destroy it in ``on_deactivate``
(nav2_util ``LifecycleNode::createBond``/``destroyBond``). :class:`ManagerBond` does the same
for this node: topic ``bond`` (relative, so inside the node's namespace), bond id = the node's
name, heartbeat period 0.1 s.

bondpy is optional (rosdep ``ros-$ROS_DISTRO-bondpy``; in a venv ../shared/ros2-tools): without
it :meth:`ManagerBond.start` logs once why and returns False, and a manager must run with
``bond_timeout: 0.0``.

bondpy (bond_core's ros2 branch up to at least Feb 2024) declares the node parameter
``bond_disable_heartbeat_timeout`` on every heartbeat timeout; the second timeout in the same
node (a bond re-created after a deactivate/activate cycle) then raises
ParameterAlreadyDeclaredException in bondpy's timer thread and that bond never reports broken
(fixed upstream later, ros/bond_core#114). Also, its heartbeat timer starts with the *second*
heartbeat received, so a manager that dies within one heartbeat period of forming the bond is
never noticed. :func:`_bond_type` returns a subclass that declares the parameter only once and
starts the heartbeat timeout when the bond forms.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable

from rclpy.duration import Duration
from rclpy.exceptions import ParameterAlreadyDeclaredException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

BOND_TOPIC = "bond"
HEARTBEAT_PERIOD = 0.1  # seconds, as Nav2's servers and lifecycle manager use


def bondpy_missing() -> str | None:
    """Why bondpy cannot be used here, or None when it can."""
    try:
        _bond_type()
    except ImportError as exc:
        return f"bondpy is not installed ({exc}); install ros-$ROS_DISTRO-bondpy (venv: ../shared/ros2-tools)"
    return None


@functools.cache
def _bond_type() -> type:
    """bondpy's ``Bond`` with the two fixes of the module docstring."""
    from bond.msg import Constants
    from bondpy.bondpy import Bond

    class FixedBond(Bond):
        def Connected(self) -> None:  # noqa: N802 - bondpy's state-machine callback name
            super().Connected()
            self.heartbeat_timer.reset()  # count the heartbeat timeout from the formation on

        def _on_heartbeat_timeout(self) -> None:
            name = Constants.DISABLE_HEARTBEAT_TIMEOUT_PARAM
            if not self.node.has_parameter(name):
                with contextlib.suppress(ParameterAlreadyDeclaredException):  # another bond's timer was faster
                    self.node.declare_parameter(name, False)
            if self.node.get_parameter(name).value:
                self.node.get_logger().warning(
                    f"heartbeat timeouts are disabled ({name}): not breaking bond {self.id!r} on {self.topic!r}"
                )
                return
            with self.lock:
                self.sm.HeartbeatTimeout()
            self._flush_pending_callbacks()

    return FixedBond


class ManagerBond:
    """This node's side of the bond with a Nav2 lifecycle manager: start on activate, stop on deactivate.

    ``heartbeat_timeout`` is how long without the manager's heartbeat before the bond counts as
    broken (Nav2 servers use 4 s). ``on_broken`` runs (in a bondpy thread) when the manager breaks
    the bond or stops beating; Nav2 servers take no action then, and neither does this node beyond
    logging: the manager is the side that reacts.
    """

    def __init__(
        self,
        node: Node,
        heartbeat_timeout: float = 4.0,
        heartbeat_period: float = HEARTBEAT_PERIOD,
        on_broken: Callable[[], None] | None = None,
    ) -> None:
        if heartbeat_timeout <= 0 or heartbeat_period <= 0 or heartbeat_period >= heartbeat_timeout:
            raise ValueError(
                f"need 0 < heartbeat_period < heartbeat_timeout, got {heartbeat_period} and {heartbeat_timeout}"
            )
        self.node = node
        self.heartbeat_timeout = heartbeat_timeout
        self.heartbeat_period = heartbeat_period
        self._on_broken_callback = on_broken
        self._bond = None
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def bond_id(self) -> str:
        return self.node.get_name()

    def start(self) -> bool:
        """Create and start the bond (idempotent); False, after logging why, when bondpy is missing."""
        with self._lock:
            if self._bond is not None:
                return True
            reason = bondpy_missing()
            if reason is not None:
                self.node.get_logger().warning(
                    f"cannot form a bond with a Nav2 lifecycle manager: {reason}; "
                    "run the manager with bond_timeout: 0.0"
                )
                return False
            bond = _bond_type()(
                self.node, BOND_TOPIC, self.bond_id, on_broken=self._broken, on_formed=self._formed
            )
            bond.heartbeat_period = self.heartbeat_period
            bond.heartbeat_timeout = self.heartbeat_timeout
            self._stopping = False
            self.node.get_logger().info(f"creating bond {self.bond_id!r} on {BOND_TOPIC!r} for a lifecycle manager")
            bond.start()
            self._bond = bond
        return True

    def stop(self, answer_timeout: float = 0.3, ack_timeout: float = 1.0) -> None:
        """Break the bond, so the manager sees it at once, and release bondpy's publisher and subscription.

        A formed bond re-sends "dead" every 50 ms until the manager answers or ``answer_timeout``
        passes (from a callback of a single-threaded executor, such as ``on_deactivate``, the
        answer cannot arrive, so that is the time this takes). Then, and for a bond that had not
        formed on this side yet (which sends "dead" once), the reliable "dead" messages are given
        up to ``ack_timeout`` to be acknowledged by DDS (usually milliseconds) before the
        publisher goes. A manager that misses the break (a bond stopped while still forming)
        notices the missing heartbeats after its ``bond_timeout``.
        """
        with self._lock:
            bond, self._bond = self._bond, None
            self._stopping = True
        if bond is None:
            return
        # After Ctrl-C the context is already shut down: nothing can be sent any more (rcl raises), and
        # the manager sees the break as missing heartbeats. A shutdown racing with this is the same.
        if self.node.context.ok():
            with contextlib.suppress(_rclpy.RCLError):
                bond.break_bond()
                bond.wait_until_broken(Duration(seconds=answer_timeout))
                bond.pub.wait_for_all_acked(Duration(seconds=ack_timeout))
        bond.shutdown()
        # bondpy destroys its entities itself but leaves them in the node's lists: remove them
        self.node.destroy_subscription(bond.sub)
        self.node.destroy_publisher(bond.pub)

    @property
    def started(self) -> bool:
        return self._bond is not None

    def wait_until_formed(self, timeout: float) -> bool:
        """Block (the node must be spun by another thread) until formed; False on timeout or when stopped."""
        bond = self._bond
        return bond is not None and bond.wait_until_formed(Duration(seconds=timeout))

    def wait_until_broken(self, timeout: float) -> bool:
        bond = self._bond
        return bond is not None and bond.wait_until_broken(Duration(seconds=timeout))

    def is_broken(self) -> bool:
        bond = self._bond
        return bond is not None and bond.is_broken()

    def _formed(self) -> None:
        self.node.get_logger().info(f"bond {self.bond_id!r} with the lifecycle manager formed")

    def _broken(self) -> None:
        if self._stopping:  # our own break on deactivate: expected, nothing to report
            return
        self.node.get_logger().warning(
            f"bond {self.bond_id!r} with the lifecycle manager broken (it stopped, crashed or missed "
            f"heartbeats for {self.heartbeat_timeout:g} s)"
        )
        if self._on_broken_callback is not None:
            self._on_broken_callback()
