"""Registration of misaligned IR/visible pairs (wavecross.registration, fuse --register): known warps of real val
pairs are undone to within a pixel, implausible or unrelated pairs are refused in one sentence, and the command
writes the fused image and the transform JSON, or nothing at all."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED
from wavecross.cli import main
from wavecross.data import read_image, synthetic_pair
from wavecross.data.io import luminance_u8
from wavecross.errors import WavecrossError

cv2 = pytest.importorskip("cv2")

from wavecross import registration as reg  # noqa: E402  (needs OpenCV)

VAL = SHARED / "val"
MARGIN = 40  # the IR camera sees the centre; the warped visible view has real content beyond it
# Real val pairs that register (day MSRS, TNO with shared structure) and the warps applied to their visible image:
# (dx, dy) px, rotation in degrees, scale, about the image centre.
PAIRS = [("MSRS", "00196D.png"), ("MSRS", "01482D.png"), ("TNO", "SPD_004.png")]
WARPS = {
    "translation": [(17.0, -12.5, 0.0, 1.0), (-20.0, 20.0, 0.0, 1.0)],
    "affine": [(-14.0, 9.0, 2.5, 1.04), (19.0, 16.0, -3.0, 0.95)],
    "homography": [(12.0, -18.0, -2.0, 1.03), (-8.0, 11.0, 3.0, 0.96)],
}
PERSPECTIVE = (2e-5, -1.5e-5)  # added to the homography warps: the local scale changes ~1 % over the image
# Mean grid-point residual allowed, px (measured on this machine: translation ≤ 0.25, affine ≤ 0.71, homography
# ≤ 0.59; a missed or inverted warp is off by 10–40 px).
BOUND = {"translation": 1.0, "affine": 1.0, "homography": 1.5}


def misalign(ir: np.ndarray, vis: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The IR image's centre crop and a visible view of the same grid for which ``warp`` maps IR → visible pixel
    coordinates, sampled from the full visible image (so it shows real content, not a padded border)."""
    h, w = ir.shape[:2]
    crop = np.array([[1.0, 0.0, MARGIN], [0.0, 1.0, MARGIN], [0.0, 0.0, 1.0]])
    ir_c = ir[MARGIN : h - MARGIN, MARGIN : w - MARGIN]
    return ir_c, reg.warp_to(ir_c.shape, vis, crop @ np.linalg.inv(warp))


