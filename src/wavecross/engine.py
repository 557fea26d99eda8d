"""Running the network on luminance tensors: number format, memory layout and tiles.

:func:`fuse_tensors` is the one place where the network meets pixels at inference time; ``wavecross fuse``, the
Python API and validation during training all go through it, so they compute the same image.

Precision. ``auto`` (the default) picks, by measurement (``bench/precision.py``, ``docs/speed.md``): bf16
autocast on a CPU with native bf16 arithmetic (x86 ``avx512_bf16`` or ``amx_bf16``; 2.1× faster than fp32 at
640×480, 0.28 grey levels from the fp32 output on average), fp16 on CUDA, fp32 everywhere else. On a CPU without
those instructions bf16 is emulated and many times slower than fp32, so it is never chosen there automatically.

Tiles. Global attention over 1/16-scale tokens costs time quadratic in the image's area, so images above
:data:`AUTO_TILE_PIXELS` are fused in overlapping tiles of one common size (no quadratic growth), blended with
linear ramps over the overlaps, several tiles per forward pass.

Memory. On the CPU the first call makes glibc keep freed blocks for reuse
(:func:`wavecross.allocator.retain_freed_memory`, process-wide): a forward pass allocates and frees hundreds of MB
of feature maps, and re-faulting their pages cost 0.03–0.05 s per 640×480 pair.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from .allocator import retain_freed_memory
from .errors import WavecrossError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: Above this many pixels an image is tiled automatically (``tile=None``); 640×480 is fused whole.
AUTO_TILE_PIXELS = 640 * 512
#: Largest tile side aimed at when tiling automatically, and the least overlap between neighbouring tiles.
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 32
#: Tiles are fused this many pixels at a time on a GPU (larger batches) ...
TILE_BATCH_PIXELS = 1024 * 1024
#: ... and on the CPU, two default tiles: the fp32 maps of the image path (16 channels) then stay under the 32 MiB
#: that glibc serves from the heap kept by :func:`~wavecross.allocator.retain_freed_memory`; four tiles per pass
#: mapped 60–130 MB blocks afresh on every pass (89,000 page faults per 1280×1024 fusion, 6–14 % slower), one tile
#: per pass used the cores less well (docs/speed.md).
CPU_TILE_BATCH_PIXELS = 2 * DEFAULT_TILE * DEFAULT_TILE


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (x86 ``avx512_bf16``/``amx_bf16`` in ``/proc/cpuinfo``)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap, reliable answer, so stay with fp32
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision`` with ``auto`` replaced by the measured best for ``device`` (module docstring); refuses
    unknown names and fp16 on a CPU."""
    if precision not in PRECISIONS:
        raise WavecrossError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}.")
    if precision == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise WavecrossError("fp16 is not supported on the CPU; use --precision bf16, fp32 or auto there.")
    return precision


def tile_grid(size: int, tile: int, overlap: int, multiple: int = 1) -> tuple[list[int], int]:
    """Starts and common length of the fewest tiles of at most ``tile`` pixels (rounded up to ``multiple``)
    that cover ``[0, size)`` with at least ``overlap`` pixels shared by neighbours.

    All tiles have one length, so they batch; it is just long enough for their number, so little is computed
    twice (a fixed tile length would overlap the last two tiles by up to a whole tile).
    """
    if size <= tile:
        return [0], size
    count = math.ceil((size - overlap) / (tile - overlap))
    length = min(size, math.ceil((size + (count - 1) * overlap) / count / multiple) * multiple)
    return [round(i * (size - length) / (count - 1)) for i in range(count)], length


def _ramp(length: int, overlap: int, rise_start: bool, rise_end: bool) -> Tensor:
    """1-D blending weight: linear ramps over ``overlap`` pixels at the sides that meet another tile."""
    w = torch.ones(length)
    ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
    if rise_start:
        w[:overlap] = ramp
    if rise_end:
        w[-overlap:] = ramp.flip(0)
    return w


@torch.no_grad()
def fuse_tensors(
    model: nn.Module,
    ir: Tensor,
    vis: Tensor,
    tile: int | None = None,
    overlap: int | None = None,
    precision: str = "auto",
) -> Tensor:
    """Fuse (B, 1, H, W) luminance tensors in [0, 1] on the model's device; returns (B, 1, H, W) in [0, 1] on
    the CPU.

    ``tile=None`` tiles automatically when H·W > :data:`AUTO_TILE_PIXELS` (tiles of at most
    :data:`DEFAULT_TILE` pixels a side); ``tile=0`` never tiles; ``overlap=None`` is :data:`DEFAULT_OVERLAP`;
    ``precision`` is one of :data:`PRECISIONS`.
    """
    device = next(model.parameters()).device
    dtype = _DTYPES[resolve_precision(precision, device)]
    if device.type == "cpu":
        retain_freed_memory()  # feature maps of hundreds of MB per pass: reuse them instead of re-faulting pages
    h, w = ir.shape[-2:]
    if min(h, w) < 16:
        raise WavecrossError(f"image of {w}×{h} pixels is too small; both sides must be at least 16 pixels.")
    if tile is None:
        tile = DEFAULT_TILE if h * w > AUTO_TILE_PIXELS else 0
    if tile and tile < 64:
        raise WavecrossError(f"tile size {tile} is too small; use at least 64 (or 0 to disable tiling).")

    def run(a: Tensor, b: Tensor) -> Tensor:
        a, b = a.to(device), b.to(device)
        if dtype is None:
            return model(a, b).float().cpu()
        with torch.autocast(device.type, dtype=dtype):
            return model(a, b).float().cpu()

    if not tile or (h <= tile and w <= tile):
        return run(ir, vis).clamp(0, 1)
    overlap = min(DEFAULT_OVERLAP if overlap is None else overlap, tile // 2)
    multiple = getattr(getattr(model, "config", None), "size_multiple", 1)
    ys, th = tile_grid(h, tile, overlap, multiple)
    xs, tw = tile_grid(w, tile, overlap, multiple)
    batch = ir.shape[0]
    out = torch.zeros(batch, 1, h, w)
    weight = torch.zeros(1, 1, h, w)
    windows = [(y, x) for y in ys for x in xs]
    budget = CPU_TILE_BATCH_PIXELS if device.type == "cpu" else TILE_BATCH_PIXELS
    per_pass = max(1, budget // (th * tw * batch))
    for k in range(0, len(windows), per_pass):
        chunk = windows[k : k + per_pass]
        pieces = run(
            torch.cat([ir[..., y : y + th, x : x + tw] for y, x in chunk]),
            torch.cat([vis[..., y : y + th, x : x + tw] for y, x in chunk]),
        ).split(batch)
        for (y, x), piece in zip(chunk, pieces, strict=True):
            wy = _ramp(th, overlap, y > 0, y + th < h)
            wx = _ramp(tw, overlap, x > 0, x + tw < w)
            win = (wy[:, None] * wx[None, :])[None, None]
            out[..., y : y + th, x : x + tw] += piece * win
            weight[..., y : y + th, x : x + tw] += win
    return (out / weight).clamp(0, 1)
