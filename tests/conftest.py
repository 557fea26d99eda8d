"""Shared fixtures: a tiny trained-format weights file and small synthetic image pairs on disk."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wavecross.data import synthetic_pair
from wavecross.nn import WaveCross

SHARED = Path(__file__).parents[1].parent / "shared" / "data"

# Slow tests (over ~10 s on a loaded 2-core machine) of a file being edited elsewhere, marked here rather than in it
# (every other slow test carries @pytest.mark.slow itself). `make test-fast` runs -m "not slow"; CI runs them all.
SLOW_ELSEWHERE = {
    "test_train.py": {
        "test_sigkill_and_resume_gives_identical_weights",
        "test_two_gloo_processes_end_with_identical_weights",
        "test_tiny_config_trains_and_loss_falls",
    },
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.name in SLOW_ELSEWHERE.get(item.path.name, ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    WaveCross("tiny").save(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_weights) -> WaveCross:
    return WaveCross.load(tiny_weights).eval()


def write_pair(root: Path, name: str, size=(72, 100), seed=0, grey_vis=False) -> None:
    ir, vis = synthetic_pair(size[0], size[1], seed)
    (root / "ir").mkdir(parents=True, exist_ok=True)
    (root / "vi").mkdir(parents=True, exist_ok=True)
    Image.fromarray(ir).save(root / "ir" / name)
    Image.fromarray(vis[..., 0] if grey_vis else vis).save(root / "vi" / name)


@pytest.fixture
def pair_folder(tmp_path) -> Path:
    root = tmp_path / "pairs"
    for i, name in enumerate(("a.png", "b.png", "c.png")):
        write_pair(root, name, seed=i)
    return root


def as_u8(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.uint8)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Validation reference values are cached under $WAVECROSS_CACHE: keep the tests' out of the user's cache."""
    monkeypatch.setenv("WAVECROSS_CACHE", str(tmp_path_factory.getbasetemp() / "wavecross-cache"))
