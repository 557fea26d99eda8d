"""The fusion API and `wavecross fuse`: kinds in/out, colour, 16-bit, tiling, and every kind of bad input."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_pair
from wavecross.cli import main
from wavecross.data import read_image, rgb_to_ycbcr
from wavecross.inference import fuse, fuse_batch, fuse_tensors


def test_kinds_in_and_out(tiny_model):
    rng = np.random.default_rng(0)
    ir = rng.integers(0, 256, (50, 70), dtype=np.uint8)
    vis = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    out = fuse(ir, vis, tiny_model)
    assert out.shape == (50, 70, 3) and out.dtype == np.uint8
    assert fuse(ir, vis, tiny_model, gray=True).shape == (50, 70)
    pil = fuse(Image.fromarray(ir), Image.fromarray(vis), tiny_model)
    assert isinstance(pil, Image.Image) and pil.size == (70, 50)
    t = fuse(torch.rand(1, 50, 70), torch.rand(3, 50, 70), tiny_model)
    assert isinstance(t, torch.Tensor) and t.shape == (3, 50, 70)
    f = fuse(ir / 255.0, vis[..., 0] / 255.0, tiny_model)
    assert f.dtype == np.float32 and f.shape == (50, 70) and f.min() >= 0 and f.max() <= 1


def test_colour_output_keeps_visible_chroma(tiny_model):
    rng = np.random.default_rng(1)
    ir = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    vis = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    colour = fuse(ir, vis, tiny_model).astype(np.float32) / 255
    grey = fuse(ir, vis, tiny_model, gray=True).astype(np.float32) / 255
    ycc_out, ycc_in = rgb_to_ycbcr(colour), rgb_to_ycbcr(vis.astype(np.float32) / 255)
    assert np.abs(ycc_out[..., 0] - grey).mean() < 0.01  # Y is the fused luminance
    # CbCr follow the visible image (up to rounding and clamping of saturated colours)
    assert np.median(np.abs(ycc_out[..., 1:] - ycc_in[..., 1:])) < 0.01


def test_rgb_stored_ir_equals_grey_ir(tiny_model):
    rng = np.random.default_rng(2)
    ir = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    vis = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    a = fuse(ir, vis, tiny_model)
    b = fuse(np.repeat(ir[..., None], 3, axis=2), np.repeat(vis[..., None], 3, axis=2), tiny_model)
    assert b.shape == (40, 40)  # grey visible stored as RGB gives grey output
    assert np.array_equal(a, b)


def test_sixteen_bit_ir_is_normalised(tiny_model):
    rng = np.random.default_rng(3)
    ir8 = rng.integers(0, 256, (40, 56), dtype=np.uint8)
    ir16 = (ir8.astype(np.uint16) * 20 + 7000).astype(np.uint16)  # a narrow band of counts, as thermal cameras give
    vis = rng.integers(0, 256, (40, 56), dtype=np.uint8)
    out16 = fuse(ir16, vis, tiny_model)
    assert out16.dtype == np.uint8  # output kind follows the visible input
    stretched = fuse(
        (np.clip((ir8 - np.percentile(ir8, 0.1)) / np.ptp(np.percentile(ir8, [0.1, 99.9])), 0, 1) * 255)
        .round()
        .astype(np.uint8),
        vis,
        tiny_model,
    )
    assert np.abs(out16.astype(int) - stretched.astype(int)).mean() < 2.0
    out = fuse(ir16, vis.astype(np.uint16) * 257, tiny_model)
    assert out.dtype == np.uint16


def test_batch_equals_single(tiny_model):
    rng = np.random.default_rng(4)
    irs = [rng.integers(0, 256, s, dtype=np.uint8) for s in ((40, 48), (40, 48), (33, 35))]
    viss = [rng.integers(0, 256, s, dtype=np.uint8) for s in ((40, 48), (40, 48), (33, 35))]
    batched = fuse_batch(irs, viss, tiny_model, batch_size=2)
    for a, b, out in zip(irs, viss, batched, strict=True):
        assert np.array_equal(fuse(a, b, tiny_model), out)


def test_tiled_matches_untiled_within_bound(tiny_model):
    torch.manual_seed(0)
    ir, vis = torch.rand(1, 1, 300, 400), torch.rand(1, 1, 300, 400)
    full = fuse_tensors(tiny_model, ir, vis, tile=0)
    tiled = fuse_tensors(tiny_model, ir, vis, tile=160, overlap=48)
    assert tiled.shape == full.shape
    diff = (full - tiled).abs()
    assert diff.mean() < 0.01 and diff.max() < 0.25


def test_baseline_method_through_api():
    ir = np.zeros((32, 32), np.uint8)
    vis = np.full((32, 32), 200, np.uint8)
    ir[8:16, 8:16] = 255
    out = fuse(ir, vis, method="max")
    assert np.array_equal(out, np.maximum(ir, vis))


# --- the command --------------------------------------------------------------------------------------------


def _fuse(*args) -> int:
    return main(["fuse", *map(str, args)])


def _io(ir, vis, out) -> list:
    """The input and output arguments of ``wavecross fuse``."""
    return ["--ir", ir, "--vis", vis, "-o", out]


def test_cli_single_pair_with_panel(tmp_path, pair_folder, tiny_weights):
    out = tmp_path / "o" / "fused.png"
    code = _fuse(
        *_io(pair_folder / "ir" / "a.png", pair_folder / "vi" / "a.png", out),
        "--weights",
        tiny_weights,
        "--side-by-side",
        "--device",
        "cpu",
    )
    assert code == 0
    fused = read_image(out)
    assert fused.shape == (72, 100, 3)
    panel = read_image(tmp_path / "o" / "fused_panel.png")
    assert panel.shape == (72, 3 * 100 + 16, 3)


def test_cli_folder_and_overwrite(tmp_path, pair_folder, tiny_weights, capsys):
    out = tmp_path / "out"
    args = [
        *_io(pair_folder / "ir", pair_folder / "vi", out),
        "--weights",
        tiny_weights,
        "--batch-size",
        "2",
        "--gray",
    ]
    assert _fuse(*args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    assert read_image(out / "a.png").ndim == 2
    before = (out / "a.png").stat().st_mtime_ns
    assert _fuse(*args) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "a.png").stat().st_mtime_ns == before
    assert _fuse(*args, "--overwrite") == 0


def test_cli_baseline_method(tmp_path, pair_folder):
    out = tmp_path / "m.png"
    assert (
        _fuse(
            *_io(pair_folder / "ir" / "b.png", pair_folder / "vi" / "b.png", out),
            "--method",
            "mean",
        )
        == 0
    )
    assert read_image(out).shape == (72, 100, 3)


def _expect_error(capsys, args, *fragments, out_dir: Path | None = None):
    assert _fuse(*args) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("error:") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    if out_dir is not None:
        assert not out_dir.exists() or not any(out_dir.iterdir()), "something was written"


def test_bad_mismatched_sizes(tmp_path, tiny_weights, capsys):
    root = tmp_path / "p"
    write_pair(root, "x.png", size=(64, 80))
    Image.fromarray(np.zeros((60, 80), np.uint8)).save(root / "vi" / "x.png")
    _expect_error(
        capsys,
        ["--ir", root / "ir", "--vis", root / "vi", "-o", tmp_path / "o", "--weights", tiny_weights],
        "x.png",
        "same size",
        out_dir=tmp_path / "o",
    )


def test_bad_unpaired_names(tmp_path, pair_folder, tiny_weights, capsys):
    (pair_folder / "vi" / "c.png").rename(pair_folder / "vi" / "z.png")
    _expect_error(
        capsys,
        [
            *_io(pair_folder / "ir", pair_folder / "vi", tmp_path / "o"),
            "--weights",
            tiny_weights,
        ],
        "c.png",
        "z.png",
        out_dir=tmp_path / "o",
    )


def test_bad_truncated_file_writes_nothing(tmp_path, pair_folder, tiny_weights, capsys):
    data = (pair_folder / "ir" / "c.png").read_bytes()
    (pair_folder / "ir" / "c.png").write_bytes(data[: len(data) // 2])
    _expect_error(
        capsys,
        [
            *_io(pair_folder / "ir", pair_folder / "vi", tmp_path / "o"),
            "--weights",
            tiny_weights,
        ],
        "c.png",
        out_dir=tmp_path / "o",
    )


def test_bad_non_image_file(tmp_path, pair_folder, tiny_weights, capsys):
    (pair_folder / "ir" / "b.png").write_text("not an image")
    _expect_error(
        capsys,
        [
            *_io(pair_folder / "ir" / "b.png", pair_folder / "vi" / "b.png", tmp_path / "o.png"),
            "--weights",
            tiny_weights,
        ],
        "b.png",
        "cannot be read",
    )
    assert not (tmp_path / "o.png").exists()


def test_bad_empty_folder(tmp_path, tiny_weights, capsys):
    (tmp_path / "ir").mkdir()
    (tmp_path / "vi").mkdir()
    _expect_error(
        capsys,
        ["--ir", tmp_path / "ir", "--vis", tmp_path / "vi", "-o", tmp_path / "o", "--weights", tiny_weights],
        "contains no images",
    )


def test_bad_nan_in_float_input(tmp_path, tiny_weights, capsys):
    import tifffile

    ir = np.random.default_rng(0).random((40, 40), dtype=np.float32)
    ir[3, 3] = np.nan
    tifffile.imwrite(tmp_path / "ir.tif", ir)
    tifffile.imwrite(tmp_path / "vis.tif", np.zeros((40, 40), np.float32))
    _expect_error(
        capsys,
        [
            *_io(tmp_path / "ir.tif", tmp_path / "vis.tif", tmp_path / "f.png"),
            "--weights",
            tiny_weights,
        ],
        "ir.tif",
        "NaN",
    )
    from wavecross.errors import WavecrossError

    with pytest.raises(WavecrossError, match="NaN"):
        fuse(ir, np.zeros((40, 40), np.float32), method="mean")


def test_bad_missing_weights_file(tmp_path, pair_folder, capsys):
    _expect_error(
        capsys,
        [
            *_io(pair_folder / "ir" / "a.png", pair_folder / "vi" / "a.png", tmp_path / "f.png"),
            "--weights",
            tmp_path / "nope.safetensors",
        ],
        "nope.safetensors",
        "not found",
    )


def test_bad_missing_input_and_unknown_method(tmp_path, pair_folder, capsys):
    _expect_error(
        capsys,
        [
            *_io(tmp_path / "missing.png", pair_folder / "vi" / "a.png", tmp_path / "f.png"),
            "--method",
            "mean",
        ],
        "missing.png",
    )
    _expect_error(
        capsys,
        [
            *_io(pair_folder / "ir" / "a.png", pair_folder / "vi" / "a.png", tmp_path / "f.png"),
            "--method",
            "magic",
        ],
        "magic",
    )


def test_odd_and_tiny_sizes(tmp_path, tiny_weights, capsys):
    root = tmp_path / "p"
    write_pair(root, "odd.png", size=(47, 61))
    assert (
        _fuse(
            *_io(root / "ir" / "odd.png", root / "vi" / "odd.png", tmp_path / "odd.png"),
            "--weights",
            tiny_weights,
        )
        == 0
    )
    assert read_image(tmp_path / "odd.png").shape[:2] == (47, 61)
    write_pair(root, "small.png", size=(12, 40))
    _expect_error(
        capsys,
        [
            *_io(root / "ir" / "small.png", root / "vi" / "small.png", tmp_path / "s.png"),
            "--weights",
            tiny_weights,
        ],
        "too small",
    )


# --- outputs: collisions, inputs, interruption, permissions, write failures -------------------------------------


def _tiny(weights) -> list:
    return ["--weights", weights, "--device", "cpu"]


def test_output_name_collisions_are_refused_before_writing(tmp_path, pair_folder, tiny_weights, capsys):
    write_pair(pair_folder, "a.jpg", seed=5)  # a.jpg and a.png would both become out/a.png
    out = tmp_path / "out"
    _expect_error(
        capsys,
        [*_io(pair_folder / "ir", pair_folder / "vi", out), *_tiny(tiny_weights)],
        str(out / "a.png"),
        "a.jpg",
        "rename",
        out_dir=out,
    )
    (pair_folder / "ir" / "a.jpg").unlink()
    (pair_folder / "vi" / "a.jpg").unlink()
    write_pair(pair_folder, "a_panel.png", seed=6)  # its output is a.png's side-by-side panel
    _expect_error(
        capsys,
        [*_io(pair_folder / "ir", pair_folder / "vi", out), *_tiny(tiny_weights), "--side-by-side"],
        str(out / "a_panel.png"),
        "side-by-side panel",
        out_dir=out,
    )
    assert _fuse(*_io(pair_folder / "ir", pair_folder / "vi", out), *_tiny(tiny_weights)) == 0  # no panel: no clash


@pytest.mark.parametrize("case", ["ir file", "panel is the vis file", "ir folder", "vis folder respelled"])
def test_an_output_never_replaces_an_input(tmp_path, pair_folder, tiny_weights, capsys, case):
    ir, vi = pair_folder / "ir", pair_folder / "vi"
    if case == "panel is the vis file":
        (vi / "a.png").rename(vi / "f_panel.png")
        (ir / "a.png").rename(ir / "f_panel.png")
    args = {
        "ir file": _io(ir / "a.png", vi / "a.png", ir / "a.png"),
        "panel is the vis file": [*_io(ir / "f_panel.png", vi / "f_panel.png", vi / "f.png"), "--side-by-side"],
        "ir folder": _io(ir, vi, ir),
        "vis folder respelled": _io(ir, vi, vi / ".." / "vi"),
    }[case]
    before = {p: p.read_bytes() for p in pair_folder.rglob("*.png")}
    _expect_error(capsys, [*args, *_tiny(tiny_weights), "--overwrite"], "input")
    assert {p: p.read_bytes() for p in pair_folder.rglob("*.png")} == before


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_skip_existing_continues_an_interrupted_run(tmp_path, pair_folder, tiny_weights, capsys):
    import os

    from wavecross.data.io import TEMP_PREFIX

    out = tmp_path / "out"
    args = [*_io(pair_folder / "ir", pair_folder / "vi", out), *_tiny(tiny_weights), "--side-by-side"]
    assert _fuse(*args) == 0
    # An interruption: b's panel and all of c never written, a killed writer's empty temporary file left behind.
    (out / "b_panel.png").unlink()
    (out / "c.png").unlink()
    (out / "c_panel.png").unlink()
    stale = out / f"{TEMP_PREFIX}{_dead_pid()}-0123456789ab.png"
    live = out / f"{TEMP_PREFIX}{os.getpid()}-0123456789ab.png"  # a write in progress: kept
    stale.touch()
    live.touch()
    kept = {n: (out / n).stat().st_mtime_ns for n in ("a.png", "a_panel.png", "b.png")}
    capsys.readouterr()
    assert _fuse(*args, "--skip-existing") == 0
    message = capsys.readouterr().out
    assert "fused 2 pairs" in message and "skipped 1 already fused" in message and "1 stale" in message
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    assert (out / "b_panel.png").is_file() and (out / "c.png").is_file() and (out / "c_panel.png").is_file()
    assert not stale.exists() and live.exists()
    live.unlink()
    _expect_error(capsys, [*args, "--skip-existing", "--overwrite"], "--overwrite and --skip-existing")


def test_written_images_get_the_usual_permissions(tmp_path, pair_folder):
    import os

    previous = os.umask(0o022)
    try:
        out = tmp_path / "f.png"
        assert _fuse(*_io(pair_folder / "ir" / "a.png", pair_folder / "vi" / "a.png", out), "--method", "mean") == 0
        os.umask(0o027)
        assert _fuse(*_io(pair_folder / "ir" / "a.png", pair_folder / "vi" / "a.png", tmp_path / "g.png")) == 0
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "g.png").stat().st_mode & 0o777 == 0o640


def test_unwritable_output_is_refused_before_any_work(tmp_path, pair_folder, tiny_weights, capsys, monkeypatch):
    (tmp_path / "file.txt").write_text("x")
    _expect_error(
        capsys,
        [*_io(pair_folder / "ir", pair_folder / "vi", tmp_path / "file.txt" / "out"), *_tiny(tiny_weights)],
        "file.txt",
        "cannot be created",
    )
    import os

    real_access = os.access
    read_only = tmp_path / "ro"
    read_only.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != read_only and real_access(p, mode, **kw))
    _expect_error(
        capsys,
        [*_io(pair_folder / "ir", pair_folder / "vi", read_only / "out"), *_tiny(tiny_weights)],
        str(read_only / "out"),
        "read-only or not yours",
        out_dir=read_only,
    )


def test_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, pair_folder, tiny_weights, capsys, monkeypatch):
    import errno

    real_save = Image.Image.save
    calls = []

    def save(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 2:  # the second image: part of it written, then the disk is full
            Path(fp).write_bytes(b"\x89PNG partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    out = tmp_path / "out"
    _expect_error(
        capsys,
        [*_io(pair_folder / "ir", pair_folder / "vi", out), *_tiny(tiny_weights)],
        str(out / "b.png"),
        "No space left on device",
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # the complete one stays, nothing partial


# --- weights and the network's output -------------------------------------------------------------------------


def test_weights_with_nan_or_bad_metadata_are_one_line_errors(tmp_path, pair_folder, capsys):
    import json

    from wavecross.errors import WavecrossError
    from wavecross.nn import WaveCross
    from wavecross.nn.io import save_state

    torch.manual_seed(0)
    net = WaveCross("tiny")
    state = net.state_dict()
    state["decoder.head.bias"] = torch.tensor([float("nan")])
    bad = {
        "nan.safetensors": (state, net.config.to_dict()),
        "json.safetensors": (net.state_dict(), "{not json"),
        "keys.safetensors": (net.state_dict(), {**net.config.to_dict(), "chanels": 3}),
    }
    single = _io(pair_folder / "ir" / "a.png", pair_folder / "vi" / "a.png", tmp_path / "f.png")
    for name, (tensors, config) in bad.items():
        text = config if isinstance(config, str) else json.dumps(config)
        save_state(tensors, tmp_path / name, extra={"config": text})
        _expect_error(capsys, [*single, "--weights", tmp_path / name], name)
        with pytest.raises(WavecrossError, match=name):
            WaveCross.load(tmp_path / name)
    assert not (tmp_path / "f.png").exists()


def test_non_finite_fused_output_is_never_written(tmp_path, pair_folder, tiny_weights, tiny_model, capsys, monkeypatch):
    import wavecross.inference
    from wavecross.errors import WavecrossError

    broken = copy.deepcopy(tiny_model)
    with torch.no_grad():
        broken.decoder.head.bias.fill_(float("nan"))
    with pytest.raises(WavecrossError, match="NaN"):
        fuse(np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), broken)
    monkeypatch.setattr(wavecross.inference, "fuse_tensors", lambda net, a, *r, **k: torch.full_like(a, float("inf")))
    _expect_error(
        capsys,
        [*_io(pair_folder / "ir", pair_folder / "vi", tmp_path / "o"), *_tiny(tiny_weights)],
        str(pair_folder / "ir" / "a.png"),
        "NaN or infinite",
        out_dir=tmp_path / "o",
    )


# --- the Python API: PIL modes, the caller's model ------------------------------------------------------------


def _pil_cases() -> dict[str, Image.Image]:
    rng = np.random.default_rng(7)
    grey = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    rgb = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    counts = (grey.astype(np.int32) * 9 + 20_000).astype(np.int32)  # 16-bit thermal counts in a narrow band
    return {
        "F": Image.fromarray(grey.astype(np.float32) / 255),
        "I": Image.fromarray(counts),
        "I;16": Image.fromarray(counts.astype(np.uint16)),
        "L": Image.fromarray(grey),
        "LA": Image.fromarray(np.dstack([grey, grey])),
        "RGB": Image.fromarray(rgb),
        "RGBA": Image.fromarray(np.dstack([rgb, grey])),
        "P": Image.fromarray(rgb).convert("P"),
        "1": Image.fromarray(grey).convert("1"),
    }


@pytest.mark.parametrize("mode", list(_pil_cases()))
def test_pil_images_fuse_like_the_same_file(tmp_path, tiny_model, mode):
    image = _pil_cases()[mode]
    assert image.mode == mode
    path = tmp_path / ("x.tif" if mode in ("F", "I") else "x.png")  # PNG holds neither floats nor 32-bit ints
    image.save(path)
    vis = np.random.default_rng(8).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    from_pil = np.asarray(fuse(image, Image.fromarray(vis), tiny_model))
    from_file = fuse(path, Image.fromarray(vis), tiny_model)
    assert np.array_equal(from_pil, np.asarray(from_file))
    assert np.array_equal(
        np.asarray(fuse(Image.fromarray(vis), image, tiny_model)), fuse(Image.fromarray(vis), path, tiny_model)
    )
    assert 20 < from_pil.mean() < 235  # neither all black nor all white


def test_fuse_leaves_the_callers_model_in_its_mode(tiny_weights):
    from wavecross.inference import get_fuser
    from wavecross.nn import WaveCross

    net = WaveCross.load(tiny_weights).train()
    for encoder in net.encoders():
        encoder.eval()  # frozen encoders, as in the fusion stage
    modes = {name: m.training for name, m in net.named_modules()}
    a = np.zeros((32, 32), np.uint8)
    fuse(a, a, net)
    fuse_batch([a, a], [a, a], net)
    get_fuser(model=net)(a / 255.0, a / 255.0)
    assert {name: m.training for name, m in net.named_modules()} == modes
    assert net.training and not net.encoder_ir.training


# --- inputs: orientation, pixel limit, value ranges, paths ----------------------------------------------------


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def test_exif_orientation_is_applied_to_both_inputs(tmp_path, tiny_model):
    from wavecross.data import synthetic_pair

    ir, vis = synthetic_pair(48, 64, seed=3)
    # A camera held upright stores the pixels rotated and says so in EXIF (6: rotate 90° clockwise to view).
    Image.fromarray(np.rot90(ir, 1)).save(tmp_path / "ir.png", exif=_exif(6))
    Image.fromarray(np.rot90(vis, 1)).save(tmp_path / "vis.jpg", exif=_exif(6), quality=100)
    Image.fromarray(vis).save(tmp_path / "upright.png")
    assert np.array_equal(read_image(tmp_path / "ir.png"), ir)
    assert read_image(tmp_path / "vis.jpg").shape == (48, 64, 3)
    fused = fuse(tmp_path / "ir.png", tmp_path / "upright.png", tiny_model)  # rotated IR with upright visible
    assert np.array_equal(fused, fuse(ir, vis, tiny_model))
    assert _fuse(*_io(tmp_path / "ir.png", tmp_path / "vis.jpg", tmp_path / "f.png"), "--method", "mean") == 0
    assert read_image(tmp_path / "f.png").shape == (48, 64, 3)


def _png_declaring(width: int, height: int) -> bytes:
    """A 60-byte PNG whose header declares ``width`` × ``height`` pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_pixel_limit_is_checked_before_decoding(tmp_path, pair_folder, capsys, monkeypatch):
    import wavecross.data.io
    from wavecross.errors import WavecrossError

    bomb = pair_folder / "ir" / "b.png"
    bomb.write_bytes(_png_declaring(30_000, 30_000))
    folders = _io(pair_folder / "ir", pair_folder / "vi", tmp_path / "o")
    _expect_error(
        capsys, [*folders, "--method", "mean"], str(bomb), "900.0 megapixels", "--max-pixels", out_dir=tmp_path / "o"
    )
    # Raised past the file's size, the limit lets it through to the decoder (which finds the file truncated).
    _expect_error(capsys, [*folders, "--method", "mean", "--max-pixels", str(10**9)], str(bomb), "cannot be read")
    # A small limit refuses ordinary images; the API has a module-level setting.
    _expect_error(capsys, [*folders, "--method", "mean", "--max-pixels", "7000"], str(pair_folder / "ir" / "a.png"))
    monkeypatch.setattr(wavecross.data.io, "MAX_PIXELS", 7000)
    with pytest.raises(WavecrossError, match="a.png"):
        fuse(pair_folder / "ir" / "a.png", pair_folder / "vi" / "a.png", method="mean")


