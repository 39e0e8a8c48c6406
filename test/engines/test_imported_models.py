"""Imported models (attendseg-import-model) in the engines and the per-frame pipeline, and the load-time contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from foreign_models import SIDEWALK, SIDEWALK_COLORS, ClassIds, StridedConvNet, classes_yaml, export

from attendseg_ros.engines import EngineError, create_segmenter
from attendseg_ros.interop import load_class_map
from attendseg_ros.modelfiles.import_onnx import import_onnx
from attendseg_ros.runtime.drivable import DrivableConfig, drivable_mask
from attendseg_ros.runtime.pipeline import FramePipeline, FrameSettings
from attendseg_ros.runtime.visualize import overlay

SIZE = (96, 128)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A foreign logits model (dynamic size) and its classes.yaml, before import."""
    folder = tmp_path_factory.mktemp("foreign_engines")
    torch.manual_seed(3)
    onnx_path = export(StridedConvNet(len(SIDEWALK)), folder / "strided.onnx", torch.zeros(1, 3, *SIZE),
                       dynamic_size=True)
    return {"onnx": onnx_path, "classes": classes_yaml(folder / "classes.yaml"), "folder": folder}


@pytest.fixture(scope="module")
def imported(source: dict[str, Path]) -> Path:
    return import_onnx(source["onnx"], source["classes"], source["folder"] / "model", input_size=SIZE).path


def test_onnxruntime_and_openvino_run_it_alike(imported: Path, val_frames: list[np.ndarray]) -> None:
    pytest.importorskip("openvino")
    results = {}
    for backend in ("onnxruntime", "openvino"):
        segmenter = create_segmenter(backend, imported, threads=1)
        try:
            assert (segmenter.precision, segmenter.input_size, segmenter.info.classes.names) == ("fp32", SIZE, SIDEWALK)
            results[backend] = segmenter.segment(val_frames, resolution="input")
        finally:
            segmenter.close()
    for ort_result, ov_result, frame in zip(results["onnxruntime"], results["openvino"], val_frames, strict=True):
        assert ort_result.labels.shape == frame.shape[:2]
        assert (ort_result.labels == ov_result.labels).mean() > 0.999
        assert set(np.unique(ort_result.labels)) <= set(range(len(SIDEWALK)))


def test_the_pipeline_builds_outputs_from_the_models_class_table(imported: Path,
                                                                 val_frames: list[np.ndarray]) -> None:
    segmenter = create_segmenter("onnxruntime", imported, threads=1)
    try:
        table = segmenter.info.classes
        drivable = DrivableConfig(tuple(table.ids(table.drivable)), 0.0, 0.0, False)
        settings = FrameSettings("input", drivable, table.palette(), 0.4)
        result = FramePipeline(segmenter).run(val_frames[:2], [["labels", "overlay", "drivable_mask"]] * 2, settings)
        expected = segmenter.segment(val_frames[:2], resolution="input")
        merged = load_class_map({"classes": [{"name": "ground", "from": ["road", "sidewalk"], "drivable": True},
                                             {"name": "other", "from": [n for n in SIDEWALK
                                                                        if n not in ("road", "sidewalk")]}]}, table)
        mapped = FramePipeline(segmenter).run(val_frames[:1], [["labels"]], FrameSettings(class_map=merged))
    finally:
        segmenter.close()
    assert table.drivable == ("sidewalk",) and drivable.class_ids == (SIDEWALK.index("sidewalk"),)
    for outputs, want, frame in zip(result.outputs, expected, val_frames, strict=False):
        np.testing.assert_array_equal(outputs["labels"], want.labels)
        np.testing.assert_array_equal(outputs["drivable_mask"], drivable_mask(want.labels, drivable))
        np.testing.assert_array_equal(outputs["overlay"], overlay(frame, want.labels, table.palette(), 0.4))
    assert tuple(map(tuple, table.palette()[: len(SIDEWALK)])) == SIDEWALK_COLORS  # classes.yaml's colours
    ground = np.isin(expected[0].labels, [SIDEWALK.index("road"), SIDEWALK.index("sidewalk")])
    np.testing.assert_array_equal(mapped.outputs[0]["labels"], np.where(ground, 0, 1))


def test_torch_refuses_an_imported_model_by_name(imported: Path) -> None:
    with pytest.raises(EngineError, match=r"strided\.onnx: an imported model .* onnxruntime or openvino backend only"):
        create_segmenter("torch", imported)


def test_a_class_id_model_loads_without_a_class_count_in_its_graph(source: dict[str, Path]) -> None:
    torch.manual_seed(0)
    path = export(ClassIds(StridedConvNet(len(SIDEWALK))), source["folder"] / "ids.onnx", torch.zeros(1, 3, *SIZE),
                  outputs=("ids",))
    model = import_onnx(path, source["classes"], source["folder"] / "model").path
    segmenter = create_segmenter("onnxruntime", model, threads=1)
    try:
        labels, confidence = segmenter.run(np.zeros((3, 3, *SIZE), np.float32))
    finally:
        segmenter.close()
    assert labels.shape == (3, *SIZE) and (confidence == 255).all()


def test_a_sidecar_of_other_classes_is_refused_at_load(imported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "swapped.onnx"
    shutil.copyfile(imported, copy)
    sidecar = json.loads(imported.with_suffix(".json").read_text())
    sidecar["classes"]["classes"] = sidecar["classes"]["classes"][:5]
    sidecar["classes"]["drivable"] = []
    copy.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(EngineError, match=r"swapped\.onnx: the graph predicts 7 classes but swapped\.json lists 5"):
        create_segmenter("onnxruntime", copy)


def test_a_foreign_graph_needs_the_import(source: dict[str, Path], imported: Path, tmp_path: Path) -> None:
    """Given as it is, with no sidecar or with a sidecar copied beside it: the error says what to run."""
    raw = tmp_path / "raw.onnx"
    shutil.copyfile(source["onnx"], raw)
    with pytest.raises(EngineError, match=r"raw\.json: model sidecar not found .*attendseg-import-model"):
        create_segmenter("onnxruntime", raw)
    shutil.copyfile(imported.with_suffix(".json"), raw.with_suffix(".json"))
    with pytest.raises(EngineError, match=r"found inputs \['images'\] .*attendseg-import-model"):
        create_segmenter("onnxruntime", raw)
