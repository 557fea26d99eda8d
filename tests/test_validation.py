"""Full-size validation inside training: composite score, scoring of whole images, best checkpoint."""

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from conftest import write_pair
from wavecross.cli import main
from wavecross.errors import WavecrossError
from wavecross.train import parse_config
from wavecross.train.validation import FullImageValidator, composite_score

ROOT = Path(__file__).parents[1]


def test_composite_score_by_hand():
    reference = {"A": {"SD": 40.0, "Nabf": 0.0001}, "B": {"SD": 20.0, "Nabf": 0.10}}
    values = {"A": {"SD": 44.0, "Nabf": 0.0101}, "B": {"SD": 19.0, "Nabf": 0.01}}
    # SD gains: +0.10 (A), -0.05 (B) → mean 0.025. Nabf is lower-better and measured against at least 0.05:
    # A −0.01/0.05 = −0.2, B +0.09/0.10 = +0.9 clipped to +0.5 → mean 0.15.
    score = composite_score(values, reference, {"SD": 3.0, "Nabf": 1.0})
    assert score == pytest.approx((3 * 0.025 + 1 * 0.15) / 4)


def test_composite_score_skips_nan_and_zero_references():
    reference = {"A": {"SCD": 0.0, "SD": 10.0}}
    values = {"A": {"SCD": 1.0, "SD": math.nan}}
    assert math.isnan(composite_score(values, reference, {"SCD": 1.0, "SD": 1.0}))
    assert composite_score({"A": {"SD": 12.0}}, {"A": {"SD": 10.0}}, {"SD": 1.0}) == pytest.approx(0.2)


class _Fixed(nn.Module):
    """A 'network' returning max(IR, VIS) or IR, for scoring without training."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, ir, vis):
        return torch.maximum(ir, vis) if self.kind == "max" else ir


@pytest.fixture
def val_root(tmp_path) -> Path:
    root = tmp_path / "valset"
    for i in range(3):
        write_pair(root, f"p{i}.png", size=(64, 80), seed=10 + i)
    return root


def test_validator_scores_the_reference_as_zero_and_ir_as_thermally_perfect(val_root, tmp_path):
    cache = tmp_path / "cache"
    v = FullImageValidator([val_root], max_pairs=2, cache_dir=cache)
    assert [s.name for s in v.sets] == ["valset"] and len(v.sets[0].names) == 2
    same = v.evaluate(_Fixed("max"))
    assert v.score(same) == pytest.approx(0.0, abs=1e-12)
    assert same["valset"] == pytest.approx(v.reference["valset"])
    ir_only = v.evaluate(_Fixed("ir"))
    assert ir_only["valset"]["RankAgree"] == pytest.approx(1.0)
    assert ir_only["valset"]["RankAgree"] > v.reference["valset"]["RankAgree"]
    # the cached reference is reused (same key), a new entry is made when the metrics or the images change
    (stored,) = cache.iterdir()
    assert json.loads(stored.read_text())["values"] == v.reference
    stored.write_text(stored.read_text().replace('"SD": ', '"SD": 1000.0, "_was": '))
    assert FullImageValidator([val_root], max_pairs=2, cache_dir=cache).reference["valset"]["SD"] == 1000.0
    other = FullImageValidator(
        [val_root], metrics=["SD", "RankAgree"], weights={"SD": 1.0}, max_pairs=2, cache_dir=cache
    )
    assert set(other.reference["valset"]) == {"SD", "RankAgree"}
    write_pair(val_root, "p0.png", size=(64, 80), seed=99)  # same name, new image: not the cached values
    changed = FullImageValidator([val_root], max_pairs=2, cache_dir=cache)
    assert changed.reference["valset"]["SD"] != 1000.0
    assert len(list(cache.iterdir())) == 3


def test_evaluate_restores_training_mode(val_root):
    v = FullImageValidator([val_root], metrics=["SD"], weights={"SD": 1.0}, max_pairs=1)
    model = _Fixed("max").train()
    v.evaluate(model)
    assert model.training


def test_evaluate_fuses_at_the_precision_asked_for(val_root):
    seen = []

    class Recorder(_Fixed):
        def forward(self, ir, vis):
            seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu"))
            return super().forward(ir, vis)

    v = FullImageValidator([val_root], metrics=["SD"], weights={"SD": 1.0}, max_pairs=1)
    v.evaluate(Recorder("max"), "fp32")
    v.evaluate(Recorder("max"), "bf16")
    assert seen == [False, torch.bfloat16]


def test_weights_must_name_computed_metrics(val_root):
    with pytest.raises(WavecrossError, match="Qabf"):
        FullImageValidator([val_root], metrics=["SD"], weights={"Qabf": 1.0})


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({"metrics": ["SD", "Sharpness"]}, "validation.metrics"),
        ({"weights": {"Qabf": 1.0}, "metrics": ["SD"]}, "validation.weights"),
        ({"reference": "median"}, "validation.reference"),
        ({"precision": "int8"}, "validation.precision"),
        ({"every": 0}, "validation.every"),
        ({"roots": ["/nonexistent/val"]}, "validation.roots"),
        ({"weights": ["SD"]}, "validation.weights"),
    ],
)
def test_bad_validation_config_is_found_before_training(section, fragment):
    with pytest.raises(WavecrossError) as info:
        parse_config({"model": "tiny", "validation": section})
    assert fragment in str(info.value)


def test_training_keeps_the_best_checkpoint_by_score(val_root, tmp_path):
    values = yaml.safe_load((ROOT / "src" / "wavecross" / "configs" / "tiny.yaml").read_text())
    values["pretrain"]["steps"] = 4
    values["fusion"]["steps"] = 6
    values["run"].update(checkpoint_every=3, val_every=100)
    values["validation"] = {
        "roots": [str(val_root)],
        "every": 3,
        "metrics": ["SD", "SF", "RankAgree"],
        "weights": {"SD": 1.0, "SF": 1.0, "RankAgree": 4.0},
    }
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(values))
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (out / "fusion" / "metrics.jsonl").read_text().splitlines()]
    full = [r for r in rows if r["split"] == "val_full"]
    assert [r["step"] for r in full] == [0, 3, 6]
    assert {"valset/SD", "valset/SF", "valset/RankAgree", "score", "seconds"} <= set(full[0])
    best = max(full, key=lambda r: r["score"])
    info = json.loads((out / "fusion" / "best.json").read_text())
    assert info["step"] == best["step"] and info["score"] == pytest.approx(best["score"])
    weights = load_file(out / "fusion" / "best.safetensors")
    if best["step"] == 6:  # the best is the last: identical to the final model
        final = load_file(out / "fusion" / "model.safetensors")
        assert all(torch.equal(weights[k], final[k]) for k in final)
    # a resumed run (already finished) keeps its log rows unique
    assert main(["train", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 0
    again = [json.loads(line) for line in (out / "fusion" / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["split"], r["step"]) for r in again]
    assert len(keys) == len(set(keys))


def test_fp16_validation_on_the_cpu_is_refused_before_the_first_step(val_root, tmp_path, capsys):
    values = yaml.safe_load((ROOT / "src" / "wavecross" / "configs" / "tiny.yaml").read_text())
    values["run"]["device"] = "cpu"
    values["validation"] = {
        "roots": [str(val_root)],
        "every": 3,
        "metrics": ["SD"],
        "weights": {"SD": 1.0},
        "precision": "fp16",
    }
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(values))
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "validation.precision: fp16 cannot run on the cpu" in err and "Traceback" not in err
    assert not out.exists()  # refused before any stage wrote its config or a checkpoint
