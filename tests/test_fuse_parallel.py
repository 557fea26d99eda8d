"""The folder pipeline of `wavecross fuse`: threads that read ahead and write behind the network change no output,
keep the progress count true, and stop cleanly on a failed write; batches gather pairs of one size."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import wavecross.fuse_files
from conftest import write_pair
from wavecross.cli import main
from wavecross.data import read_image
from wavecross.data.io import TEMP_PREFIX
from wavecross.fuse_files import fuse_files, plan_batches
from wavecross.hub import load_model
from wavecross.inference import fuse_batch

# Interleaved sizes, so that batches of one size gather pairs that are not neighbours; one visible image is grey.
SIZES = {"a": (72, 100), "b": (48, 64), "c": (72, 100), "d": (40, 56), "e": (48, 64), "f": (72, 100), "g": (72, 100)}


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    root = tmp_path / "mixed"
    for i, (name, size) in enumerate(SIZES.items()):
        write_pair(root, f"{name}.png", size=size, seed=i, grey_vis=name == "d")
    return root


def _within(seconds: float, work: Callable[[], int]) -> int:
    """``work()``'s result, failing the test if it has not returned after ``seconds`` (a hang)."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the run hangs"
    return result[0]


def _no_pipeline_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("wavecross-fuse-")]


def test_batches_gather_pairs_of_one_size_in_order(mixed_folder: Path) -> None:
    jobs = [(name, Path(f"{name}.png")) for name in SIZES]
    sizes = {Path(f"{name}.png"): size for name, size in SIZES.items()}
    batches = plan_batches(jobs, sizes, 3)  # type: ignore[arg-type]
    assert [[name for name, _ in batch] for batch in batches] == [["a", "c", "f"], ["g"], ["b", "e"], ["d"]]
    assert [len(batch) for batch in plan_batches(jobs, sizes, 1)] == [1] * len(SIZES)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_pipeline_writes_what_pair_by_pair_fusion_gives(tmp_path, mixed_folder, tiny_weights, batch_size) -> None:
    out = tmp_path / "out"
    report = fuse_files(
        mixed_folder / "ir",
        mixed_folder / "vi",
        out,
        weights=tiny_weights,
        device="cpu",
        precision="fp32",
        batch_size=batch_size,
        progress=False,
    )
    assert report.fused == len(SIZES) and sorted(report.written) == sorted(out / f"{n}.png" for n in SIZES)
    net = load_model(weights=tiny_weights, device="cpu")  # as fuse_files loads it
    for name in SIZES:
        ir, vis = (read_image(mixed_folder / side / f"{name}.png") for side in ("ir", "vi"))
        alone = fuse_batch([ir], [vis], net, precision="fp32", batch_size=1)[0]
        assert np.array_equal(read_image(out / f"{name}.png"), alone), name
    assert _no_pipeline_threads()


def test_progress_counts_only_pairs_whose_files_are_complete(tmp_path, mixed_folder, tiny_weights, monkeypatch):
    out = tmp_path / "out"
    counts: list[tuple[int, int]] = []  # (pairs counted, fused images on disk) at each update

    class Recorder:
        def __init__(self, *args, **kwargs) -> None:
            self.count = 0

        def update(self, n: int = 1) -> None:
            self.count += n
            counts.append((self.count, len(list(out.glob("[a-g].png")))))

        def __enter__(self) -> Recorder:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(wavecross.fuse_files, "progress_bar", Recorder)
    fuse_files(mixed_folder / "ir", mixed_folder / "vi", out, weights=tiny_weights, device="cpu", batch_size=2)
    assert [count for count, _ in counts] == sorted({count for count, _ in counts})  # rising, never repeated
    assert counts[-1][0] == len(SIZES)
    assert all(on_disk >= count for count, on_disk in counts)


def test_a_failed_write_is_one_sentence_and_leaves_only_complete_files(
    tmp_path, mixed_folder, tiny_weights, capsys, monkeypatch
) -> None:
    real_write = wavecross.fuse_files.write_image
    calls: list[Path] = []

    def write_image(path, arr, overwrite=False):
        calls.append(Path(path))
        if len(calls) == 3:  # the third file: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, arr, overwrite=overwrite)

    monkeypatch.setattr(wavecross.fuse_files, "write_image", write_image)
    out = tmp_path / "out"
    argv = ["fuse", "--ir", str(mixed_folder / "ir"), "--vis", str(mixed_folder / "vi"), "-o", str(out)]
    argv += ["--weights", str(tiny_weights), "--device", "cpu", "--batch-size", "2", "--no-progress"]
    assert _within(120, lambda: main(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.count("error:") == 1 and "Traceback" not in err
    assert f"{calls[2]}: cannot be written (No space left on device)" in err
    # Outputs are written in order, and none after the failed one: the first two, complete, and nothing else.
    assert sorted(out.iterdir()) == sorted(calls[:2])
    assert all(read_image(path).shape[:2] == SIZES[path.stem] for path in calls[:2])
    assert not list(out.glob(f"{TEMP_PREFIX}*"))
    assert len(calls) == 3 and _no_pipeline_threads()


def test_the_first_bad_pair_in_order_is_named_whatever_the_threads_finish_first(tmp_path, mixed_folder, capsys):
    (mixed_folder / "ir" / "b.png").write_bytes((mixed_folder / "ir" / "b.png").read_bytes()[:200])  # truncated
    (mixed_folder / "vi" / "f.png").write_bytes(b"not an image")
    argv = ["fuse", "--ir", str(mixed_folder / "ir"), "--vis", str(mixed_folder / "vi"), "-o", str(tmp_path / "o")]
    assert main([*argv, "--method", "mean"]) == 2
    err = capsys.readouterr().err
    assert str(mixed_folder / "ir" / "b.png") in err and "f.png" not in err
    assert not (tmp_path / "o").exists() and _no_pipeline_threads()


@pytest.mark.parametrize(("budget", "decodes_per_image"), [(2**30, 1), (0, 2)])
def test_images_the_checks_decoded_are_not_decoded_again(
    tmp_path, mixed_folder, tiny_weights, monkeypatch, budget, decodes_per_image
) -> None:
    reads: list[Path] = []
    real_read = wavecross.fuse_files.read_image
    monkeypatch.setattr(wavecross.fuse_files, "read_image", lambda p, *a: reads.append(Path(p)) or real_read(p, *a))
    monkeypatch.setattr(wavecross.fuse_files, "KEEP_DECODED_BYTES", budget)
    out = tmp_path / "out"
    fuse_files(mixed_folder / "ir", mixed_folder / "vi", out, weights=tiny_weights, device="cpu", progress=False)
    assert len(reads) == 2 * len(SIZES) * decodes_per_image
    assert len(set(reads)) == 2 * len(SIZES) and len(list(out.iterdir())) == len(SIZES)
