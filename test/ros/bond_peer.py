"""The lifecycle manager's side of a Nav2 bond, as its own process (used by test_bond.py).

Like nav2_lifecycle_manager after activating a node: ``Bond(node, "bond", <node name>)`` with
heartbeat period 0.1 s and timeout ``--timeout``. Prints one line per event on stdout
(``ready``, ``formed``, ``broken``) and obeys commands on stdin: ``break`` breaks the bond as
the manager does when it deactivates the node, ``exit`` ends the process.
"""

from __future__ import annotations

import argparse
import sys
import threading

import rclpy
from bondpy.bondpy import Bond
from rclpy.executors import SingleThreadedExecutor


def say(event: str) -> None:
    sys.stdout.write(event + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True, help="bond id: the managed node's name")
    parser.add_argument("--timeout", type=float, default=4.0, help="heartbeat timeout (the manager's bond_timeout)")
    args = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node("lifecycle_manager_peer")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    bond = Bond(node, "bond", args.id, on_broken=lambda: say("broken"), on_formed=lambda: say("formed"))
    bond.heartbeat_period = 0.1
    bond.heartbeat_timeout = args.timeout
    bond.start()
    say("ready")
    for line in sys.stdin:
        command = line.strip()
        if command == "break":
            bond.break_bond()
        elif command == "exit":
            break
    bond.shutdown()
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
