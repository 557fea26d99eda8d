"""Training checkpoints: pickle-free, exact round trip, atomic with a fallback to the previous one."""

import os
import pickle
import random
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from wavecross.cli import main
from wavecross.errors import WavecrossError
from wavecross.nn.io import save_state
from wavecross.train.checkpoint import (
    decode_state,
    encode_state,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

ROOT = Path(__file__).parents[1]


class _Exploit:
    """Unpickling this runs ``os.system`` (what a crafted checkpoint.pt does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tiny_config(tmp_path: Path) -> Path:
    values = yaml.safe_load((ROOT / "src" / "wavecross" / "configs" / "tiny.yaml").read_text())
    values["pretrain"]["steps"] = values["fusion"]["steps"] = 4
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_planted_pickle_is_refused_without_running(tmp_path, capsys):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "pretrain").mkdir(parents=True)
    with open(run / "pretrain" / "checkpoint.pt", "wb") as f:
        pickle.dump({"step": _Exploit(marker)}, f)
    # the exploit is real: plain unpickling would have run it
    assert not marker.exists()
    assert main(["train", str(_tiny_config(tmp_path)), "--out", str(run), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), "the pickle was executed"
    assert "checkpoint.pt" in err and "pickle" in err and "Traceback" not in err


def test_pickle_renamed_to_the_new_name_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(WavecrossError, match="no readable checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


def test_state_round_trip_is_exact(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    state = {
        "step": 7,
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "array": np.arange(6, dtype=np.uint32).reshape(2, 3),
        "mixed": {1: (2.5, None, "x"), "nan": float("nan"), "flag": True},
        "rng": rng_state(),
    }
    save_checkpoint(tmp_path / "c.safetensors", state)
    back = load_checkpoint(tmp_path / "c.safetensors")
    assert back["step"] == 7 and back["mixed"][1] == (2.5, None, "x") and back["mixed"]["flag"] is True
    assert np.isnan(back["mixed"]["nan"])
    assert back["array"].dtype == np.uint32 and np.array_equal(back["array"], state["array"])
    assert all(torch.equal(back["model"][k], v) for k, v in state["model"].items())
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    for key, moments in state["optimizer"]["state"].items():
        assert all(torch.equal(back["optimizer"]["state"][key][k], v) for k, v in moments.items())
    opt2 = torch.optim.AdamW(net.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])  # the optimizer accepts what comes back


def test_rng_state_restores_every_generator(tmp_path):
    save_checkpoint(tmp_path / "r.safetensors", {"rng": rng_state()})
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    set_rng_state(load_checkpoint(tmp_path / "r.safetensors")["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_encode_rejects_arbitrary_objects():
    with pytest.raises(TypeError, match="object"):
        encode_state({"x": object()})


def test_decode_of_encode_keeps_int_keys_and_tuples():
    skeleton, tensors = encode_state({"a": {0: [1, (2, 3)]}})
    assert decode_state(skeleton, tensors) == {"a": {0: [1, (2, 3)]}}


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_damaged_newest_checkpoint_falls_back_to_previous(tmp_path, damage, capsys):
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, {"step": 1})
    save_checkpoint(path, {"step": 2})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"")
    assert load_checkpoint(path)["step"] == 1
    assert "resuming from" in capsys.readouterr().err


def test_no_readable_checkpoint_is_one_error(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(WavecrossError, match="checkpoint.safetensors"):
        load_checkpoint(path)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, {"step": 1})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("wavecross.train.checkpoint.write_safetensors", full_disk)
    with pytest.raises(WavecrossError, match="No space left"):
        save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 1
    assert not path.with_name(path.name + ".tmp").exists()


def test_checkpoints_and_weights_respect_the_umask(tmp_path):
    """safetensors' own writer makes 0600 files; ours get the usual 0666 less the umask, like any other output."""
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "checkpoint.safetensors", {"step": 1, "w": torch.ones(2)})
        save_state({"w": torch.ones(2)}, tmp_path / "model.safetensors")
    finally:
        os.umask(old)
    for name in ("checkpoint.safetensors", "model.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
