"""Real ROS 2 command-line tooling against the installed package: `ros2 launch`, `ros2 param`, ...

Every test here starts real processes from the installed tree (AMENT_PREFIX_PATH: the venv that
`make venv` filled with CMake's install rules, or a colcon install) on the caller's ROS_DOMAIN_ID,
or on a random domain of its own where the caller set none, and queries the graph through a
``ros2`` daemon of that domain, which the fixture starts (unless one runs) and stops (``--no-daemon``
queries miss nodes here: ENVIRONMENT.md). ``ros2 launch`` runs in its own process
group and is stopped like Ctrl-C: SIGINT to the group.

Without the tooling (no ``ros2`` next to this Python or on PATH, or no ``launch_ros``) the tests are
skipped with the reason, except under CI, where that is a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "attendseg_ros"


def ros2_executable() -> str | None:
    """``ros2`` of this interpreter's environment (venv), else the one on PATH (a sourced ROS install)."""
    beside = Path(sys.executable).parent / "ros2"
    return str(beside) if beside.is_file() else shutil.which("ros2")


def tooling_missing() -> str | None:
    if ros2_executable() is None:
        return "no `ros2` command"
    missing = [m for m in ("launch", "launch_ros", "ros2launch", "ros2param", "ros2lifecycle", "psutil")
               if importlib.util.find_spec(m) is None]
    return f"missing {', '.join(missing)}" if missing else None


@pytest.fixture(scope="session")
def ros2_cli() -> str:
    """The ``ros2`` executable; skips (fails under CI) where the ROS 2 tooling is not installed."""
    reason = tooling_missing()
    if reason:
        message = (f"ROS 2 command-line tooling not installed ({reason}): `make venv` installs it from "
                   "../shared/ros2-tools; a ROS 2 install has it")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return ros2_executable()  # type: ignore[return-value]


class RosDomain:
    """One ROS domain for a test module: the environment of its processes and its ``ros2`` daemon."""

    def __init__(self, ros2: str, domain_id: int, log_dir: Path) -> None:
        self.ros2 = ros2
        self.domain_id = domain_id
        self.log_dir = log_dir
        self.env = dict(os.environ)
        self.env["ROS_DOMAIN_ID"] = str(domain_id)
        self.env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self.env["PYTHONUNBUFFERED"] = "1"
        # `ros2 launch` starts processes by name (`ros2 bag`, ...): this environment's bin first
        self.env["PATH"] = os.pathsep.join([str(Path(ros2).parent), self.env.get("PATH", "")])
        self.started_daemon = False

    def run(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
        """``ros2 <args>`` to completion; ``check``: fail the test, with its output, on a non-zero exit."""
        result = subprocess.run([self.ros2, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"`ros2 {' '.join(args)}` exited with {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def wait_for(self, args: tuple[str, ...], condition: Callable[[subprocess.CompletedProcess], bool],
                 timeout: float, what: str) -> subprocess.CompletedProcess:
        """Repeat ``ros2 <args>`` until ``condition`` holds for its result (discovery takes a while)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.run(*args, check=False, timeout=max(10.0, timeout))
            if condition(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last `ros2 {' '.join(args)}`"
                                     f" (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
            time.sleep(0.5)

    def start_daemon(self) -> None:
        running = "is running" in self.run("daemon", "status", check=False).stdout
        if not running:
            self.run("daemon", "start")
            self.started_daemon = True

    def stop_daemon(self) -> None:
        if self.started_daemon:
            self.run("daemon", "stop", check=False)


@pytest.fixture(scope="module")
def ros_domain(ros2_cli: str, caller_domain_id: int | None,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[RosDomain]:
    """The caller's ROS_DOMAIN_ID if it set one, else a domain of its own (not the suite's); with a
    ``ros2`` daemon for it while the module runs (one already running there is used and left running).

    Random domain ids up to 101 only: higher ones put Fast DDS's ports into Linux's ephemeral port range.
    """
    if caller_domain_id is not None:
        domain_id = caller_domain_id
    else:
        suite = int(os.environ.get("ROS_DOMAIN_ID", "0"))
        choices = [d for d in range(1, 102) if d != suite]
        domain_id = random.Random(os.getpid() + time.monotonic_ns()).choice(choices)
    domain = RosDomain(ros2_cli, domain_id, tmp_path_factory.mktemp("launch_logs"))
    domain.start_daemon()
    try:
        yield domain
    finally:
        domain.stop_daemon()


class Launch:
    """``ros2 launch <args>`` in its own process group, its output in a file."""

    def __init__(self, domain: RosDomain, name: str, *args: str) -> None:
        import psutil

        self.args = args
        self.log_path = domain.log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [domain.ros2, "launch", *args], env=domain.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGINT reaches launch and its nodes, as Ctrl-C
        )
        self._psutil = psutil

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                raise AssertionError(f"ros2 launch exited with {self.process.returncode} before printing {text!r}:\n"
                                     f"{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not printed within {timeout:.0f} s:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def descendants(self) -> list[Any]:
        """The processes ros2 launch started (and theirs)."""
        try:
            return self._psutil.Process(self.process.pid).children(recursive=True)
        except self._psutil.NoSuchProcess:
            return []

    def interrupt(self, timeout: float = 30.0) -> tuple[int | None, list[Any]]:
        """SIGINT to the group (Ctrl-C); the exit status (None: still running) and processes left running."""
        children = self.descendants()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            code: int | None = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        _, alive = self._psutil.wait_procs(children, timeout=5.0)
        return code, alive

    def kill(self) -> None:
        """Last resort in teardown: nothing of this launch may outlive the test."""
        children = self.descendants()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for child in children:
            with contextlib.suppress(self._psutil.NoSuchProcess):
                child.kill()
        self._log.close()


@pytest.fixture(scope="module")
def launches(ros_domain: RosDomain) -> Iterator[Callable[..., Launch]]:
    """``start(name, *args)`` -> a running :class:`Launch`; all are interrupted (then killed) at the end."""
    started: list[Launch] = []

    def start(name: str, *args: str) -> Launch:
        launch = Launch(ros_domain, name, *args)
        started.append(launch)
        return launch

    yield start
    for launch in started:
        launch.interrupt(20.0)
        launch.kill()


@pytest.fixture(scope="module")
def probe(ros_domain: RosDomain) -> Iterator[Any]:
    """The test's own node on the module's domain (attendseg_ros.ros.process.Client)."""
    from attendseg_ros.ros.process import Client

    with Client("attendseg_launch_probe", domain_id=ros_domain.domain_id) as client:
        yield client
