"""Training data: real-file quirks, aligned and reproducible sampling, bad files, synthetic pairs."""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from wavecross.data import (
    PairedImageDataset,
    SyntheticPairDataset,
    find_pairs,
    luminance_u8,
    read_image,
    synthetic_pair,
    to_unit,
    write_image,
)
from wavecross.data.dataset import load_luminance, val_count
from wavecross.data.io import is_grey
from wavecross.data.synthetic import _scene
from wavecross.errors import WavecrossError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "train").is_dir(), reason="../shared/data is absent")


def _pair(root: Path, name: str, ir: np.ndarray, vis: np.ndarray, vis_name: str | None = None) -> None:
    write_image(root / "ir" / name, ir)
    write_image(root / "vi" / (vis_name or name), vis)


def _rand(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _grey_rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2)


def _find_window(full: np.ndarray, win: np.ndarray) -> list[tuple[int, int, bool, bool]]:
    """Every (top, left, flip_v, flip_h) placing ``win`` in ``full``."""
    k = win.shape[0]
    hits = []
    for fv in (False, True):
        for fh in (False, True):
            w = win[::-1] if fv else win
            w = w[:, ::-1] if fh else w
            views = np.lib.stride_tricks.sliding_window_view(full, (k, k))
            for top, left in zip(*np.nonzero((views == w).all(axis=(2, 3))), strict=True):
                hits.append((int(top), int(left), fv, fh))
    return hits


# ---- sampling: alignment, crops, padding, reproducibility ------------------------------------------------


def test_crops_are_aligned_windows_of_the_image(tmp_path: Path) -> None:
    ir = _rand((60, 90))
    _pair(tmp_path, "a.png", ir, _grey_rgb(255 - ir))  # visible = negative of IR: same window ⇔ vis == 1 - ir
    ds = PairedImageDataset([tmp_path], crop=16, val_fraction=0.0)
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[0]
        assert item["ir"].shape == item["vis"].shape == (1, 16, 16)
        assert item["ir"].dtype == torch.float32 and item["name"].endswith("/a.png")
        assert torch.allclose(item["vis"], 1 - item["ir"], atol=1e-6)
        hits = _find_window(ir, np.rint(item["ir"][0].numpy() * 255).astype(np.uint8))
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) >= 4  # windows and flips really vary with the epoch
    assert {h[2] for h in seen} == {False, True} or {h[3] for h in seen} == {False, True}