def val_pair(data_set: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not (VAL / data_set / "ir" / name).is_file():
        pytest.skip("../shared/data/val is absent")
    return read_image(VAL / data_set / "ir" / name), read_image(VAL / data_set / "vi" / name)


def crafted_pair(seed: int = 0, size: tuple[int, int] = (200, 280)) -> tuple[np.ndarray, np.ndarray]:
    """A registered pair that needs no data: a synthetic colour scene and, as 'IR', its blurred inverted
    luminance (the edges are shared, the polarity and sharpness are not, as across real modalities)."""
    _, vis = synthetic_pair(*size, seed)
    return 255 - cv2.GaussianBlur(luminance_u8(vis), (0, 0), 1.5), vis


# --- the estimate -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", reg.MODELS)
def test_known_warps_of_real_pairs_are_undone(model: str) -> None:
    """The val pairs are themselves aligned only to a few pixels (a scale differing by 1–2 % on MSRS), so the
    truth for a warped view is the applied warp after the unwarped pair's own registration."""
    errors = []
    for data_set, name in PAIRS:
        ir, vis = val_pair(data_set, name)
        h, w = ir.shape[:2]
        own = reg.estimate_transform(*misalign(ir, vis, np.eye(3)), model, name).matrix
        for params in WARPS[model]:
            warp = reg.similarity_transform(w - 2 * MARGIN, h - 2 * MARGIN, *params)
            if model == "homography":
                warp[2, :2] = PERSPECTIVE
            ir_c, vis_c = misalign(ir, vis, warp)
            found = reg.estimate_transform(ir_c, vis_c, model, name)
            assert found.matrix.shape == (3, 3) and found.matrix[2, 2] == 1.0
            if model == "translation":
                assert np.array_equal(found.matrix[:2, :2], np.eye(2)) and np.array_equal(found.matrix[2], (0, 0, 1))
            errors.append(reg.transform_distance(found.matrix, warp @ own, ir_c.shape))
            # against the applied warp alone: within the pair's own misalignment
            assert reg.transform_distance(found.matrix, warp, ir_c.shape) < 12.0
    print(f"{model}: residual px {np.round(errors, 3).tolist()}")
    assert max(errors) <= BOUND[model], errors


def test_a_registered_pair_is_left_unchanged() -> None:
    ir, vis = val_pair("MSRS", "00196D.png")
    registered, first = reg.register_pair(ir, vis, "affine", "00196D.png")
    again, second = reg.register_pair(ir, registered, "affine", "00196D.png")
    assert reg.transform_distance(second.matrix, np.eye(3), ir.shape) < 0.3
    inner = (slice(20, -20), slice(20, -20))
    assert np.abs(again[inner].astype(float) - registered[inner].astype(float)).mean() < 2.0  # of 255
    assert registered.dtype == vis.dtype and registered.shape == vis.shape


def test_crafted_pair_needs_no_data() -> None:
    ir, vis = crafted_pair()
    warp = reg.similarity_transform(280, 200, 6.0, -4.0, 1.0, 1.02)
    moved = reg.warp_to(vis.shape, vis, np.linalg.inv(warp))
    for model, bound in (("affine", 0.5), ("homography", 0.5), ("translation", 4.0)):  # (no rotation for the last)
        assert reg.transform_distance(reg.estimate_transform(ir, moved, model).matrix, warp, ir.shape) < bound, model


def test_large_images_are_registered_at_the_working_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above MAX_WORK_SIDE the estimate is made on a reduced copy; the matrix must come back in full-size pixels."""
    ir, vis = crafted_pair(1, (240, 320))
    warp = reg.similarity_transform(320, 240, -7.0, 5.0, -1.5, 0.98)
    moved = reg.warp_to(vis.shape, vis, np.linalg.inv(warp))
    monkeypatch.setattr(reg, "MAX_WORK_SIDE", 200)
    assert reg.transform_distance(reg.estimate_transform(ir, moved, "affine").matrix, warp, ir.shape) < 0.6


# --- warping ------------------------------------------------------------------------------------------------


def test_warp_to_samples_the_visible_image_at_matrix_times_ir_coordinates() -> None:
    rng = np.random.default_rng(0)
    vis = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    shift = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    out = reg.warp_to((30, 40), vis, shift)
    assert out.shape == vis.shape and out.dtype == np.uint8
    assert np.array_equal(out[:-1, :-2], vis[1:, 2:])  # IR pixel (x, y) shows visible pixel (x + 2, y + 1)
    assert np.array_equal(out[:, -1], out[:, -2])  # beyond the border: the border pixel repeated
    grey16 = rng.integers(0, 65536, (30, 40), dtype=np.uint16)
    assert reg.warp_to((30, 40), grey16, np.eye(3)).dtype == np.uint16
    assert np.array_equal(reg.warp_to((30, 40), grey16, np.eye(3)), grey16)
    perspective = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1e-4, 0.0, 1.0]])
    assert reg.warp_to((30, 40), vis, perspective).shape == vis.shape


# --- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        (reg.similarity_transform(400, 300, 50.0, 0.0, 0.0, 1.0), "shift of (50.0, 0.0) px, over 10%"),
        (reg.similarity_transform(400, 300, 0.0, 0.0, 15.0, 1.0), "rotation of 15.0°"),
        (reg.similarity_transform(400, 300, 0.0, 0.0, 0.0, 1.4), "scale of 1.400"),
        (np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "shear/stretch of 22%"),
        (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [4e-4, 0.0, 1.0]]), "perspective"),
        (np.array([[-1.0, 0.0, 399.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "mirrors"),
    ],
)
def test_implausible_transforms_are_refused(matrix: np.ndarray, words: str) -> None:
    with pytest.raises(WavecrossError) as info:
        reg.check_plausible(matrix, (300, 400), "a.png")
    message = str(info.value)
    assert message.startswith("a.png: ") and words in message and "without --register" in message
    assert "\n" not in message


def test_plausible_transforms_pass() -> None:
    for params in ((20.0, -20.0, 3.0, 0.95), (-20.0, 20.0, -3.0, 1.05)):
        reg.check_plausible(reg.similarity_transform(400, 300, *params), (300, 400))


@pytest.mark.parametrize("kind", ["noise", "flat", "other scene"])
def test_unregistrable_pairs_are_refused_in_one_sentence(kind: str) -> None:
    ir, vis = crafted_pair(0)
    rng = np.random.default_rng(1)
    other = {
        "noise": rng.integers(0, 256, vis.shape, dtype=np.uint8),
        "flat": np.full(vis.shape, 90, np.uint8),
        "other scene": crafted_pair(5)[1][::-1],
    }[kind]
    for model in reg.MODELS:
        with pytest.raises(WavecrossError) as info:
            reg.estimate_transform(ir, other, model, "pair.png")
        message = str(info.value)
        assert message.startswith("pair.png: the visible image cannot be registered"), message
        assert message.endswith("fuse the pair without --register, or register it by hand.") and "\n" not in message
        if kind == "flat":
            assert "has no edges" in message


def test_unknown_model_and_missing_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    ir, vis = crafted_pair(0)
    with pytest.raises(WavecrossError, match="unknown registration model 'rigid'"):
        reg.estimate_transform(ir, vis, "rigid")
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(WavecrossError, match=r"install opencv-python-headless, or pip install 'wavecross\[register\]'"):
        reg.estimate_transform(ir, vis, "affine")


# --- the API and the command --------------------------------------------------------------------------------


def test_fuse_api_registers_before_fusing(tiny_model) -> None:
    from wavecross.inference import fuse

    ir, vis = crafted_pair(2)
    moved = reg.warp_to(vis.shape, vis, np.linalg.inv(reg.similarity_transform(280, 200, 5.0, 3.0, 0.0, 1.0)))
    out = fuse(ir, moved, tiny_model, register="translation")
    assert out.shape == vis.shape and out.dtype == np.uint8
    expected = fuse(ir, reg.register_pair(ir, moved, "translation")[0], tiny_model)
    assert np.array_equal(out, expected)
    with pytest.raises(WavecrossError, match="pair #0: the visible image cannot be registered"):
        fuse(ir, np.full_like(vis, 7), tiny_model, register="affine")


def write_pairs(root: Path, pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[Path, Path]:
    from PIL import Image

    for folder in ("ir", "vi"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, (ir, vis) in pairs.items():
        Image.fromarray(ir).save(root / "ir" / name)
        Image.fromarray(vis).save(root / "vi" / name)
    return root / "ir", root / "vi"


def test_command_writes_the_fused_image_and_the_transform(tmp_path: Path, tiny_weights: Path) -> None:
    ir, vis = crafted_pair(3)
    warp = reg.similarity_transform(280, 200, -6.0, 4.0, 0.8, 1.01)
    irs, viss = write_pairs(tmp_path / "in", {"a.png": (ir, reg.warp_to(vis.shape, vis, np.linalg.inv(warp)))})
    out = tmp_path / "out" / "fused.png"
    args = ["fuse", "--ir", str(irs / "a.png"), "--vis", str(viss / "a.png"), "-o", str(out)]
    args += ["--weights", str(tiny_weights), "--device", "cpu", "--register", "affine", "--save-transform"]
    assert main([*args, "--side-by-side"]) == 0
    assert read_image(out).shape == (200, 280, 3) and (tmp_path / "out" / "fused_panel.png").is_file()
    record = json.loads((tmp_path / "out" / "fused.transform.json").read_text())
    assert record["model"] == "affine" and record["maps"] == "ir_to_vis" and "convention" in record
    assert (record["width"], record["height"]) == (280, 200) and record["ir"].endswith("a.png")
    assert 0.5 < record["correlation"] <= 1.0
    assert reg.transform_distance(np.array(record["matrix"]), warp, (200, 280)) < 0.5
    assert main(args) == 2  # outputs exist: nothing replaced without --overwrite
    assert main([*args, "--overwrite"]) == 0


def test_command_registers_every_pair_before_writing_anything(
    tmp_path: Path, tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = crafted_pair(0), crafted_pair(1)
    irs, viss = write_pairs(tmp_path / "in", {"a.png": good, "b.png": (bad[0], np.full_like(bad[1], 128))})
    out = tmp_path / "out"
    args = ["fuse", "--ir", str(irs), "--vis", str(viss), "-o", str(out), "--weights", str(tiny_weights)]
    assert main([*args, "--register", "homography", "--save-transform", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "b.png: the visible image cannot be registered" in err
    assert not out.exists() or not any(out.iterdir())
    assert main([*args, "--save-transform"]) == 2
    assert "--save-transform writes the transform of --register" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses an unknown model
        main([*args, "--register", "rigid"])
    capsys.readouterr()
    (out / "a.transform.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "a.transform.json").write_text("{}")
    (irs / "b.png").unlink()
    (viss / "b.png").unlink()
    assert main([*args, "--register", "affine", "--save-transform", "--no-progress"]) == 2
    assert "a.transform.json: already exists" in capsys.readouterr().err
    assert not (out / "a.png").exists()
    assert main([*args, "--register", "affine", "--save-transform", "--no-progress", "--skip-existing"]) == 0
    assert (out / "a.png").is_file() and (out / "a.transform.json").read_text() == "{}"


def test_transform_distance_is_the_mean_displacement() -> None:
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]])
    assert reg.transform_distance(shift, np.eye(3), (50, 80)) == pytest.approx(5.0)
    double = np.diag([2.0, 2.0, 1.0])  # every grid point moves by its own distance from the origin
    xs, ys = np.meshgrid(np.linspace(0, 79, 10), np.linspace(0, 49, 10))
    assert reg.transform_distance(double, np.eye(3), (50, 80)) == pytest.approx(np.hypot(xs, ys).mean())
