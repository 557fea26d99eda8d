"""Procedural IR/visible pairs, so that training, tests and the demo run on a machine without any data.

The scenes mimic what makes fusion non-trivial: the visible image carries fine texture and colour
structure (ground, road markings, building windows) that the IR image lacks, while warm objects (people,
animals, a car engine) are bright in IR and nearly invisible in the visible image. Both share the coarse
scene layout, as real registered pairs do.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .io import luminance_u8

__all__ = ["SyntheticPairDataset", "synthetic_pair"]


def synthetic_pair(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic registered pair: IR ``uint8`` (H, W) and colour visible ``uint8`` (H, W, 3).

    Deterministic for a seed (same numpy/scipy/Pillow versions); about 20 ms for 640×480.
    """
    ir, vis, _ = _scene(height, width, seed)
    return ir, vis


def _scene(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pair plus the boolean mask of warm objects (tests check that they are hot in IR)."""
    if height < 8 or width < 8:
        raise ValueError(f"synthetic scenes need at least 8×8 pixels, got {height}×{width}")
    rng = np.random.default_rng(seed)
    h, w, s = height, width, min(height, width)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    horizon = int(h * rng.uniform(0.3, 0.5))
    ground = yy >= horizon

    # Visible background: sky gradient, textured ground, road with dashed marking, buildings with windows.
    sky = rng.uniform([0.45, 0.55, 0.7], [0.65, 0.75, 0.95]).astype(np.float32)
    soil = rng.uniform([0.25, 0.3, 0.15], [0.5, 0.5, 0.35]).astype(np.float32)
    sky_img = sky * (0.8 + 0.2 * (yy / max(horizon, 1)))[..., None]
    texture = 0.22 * _noise(rng, h, w, 2.5) + 0.12 * _noise(rng, h, w, s / 20)
    texture += 0.1 * _noise(rng, h, w, s / 5)
    vis = np.where(ground[..., None], soil * (1.0 + texture)[..., None], sky_img)
    ir = np.where(ground, np.float32(0.35), np.float32(0.12)) * np.ones((1, w), np.float32)  # temperatures

    t = np.clip((yy - horizon) / max(h - horizon, 1), 0.0, 1.0)
    centre = w * rng.uniform(0.35, 0.65) + t * w * rng.uniform(-0.2, 0.2)
    half = w * (0.02 + t * rng.uniform(0.2, 0.35))
    road = ground & (np.abs(xx - centre) < half)
    vis[road] = 0.28 + 0.08 * texture[road, None]
    ir[road] = 0.42
    period = max(s / 10, 4.0)
    dashes = road & (np.abs(xx - centre) < half * 0.04 + 0.5) & ((yy % period) < period / 2)
    vis[dashes] = 0.9

    for _ in range(int(rng.integers(3, 7))):
        bw, bh = int(w * rng.uniform(0.08, 0.2)), int(horizon * rng.uniform(0.3, 0.9))
        x0, y1 = int(rng.integers(0, max(w - bw, 1))), horizon + int(rng.integers(0, max(h // 20, 1)))
        y0 = max(y1 - bh, 0)
        box = (slice(y0, y1), slice(x0, x0 + bw))
        colour = rng.uniform(0.25, 0.75, 3).astype(np.float32)
        pw, ph = max(bw // 6, 3), max(bh // 8, 3)
        by, bx = yy[y0:y1] - y0, xx[:, x0 : x0 + bw] - x0
        windows = ((bx % pw) < pw / 2) & ((by % ph) < ph / 2)
        vis[box] = colour * (1.0 + 0.08 * texture[box][..., None])
        vis[box][windows] = rng.uniform(0.05, 0.95)
        ir[box] = rng.uniform(0.3, 0.5)

    # IR background: smooth regions, a mild thermal gradient and low-frequency variation; no fine texture.
    ir = _soften(ir, max(s // 120, 2))
    angle = rng.uniform(0, 2 * math.pi)
    ir += 0.08 * ((xx / w) * math.cos(angle) + (yy / h) * math.sin(angle)) + 0.03 * _noise(rng, h, w, s / 3)

    hot = np.zeros((h, w), bool)
    warm_objects = [("person", 1, 5), ("blob", 0, 3), ("car", 0, 2)]
    for kind, lo, hi in warm_objects:
        for _ in range(int(rng.integers(lo, hi))):
            _warm_object(rng, kind, vis, ir, hot, horizon, s)

    # Sensor noise; luminance noise only in the visible, since per-channel noise would double the run time.
    vis = vis * np.float32(rng.uniform(0.7, 1.1)) + 0.02 * rng.standard_normal((h, w, 1), np.float32)
    ir = ir + 0.006 * rng.standard_normal((h, w), np.float32)
    return _to_u8(ir), _to_u8(vis), hot


def _warm_object(
    rng: np.random.Generator, kind: str, vis: np.ndarray, ir: np.ndarray, hot: np.ndarray, top: int, s: int
) -> None:
    """Paint one warm object: soft and hot in IR, a faint darkening in the visible image."""
    h, w = ir.shape
    if kind == "car":
        cw, ch = s * rng.uniform(0.15, 0.25), s * rng.uniform(0.06, 0.1)
        x0, y0 = rng.uniform(0, w - cw), rng.uniform(top, max(h - ch, top + 1))
        box = (slice(int(y0), int(y0 + ch) + 1), slice(int(x0), int(x0 + cw) + 1))
        vis[box] = vis[box] * 0.6 + 0.4 * rng.uniform(0.15, 0.35)  # a dark car body, close to the road
        ir[box] = np.maximum(ir[box], 0.55)
        engine = (box[0], slice(box[1].start, box[1].start + max(int(cw / 3), 1)))
        ir[engine] = rng.uniform(0.88, 0.97)
        hot[engine] = True
        return
    if kind == "person":
        b = s * rng.uniform(0.08, 0.18)
        a = b * rng.uniform(0.25, 0.4)
    else:
        a = b = s * rng.uniform(0.04, 0.08)
    cy, cx = rng.uniform(top, h), rng.uniform(0, w)
    y0, y1 = max(int(cy - 1.3 * b), 0), min(int(cy + 1.3 * b) + 1, h)
    x0, x1 = max(int(cx - 1.3 * a), 0), min(int(cx + 1.3 * a) + 1, w)
    if y1 <= y0 or x1 <= x0:
        return
    dy = (np.arange(y0, y1, dtype=np.float32)[:, None] - cy) / b
    dx = (np.arange(x0, x1, dtype=np.float32)[None, :] - cx) / a
    mask = np.clip((1.25 - (dx * dx + dy * dy)) / 0.5, 0.0, 1.0)  # soft edge, 1 inside the ellipse
    box = (slice(y0, y1), slice(x0, x1))
    temp = rng.uniform(0.8, 0.95)
    ir[box] = ir[box] * (1 - mask) + temp * mask
    vis[box] = vis[box] * (1 - 0.15 * mask[..., None])
    hot[box] |= mask > 0.5


def _noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise with features about ``cell`` pixels wide: a random grid upsampled bicubically."""
    gh, gw = max(int(h / cell) + 2, 2), max(int(w / cell) + 2, 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC))