def test_same_seed_and_epoch_reproduce_samples_whatever_the_global_rng(tmp_path: Path) -> None:
    for i in range(3):
        _pair(tmp_path, f"{i}.png", _rand((100, 120), i), _rand((100, 120, 3), 10 + i))
    a = PairedImageDataset([tmp_path], crop=32, val_fraction=0.0, seed=7)
    b = PairedImageDataset([tmp_path], crop=32, val_fraction=0.0, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    first = [a[i] for i in range(3)]
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002 (the legacy global state is what must not matter)
    for i in range(3):
        again = b[i]
        assert torch.equal(first[i]["ir"], again["ir"]) and torch.equal(first[i]["vis"], again["vis"])
        assert torch.equal(a[i]["ir"], first[i]["ir"])  # no hidden call counter either
    b.set_epoch(4)
    assert any(not torch.equal(first[i]["ir"], b[i]["ir"]) for i in range(3))
    c = PairedImageDataset([tmp_path], crop=32, val_fraction=0.0, seed=8)
    c.set_epoch(3)
    assert any(not torch.equal(first[i]["ir"], c[i]["ir"]) for i in range(3))


def test_no_augment_means_no_flips(tmp_path: Path) -> None:
    ir = _rand((40, 40))
    _pair(tmp_path, "a.png", ir, _grey_rgb(ir))
    ds = PairedImageDataset([tmp_path], crop=12, val_fraction=0.0, augment=False)
    for epoch in range(5):
        ds.set_epoch(epoch)
        hits = _find_window(ir, np.rint(ds[0]["ir"][0].numpy() * 255).astype(np.uint8))
        assert hits and not hits[0][2] and not hits[0][3]


def test_small_and_odd_sized_images_are_mirror_padded(tmp_path: Path) -> None:
    small, odd = _rand((21, 30), 1), _rand((475, 575), 2)
    _pair(tmp_path, "small.bmp", small, _grey_rgb(small))
    _pair(tmp_path, "odd.png", odd, _rand((475, 575, 3), 3))
    ds = PairedImageDataset([tmp_path], crop=64, val_fraction=0.0, augment=False)
    item = dict(zip(ds.names, (ds[i] for i in range(len(ds))), strict=True))
    out = np.rint(item[f"{tmp_path.name}/small.bmp"]["ir"][0].numpy() * 255).astype(np.uint8)
    top, left = (64 - 21) // 2, (64 - 30) // 2
    assert out.shape == (64, 64)
    assert np.array_equal(out[top : top + 21, left : left + 30], small)
    assert np.array_equal(out[top - 1, left : left + 30], small[0])  # symmetric: the edge row is repeated
    assert item[f"{tmp_path.name}/odd.png"]["ir"].shape == (1, 64, 64)
    whole = PairedImageDataset([tmp_path], crop=None, val_fraction=0.0)
    shapes = {whole[i]["name"].split("/")[-1]: tuple(whole[i]["ir"].shape) for i in range(2)}
    assert shapes == {"odd.png": (1, 475, 575), "small.bmp": (1, 21, 30)}


# ---- file formats and bit depths -------------------------------------------------------------------------


def test_16bit_png_and_tiff_use_the_robust_normalisation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ir16 = rng.integers(20_000, 22_000, (64, 80)).astype(np.uint16)  # a narrow band, as thermal cameras give
    ir16[0, :5] = [0, 65535, 100, 60000, 5]  # outliers the percentiles must ignore
    lo, hi = np.percentile(ir16, (0.1, 99.9))
    _pair(tmp_path, "p.png", ir16, _rand((64, 80, 3)))
    _pair(tmp_path, "t.tif", ir16, _rand((64, 80, 3)))
    ds = PairedImageDataset([tmp_path], crop=None, val_fraction=0.0, augment=False)
    expected = np.clip((ir16.astype(np.float64) - lo) / (hi - lo), 0, 1)
    for i in range(2):
        got = ds[i]["ir"][0].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6)
        np.testing.assert_allclose(got, to_unit(ir16), atol=1e-6)
        assert got[ir16 <= lo].max() == 0 and got[ir16 >= hi].min() == 1
        assert 0.4 < got.mean() < 0.6  # a plain /65535 would give ~0.32 with almost no contrast
    # A crop is scaled with the whole image's percentiles, not its own.
    centre = PairedImageDataset([tmp_path], crop=16, split="val", val_fraction=0.5, augment=False)
    item = centre[0]
    t, l = (64 - 16) // 2, (80 - 16) // 2
    np.testing.assert_allclose(item["ir"][0].numpy(), expected[t : t + 16, l : l + 16], atol=1e-6)


def test_mixed_formats_rgb_stored_ir_and_grey_visible(tmp_path: Path) -> None:
    ir, colour = _rand((30, 40), 1), _rand((30, 40, 3), 2)
    _pair(tmp_path, "a.bmp", ir, colour)  # L IR, colour visible
    _pair(tmp_path, "b.png", _grey_rgb(ir), _grey_rgb(ir[::-1]))  # RGB-stored IR, grey visible stored as RGB
    _pair(tmp_path, "c.jpg", _grey_rgb(ir), colour)  # lossy jpg: compare with what the file decodes to
    _pair(tmp_path, "d.tiff", ir, colour)
    ds = PairedImageDataset([tmp_path], crop=None, val_fraction=0.0, augment=False)
    got = {n.split("/")[-1]: ds[i] for i, n in enumerate(ds.names)}
    assert sorted(got) == ["a.bmp", "b.png", "c.jpg", "d.tiff"]
    y = luminance_u8(colour) / 255.0  # BT.601 Y, rounded to 0-255 as the metrics see it
    for name in ("a.bmp", "d.tiff"):
        np.testing.assert_allclose(got[name]["ir"][0].numpy(), ir / 255.0, atol=1e-6)
        np.testing.assert_allclose(got[name]["vis"][0].numpy(), y, atol=1e-6)
    np.testing.assert_allclose(got["b.png"]["ir"][0].numpy(), ir / 255.0, atol=1e-6)
    np.testing.assert_allclose(got["b.png"]["vis"][0].numpy(), ir[::-1] / 255.0, atol=1e-6)
    for kind, sub in (("ir", "ir"), ("vis", "vi")):
        decoded = luminance_u8(read_image(tmp_path / sub / "c.jpg")) / 255.0
        np.testing.assert_allclose(got["c.jpg"][kind][0].numpy(), decoded, atol=1e-6)


# ---- bad files -------------------------------------------------------------------------------------------