def test_out_of_range_tiff_errors_name_the_file(tmp_path, tiny_model, capsys):
    import tifffile

    rng = np.random.default_rng(0)
    vis = tmp_path / "vis.png"
    Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(vis)
    tifffile.imwrite(tmp_path / "float.tif", rng.random((40, 40), dtype=np.float32) * 255)
    tifffile.imwrite(tmp_path / "wide.tif", rng.integers(0, 100_000, (40, 40)).astype(np.int32))
    for name, words in (("float.tif", "[0, 1]"), ("wide.tif", "16 bits")):
        _expect_error(
            capsys, [*_io(tmp_path / name, vis, tmp_path / "f.png"), "--method", "mean"], str(tmp_path / name), words
        )
    # 32-bit integers holding 16-bit counts are read as 16-bit, as Pillow's mode I is
    counts = rng.integers(20_000, 22_000, (40, 40))
    tifffile.imwrite(tmp_path / "i32.tif", counts.astype(np.int32))
    assert np.array_equal(fuse(tmp_path / "i32.tif", vis, tiny_model), fuse(counts.astype(np.uint16), vis, tiny_model))


def test_mistyped_input_and_broken_link_are_named(tmp_path, pair_folder, capsys):
    _expect_error(
        capsys,
        [*_io(pair_folder / "irr", pair_folder / "vi", tmp_path / "o"), "--method", "mean"],
        str(pair_folder / "irr"),
        "no such file or folder",
    )
    (pair_folder / "vi" / "c.png").unlink()
    (pair_folder / "vi" / "c.png").symlink_to(tmp_path / "gone.png")
    _expect_error(
        capsys,
        [*_io(pair_folder / "ir", pair_folder / "vi", tmp_path / "o"), "--method", "mean"],
        str(pair_folder / "vi" / "c.png"),
        "broken symbolic link",
        out_dir=tmp_path / "o",
    )
