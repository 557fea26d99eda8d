"""`torchrun ... -m wavecross fuse`: the processes share a folder's pairs (each once, shares even, outputs those of
one process), agree on bad input before anyone writes, print once, and continue with --skip-existing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import wavecross.distributed
from conftest import write_pair
from wavecross.distributed import Group, torchrun_group
from wavecross.errors import WavecrossError

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"a": (72, 100), "b": (48, 64), "c": (72, 100), "d": (40, 56), "e": (48, 64), "f": (72, 100)}


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shares_are_disjoint_even_and_cover_every_item(world: int) -> None:
    items = list(range(10))
    shares = [Group(rank, world).share(items) for rank in range(world)]
    assert sorted(i for share in shares for i in share) == items
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_the_group_comes_from_torchruns_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert torchrun_group() == Group()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert torchrun_group() == Group(3, 4, 1, 2)


def test_cpu_processes_share_the_cores_unless_threads_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(wavecross.distributed, "_cores", lambda: 8)
    try:
        Group(1, 4, 1, 2).set_threads(None, "cpu")
        assert torch.get_num_threads() == 4
        Group(1, 4, 1, 2).set_threads(3, "cpu")
        assert torch.get_num_threads() == 3
        Group(5, 16, 5, 16).set_threads(None, "cpu")
        assert torch.get_num_threads() == 1  # never none
        Group().set_threads(None, "cpu")  # one process: torch's choice stays
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_each_process_takes_its_own_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert Group(3, 4, 1, 2).device("auto") == "cuda:1" and Group(3, 4, 1, 2).device("cuda") == "cuda:1"
    assert Group(3, 4, 1, 2).device("cpu") == "cpu" and Group().device("cuda") == "cuda"
    with pytest.raises(WavecrossError, match="3 processes on this machine but it has 2 GPUs"):
        Group(2, 3, 2, 3).device("auto")


def test_one_process_raises_its_own_error() -> None:
    error = WavecrossError("x.png: bad.")

    def work() -> None:
        raise error

    with pytest.raises(WavecrossError) as info:
        Group().together(work)
    assert info.value is error and not info.value.quiet
    assert Group().together(lambda: 5) == 5


def _torchrun(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Two processes on this machine, a free port of their own (no clash with another run)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def _fuse_args(root: Path, out: Path, weights: Path) -> list[str]:
    io = ["--ir", str(root / "ir"), "--vis", str(root / "vi"), "-o", str(out)]
    return ["fuse", *io, "--weights", str(weights), "--device", "cpu", "--precision", "fp32", "--no-progress"]


@pytest.mark.slow
def test_torchrun_shares_a_folder_among_processes(tmp_path: Path, tiny_weights: Path) -> None:
    root = tmp_path / "pairs"
    for i, (name, size) in enumerate(NAMES.items()):
        write_pair(root, f"{name}.png", size=size, seed=i, grey_vis=name == "d")
    single = tmp_path / "single"
    subprocess.run(
        [sys.executable, "-m", "wavecross", *_fuse_args(root, single, tiny_weights)],
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=ROOT,
    )

    # Through the library: every process reports what it wrote.
    out, reports = tmp_path / "out", tmp_path / "reports"
    reports.mkdir()
    worker = [str(ROOT / "tests" / "fuse_worker.py"), str(root / "ir"), str(root / "vi"), str(out)]
    proc = _torchrun([*worker, str(tiny_weights), str(reports)])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = [json.loads((reports / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    shares = [set(record["written"]) for record in records]
    assert not shares[0] & shares[1] and shares[0] | shares[1] == {str(out / f"{n}.png") for n in NAMES}
    assert len(shares[0]) == len(shares[1]) == 3
    assert all(r["fused"] == 6 and r["processes"] == 2 and r["threads"] >= 1 for r in records)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in single.iterdir())  # nothing else
    assert all((out / f"{n}.png").read_bytes() == (single / f"{n}.png").read_bytes() for n in NAMES)

    # Through the command, continuing an interrupted run: only the missing outputs are fused, rank 0 reports.
    for name in ("b", "f"):
        (out / f"{name}.png").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    proc = _torchrun(["-m", "wavecross", *_fuse_args(root, out, tiny_weights), "--skip-existing"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # One summary line, by rank 0, with the counts of both processes.
    assert proc.stdout.splitlines() == [
        f"fused 2 pairs in {proc.stdout.split()[4]} s → {out} (2 processes; skipped 4 already fused)"
    ]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name in kept} == kept
    assert all((out / f"{n}.png").read_bytes() == (single / f"{n}.png").read_bytes() for n in NAMES)

    # A pair of two sizes in the share of rank 1: every process stops, rank 0 prints the sentence once, no output.
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    Image.fromarray(np.zeros((40, 64), np.uint8)).save(bad / "vi" / "b.png")
    proc = _torchrun(["-m", "wavecross", *_fuse_args(bad, tmp_path / "bad_out", tiny_weights)])
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    sentence = f"wavecross fuse: error: {bad / 'ir' / 'b.png'} is 64×48 but {bad / 'vi' / 'b.png'} is 64×40"
    assert output.count("wavecross fuse: error:") == 1 and sentence in output, output[-3000:]
    assert not (tmp_path / "bad_out").exists()
