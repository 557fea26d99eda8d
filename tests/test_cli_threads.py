"""``--threads N`` on every command that runs torch: set before the command runs, checked, absent from ``models``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from wavecross.cli import COMMANDS, NO_TORCH, main

# The least each command's parser accepts (the command itself is replaced: only the dispatcher's work is tested).
ARGV = {
    "fuse": ["fuse", "-o", "out"],
    "demo": ["demo"],
    "evaluate": ["evaluate", "--fused", "out"],
    "train": ["train", "tiny"],
    "export": ["export", "-o", "m.onnx"],
    "benchmark": ["benchmark", "--data", "sets", "-o", "report"],
}


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_every_command_but_models_is_covered() -> None:
    assert set(ARGV) == set(COMMANDS) - NO_TORCH == {"fuse", "demo", "evaluate", "train", "export", "benchmark"}


@pytest.mark.parametrize("command", sorted(ARGV))
def test_threads_are_set_before_the_command_runs(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int | None, int]] = []
    monkeypatch.setattr(
        f"wavecross.cli.{command}.run", lambda args: seen.append((args.threads, torch.get_num_threads())) or 0
    )
    torch.set_num_threads(2)
    assert main([*ARGV[command], "--threads", "1"]) == 0
    # Without --threads: torch's choice, less the cores other programs keep busy.
    monkeypatch.setattr("wavecross.hub.idle_cores", lambda: 8)
    torch.set_num_threads(2)
    assert main(ARGV[command]) == 0
    monkeypatch.setattr("wavecross.hub.idle_cores", lambda: 1)
    torch.set_num_threads(2)
    assert main(ARGV[command]) == 0
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun the processes share the cores themselves
    torch.set_num_threads(2)
    assert main(ARGV[command]) == 0
    assert seen == [(1, 1), (None, 2), (None, 1), (None, 2)]


@pytest.mark.parametrize("command", sorted(ARGV))
def test_fewer_than_one_thread_is_one_sentence(command: str, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setattr(f"wavecross.cli.{command}.run", lambda args: pytest.fail("the command ran"))
    assert main([*ARGV[command], "--threads", "0"]) == 2
    assert capsys.readouterr().err == f"wavecross {command}: error: --threads 0: use at least 1 thread.\n"


def test_models_has_no_threads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["models", "--threads", "1"])
    assert info.value.code == 2 and "unrecognized arguments: --threads" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/stat").is_file() or (os.cpu_count() or 1) < 2, reason="needs Linux, 2+ cores")
def test_a_core_kept_busy_by_another_program_is_not_counted_idle() -> None:
    from wavecross.hub import idle_cores

    cores = len(os.sched_getaffinity(0))
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert 1 <= idle_cores() <= cores - 1
    finally:
        busy.kill()
        busy.wait()