def _soften(x: np.ndarray, factor: int) -> np.ndarray:
    """Blur by down- and up-sampling: a quarter of a Gaussian filter's cost, and IR edges are soft anyway."""
    h, w = x.shape
    small = Image.fromarray(x).resize((max(w // factor, 1), max(h // factor, 1)), Image.Resampling.BOX)
    return np.array(small.resize((w, h), Image.Resampling.BILINEAR))


def _to_u8(x: np.ndarray) -> np.ndarray:
    x = x * np.float32(255.0) + np.float32(0.5)  # + 0.5 then truncation rounds, one pass cheaper than rint
    return np.clip(x, 0, 255, out=x).astype(np.uint8)


class SyntheticPairDataset(Dataset):
    """Synthetic pairs in the item format of :class:`~wavecross.data.PairedImageDataset`.

    Item ``i`` is a fresh scene seeded from ``(seed, i, epoch)``: deterministic, so resumed runs and tests see
    the same samples, yet each epoch brings new scenes (call :meth:`set_epoch`). IR is the scene's grey image;
    the visible target is its BT.601 Y, as for real data.
    """

    def __init__(self, length: int = 256, size: int = 128, seed: int = 0) -> None:
        if length < 1 or size < 8:
            raise ValueError(f"need length >= 1 and size >= 8, got length={length}, size={size}")
        self.length, self.size, self.seed, self.epoch = length, size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the scenes of ``epoch`` (with DataLoader workers, call before creating the iterator)."""
        self.epoch = int(epoch)

    @property
    def names(self) -> list[str]:
        return [f"synthetic_{i:05d}" for i in range(self.length)]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} synthetic pairs")
        scene_seed = int(np.random.SeedSequence([self.seed, index, self.epoch]).generate_state(1)[0])
        ir, vis = synthetic_pair(self.size, self.size, scene_seed)
        return {
            "ir": torch.from_numpy(ir.astype(np.float32) / 255.0)[None],
            "vis": torch.from_numpy(luminance_u8(vis).astype(np.float32) / 255.0)[None],
            "name": f"synthetic_{index:05d}",
        }
