"""attendseg-import-model from the command line, and the imported model in attendseg-eval, the bag evaluation and
attendseg-bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from foreign_models import SIDEWALK, StridedConvNet, classes_yaml, export

from attendseg_ros.bag.convert import dataset_to_bag
from attendseg_ros.cli import bench
from attendseg_ros.cli.evaluate import evaluate_model
from attendseg_ros.cli.evaluate_bag import evaluate_bag
from attendseg_ros.cli.import_model import main
from attendseg_ros.data.camvid import CamVid
from attendseg_ros.data.classes import load_class_table
from attendseg_ros.engines import create_segmenter

SIZE = (96, 128)
CAMVID = load_class_table("camvid11")


@pytest.fixture(scope="module")
def camvid_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A foreign 11-class logits model for CamVid's classes, imported with the command."""
    folder = tmp_path_factory.mktemp("camvid_import")
    torch.manual_seed(3)
    onnx_path = export(StridedConvNet(CAMVID.num_classes), folder / "foreign.onnx", torch.zeros(1, 3, *SIZE),
                       dynamic_size=True)
    classes = classes_yaml(folder / "camvid" / "classes.yaml", CAMVID.names, CAMVID.colors, ("Road",),
                           ignore_index=CAMVID.void_id)
    summary = folder / "summary.json"
    assert main(["--onnx", str(onnx_path), "--classes", str(classes), "--out", str(folder / "out"), "--input-size",
                 *map(str, SIZE), "--name", "foreign_camvid", "--json", str(summary)]) == 0
    result = json.loads(summary.read_text())
    assert (result["output_kind"], result["output_size"], result["batch"]) == ("logits", [24, 32], "dynamic")
    assert result["classes"] == list(CAMVID.names) and result["drivable"] == ["Road"]
    return Path(result["model"])


def test_the_command_prints_what_it_wrote_and_how_to_run_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    onnx_path = export(StridedConvNet(len(SIDEWALK)), tmp_path / "robot.onnx", torch.zeros(1, 3, *SIZE))
    classes = classes_yaml(tmp_path / "classes.yaml")
    code = main(["--onnx", str(onnx_path), "--classes", str(classes), "--out", str(tmp_path / "models"),
                 "--mean", "0.5", "0.5", "0.5", "--std", "0.5", "0.5", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"wrote {tmp_path / 'models' / 'robot.onnx'} and robot.json: logits at 24x32" in out
    assert f"model:={tmp_path / 'models' / 'robot.onnx'}" in out
    sidecar = json.loads((tmp_path / "models" / "robot.json").read_text())
    assert sidecar["normalization"] == {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def test_refusals_are_one_line_naming_the_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    onnx_path = export(StridedConvNet(9), tmp_path / "nine.onnx", torch.zeros(1, 3, *SIZE))
    classes = classes_yaml(tmp_path / "classes.yaml")
    assert main(["--onnx", str(onnx_path), "--classes", str(classes), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("attendseg-import-model: error: ") and "\n" not in err
    assert "predicts 9 classes" in err and "lists 7" in err
    assert main(["--onnx", str(onnx_path), "--classes", str(tmp_path / "none.yaml"), "--out", str(tmp_path)]) == 1
    assert "none.yaml: class table not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input-size", "-1", "128"], "argument --input-size: expected an integer of at least 1, got '-1'"),
        (["--mean", "0.5", "0.5", "0.5"], "--mean and --std go together"),
        ([], "the following arguments are required: --onnx"),
    ],
)
def test_bad_arguments_are_argparse_errors(args: list[str], message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    required = [] if not args else ["--onnx", "m.onnx", "--classes", "c.yaml", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main([*required, *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_attendseg_eval_scores_every_frame(camvid_model: Path, tiny_camvid: Path) -> None:
    report = evaluate_model(tiny_camvid, "val", model=camvid_model, threads=1, progress=False)
    dataset = CamVid(tiny_camvid, "val")
    assert report["frames"] == len(dataset) == 4 and report["model"] == "foreign_camvid"
    segmenter = create_segmenter("onnxruntime", camvid_model, threads=1)
    try:  # pixel accuracy straight from the labels, void ignored
        pairs = [(segmenter.segment([rgb], resolution="input")[0].labels, truth) for rgb, truth in
                 (dataset[i] for i in range(len(dataset)))]
    finally:
        segmenter.close()
    correct = sum(int(((pred == truth) & (truth != CAMVID.void_id)).sum()) for pred, truth in pairs)
    scored = sum(int((truth != CAMVID.void_id).sum()) for _, truth in pairs)
    assert report["pixel_accuracy"] == pytest.approx(correct / scored, abs=1e-9)


def test_the_bag_evaluation_runs_it_offline(camvid_model: Path, tiny_camvid: Path, tmp_path: Path) -> None:
    bag = dataset_to_bag(tiny_camvid, "val", tmp_path / "bag", limit=4)["bag"]
    report = evaluate_bag(bag, mode="offline", backend="onnxruntime", model=camvid_model, progress=False)
    folder = evaluate_model(tiny_camvid, "val", model=camvid_model, threads=1, progress=False)
    assert (report["frames"], report["frames_missing"]) == (4, 0)
    assert report["miou"] == pytest.approx(folder["miou"], abs=1e-9)


def test_bench_runs_it_at_its_input_size(camvid_model: Path, capsys: pytest.CaptureFixture) -> None:
    result = bench.run(["--model", str(camvid_model), "--iters", "2", "--warmup", "0", "--threads", "1"])
    assert (result["height"], result["width"], result["input_height"], result["input_width"]) == (*SIZE, *SIZE)
    assert (result["model_name"], result["classes"]) == ("foreign_camvid", 11)
    assert "model foreign_camvid (11 classes), network input 96x128" in capsys.readouterr().out


def test_bench_agreement_needs_the_same_classes(camvid_model: Path, random_model: dict[str, Path],
                                                camvid_dir: Path, tmp_path: Path) -> None:
    sidecar = json.loads(camvid_model.with_suffix(".json").read_text())
    sidecar["classes"]["classes"][0]["name"] = "Heaven"
    renamed = tmp_path / "renamed.onnx"
    renamed.write_bytes(camvid_model.read_bytes())
    renamed.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="the specs predict different classes"):
        bench.agreement([f"onnxruntime@{camvid_model}", f"onnxruntime@{renamed}"], camvid_dir, frames=1, threads=1)
    result = bench.agreement([f"onnxruntime@{camvid_model}", f"openvino@{camvid_model}"], camvid_dir, frames=2,
                             threads=1)
    assert result["runs"][1]["label_agreement"] > 0.999
    assert np.isclose(result["runs"][0]["label_agreement"], 1.0)


@pytest.mark.parametrize("argument", ["--height", "--width", "--iters", "--batch", "--threads", "--frames"])
def test_bench_refuses_negative_numbers_naming_the_argument(argument: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.run([argument, "-1"])
    assert exit_info.value.code == 2
    assert f"argument {argument}: expected an integer of at least" in capsys.readouterr().err
