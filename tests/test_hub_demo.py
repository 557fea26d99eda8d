"""Named models with bundled weights, and the no-data demo."""

from pathlib import Path

import numpy as np
import pytest

import wavecross
from wavecross.cli import main
from wavecross.data import read_image
from wavecross.errors import WavecrossError
from wavecross.hub import MODELS, weights_path


def test_list_models_and_unknown_name():
    assert "wavecross" in wavecross.list_models()
    with pytest.raises(WavecrossError, match="unknown model"):
        wavecross.load_model("nonexistent")


def test_shipped_weights_load_in_fp16_file(tmp_path):
    from safetensors import safe_open

    path = weights_path("wavecross")
    with safe_open(str(path), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    import torch

    assert torch.float16 in dtypes and torch.float32 not in dtypes  # shipped as fp16
    model = wavecross.load_model("wavecross", device="cpu")
    assert not model.training
    from wavecross.hub import parameter_count
    from wavecross.train.config import load_config

    # the file holds what its recipe trains: the paper preset plus the decoder's gate and refinement block
    assert model.config == load_config("wavecross-v3").model
    assert parameter_count("wavecross") == 14_825_937
    docs = Path(__file__).parents[1] / "docs"
    assert all("14,825,937" in (docs / name).read_text() for name in ("DESIGN.md", "MODEL_CARD.md"))
    assert path.stat().st_size < 40 * 2**20
    assert MODELS["wavecross"].weights == path.name


def test_demo_writes_fused_scene(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--size", "160x128"]) == 0
    ir, vis, fused = (read_image(out / n) for n in ("ir.png", "vis.png", "fused.png"))
    assert fused.shape == vis.shape == (128, 160, 3) and ir.shape == (128, 160)
    assert read_image(out / "panel.png").shape == (128, 3 * 160 + 16, 3)
    # the fused scene keeps the hot objects: where IR is hottest the fused Y is bright
    y = fused.astype(np.float32) @ np.array([0.299, 0.587, 0.114])
    hot = ir >= np.percentile(ir, 98)
    assert y[hot].mean() > y.mean() + 20
    assert main(["demo", "-o", str(out), "--size", "160x128"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_panels_are_labelled_ir_visible_fused(tmp_path):
    from wavecross.data import synthetic_pair
    from wavecross.panels import side_by_side

    ir, vis = synthetic_pair(240, 320, seed=1)
    fused = wavecross.fuse(ir, vis, method="mean")
    plain, labelled = side_by_side(ir, vis, fused, labels=False), side_by_side(ir, vis, fused)
    assert labelled.shape == plain.shape == (240, 3 * 320 + 16, 3)
    changed = np.any(labelled != plain, axis=2)
    for k in range(3):  # a small black box with white text in each tile's top-left corner, nothing elsewhere
        tile = changed[:, k * 328 : k * 328 + 320]
        rows, cols = np.nonzero(tile)
        assert 0 < rows.max() < 40 and 0 < cols.max() < 80
        corner = labelled[: rows.max() + 1, k * 328 : k * 328 + cols.max() + 1]
        assert (corner == 0).all(axis=2).mean() > 0.5 and (corner > 200).all(axis=2).any()
    small = (ir[:16, :20], vis[:16, :20], fused[:16, :20])
    assert np.array_equal(side_by_side(*small), side_by_side(*small, labels=False))  # too small to hold a label


def test_demo_refuses_an_unwritable_output_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["demo", "-o", str(tmp_path / "file" / "demo")]) == 2
    err = capsys.readouterr().err.strip()
    assert "file/demo: cannot be created" in err and "\n" not in err and "Traceback" not in err


def test_load_model_refuses_non_finite_weights(tmp_path):
    import torch

    net = wavecross.nn.WaveCross("tiny")
    with torch.no_grad():
        net.decoder.conv1[0].weight[0, 0, 0, 0] = float("inf")
    net.save(tmp_path / "inf.safetensors")
    with pytest.raises(WavecrossError, match=r"inf.safetensors: tensor 'decoder.conv1.0.weight' holds NaN or infinite"):
        wavecross.load_model(weights=tmp_path / "inf.safetensors", device="cpu")
