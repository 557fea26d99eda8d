import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from conftest import write_pair
from wavecross.cli import main
from wavecross.errors import WavecrossError
from wavecross.train import load_config, parse_config, train
from wavecross.train.checkpoint import load_checkpoint
from wavecross.train.stages import stages_to_run

ROOT = Path(__file__).parents[1]
TINY = ROOT / "src" / "wavecross" / "configs" / "tiny.yaml"
SHARED = ROOT.parent / "shared" / "data"


def _config(tmp_path: Path, **overrides) -> Path:
    values = yaml.safe_load(TINY.read_text())
    for section, entries in overrides.items():
        values.setdefault(section, {}).update(entries)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tiny_config_trains_and_loss_falls(tmp_path):
    cfg = load_config(
        _config(
            tmp_path,
            pretrain={"steps": 40},
            fusion={"steps": 40},
            run={"log_every": 5, "val_every": 40, "checkpoint_every": 40},
        )
    )
    assert (
        main(
            [
                "train",
                str(
                    _config(
                        tmp_path,
                        pretrain={"steps": 40},
                        fusion={"steps": 40},
                        run={"log_every": 5, "val_every": 40, "checkpoint_every": 40},
                    )
                ),
                "--out",
                str(tmp_path / "run"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert cfg.model.channels == 8
    for stage in ("pretrain", "fusion"):
        train_rows = [r for r in _records(tmp_path / "run" / stage / "metrics.jsonl") if r["split"] == "train"]
        first, last = train_rows[0]["total"], train_rows[-1]["total"]
        assert last < first, (stage, first, last)
        assert any(r["split"] == "val" for r in _records(tmp_path / "run" / stage / "metrics.jsonl"))
    fusion_row = _records(tmp_path / "run" / "fusion" / "metrics.jsonl")[0]
    assert {"intensity", "gradient", "rank", "energy", "total", "lr"} <= set(fusion_row)
    assert (tmp_path / "run" / "fusion" / "model.safetensors").is_file()
    assert any((tmp_path / "run" / "fusion" / "tb").iterdir())


def _run_cli(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wavecross", "train", *args, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigkill_and_resume_gives_identical_weights(tmp_path):
    cfg = _config(
        tmp_path,
        pretrain={"steps": 12},
        fusion={"steps": 80},
        run={"checkpoint_every": 10, "log_every": 10, "val_every": 1000},
    )
    ref = _run_cli([str(cfg), "--out", str(tmp_path / "ref")])
    assert ref.wait(timeout=1200) == 0, ref.stdout.read()

    killed = _run_cli([str(cfg), "--out", str(tmp_path / "cut")])
    ckpt = tmp_path / "cut" / "fusion" / "checkpoint.safetensors"
    deadline = time.time() + 1200
    while not ckpt.exists() and time.time() < deadline and killed.poll() is None:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    step = load_checkpoint(ckpt)["step"]
    assert 0 < step < 80

    resumed = _run_cli([str(cfg), "--out", str(tmp_path / "cut"), "--resume"])
    assert resumed.wait(timeout=1200) == 0, resumed.stdout.read()
    a = load_file(tmp_path / "ref" / "fusion" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "fusion" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    # The killed run logged steps past its checkpoint and redid them: the log holds each step once, like the ref's.
    def steps(run: str) -> list[tuple[str, int]]:
        return [(r["split"], r["step"]) for r in _records(tmp_path / run / "fusion" / "metrics.jsonl")]

    assert sorted(steps("cut")) == sorted(steps("ref"))


def test_existing_run_needs_resume(tmp_path):
    cfg = _config(tmp_path, pretrain={"steps": 2}, fusion={"steps": 2})
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--stage", "pretrain", "--no-progress"]) == 0
    assert main(["train", str(cfg), "--out", str(out), "--stage", "pretrain", "--no-progress"]) == 2


def test_fusion_stage_without_pretrained_encoders_is_a_clear_error(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["train", str(cfg), "--stage", "fusion", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "encoders.safetensors" in err and "--stage pretrain" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"fusion": {"lrr": 1.0}}, "fusion.lrr"),
        ({"pretrain": {"steps": "many"}}, "pretrain.steps"),
        ({"data": {"roots": ["/nonexistent/set"]}}, "/nonexistent/set"),
        ({"model": {"preset": "tiny", "heads": 2.5}}, "model.heads"),
        ({"run": {"amp": "fp8"}}, "run.amp"),
        ({"fusion": {"loss": {"rnk": 1.0}}}, "fusion.loss.rnk"),
        ({"model": "huge"}, "model"),
        ({"fusion": {"lr": -1e-4}}, "fusion.lr"),
        ({"fusion": {"lr": float("nan")}}, "fusion.lr"),
        ({"pretrain": {"lr": 0}}, "pretrain.lr"),
        ({"data": {"crop": 7}}, "data.crop"),
        ({"data": {"crop": -8}}, "data.crop"),
        ({"run": {"val_every": 0}}, "run.val_every"),
        ({"run": {"log_every": -1}}, "run.log_every"),
        ({"fusion": {"loss": {"energy": -1}}}, "fusion.loss.energy"),
        ({"fusion": {"loss": {"rank_random_pairs": 0, "rank_neighbour_pairs": 0}}}, "fusion.loss.rank"),
        ({"data": {"val_fraction": 1.0}}, "data.val_fraction"),
        ({"fusion": [1, 2]}, "fusion"),
        ({"run": {"grad_clip": float("inf")}}, "run.grad_clip"),
        ({"run": {"device": "quantum"}}, "run.device"),
        ({"fusion": {"init": "no-such-model"}}, "fusion.init"),
        ({"fusion": {"encoders": "/nowhere/encoders.safetensors"}}, "fusion.encoders"),
    ],
)
def test_bad_config_is_one_clear_error(values, fragment):
    with pytest.raises(WavecrossError, match=None) as info:
        parse_config(values)
    assert fragment in str(info.value)


def test_bad_config_through_cli(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: tiny\npretrain:\n  stepz: 3\n")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "pretrain.stepz" in err and "Traceback" not in err


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    cfg = _config(tmp_path, pretrain={"steps": 6}, fusion={"steps": 6}, run={"checkpoint_every": 3})
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",  # a free port of its own: no clash with another run on the machine
            str(ROOT / "tests" / "ddp_worker.py"),
            str(cfg),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r0 = load_file(out / "rank0.safetensors")
    r1 = load_file(out / "rank1.safetensors")
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    assert (out / "fusion" / "model.safetensors").is_file()
    # a single process on the same data ends elsewhere: the two ranks did not just repeat one rank's batches
    single = train(load_config(cfg), "all", tmp_path / "single", progress=False)["fusion"].state_dict()
    assert any(not torch.equal(r0[k], single[k]) for k in r0 if k.startswith("net.wa_"))


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_get_disjoint_shards_of_each_epoch(world):
    from wavecross.train.loop import epoch_batches

    shards = [epoch_batches(10, 2, epoch=3, seed=0, rank=r, world=world) for r in range(world)]
    flat = [[i for batch in shard for i in batch] for shard in shards]
    assert all(len(f) == len(flat[0]) > 0 for f in flat)  # same number of steps on every rank
    assert all(len(b) == 2 for shard in shards for b in shard)
    seen = [i for f in flat for i in f]
    assert len(seen) == len(set(seen)) <= 10  # no item twice in an epoch, across ranks


@pytest.mark.skipif(not (SHARED / "train").is_dir(), reason="../shared/data not present")
def test_real_recipe_config_loads():
    cfg = load_config("wavecross")
    assert len(cfg.data.roots) == 3 and all(Path(r).is_dir() for r in cfg.data.roots)
    assert cfg.model.dim == 512
    v3 = load_config("wavecross-v3")  # encoders by the shipped model's name, a moving average of the weights
    assert v3.fusion.encoders == "wavecross" and v3.fusion.init is None and v3.run.ema == 0.999
    assert v3.model.refine_blocks == 1 and v3.model.skip_gate and v3.model.dim == 512  # the paper preset, + 2 options
    assert stages_to_run(v3, "all") == ("fusion",)  # stage 1's encoders would be replaced: not trained


def test_shipped_weights_recipe_and_finetune_share_the_loss_and_architecture(tmp_path):
    """wavecross-v3 made the shipped weights; fine-tuning them goes on with the same loss and the same network
    (written once: both recipes name it as their base), from the whole model, briefly and without a weight average."""
    v3 = load_config("wavecross-v3")
    finetune = load_config("finetune", [f"data.roots=[{tmp_path}]"])
    proxy = load_config("proxy")
    for cfg in (finetune, proxy):
        assert cfg.fusion.loss == v3.fusion.loss and cfg.model == v3.model
        assert cfg.fusion.init == "wavecross" and cfg.fusion.encoders is None and cfg.run.ema == 0
        assert cfg.fusion.steps <= 600 and cfg.fusion.lr < v3.fusion.lr and cfg.validation.at_start
    assert finetune.fusion.loss.overshoot == 20 and finetune.fusion.loss.saliency_norm == "minmax"
    assert finetune.validation.roots == [] and finetune.validation.max_pairs == 0  # the user's own, all of them
    assert proxy.validation.roots == v3.validation.roots and proxy.validation.max_pairs == 8
    assert proxy.data.roots == v3.data.roots and finetune.data.roots == [str(tmp_path.resolve())]


def test_base_recipe_merges_section_by_section(tmp_path):
    pairs = tmp_path / "base" / "pairs"
    pairs.mkdir(parents=True)
    base = yaml.safe_load(TINY.read_text())
    base["data"]["roots"] = ["pairs"]  # relative to the base file's folder, not to the file that names it
    base["fusion"]["loss"] = {"rank": 7.0, "gradient": 3.0}
    (tmp_path / "base" / "base.yaml").write_text(yaml.safe_dump(base))
    child = tmp_path / "exp" / "child.yaml"
    child.parent.mkdir()
    child.write_text("base: ../base/base.yaml\nfusion:\n  steps: 5\n  loss:\n    rank: 1.0\nmodel:\n  heads: 2\n")
    cfg = load_config(child)
    assert cfg.data.roots == [str(pairs.resolve())] and cfg.data.crop == 64
    assert cfg.fusion.steps == 5 and cfg.fusion.lr == base["fusion"]["lr"]  # merged key by key
    assert cfg.fusion.loss.rank == 1 and cfg.fusion.loss.gradient == 3  # nested sections too
    assert cfg.model.heads == 2 and cfg.model.dim == load_config(TINY).model.dim  # the tiny preset, one field changed
    child.write_text("base: ../base/base.yaml\nmodel: paper\n")  # naming a preset starts the network over
    assert load_config(child).model == load_config("wavecross").model
    child.write_text("base: child.yaml\n")
    with pytest.raises(WavecrossError, match="loops"):
        load_config(child)
    for i in range(8):  # c0 → c1 → ... → c7 → tiny: nine files
        (tmp_path / "exp" / f"c{i}.yaml").write_text(f"base: c{i + 1}.yaml\n" if i < 7 else "base: tiny\n")
    with pytest.raises(WavecrossError, match="deeper than 8"):
        load_config(tmp_path / "exp" / "c0.yaml")
    assert load_config(tmp_path / "exp" / "c1.yaml").model == load_config("tiny").model  # eight are fine
    child.write_text("base: [tiny]\n")
    with pytest.raises(WavecrossError, match="config key base"):
        load_config(child)
    child.write_text("base: no-such-recipe\n")
    with pytest.raises(WavecrossError, match="child.yaml: config key base: no-such-recipe: config file not found"):
        load_config(child)


@pytest.mark.parametrize("recipe", ["finetune", "proxy"])
def test_recipes_from_the_shipped_model_take_every_tensor(tmp_path, recipe):
    """A recipe starting from the shipped model builds the network its file holds: no tensor missing, none left
    over, values as stored (so re-shipping another architecture cannot break them unnoticed)."""
    from wavecross.hub import weights_path
    from wavecross.nn.io import read_weights
    from wavecross.train.stages import _initial_network

    cfg = load_config(recipe, [f"data.roots=[{tmp_path}]"])
    assert cfg.fusion.init == "wavecross"
    net = _initial_network(cfg, tmp_path)
    shipped, _ = read_weights(weights_path("wavecross"))
    state = net.state_dict()
    assert set(state) == set(shipped)
    assert all(torch.equal(state[k], shipped[k].to(state[k].dtype)) for k in shipped)


def test_v2_recipe_names_the_weights_it_needs(tiny_weights):
    with pytest.raises(WavecrossError, match="wavecross-v1.safetensors"):
        load_config("wavecross-v2")  # v1's weights are not in the package: a clear error, not a traceback
    v2 = load_config("wavecross-v2", [f"fusion.init={tiny_weights}"])
    assert v2.fusion.loss.intensity == 10 and v2.fusion.loss.saliency_norm == "minmax"
    assert v2.fusion.loss.overshoot == 0


def test_train_function_returns_modules(tmp_path):
    cfg = parse_config(yaml.safe_load(_config(tmp_path, pretrain={"steps": 2}, fusion={"steps": 2}).read_text()))
    models = train(cfg, "all", tmp_path / "r", progress=False)
    assert set(models) == {"pretrain", "fusion"}
    frozen = [p.requires_grad for p in models["fusion"].net.encoder_ir.parameters()]
    assert frozen and not any(frozen)


def test_recipe_by_name_and_overrides():
    cfg = load_config("tiny", ["fusion.lr=5e-4", "fusion.loss.rank=2", "model.heads=4", "run.channels_last=true"])
    assert cfg.fusion.lr == 5e-4 and cfg.fusion.loss.rank == 2.0 and cfg.model.heads == 4 and cfg.run.channels_last
    assert cfg.model.channels == 8  # the rest of the tiny preset is kept


def test_all_stages_skip_pretraining_when_the_fusion_stage_starts_from_a_whole_model(tmp_path):
    assert stages_to_run(load_config("wavecross"), "all") == ("pretrain", "fusion")
    finetune = load_config("finetune", [f"data.roots=[{tmp_path}]"])
    assert finetune.fusion.init == "wavecross"
    assert stages_to_run(finetune, "all") == ("fusion",)
    assert stages_to_run(finetune, "pretrain") == ("pretrain",)  # asked for by name, it still runs


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["fusion.lrr=1"], "fusion.lrr"),
        (["fusion.lr"], "KEY=VALUE"),
        (["fusion.lr=fast"], "fusion.lr"),
        (["run.seed.x=1"], "run.seed"),
        (["fusion.loss.saliency_norm=zscore"], "saliency_norm"),
    ],
)
def test_bad_override_is_one_clear_error(overrides, fragment):
    with pytest.raises(WavecrossError) as info:
        load_config("tiny", overrides)
    assert fragment in str(info.value)


def test_unknown_recipe_name_lists_the_shipped_ones(capsys):
    assert main(["train", "huge-model"]) == 2
    err = capsys.readouterr().err
    assert "tiny" in err and "wavecross" in err and "Traceback" not in err


def test_init_from_a_whole_model_is_strict(tmp_path, tiny_weights):
    from wavecross.nn import WaveCross

    cfg = _config(tmp_path, fusion={"steps": 2, "init": str(tiny_weights)})
    out = tmp_path / "ft"
    assert main(["train", str(cfg), "--stage", "fusion", "--out", str(out), "--no-progress"]) == 0
    start = load_file(tiny_weights)
    trained = load_file(out / "fusion" / "model.safetensors")
    encoders = [k for k in start if k.startswith("encoder_")]
    assert encoders and all(torch.equal(start[k], trained[k]) for k in encoders)  # frozen, taken from init
    other = tmp_path / "other.safetensors"
    WaveCross({"shallow_channels": 4, "encoder_channels": [8, 8, 16], "dense_layers": 1, "heads": 2}).save(other)
    bad = _config(tmp_path, fusion={"steps": 2, "init": str(other)})
    with pytest.raises(WavecrossError, match="does not fit"):
        train(load_config(bad), "fusion", tmp_path / "bad", progress=False)


def test_balanced_roots_draw_each_root_equally_with_fresh_crops(tmp_path):
    from conftest import write_pair
    from wavecross.data import PairedImageDataset
    from wavecross.train.loop import epoch_batches

    for i in range(6):
        write_pair(tmp_path / "big", f"b{i}.png", size=(48, 48), seed=i)
    for i in range(2):
        write_pair(tmp_path / "small", f"s{i}.png", size=(48, 48), seed=10 + i)
    data = PairedImageDataset([tmp_path / "big", tmp_path / "small"], crop=16, val_fraction=0)
    groups = data.groups
    assert [len(g) for g in groups] == [6, 2]
    draws = [i for b in epoch_batches(len(data), 4, epoch=0, seed=0, rank=0, world=1, groups=groups) for i in b]
    pairs = [i % len(data) for i in draws]
    assert sum(p in groups[0] for p in pairs) == sum(p in groups[1] for p in pairs) == 6
    assert len(set(draws)) == len(draws)  # each small pair thrice, as three different draws
    repeats = [i for i in draws if i % len(data) == groups[1][0]]
    crops = [data[i]["ir"] for i in repeats]
    assert not torch.equal(crops[0], crops[1])  # a repeat is a new crop, not a copy
    assert torch.equal(data[repeats[0]]["ir"], data[repeats[0]]["ir"])  # and reproducible


def test_init_accepts_a_model_without_the_added_refinement(tmp_path, tiny_weights):
    cfg = _config(tmp_path, fusion={"steps": 2, "init": str(tiny_weights)})
    out = tmp_path / "refined"
    args = ["train", str(cfg), "--set", "model.refine_blocks=1", "--stage", "fusion", "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    trained = load_file(out / "fusion" / "model.safetensors")
    assert any(k.startswith("decoder.refine.0.") for k in trained)


def test_train_shorthands_become_config_values(tmp_path, tiny_weights, monkeypatch):
    from wavecross.cli import train as train_cli

    seen = {}
    monkeypatch.setattr("wavecross.train.stages.train", lambda cfg, *a, **k: seen.setdefault("cfg", cfg))
    data = tmp_path / "pairs"
    write_pair(data, "a.png")
    args = ["train", "tiny", "--data", str(data), "--init", str(tiny_weights), "--seed", "7", "--device", "cpu"]
    assert main([*args, "--set", "run.seed=8", "--out", str(tmp_path / "o")]) == 0
    cfg = seen["cfg"]
    assert cfg.data.roots == [str(data.resolve())] and cfg.fusion.init == str(tiny_weights)
    assert cfg.run.device == "cpu" and cfg.run.seed == 8  # --set wins over the shorthand
    assert train_cli.run.__module__ == "wavecross.cli.train"


@pytest.mark.parametrize("native", [True, False])
def test_autocast_follows_run_amp_and_the_hardware(monkeypatch, native):
    import wavecross.engine
    from wavecross.train.loop import autocast_dtype

    monkeypatch.setattr(wavecross.engine, "cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is (torch.bfloat16 if native else None)
    assert autocast_dtype("bf16", cpu) is torch.bfloat16  # asked for: kept, even where it is emulated
    assert autocast_dtype("fp16", cpu) is None and autocast_dtype("off", cpu) is None


def test_ema_decay_warms_up_then_holds():
    from wavecross.train.loop import ema_decay

    assert ema_decay(0.999, 0) == pytest.approx(0.1)
    assert ema_decay(0.999, 90) == pytest.approx(0.91)
    assert ema_decay(0.999, 10**6) == 0.999
    assert ema_decay(0.5, 90) == 0.5


def test_ema_weights_are_what_the_run_keeps(tmp_path, tiny_weights):
    def run(name: str, steps: int, ema: float) -> tuple[dict[str, torch.Tensor], dict]:
        cfg = _config(tmp_path, fusion={"steps": steps, "init": str(tiny_weights)}, run={"ema": ema})
        assert main(["train", str(cfg), "--stage", "fusion", "--out", str(tmp_path / name), "--no-progress"]) == 0
        kept = load_file(tmp_path / name / "fusion" / "model.safetensors")
        return kept, load_checkpoint(tmp_path / name / "fusion" / "checkpoint.safetensors")

    plain, _ = run("plain", 12, 0.0)
    tiny_decay, _ = run("tiny_decay", 12, 1e-9)
    # A decay near 0 averages nothing away: the kept weights are the trained ones.
    assert all(torch.allclose(plain[k], tiny_decay[k], atol=1e-5) for k in plain)
    # The average starts as the weights after the first step, then moves toward each new step's weights by
    # 1 − decay, the decay being at most 2/11 at the second update (ema_decay's warm-up).
    first, _ = run("one", 1, 0.9)
    kept, state = run("two", 2, 0.9)
    raw = {k.removeprefix("net."): v for k, v in state["model"].items() if k.startswith("net.")}
    d = 2 / 11
    trained = [k for k in kept if kept[k].is_floating_point() and not torch.equal(first[k], raw[k])]
    assert trained  # the second step changed the weights, and the kept ones are the average, not the last
    for k in trained:
        torch.testing.assert_close(kept[k], d * first[k] + (1 - d) * raw[k], rtol=1e-5, atol=1e-6)
    assert int(state["ema"]["n_averaged"]) == 2


def test_resuming_a_run_with_ema_turned_on_is_a_clear_error(tmp_path, tiny_weights, capsys):
    cfg = _config(tmp_path, fusion={"steps": 4, "init": str(tiny_weights)})
    out = str(tmp_path / "run")
    assert main(["train", str(cfg), "--stage", "fusion", "--out", out, "--no-progress"]) == 0
    code = main(["train", str(cfg), "--stage", "fusion", "--out", out, "--resume", "--set", "run.ema=0.99"])
    assert code == 2
    err = capsys.readouterr().err
    assert "run.ema" in err and "Traceback" not in err
    assert main(["train", str(cfg), "--set", "run.ema=1.5", "--out", str(tmp_path / "x")]) == 2
    assert "run.ema" in capsys.readouterr().err


def test_encoders_file_needs_only_matching_encoder_sizes(tmp_path):
    from safetensors import safe_open

    cfg = _config(tmp_path, pretrain={"steps": 2}, fusion={"steps": 2})
    assert main(["train", str(cfg), "--stage", "pretrain", "--out", str(tmp_path / "p"), "--no-progress"]) == 0
    path = tmp_path / "p" / "pretrain" / "encoders.safetensors"
    with safe_open(path, "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        config = json.loads(f.metadata()["config"])

    def variant(name: str, **changes) -> str:
        values = {k: v for k, v in config.items() if k != "skip_gate"} | changes  # as written before skip_gate
        save_file(tensors, tmp_path / name, metadata={"config": json.dumps(values)})
        return f"fusion.encoders={tmp_path / name}"

    older = variant("older.safetensors")
    assert main(["train", str(cfg), "--stage", "fusion", "--set", older, "--out", str(tmp_path / "a")]) == 0
    other = variant("other.safetensors", dense_layers=config["dense_layers"] + 1)
    assert main(["train", str(cfg), "--stage", "fusion", "--set", other, "--out", str(tmp_path / "b")]) == 2


def test_encoders_can_come_from_a_whole_model_or_a_shipped_name(tmp_path, tiny_weights, capsys):
    cfg = _config(tmp_path, fusion={"steps": 2, "encoders": str(tiny_weights)})
    out = tmp_path / "whole"
    assert main(["train", str(cfg), "--stage", "fusion", "--out", str(out), "--no-progress"]) == 0
    start, trained = load_file(tiny_weights), load_file(out / "fusion" / "model.safetensors")
    encoders = [k for k in start if k.startswith("encoder_")]
    assert encoders and all(torch.equal(start[k], trained[k]) for k in encoders)  # taken from it, then frozen
    assert any(not torch.equal(start[k], trained[k]) for k in start if k.startswith("decoder."))  # the rest fresh
    # By name: the shipped model's encoders are the paper's sizes, not the tiny model's: one clear sentence.
    named = ["train", str(cfg), "--stage", "fusion", "--set", "fusion.encoders=wavecross", "--out", str(tmp_path / "n")]
    assert main(named) == 2
    assert "another model config" in capsys.readouterr().err
    empty = tmp_path / "empty.safetensors"
    save_file({"x": torch.zeros(1)}, empty, metadata={"config": json.dumps(load_config(cfg).model.to_dict())})
    no_encoders = [
        "train",
        str(cfg),
        "--stage",
        "fusion",
        "--set",
        f"fusion.encoders={empty}",
        "--out",
        str(tmp_path / "e"),
    ]
    assert main(no_encoders) == 2
    assert "no complete encoders" in capsys.readouterr().err
