"""Training on a dataset of another layout and class table; fine-tuning from a trained model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from dataset_builders import (
    SIDEWALK7,
    copy_dataset,
    tree_digest,
)

from attendseg_ros.cli.train import parse_args
from attendseg_ros.data import DatasetError, Normalization, load_class_table
from attendseg_ros.engines import default_model_path
from attendseg_ros.model import create_model
from attendseg_ros.modelfiles.checkpoint import load_model
from attendseg_ros.training import trainer
from attendseg_ros.training.trainer import (
    FINE_TUNE_DEFAULTS,
    TrainConfig,
    encoder_parameters,
    initialise_from,
    train,
)

TINY = ["--steps", "2", "--batch-size", "2", "--crop", "64", "96", "--final-crop", "64", "96",
        "--input-size", "64", "96", "--threads", "2", "--eval-every", "2"]


def test_fine_tune_keeps_fitting_weights_and_learns_the_datasets_classes(folder_dataset: Path,
                                                                          tmp_path: Path) -> None:
    before = tree_digest(folder_dataset)
    out = tmp_path / "run"
    config, _ = parse_args(["--data", str(folder_dataset), "--out", str(out), "--init-from", "embedded",
                            "--freeze-encoder-fraction", "1", *TINY])
    summary = train(config)
    assert summary["finished"]
    model, info = load_model(out / "final.safetensors")
    assert info.classes.names == SIDEWALK7 and info.classes.void_id == 255
    assert info.classes.drivable == ("road", "sidewalk")
    assert info.normalization == Normalization((0.4, 0.4, 0.4), (0.25, 0.25, 0.25))  # from classes.yaml
    assert info.name == "attendseg_sidewalk7" and info.input_size == (64, 96)
    assert set(info.metrics) >= {"val", "step"}  # its own val split, scored in its own classes
    assert len(info.metrics["val"]["class_iou"]) == 7
    assert info.training["config"]["train_splits"] == ["train"] and info.training["config"]["layout"] == "folder"
    embedded, _ = load_model(default_model_path("safetensors"))
    frozen = [n for n, _ in embedded.named_parameters() if n.split(".")[0] in ("stem", "stage4", "stage8", "stage32")]
    assert frozen and all(torch.equal(model.state_dict()[n], embedded.state_dict()[n]) for n in frozen)
    assert model.head.weight.shape[0] == 7
    decoder = "refine4.deep_adapt.0.weight"  # trained, from the embedded model's value
    assert not torch.equal(model.state_dict()[decoder], embedded.state_dict()[decoder])
    assert tree_digest(folder_dataset) == before  # the user's files are only read


def test_initialise_from_copies_the_classifier_only_for_the_same_classes() -> None:
    torch.manual_seed(0)
    source = create_model("attendseg_camvid11")
    _, info = load_model(default_model_path("safetensors"))
    same = create_model("attendseg_camvid11")
    report = initialise_from(same, source, info, load_class_table("camvid11"))
    assert report == {"loaded": len(source.state_dict()), "reinitialised": [], "classifier_reinitialised": False}
    assert torch.equal(same.head.weight, source.head.weight)
    # the same number of classes under other names: the classifier starts afresh
    renamed = create_model("attendseg_camvid11")
    head_before = renamed.head.weight.clone()
    other = load_class_table("camvid11")
    other = type(other)("other", tuple(n.lower() for n in other.names), other.colors, other.void_id)
    report = initialise_from(renamed, source, info, other)
    assert report["classifier_reinitialised"] and report["reinitialised"] == ["head.weight", "head.bias"]
    assert torch.equal(renamed.head.weight, head_before)
    assert torch.equal(renamed.state_dict()["stem.0.0.weight"], source.state_dict()["stem.0.0.weight"])


def test_fine_tuning_defaults_scale_with_steps_and_give_way_to_options(folder_dataset: Path,
                                                                      tiny_camvid: Path) -> None:
    tuned, _ = parse_args(["--data", str(folder_dataset), "--init-from", "embedded", "--steps", "150"])
    assert tuned.lr == FINE_TUNE_DEFAULTS["lr"]
    assert tuned.warmup_steps == round(150 * FINE_TUNE_DEFAULTS["warmup_fraction"])
    assert tuned.freeze_encoder_fraction == FINE_TUNE_DEFAULTS["freeze_encoder_fraction"]
    assert tuned.eval_sets == ("val",) and tuned.train_splits == ()
    chosen, _ = parse_args(["--data", str(folder_dataset), "--init-from", "embedded", "--steps", "150",
                            "--lr", "0.01", "--warmup-steps", "3", "--eval-sets", "test"])
    assert (chosen.lr, chosen.warmup_steps, chosen.eval_sets) == (0.01, 3, ("test",))
    scratch, _ = parse_args(["--data", str(tiny_camvid), "--steps", "150"])  # a short run from scratch
    recipe = TrainConfig(data="")
    assert (scratch.lr, scratch.warmup_steps) == (recipe.lr, 15)
    assert parse_args(["--data", str(tiny_camvid)])[0].warmup_steps == recipe.warmup_steps  # the CamVid recipe
    with pytest.raises(SystemExit):
        parse_args(["--data", str(folder_dataset), "--steps", "0"])


def test_cityscapes_run_from_scratch_evaluates_on_the_split_asked_for(cityscapes_dataset: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "city"
    config, _ = parse_args(["--data", str(cityscapes_dataset), "--out", str(out), "--eval-sets", "test",
                            "--exclude-sequences", "bremen", *TINY])
    summary = train(config)
    _, info = load_model(out / "final.safetensors")
    assert info.classes.name == "cityscapes19" and info.config.num_classes == 19
    assert summary["last_eval"]["test"]["miou"] is not None
    assert json.loads((out / "history.json").read_text())[-1]["step"] == 2


def test_bad_dataset_stops_before_any_step(folder_dataset: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[int] = []
    monkeypatch.setattr(trainer.TrainStep, "__call__", lambda *args, **kwargs: steps.append(1) or 0.0)
    root = copy_dataset(folder_dataset, tmp_path / "broken")
    mask = sorted((root / "masks" / "val").iterdir())[0]  # an evaluation frame: found before training too
    mask.write_bytes(mask.read_bytes()[:64])
    out = tmp_path / "run"
    config, _ = parse_args(["--data", str(root), "--out", str(out), "--init-from", "embedded", *TINY])
    with pytest.raises(DatasetError, match=mask.name):
        train(config)
    assert not steps and not out.exists()  # nothing trained, nothing written
    with pytest.raises(DatasetError, match="must be a non-empty list"):
        (root / "classes.yaml").write_text("classes: []\n")
        train(parse_args(["--data", str(root), "--out", str(out), *TINY])[0])


def test_encoder_parameters_are_the_encoder() -> None:
    model = create_model("attendseg_camvid11")
    names = {id(p): n for n, p in model.named_parameters()}
    chosen = {names[id(p)].split(".")[0] for p in encoder_parameters(model)}
    assert chosen == {"stem", "stage4", "stage8", "stage32"}
