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
from safetensors.torch import load_file

from wavecross.cli import main
from wavecross.errors import WavecrossError
from wavecross.train import load_config, parse_config, train
from wavecross.train.checkpoint import load_checkpoint

ROOT = Path(__file__).parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
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
    assert ref.wait(timeout=300) == 0, ref.stdout.read()

    killed = _run_cli([str(cfg), "--out", str(tmp_path / "cut")])
    ckpt = tmp_path / "cut" / "fusion" / "checkpoint.safetensors"
    deadline = time.time() + 240
    while not ckpt.exists() and time.time() < deadline and killed.poll() is None:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    step = load_checkpoint(ckpt)["step"]
    assert 0 < step < 80

    resumed = _run_cli([str(cfg), "--out", str(tmp_path / "cut"), "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()
    a = load_file(tmp_path / "ref" / "fusion" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "fusion" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


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
            "--master_port=29617",
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
    # the two ranks saw different data: the effective batch is 2 × batch_size
    rows = [json.loads(line) for line in (out / "fusion" / "metrics.jsonl").read_text().splitlines()]
    assert rows and rows[0]["step"] >= 1


@pytest.mark.skipif(not (SHARED / "train").is_dir(), reason="../shared/data not present")
def test_real_recipe_config_loads():
    cfg = load_config(ROOT / "configs" / "wavecross.yaml")
    assert len(cfg.data.roots) == 3 and all(Path(r).is_dir() for r in cfg.data.roots)
    assert cfg.model.dim == 512


def test_train_function_returns_modules(tmp_path):
    cfg = parse_config(yaml.safe_load(_config(tmp_path, pretrain={"steps": 2}, fusion={"steps": 2}).read_text()))
    models = train(cfg, "all", tmp_path / "r", progress=False)
    assert set(models) == {"pretrain", "fusion"}
    frozen = [p.requires_grad for p in models["fusion"].net.encoder_ir.parameters()]
    assert frozen and not any(frozen)