def _messy_root(root: Path) -> dict[str, str]:
    """Two good pairs and one file of each kind of problem; returns {bad path: a word of its reason}."""
    for i in range(2):
        _pair(root, f"good{i}.png", _rand((20, 20), i), _rand((20, 20, 3), i))
    write_image(root / "ir" / "lonely.png", _rand((20, 20)))
    write_image(root / "vi" / "orphan.jpg", _rand((20, 20, 3)))
    _pair(root, "cut.jpg", _rand((64, 64)), _rand((64, 64, 3)))
    data = (root / "ir" / "cut.jpg").read_bytes()
    (root / "ir" / "cut.jpg").write_bytes(data[: len(data) // 2])
    _pair(root, "junk.png", _rand((20, 20)), _rand((20, 20, 3)))
    (root / "vi" / "junk.png").write_bytes(b"not an image at all")
    _pair(root, "sizes.png", _rand((20, 20)), _rand((20, 24, 3)))
    return {
        str(root / "ir" / "lonely.png"): "unpaired",
        str(root / "vi" / "orphan.jpg"): "unpaired",
        str(root / "ir" / "cut.jpg"): "unreadable",
        str(root / "vi" / "junk.png"): "unreadable",
        str(root / "ir" / "sizes.png"): "size mismatch",
    }


def test_bad_files_raise_one_error_naming_them_all(tmp_path: Path) -> None:
    bad = _messy_root(tmp_path)
    with pytest.raises(WavecrossError) as info:
        PairedImageDataset([tmp_path], val_fraction=0.0)
    message = str(info.value)
    for path in bad:
        assert path in message
    assert "on_bad='warn'" in message


def test_on_bad_warn_warns_per_file_and_records_it(tmp_path: Path) -> None:
    bad = _messy_root(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = PairedImageDataset([tmp_path], crop=8, val_fraction=0.0, on_bad="warn")
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(bad)
    for path, word in bad.items():
        assert sum(m.startswith(f"{path}: skipped") and word in m for m in messages) == 1
    assert dict(ds.skipped).keys() == bad.keys()
    assert all(word in dict(ds.skipped)[path] for path, word in bad.items())
    assert sorted(n.split("/")[-1] for n in ds.names) == ["good0.png", "good1.png"]


def test_root_without_vi_folder_is_named(tmp_path: Path) -> None:
    write_image(tmp_path / "ir" / "a.png", _rand((8, 8)))
    with pytest.raises(WavecrossError, match=str(tmp_path / "vi")):
        PairedImageDataset([tmp_path])


def test_same_folder_name_in_two_roots_keeps_names_distinct(tmp_path: Path) -> None:
    for parent in ("x", "y"):
        _pair(tmp_path / parent / "set", "a.png", _rand((8, 8)), _rand((8, 8, 3)))
    ds = PairedImageDataset([tmp_path / "x" / "set", tmp_path / "y" / "set"], crop=8, val_fraction=0.0)
    assert ds.names == ["x/set/a.png", "y/set/a.png"]


# ---- validation split ------------------------------------------------------------------------------------


def test_val_split_is_fixed_disjoint_and_centre_cropped(tmp_path: Path) -> None:
    big, small = tmp_path / "big", tmp_path / "small"
    for i in range(20):
        _pair(big, f"{i:02d}.png", _rand((24, 28), i), _rand((24, 28, 3), i))
    for i in range(2):
        _pair(small, f"{i}.png", _rand((24, 28), i), _rand((24, 28, 3), i))
    make = lambda split, seed=0: PairedImageDataset([big, small], crop=16, split=split, seed=seed)  # noqa: E731
    train, val = make("train"), make("val")
    assert len(val) == val_count(20, 0.1) + val_count(2, 0.1) == 3  # at least one from the 2-pair root
    assert set(train.names).isdisjoint(val.names) and len(train) + len(val) == 22
    assert make("val").names == val.names
    assert any(make("val", seed=s).names != val.names for s in (1, 2, 3))
    first = val[0]
    val.set_epoch(5)
    assert torch.equal(val[0]["ir"], first["ir"])
    name = val.names[0].split("/", 1)[1]
    full = read_image((big if val.names[0].startswith("big/") else small) / "ir" / name)
    np.testing.assert_allclose(first["ir"][0].numpy(), full[4:20, 6:22] / 255.0, atol=1e-6)


# ---- synthetic pairs -------------------------------------------------------------------------------------


def test_synthetic_pair_is_deterministic_and_fusion_relevant() -> None:
    ir, vis = synthetic_pair(120, 160, seed=3)
    assert ir.shape == (120, 160) and ir.dtype == np.uint8
    assert vis.shape == (120, 160, 3) and vis.dtype == np.uint8 and not is_grey(vis)
    ir2, vis2 = synthetic_pair(120, 160, seed=3)
    assert np.array_equal(ir, ir2) and np.array_equal(vis, vis2)
    assert not np.array_equal(synthetic_pair(120, 160, seed=4)[0], ir)
    for seed in range(5):
        ir, vis, hot = _scene(240, 320, seed)
        y = luminance_u8(vis).astype(np.float64)
        assert hot.any()
        ring = binary_dilation(hot, iterations=4) & ~hot  # the objects' surroundings
        ir_contrast = ir[hot].mean() - ir[ring].mean()
        assert ir_contrast > 60  # warm objects stand out in IR...
        assert abs(y[hot].mean() - y[ring].mean()) < ir_contrast / 3  # ...much less in the visible image
        lap = lambda a: np.abs(4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:])  # noqa: E731
        assert lap(y).mean() > 2 * lap(ir.astype(np.float64)).mean()  # texture lives in the visible


def test_synthetic_pair_is_vectorised() -> None:
    """No Python loop over pixels: the count of Python-level calls (deterministic, unlike a wall-clock time on a
    shared machine) stays far below the pixel count and grows much slower than it."""
    synthetic_pair(48, 64, 0)  # first call: lazy imports and caches

    def calls(height: int, width: int) -> int:
        count = 0

        def profile(frame, event, arg) -> None:
            nonlocal count
            count += event in ("call", "c_call")

        sys.setprofile(profile)
        try:
            synthetic_pair(height, width, 1)
        finally:
            sys.setprofile(None)
        return count

    small, large = calls(120, 160), calls(480, 640)  # 16 times the pixels
    assert large < 480 * 640 / 100
    assert large < 3 * small


def test_synthetic_dataset_items() -> None:
    ds = SyntheticPairDataset(length=5, size=32, seed=1)
    item = ds[4]
    assert len(ds) == 5 and item["name"] == "synthetic_00004"
    for key in ("ir", "vis"):
        assert item[key].shape == (1, 32, 32) and item[key].dtype == torch.float32
        assert item[key].min() >= 0 and item[key].max() <= 1
    assert torch.equal(SyntheticPairDataset(length=5, size=32, seed=1)[4]["ir"], item["ir"])
    assert not torch.equal(ds[3]["ir"], item["ir"])
    ds.set_epoch(1)
    assert not torch.equal(ds[4]["ir"], item["ir"])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert batch["ir"].shape == (5, 1, 32, 32) and len(batch["name"]) == 5


# ---- the real data in ../shared/data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_train() -> PairedImageDataset:
    if not (SHARED / "train").is_dir():
        pytest.skip("../shared/data is absent")
    return PairedImageDataset(sorted((SHARED / "train").iterdir()), crop=None, augment=False)


@needs_shared
def test_real_train_set_loads_every_pair_but_val(real_train: PairedImageDataset) -> None:
    roots = sorted((SHARED / "train").iterdir())
    counts = [len(find_pairs(r / "ir", r / "vi")) for r in roots]
    assert sum(counts) == 265
    assert len(real_train) == 265 - sum(val_count(n, 0.1) for n in counts)
    assert not real_train.skipped
    assert real_train.nbytes < 200e6  # compact uint8 luminance, not float


@needs_shared
def test_real_rgb_stored_ir_and_colour_visible(real_train: PairedImageDataset) -> None:
    i = next(i for i, n in enumerate(real_train.names) if n.startswith("LLVIP/"))
    name = real_train.names[i].split("/")[1]
    ir_rgb = read_image(SHARED / "train" / "LLVIP" / "ir" / name)
    vis_rgb = read_image(SHARED / "train" / "LLVIP" / "vi" / name)
    assert ir_rgb.shape == (1024, 1280, 3) and is_grey(ir_rgb) and not is_grey(vis_rgb)
    item = real_train[i]
    assert item["ir"].shape == (1, 1024, 1280)
    np.testing.assert_allclose(item["ir"][0].numpy(), ir_rgb[..., 0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(item["vis"][0].numpy(), luminance_u8(vis_rgb) / 255.0, atol=1e-6)


@needs_shared
def test_real_training_crops_cover_every_size(real_train: PairedImageDataset) -> None:
    crops = copy.copy(real_train)  # shares the decoded images; only the sampling differs
    crops.crop, crops.augment = 128, True
    sizes = set(real_train.sizes)
    assert len(sizes) > 100 and any(h % 2 or w % 2 for h, w in sizes)  # RoadScene: odd, varied sizes
    for i in range(0, len(crops), 7):
        item = crops[i]
        assert item["ir"].shape == item["vis"].shape == (1, 128, 128)


@needs_shared
def test_real_tno_grey_visible_and_575x475() -> None:
    tno = SHARED / "test" / "TNO"
    ds = PairedImageDataset([tno], crop=None, val_fraction=0.0, augment=False)
    i = ds.names.index("TNO/05.png")
    vis_rgb = read_image(tno / "vi" / "05.png")
    assert vis_rgb.ndim == 3 and is_grey(vis_rgb)
    assert load_luminance(tno / "vi" / "05.png").data.shape == (475, 575)
    item = ds[i]
    assert item["vis"].shape == (1, 475, 575)
    np.testing.assert_allclose(item["vis"][0].numpy(), vis_rgb[..., 0] / 255.0, atol=1e-6)


# ---- reading and writing: orientation, limits, value types, links, atomic writes ------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_and_tiff_orientation_give_the_upright_image(tmp_path: Path, orientation: int) -> None:
    import tifffile
    from PIL import Image

    stored = _rand((30, 40), orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "e.png", exif=exif)
    tifffile.imwrite(tmp_path / "e.tif", stored, extratags=[(0x0112, "H", 1, orientation, True)])
    upright = np.asarray(Image.fromarray(stored).transpose(_PIL_TRANSPOSE[orientation])) if orientation > 1 else stored
    assert np.array_equal(read_image(tmp_path / "e.png"), upright)
    assert np.array_equal(read_image(tmp_path / "e.tif"), upright)


_PIL_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}  # EXIF orientation → PIL.Image.Transpose to view it


def test_tiff_declaring_a_huge_size_is_refused_from_its_header(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "bomb.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), compression="zlib")
    with tifffile.TiffFile(path, mode="r+b") as tif:  # a 268-byte file declaring 30000 × 30000 pixels
        for tag in ("ImageWidth", "ImageLength", "RowsPerStrip"):
            tif.pages[0].tags[tag].overwrite(30_000)
    with pytest.raises(WavecrossError, match=r"bomb.tif: declares 30000×30000 pixels \(900.0 megapixels\)"):
        read_image(path)
    with pytest.raises(WavecrossError, match="bomb.tif"):
        read_image(tmp_path / "bomb.tif", max_pixels=16 * 16 - 1)


def test_integer_and_boolean_arrays_are_read_as_the_reader_would(tmp_path: Path) -> None:
    import tifffile

    counts = np.random.default_rng(0).integers(0, 65536, (8, 8))
    for dtype in (np.int32, np.uint32, np.int64):
        tifffile.imwrite(tmp_path / "i.tif", counts.astype(dtype))
        got = read_image(tmp_path / "i.tif")
        assert got.dtype == np.uint16 and np.array_equal(got, counts)
    tifffile.imwrite(tmp_path / "b.tif", counts > 30000)
    assert np.array_equal(read_image(tmp_path / "b.tif"), np.where(counts > 30000, 255, 0))
    negative = counts.astype(np.int32)
    negative[0, 0] = -1
    tifffile.imwrite(tmp_path / "neg.tif", negative)
    with pytest.raises(WavecrossError, match=r"neg.tif: integer values span \[-1,"):
        read_image(tmp_path / "neg.tif")


def test_broken_link_is_named_as_such(tmp_path: Path) -> None:
    _pair(tmp_path, "a.png", _rand((20, 20)), _rand((20, 20)))
    _pair(tmp_path, "b.png", _rand((20, 20)), _rand((20, 20)))
    (tmp_path / "vi" / "b.png").unlink()
    (tmp_path / "vi" / "b.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(WavecrossError, match=r"vi/b.png: is a broken symbolic link \(to .*nowhere.png\)"):
        find_pairs(tmp_path / "ir", tmp_path / "vi")
    with pytest.raises(WavecrossError, match="broken symbolic link"):
        read_image(tmp_path / "vi" / "b.png")
    assert [p.name for p in find_pairs(tmp_path / "ir", tmp_path / "vi", allow_unpaired=True)] == ["a.png"]


def test_write_image_failures_name_the_file_and_leave_nothing(tmp_path: Path, monkeypatch) -> None:
    import errno

    from PIL import Image

    (tmp_path / "file").write_text("x")
    with pytest.raises(WavecrossError, match=r"file/a.png: cannot be written"):
        write_image(tmp_path / "file" / "a.png", _rand((8, 8)))

    def full(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(WavecrossError, match=r"out/a.png: cannot be written \(No space left on device\)"):
        write_image(tmp_path / "out" / "a.png", _rand((8, 8)))
    assert list((tmp_path / "out").iterdir()) == []
