"""attendseg-import-model's wrapping: foreign ONNX graphs become model files with our input, outputs and sidecar."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from foreign_models import (
    SIDEWALK,
    SIDEWALK_COLORS,
    ChannelsLast,
    ClassIds,
    Classifier,
    SkipNet,
    StridedConvNet,
    WithAuxiliary,
    classes_yaml,
    export,
)
from torch.nn import functional as F

from attendseg_ros.data.camvid import CamVid
from attendseg_ros.data.classes import load_classes_yaml
from attendseg_ros.data.preprocessing import DEFAULT_MEAN, Normalization, preprocess
from attendseg_ros.engines import create_segmenter
from attendseg_ros.modelfiles.checkpoint import load_model
from attendseg_ros.modelfiles.import_onnx import ModelImportError, import_onnx
from attendseg_ros.modelfiles.sidecar import IMPORTED_ONNX, INPUT_NAME, OUTPUT_NAMES, ModelFileError, read_info

SIZE = (96, 128)


@pytest.fixture(scope="module")
def network() -> StridedConvNet:
    torch.manual_seed(0)
    return StridedConvNet(len(SIDEWALK)).eval()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("foreign")


@pytest.fixture(scope="module")
def classes(folder: Path) -> Path:
    return classes_yaml(folder / "data" / "classes.yaml", mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])


@pytest.fixture(scope="module")
def logits_onnx(network: StridedConvNet, folder: Path) -> Path:
    """Logits at 1/4 resolution, batch, height and width dynamic."""
    return export(network, folder / "strided.onnx", torch.zeros(1, 3, *SIZE), dynamic_size=True)


@pytest.fixture(scope="module")
def frame(camvid_dir: Path) -> np.ndarray:
    return CamVid(camvid_dir, "val")[10][0]


def _torch_logits(network: torch.nn.Module, frame: np.ndarray, normalization: Normalization) -> torch.Tensor:
    with torch.no_grad():
        logits = network(torch.from_numpy(preprocess(frame, SIZE, normalization)))
    return F.interpolate(logits, size=SIZE, mode="bilinear", align_corners=False)


def test_logits_model_agrees_with_torch_on_a_camvid_frame(network: StridedConvNet, logits_onnx: Path, classes: Path,
                                                          folder: Path, frame: np.ndarray) -> None:
    imported = import_onnx(logits_onnx, classes, folder / "out", input_size=SIZE, name="strided")
    assert (imported.path, imported.output_kind, imported.output_size) == (folder / "out" / "strided.onnx", "logits",
                                                                          (24, 32))
    assert imported.dynamic_batch and not imported.warnings
    info = read_info(imported.path)
    assert (info.architecture, info.config, info.input_size, info.name) == (IMPORTED_ONNX, None, SIZE, "strided")
    assert info.classes.names == SIDEWALK and info.classes.colors == SIDEWALK_COLORS
    assert info.classes.drivable == ("sidewalk",) and info.classes.void_id == 255
    assert info.normalization == Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))  # classes.yaml's mean/std
    assert info.imported["output"] == {"name": "logits", "kind": "logits", "size": [24, 32], "channels": 7}
    assert info.imported["input"] == {"name": "images", "layout": "NCHW", "type": "float32"}
    assert info.imported["sha256"] == hashlib.sha256(logits_onnx.read_bytes()).hexdigest()
    assert json.loads(imported.path.with_suffix(".json").read_text())["format_version"] == 2

    graph = onnx.load(str(imported.path))
    assert [i.name for i in graph.graph.input] == [INPUT_NAME]
    assert [o.name for o in graph.graph.output] == list(OUTPUT_NAMES)
    segmenter = create_segmenter("onnxruntime", imported.path, threads=1)
    try:
        result = segmenter.segment([frame])[0]
    finally:
        segmenter.close()
    logits = _torch_logits(network, frame, info.normalization)
    expected = logits.argmax(dim=1)[0].numpy()
    confidence = (255.0 / torch.exp(logits - logits.amax(dim=1, keepdim=True)).sum(dim=1))[0].round().numpy()
    assert result.labels.shape == SIZE and result.labels.dtype == np.uint8
    assert (result.labels == expected).mean() > 0.999
    assert np.abs(result.confidence.astype(int) - confidence).max() <= 1
    assert len(np.unique(expected)) > 1  # the frame exercises several classes


def test_class_id_output_gets_labels_unknown_outside_the_table_and_full_confidence(folder: Path, classes: Path,
                                                                                 frame: np.ndarray) -> None:
    """A model ending in its own argmax, ids 4 * argmax - 17: -1 and ids of 7 and up are not classes -> 255."""
    torch.manual_seed(3)  # predicts classes 4, 5 and 6 on this frame: ids -1, 3 and 7
    network = StridedConvNet(7).eval()
    path = export(ClassIds(network, step=4, offset=-17), folder / "ids.onnx", torch.zeros(1, 3, *SIZE),
                  outputs=("ids",))
    imported = import_onnx(path, classes, folder / "out")  # fixed input size: no --input-size needed
    assert (imported.output_kind, imported.output_size, imported.info.input_size) == ("class_ids", (24, 32), SIZE)
    segmenter = create_segmenter("onnxruntime", imported.path, threads=1)
    try:
        result = segmenter.segment([frame, frame[::-1].copy()])
    finally:
        segmenter.close()
    with torch.no_grad():
        scores = network(torch.from_numpy(preprocess(frame, SIZE, imported.info.normalization)))
    ids = scores.argmax(dim=1)[0].numpy() * 4 - 17
    expected = np.where((ids >= 0) & (ids < 7), ids, 255).repeat(4, axis=0).repeat(4, axis=1)  # nearest x4
    assert set(np.unique(ids).tolist()) == {-1, 3, 7}
    np.testing.assert_array_equal(result[0].labels, expected)
    assert (result[0].confidence == 255).all() and result[1].labels.shape == SIZE


def test_a_class_id_model_choosing_among_other_classes_is_refused(folder: Path, classes: Path) -> None:
    path = export(ClassIds(StridedConvNet(9)), folder / "ids9.onnx", torch.zeros(1, 3, *SIZE), outputs=("ids",))
    with pytest.raises(ModelImportError, match=r"ids9\.onnx: the model predicts 9 classes .* lists 7"):
        import_onnx(path, classes, folder / "out")


def test_nhwc_input_is_transposed(network: StridedConvNet, folder: Path, classes: Path, frame: np.ndarray) -> None:
    path = export(ChannelsLast(network), folder / "nhwc.onnx", torch.zeros(1, *SIZE, 3), dynamic_batch=False)
    imported = import_onnx(path, classes, folder / "out", normalization=Normalization(DEFAULT_MEAN, (0.2, 0.2, 0.2)))
    assert imported.info.imported["input"]["layout"] == "NHWC"
    assert imported.info.normalization.std == (0.2, 0.2, 0.2)  # the argument wins over classes.yaml's
    segmenter = create_segmenter("onnxruntime", imported.path, threads=1)
    try:
        labels = segmenter.segment([frame])[0].labels
    finally:
        segmenter.close()
    expected = _torch_logits(network, frame, imported.info.normalization).argmax(dim=1)[0].numpy()
    assert (labels == expected).mean() > 0.999


def test_the_chosen_output_is_kept_and_the_others_dropped(network: StridedConvNet, folder: Path,
                                                          classes: Path) -> None:
    path = export(WithAuxiliary(network), folder / "aux.onnx", torch.zeros(1, 3, *SIZE), outputs=("aux", "seg"))
    with pytest.raises(ModelImportError, match=r"predicts 2 classes .*'aux'.* lists 7"):
        import_onnx(path, classes, folder / "out")  # the first output is the auxiliary head
    imported = import_onnx(path, classes, folder / "out", output="seg", name="aux")
    graph = onnx.load(str(imported.path)).graph
    assert [o.name for o in graph.output] == list(OUTPUT_NAMES)
    assert not [n for n in graph.node if "aux" in n.name]  # the auxiliary head's nodes are pruned
    with pytest.raises(ModelImportError, match=r"no output named 'segmentation'; the outputs are \['aux', 'seg'\]"):
        import_onnx(path, classes, folder / "out", output="segmentation")


def test_names_of_the_source_graph_that_clash_with_ours_are_moved(network: StridedConvNet, folder: Path,
                                                                 classes: Path) -> None:
    """A source graph whose input is called 'input' and whose output is called 'labels' (logits)."""
    path = export(network, folder / "clash.onnx", torch.zeros(1, 3, *SIZE), outputs=("labels",), input_name="input")
    imported = import_onnx(path, classes, folder / "out")
    segmenter = create_segmenter("onnxruntime", imported.path, threads=1)
    try:
        labels, confidence = segmenter.run(np.zeros((2, 3, *SIZE), np.float32))
    finally:
        segmenter.close()
    assert labels.shape == confidence.shape == (2, *SIZE) and labels.dtype == np.uint8


def test_opset_11_graphs_are_wrapped_with_their_own_operator_versions(network: StridedConvNet, folder: Path,
                                                                      classes: Path, frame: np.ndarray) -> None:
    path = export(network, folder / "opset11.onnx", torch.zeros(1, 3, *SIZE), opset=11)
    imported = import_onnx(path, classes, folder / "out")
    assert imported.info.imported["opset"] == 11
    segmenter = create_segmenter("onnxruntime", imported.path, threads=1)
    try:
        labels = segmenter.segment([frame])[0].labels
    finally:
        segmenter.close()
    expected = _torch_logits(network, frame, imported.info.normalization).argmax(dim=1)[0].numpy()
    assert (labels == expected).mean() > 0.999


def test_the_users_files_are_only_read(logits_onnx: Path, classes: Path) -> None:
    before = {p: p.read_bytes() for p in (logits_onnx, classes)}
    with pytest.raises(ModelImportError, match="would overwrite the source model"):
        import_onnx(logits_onnx, classes, logits_onnx.parent, input_size=SIZE)
    import_onnx(logits_onnx, classes, logits_onnx.parent, input_size=SIZE, name="wrapped")
    assert {p: p.read_bytes() for p in before} == before


def test_an_imported_model_is_not_attendseg_weights(logits_onnx: Path, classes: Path, folder: Path) -> None:
    imported = import_onnx(logits_onnx, classes, folder / "refuse", input_size=SIZE)
    fake = imported.path.with_suffix(".safetensors")
    fake.write_bytes(b"")
    with pytest.raises(ModelFileError, match="describes an imported onnx model, not AttendSeg weights"):
        load_model(fake)


# --------------------------------------------------------------------------------------------- refusals


def test_class_count_mismatch_names_both_numbers(folder: Path, classes: Path) -> None:
    path = export(StridedConvNet(9), folder / "nine.onnx", torch.zeros(1, 3, *SIZE))
    with pytest.raises(ModelImportError, match=r"nine\.onnx: the model predicts 9 classes .*\(1, 9, 24, 32\).*lists 7"):
        import_onnx(path, classes, folder / "out")


def test_not_an_image_model(folder: Path, classes: Path) -> None:
    path = export(torch.nn.Linear(10, 7), folder / "linear.onnx", torch.zeros(1, 10), outputs=("scores",))
    with pytest.raises(ModelImportError, match=r"linear\.onnx: not an image model: input 'images' has shape \[.*10\]"):
        import_onnx(path, classes, folder / "out")
    path = export(Classifier(7), folder / "classifier.onnx", torch.zeros(1, 3, *SIZE), outputs=("scores",))
    with pytest.raises(ModelImportError, match=r"not a segmentation model: output 'scores' is float32 \(1, 7\)"):
        import_onnx(path, classes, folder / "out")


@pytest.mark.parametrize(
    ("case", "input_size", "message"),
    [
        ("dynamic", None, r"input 'images' has a dynamic size \['n', 3, 'height', 'width'\]: pass --input-size H W"),
        ("fixed", (128, 160), r"is fixed at \[1, 3, 96, 128\] \(height 96, width 128\); it cannot be set to 128x160"),
        ("odd", (95, 127), r"onnxruntime cannot run the model on a 95x127 input .*multiple of 32"),
    ],
)
def test_an_input_that_cannot_be_fixed(case: str, input_size: tuple[int, int] | None, message: str, folder: Path,
                                       classes: Path) -> None:
    torch.manual_seed(0)
    network = SkipNet(7) if case == "odd" else StridedConvNet(7)
    path = export(network, folder / f"{case}.onnx", torch.zeros(1, 3, *SIZE), dynamic_size=case != "fixed",
                  dynamic_batch=case != "fixed")
    with pytest.raises(ModelImportError, match=message):
        import_onnx(path, classes, folder / "out", input_size=input_size)
    assert not (folder / "out" / f"{case}.onnx").exists()


def test_corrupt_and_missing_files(logits_onnx: Path, classes: Path, folder: Path) -> None:
    truncated = folder / "truncated.onnx"
    truncated.write_bytes(logits_onnx.read_bytes()[:200])
    with pytest.raises(ModelImportError, match=r"truncated\.onnx: not a readable ONNX model"):
        import_onnx(truncated, classes, folder / "out", input_size=SIZE)
    with pytest.raises(ModelImportError, match=r"missing\.onnx: ONNX file not found"):
        import_onnx(folder / "missing.onnx", classes, folder / "out", input_size=SIZE)
    with pytest.raises(ModelImportError, match=r"nowhere/classes\.yaml: class table not found"):
        import_onnx(logits_onnx, folder / "nowhere" / "classes.yaml", folder / "out", input_size=SIZE)


def test_normalisation_in_0_255_units_is_refused(logits_onnx: Path, classes: Path, folder: Path) -> None:
    with pytest.raises(ModelImportError, match="divide by 255"):
        import_onnx(logits_onnx, classes, folder / "out", input_size=SIZE,
                    normalization=Normalization((123.7, 116.3, 103.5), (58.4, 57.1, 57.4)))


# ------------------------------------------------------------------------------------ the classes.yaml format


def test_classes_yaml_defaults(tmp_path: Path) -> None:
    colors = ((128, 64, 128), (70, 70, 70), (220, 20, 60))
    path = classes_yaml(tmp_path / "robot" / "classes.yaml", names=("floor", "wall", "person"), colors=colors,
                        drivable=("floor",))
    table, normalization = load_classes_yaml(path)
    assert (table.name, table.names, table.void_id, table.drivable) == ("robot", ("floor", "wall", "person"), 255,
                                                                        ("floor",))
    assert table.colors == colors
    assert normalization is None


A = "{name: a, color: [1, 2, 3]}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("classes: []", "'classes' must be a non-empty list"),
        (f"classes: [{A}, {A}]", "class name 'a' appears twice"),
        ("classes: [{name: a}]", r"classes\[0\]\.color: expected \[r, g, b\]"),
        ("classes: [{name: a, color: [1, 2]}]", r"classes\[0\]\.color: expected \[r, g, b\]"),
        (f"classes: [{A}, {{name: b, color: [4, 5, 6]}}]\nignore_index: 1", "'ignore_index' 1 is a class id"),
        (f"classes: [{A}]\ndrivable: [road]", r"'drivable' names \['road'\], which are not classes"),
        (f"classes: [{A}]\nmean: [0.5, 0.5, 0.5]", "give both 'mean' and 'std'"),
        (f"classes: [{A}]\nmean: [123, 116, 103]\nstd: [58, 57, 57]", "'mean' is in fractions of 255"),
        ("classes: [a\n", "cannot read the class table"),
        ("- a\n- b", "expected a mapping with a 'classes' list"),
    ],
)
def test_malformed_classes_yaml_names_the_file_and_field(content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "classes.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        load_classes_yaml(path)
    assert str(path) in str(error.value)
