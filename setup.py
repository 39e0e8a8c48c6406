"""pip/venv installation of attendseg_ros's Python package (colcon on a ROS install uses CMakeLists.txt).

Only the Python package and its console scripts are installed from here. Everything ROS tooling looks
up (share/attendseg_ros/{package.xml,launch,config,msg}, the ament index marker, the
lib/attendseg_ros launchers, the generated messages) is installed by CMakeLists.txt's install rules,
for colcon and for the Makefile's venv alike. console_scripts below is the one list of executables:
CMakeLists.txt reads it (one "name = module:function" per line) to write the launchers.
"""

from setuptools import find_packages, setup

PACKAGE = "attendseg_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["weights/*.safetensors", "weights/*.json", "weights/*.onnx"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "opencv-python-headless",
        "torch",  # install the pinned CPU wheel first (Makefile): an unpinned torch pulls CUDA
        "onnx",
        "onnxruntime",
        "safetensors",
        "pyyaml",
        "tqdm",
        "matplotlib",
        "rosbags",
    ],
    extras_require={
        "openvino": ["openvino"],  # the optional openvino backend (x86 CPUs, Intel GPU/NPU)
        "test": ["pytest", "pytest-timeout", "ruff", "openvino"],  # openvino: its backend's tests run in CI
    },
    zip_safe=False,
    maintainer="attendseg_ros developers",
    description="On-device semantic segmentation (AttendSeg) for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "attendseg-complexity = attendseg_ros.cli.complexity:main",
            "attendseg-train = attendseg_ros.cli.train:main",
            "attendseg-train-bench = attendseg_ros.cli.train_bench:main",
            "attendseg-train-report = attendseg_ros.cli.train_report:main",
            "attendseg-pack-camvid = attendseg_ros.cli.pack_camvid:main",
            "attendseg-eval = attendseg_ros.cli.evaluate:main",
            "attendseg-export = attendseg_ros.cli.export:main",
            "attendseg-import-model = attendseg_ros.cli.import_model:main",
            "attendseg-check-tensorrt = attendseg_ros.cli.check_tensorrt:main",
            "attendseg-jetson-check = attendseg_ros.cli.jetson_check:main",
            "attendseg-bench = attendseg_ros.cli.bench:main",
            "attendseg-node-bench = attendseg_ros.cli.node_bench:main",
            "attendseg-demo = attendseg_ros.cli.demo:main",
            "attendseg-segment = attendseg_ros.ros.segmentation_node:main",
            "attendseg-evaluate = attendseg_ros.ros.evaluation_node:main",
            "attendseg-dataset = attendseg_ros.cli.dataset:main",
            "attendseg-dataset-to-bag = attendseg_ros.cli.dataset_to_bag:main",
            "attendseg-camvid-to-bag = attendseg_ros.cli.dataset_to_bag:main",
            "attendseg-evaluate-bag = attendseg_ros.cli.evaluate_bag:main",
            "attendseg-play-bag = attendseg_ros.ros.bag_player:main",
            "attendseg-publish-images = attendseg_ros.ros.image_publisher:main",
        ],
    },
)
