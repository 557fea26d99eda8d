"""Training/validation dataset over folders of registered IR/visible pairs.

Pairs are decoded once, at construction, into compact luminance arrays (``uint8``, or ``uint16`` for
16-bit files), so an epoch costs no file I/O and 8-bit pairs take a quarter of their float32 size.
Scaling to [0, 1] happens per sample, on the crop only, with the whole image's range, so crops agree with
:func:`to_unit` on the whole image.

Randomness (crop window, flips) comes from a generator seeded by ``(seed, index, epoch)`` and nothing else:
a resumed run that calls :meth:`PairedImageDataset.set_epoch` sees exactly the samples of the original run,
whatever the worker count or the global RNG state.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import WavecrossError
from .io import ROBUST_PERCENTILES, is_grey, is_image_file, luminance, luminance_u8, read_image, to_unit
from .pairs import find_pairs, pair_folders

__all__ = ["PairedImageDataset", "load_luminance", "val_count"]

Item = dict[str, "torch.Tensor | str"]


class _Luma:
    """One stored luminance image and the range that maps it to [0, 1]."""

    __slots__ = ("data", "hi", "lo")

    def __init__(self, data: np.ndarray, lo: float, hi: float) -> None:
        self.data, self.lo, self.hi = data, lo, hi

    def unit(self, window: np.ndarray) -> np.ndarray:
        """``window`` (a part of ``data``) in [0, 1], exactly as :func:`to_unit` scales the whole image."""
        if self.data.dtype == np.uint8:
            return window.astype(np.float32) / np.float32(255.0)
        if self.hi <= self.lo:
            return np.zeros(window.shape, np.float32)
        out = (window.astype(np.float32) - np.float32(self.lo)) / np.float32(self.hi - self.lo)
        return np.clip(out, 0.0, 1.0, out=out)


def load_luminance(path: str | Path) -> _Luma:
    """Decode a file into the compact luminance the dataset keeps.

    8-bit: the 0-255 grey/Y image of :func:`luminance_u8` (grey stored as RGB gives its channel unchanged;
    colour gives BT.601 Y, rounded). 16-bit: the grey channel or the rounded Y, kept as ``uint16``, with the
    0.1/99.9 percentiles of the whole image mapped to 0/1 (the robust normalisation of :func:`to_unit`).
    Float files must already lie in [0, 1]; they are kept at 16-bit precision.
    """
    arr = read_image(path)
    if arr.dtype == np.uint8:
        return _Luma(luminance_u8(arr), 0.0, 255.0)
    if arr.dtype == np.uint16:
        if arr.ndim == 3:
            arr = arr[..., 0] if is_grey(arr) else np.rint(luminance(arr)).astype(np.uint16)
        y = np.ascontiguousarray(arr)
        lo, hi = np.percentile(y, ROBUST_PERCENTILES)
        return _Luma(y, float(lo), float(hi))
    y = luminance(to_unit(arr, name=str(path)))
    return _Luma(np.rint(y * 65535.0).astype(np.uint16), 0.0, 65535.0)


def val_count(n_pairs: int, val_fraction: float) -> int:
    """Validation pairs of a root of ``n_pairs``: the fraction, rounded, at least 1 when the root has 2."""
    if n_pairs < 2 or val_fraction <= 0:
        return 0
    return min(n_pairs - 1, max(1, round(val_fraction * n_pairs)))


def _val_names(names: list[str], val_fraction: float, seed: int) -> set[str]:
    """Validation names of one root, ranked by a hash of (seed, name).

    Ranking by a per-name hash rather than shuffling a list keeps the split nearly unchanged when files are
    added or removed (a shuffle would redraw it entirely), and independent of the order of the roots.
    """
    k = val_count(len(names), val_fraction)
    ranked = sorted(names, key=lambda n: hashlib.sha256(f"{seed}\0{n}".encode()).digest())
    return set(ranked[:k])


def _root_labels(roots: list[Path]) -> list[str]:
    """Shortest distinct path suffixes, so names stay unique when two roots end in the same folder name."""
    resolved = [r.resolve() for r in roots]
    for i, r in enumerate(resolved):
        if r in resolved[:i]:
            raise WavecrossError(f"{roots[i]}: dataset root given twice; list each root once.")
    for depth in range(1, max(len(r.parts) for r in resolved) + 1):
        labels = ["/".join(r.parts[-depth:]) for r in resolved]
        if len(set(labels)) == len(labels):
            return labels
    return [str(r) for r in resolved]


class PairedImageDataset(Dataset):
    """Aligned IR/visible luminance samples from one or more roots holding an IR and a visible folder (``ir/vi``,
    ``Ir/Vis``, ``infrared/visible``, ...: see :func:`~wavecross.data.pairs.pair_folders`; ``ir_dir``/``vis_dir``
    name them for any other layout).

    Items are ``{"ir": (1, crop, crop), "vis": (1, crop, crop), "name": "<root>/<file>"}`` with float
    tensors in [0, 1]. ``crop=None`` gives whole images (use batch size 1). The train split draws a random
    aligned window and, with ``augment``, random flips; the val split (a fixed, seed-determined
    ``val_fraction`` of every root) takes the centre window, unflipped. Images smaller than the crop are
    mirror-padded.

    Bad files (unpaired names, unreadable or truncated files, IR/visible size mismatches) raise one
    :class:`WavecrossError` listing them all with ``on_bad="error"``; with ``on_bad="warn"`` each gives a
    warning naming it and is recorded in ``skipped`` as ``(path, reason)``. Unpaired names belong to neither
    split, so both report them; unreadable files are only found by the split that loads them.
    """

    def __init__(
        self,
        roots: Sequence[str | Path],
        crop: int | None = 128,
        split: str = "train",
        val_fraction: float = 0.1,
        seed: int = 0,
        augment: bool = True,
        on_bad: str = "error",
        ir_dir: str | None = None,
        vis_dir: str | None = None,
    ) -> None:
        if isinstance(roots, (str, Path)):
            roots = [roots]
        if not roots:
            raise WavecrossError("no dataset roots given; pass folders that contain an IR and a visible folder.")
        if split not in ("train", "val"):
            raise WavecrossError(f"split={split!r}: use 'train' or 'val'.")
        if on_bad not in ("error", "warn"):
            raise WavecrossError(f"on_bad={on_bad!r}: use 'error' or 'warn'.")
        if crop is not None and (not isinstance(crop, int) or crop < 1):
            raise WavecrossError(f"crop={crop!r}: use a positive number of pixels, or None for whole images.")
        if not 0 <= val_fraction < 1:
            raise WavecrossError(f"val_fraction={val_fraction}: use a value in [0, 1).")
        self.crop, self.split, self.seed, self.augment = crop, split, int(seed), bool(augment)
        self.epoch = 0
        self.names: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self._ir: list[_Luma] = []
        self._vis: list[_Luma] = []
        bad: list[tuple[str, str]] = []
        paths = [Path(r) for r in roots]
        for root, label in zip(paths, _root_labels(paths), strict=True):
            self._load_root(pair_folders(root, ir_dir, vis_dir), label, val_fraction, bad)
        if bad:
            self._report(bad, on_bad)
        if not self.names:
            hint = "use val_fraction > 0 and roots of 2 pairs or more" if split == "val" else "add pairs"
            raise WavecrossError(f"no usable pairs in the {split} split of {', '.join(map(str, paths))}; {hint}.")

    def _load_root(
        self, folders: tuple[Path, Path], label: str, val_fraction: float, bad: list[tuple[str, str]]
    ) -> None:
        ir_dir, vis_dir = folders
        pairs = find_pairs(ir_dir, vis_dir, allow_unpaired=True)
        ir_names = {p.name for p in ir_dir.iterdir() if p.is_file() and is_image_file(p)}
        vis_names = {p.name for p in vis_dir.iterdir() if p.is_file() and is_image_file(p)}
        for name in sorted(ir_names ^ vis_names):
            other = vis_dir if name in ir_names else ir_dir
            path = (ir_dir if name in ir_names else vis_dir) / name
            bad.append((str(path), f"unpaired: no file of that name in {other}"))
        val = _val_names([p.name for p in pairs], val_fraction, self.seed)
        for pair in pairs:
            if (pair.name in val) != (self.split == "val"):
                continue
            ir, vis = _try_load(pair.ir, bad), _try_load(pair.vis, bad)  # both, to list every bad file
            if ir is None or vis is None:
                continue
            if ir.data.shape != vis.data.shape:
                reason = f"size mismatch: IR {_hw(ir)} vs visible {_hw(vis)} ({pair.vis}); register the pair"
                bad.append((str(pair.ir), reason))
                continue
            self.names.append(f"{label}/{pair.name}")
            self._ir.append(ir)
            self._vis.append(vis)

    def _report(self, bad: list[tuple[str, str]], on_bad: str) -> None:
        if on_bad == "error":
            listing = "; ".join(f"{path} ({reason})" for path, reason in bad)
            raise WavecrossError(
                f"{len(bad)} bad file(s) in the dataset: {listing}; fix or remove them, or pass "
                "on_bad='warn' to skip them."
            )
        for path, reason in bad:
            warnings.warn(f"{path}: skipped, {reason}", stacklevel=3)
        self.skipped.extend(bad)

    def set_epoch(self, epoch: int) -> None:
        """Select the crops/flips of ``epoch``.

        With DataLoader workers, call it before creating the iterator: workers copy the dataset when the
        iterator starts, so with ``persistent_workers`` they would keep the old epoch.
        """
        self.epoch = int(epoch)

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(height, width) of every pair, e.g. to weight sampling by area."""
        return [(int(a.data.shape[0]), int(a.data.shape[1])) for a in self._ir]

    @property
    def nbytes(self) -> int:
        """Memory held by the decoded images."""
        return sum(a.data.nbytes + b.data.nbytes for a, b in zip(self._ir, self._vis, strict=True))

    @property
    def groups(self) -> list[list[int]]:
        """Item indices of each root, in the order of the roots (for sampling the roots evenly)."""
        by_root: dict[str, list[int]] = {}
        for i, name in enumerate(self.names):
            by_root.setdefault(name.rsplit("/", 1)[0], []).append(i)
        return list(by_root.values())

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Item:
        """Item ``index``; in the train split an index ``i + k·len(self)`` draws pair ``i`` again with a crop of its
        own, so a sampler can repeat a pair within an epoch (even sampling of roots of different sizes)."""
        n = len(self.names)
        if index < 0 or (index >= n and self.split != "train"):
            raise IndexError(f"index {index} out of range for {n} pairs")
        draw, index = index, index % n
        ir, vis = self._ir[index].data, self._vis[index].data
        train = self.split == "train"
        rng = np.random.default_rng([self.seed, draw, self.epoch]) if train else None
        window = _window(ir.shape, self.crop, rng)
        ir_w, vis_w = _take(ir, window, self.crop), _take(vis, window, self.crop)
        if rng is not None and self.augment:
            flip_v, flip_h = rng.random(2) < 0.5
            if flip_v:
                ir_w, vis_w = ir_w[::-1], vis_w[::-1]
            if flip_h:
                ir_w, vis_w = ir_w[:, ::-1], vis_w[:, ::-1]
        return {
            "ir": _tensor(self._ir[index].unit(ir_w)),
            "vis": _tensor(self._vis[index].unit(vis_w)),
            "name": self.names[index],
        }


def _try_load(path: Path, bad: list[tuple[str, str]]) -> _Luma | None:
    try:
        return load_luminance(path)
    except WavecrossError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        bad.append((str(path), f"unreadable: {reason}"))
        return None


def _hw(luma: _Luma) -> str:
    return "×".join(map(str, luma.data.shape[::-1]))


def _window(shape: tuple[int, ...], crop: int | None, rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of the crop: random in training, centred in validation (0 where padding is needed)."""
    if crop is None:
        return 0, 0
    corner = []
    for size in shape[:2]:
        room = max(size - crop, 0)
        corner.append(int(rng.integers(0, room + 1)) if rng is not None else room // 2)
    return corner[0], corner[1]


def _take(img: np.ndarray, corner: tuple[int, int], crop: int | None) -> np.ndarray:
    """The crop at ``corner``, mirror-padded (symmetric) where the image is smaller than the crop."""
    if crop is None:
        return img
    top, left = corner
    win = img[top : top + crop, left : left + crop]
    if win.shape != (crop, crop):
        dh, dw = crop - win.shape[0], crop - win.shape[1]
        win = np.pad(win, ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)), mode="symmetric")
    return win


def _tensor(unit: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))[None]
