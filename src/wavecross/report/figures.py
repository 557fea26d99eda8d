"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no display, no global state).

Every function writes one PNG and returns its path. Methods are coloured by kind — ours, classical baselines,
published methods — so a reader finds WaveCross in every chart without reading the legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..baselines import box_mean
from ..data.io import atomic_write

KIND_COLOURS = {"ours": "#c0392b", "classical": "#7f8c8d", "published": "#2e86c1"}
PEER_PALETTE = ["#2e86c1", "#17a589", "#8e44ad", "#d68910", "#1f618d", "#229954", "#a04000", "#5d6d7e"]
DPI = 100
GRID_DPI = 130  # image panels: sharper than the charts, still a few hundred kB per set


def method_colours(kinds: dict[str, str]) -> dict[str, str]:
    """One colour per method: red for ours, greys for classical baselines, hues for published ones."""
    greys = iter(["#5d6d7e", "#85929e", "#aab7b8", "#34495e", "#99a3a4", "#717d7e", "#bfc9ca"])
    peers = iter(PEER_PALETTE * 4)
    out = {}
    for name, kind in kinds.items():
        out[name] = KIND_COLOURS["ours"] if kind == "ours" else next(greys if kind == "classical" else peers)
    return out


def _save(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    atomic_write(
        path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:], dpi=dpi, bbox_inches="tight", facecolor="white")
    )
    return path


def thumbnail(img: np.ndarray, width: int) -> np.ndarray:
    """Downscale for display with Pillow's Lanczos filter (matplotlib's resampler is ~50× slower on big images)."""
    from PIL import Image

    h, w = img.shape
    if w <= width:
        return img
    size = (width, max(1, round(h * width / w)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.Resampling.LANCZOS))


def image_grid(
    rows: Sequence[tuple[str, Sequence[np.ndarray | None]]],
    columns: Sequence[str],
    path: Path,
    panel: float = 1.7,
) -> Path:
    """Rows = images, columns = IR, VIS and each method; ``None`` marks a method without that image."""
    ncols = len(columns)
    aspect = max((img.shape[0] / img.shape[1] for _, imgs in rows for img in imgs if img is not None), default=0.75)
    fig = Figure(figsize=(panel * ncols, panel * aspect * len(rows) + 0.4))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c, img in enumerate(images):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if img is None:
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", color="#999", transform=ax.transAxes)
            else:
                ax.imshow(
                    thumbnail(img, int(panel * GRID_DPI)), cmap="gray", vmin=0, vmax=255, interpolation="antialiased"
                )
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.subplots_adjust(wspace=0.03, hspace=0.05)
    return _save(fig, path, GRID_DPI)


def detail_window(ir: np.ndarray, vis: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size``² window with the most gradient energy in both sources together.

    That is where fusion methods differ visibly: flat sky or road says nothing about detail transfer.
    """
    energy = np.zeros(ir.shape, np.float64)
    for img in (ir, vis):
        gy, gx = np.gradient(box_mean(img.astype(np.float64), 1))  # 3×3 mean: structure, not sensor noise
        energy += np.hypot(gx, gy) / (np.hypot(gx, gy).mean() + 1e-9)
    h, w = ir.shape
    size = min(size, h, w)
    local = box_mean(energy, size // 2)
    half = size // 2
    valid = local[half : h - (size - half) + 1, half : w - (size - half) + 1]
    y, x = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(y), int(x)


def zoom_panel(
    rows: Sequence[tuple[str, Sequence[np.ndarray | None]]],
    columns: Sequence[str],
    path: Path,
    fraction: float = 0.25,
    panel: float = 1.7,
    max_crop: int = 112,
) -> Path:
    """Per row: the full visible image with a box, then the boxed crop from IR, VIS and every method.

    Crops are at most ``max_crop`` pixels wide, so each is magnified (about 2× at the default panel size) and
    shown without smoothing: the reader sees the methods' actual pixels.
    """
    fig = Figure(figsize=(panel * (len(columns) + 1), panel * len(rows) + 0.4))
    axes = fig.subplots(len(rows), len(columns) + 1, squeeze=False)
    for r, (name, images) in enumerate(rows):
        ir, vis = images[0], images[1]
        size = min(int(np.clip(min(ir.shape) * fraction, 16, max_crop)), *ir.shape)
        y, x = detail_window(ir, vis, size)
        small = thumbnail(vis, int(panel * GRID_DPI))
        s = small.shape[1] / vis.shape[1]
        axes[r][0].imshow(small, cmap="gray", vmin=0, vmax=255)
        axes[r][0].add_patch(
            Rectangle((x * s - 0.5, y * s - 0.5), size * s, size * s, fill=False, ec="#f1c40f", lw=1.5)
        )
        axes[r][0].set_ylabel(name, fontsize=8)
        for c, img in enumerate(images, start=1):
            ax = axes[r][c]
            if img is None:
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", color="#999", transform=ax.transAxes)
            else:
                ax.imshow(img[y : y + size, x : x + size], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("location" if c == 0 else columns[c - 1], fontsize=9)
    fig.subplots_adjust(wspace=0.03, hspace=0.05)
    return _save(fig, path, GRID_DPI)


def _arrow(higher: bool | None) -> str:
    return "↑" if higher else ("↓" if higher is False else "")


def metric_bars(
    means: dict[str, dict[str, float]],
    higher: dict[str, bool | None],
    kinds: dict[str, str],
    path: Path,
    title: str = "",
) -> Path:
    """One small bar chart per metric, methods in a fixed order; the best bar (direction-aware) outlined."""
    methods = list(means)
    metrics = [m for m in next(iter(means.values()), {}) if any(np.isfinite(means[k].get(m, np.nan)) for k in means)]
    colours = method_colours(kinds)
    ncols = min(4, max(1, len(metrics)))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(3.4 * ncols, 0.22 * len(methods) * nrows + 0.9 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        values = np.array([means[m].get(metric, np.nan) for m in methods], np.float64)
        ypos = np.arange(len(methods))[::-1]
        ax.barh(ypos, np.nan_to_num(values), color=[colours[m] for m in methods], height=0.7)
        best = _best_index(values, higher.get(metric))
        if best is not None:
            ax.barh(ypos[best], values[best], fill=False, ec="black", lw=1.6, height=0.7)
        ax.set_yticks(ypos, methods, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(f"{metric} {_arrow(higher.get(metric))}", fontsize=9)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def _best_index(values: np.ndarray, higher: bool | None) -> int | None:
    if higher is None or not np.isfinite(values).any():
        return None
    return int(np.nanargmax(values) if higher else np.nanargmin(values))


def thermal_scatter(
    per_set: dict[str, dict[str, dict[str, float]]],
    kinds: dict[str, str],
    path: Path,
    x_metric: str = "SF",
    y_metrics: Sequence[str] = ("RankAgree", "LocalEnergyErr"),
    higher: dict[str, bool | None] | None = None,
) -> Path:
    """Thermal fidelity against sharpness: one panel per (thermal metric, set), one labelled point per method.

    Sharpness alone rewards methods that invent texture; a good method sits high on SF *and* keeps the IR's
    temperature ordering (RankAgree) — the scatter makes that trade-off visible.
    """
    higher = higher or {}
    colours = method_colours(kinds)
    sets = list(per_set)
    fig = Figure(figsize=(4.6 * len(sets), 3.9 * len(y_metrics)))
    axes = fig.subplots(len(y_metrics), len(sets), squeeze=False)
    for r, y_metric in enumerate(y_metrics):
        for c, name in enumerate(sets):
            ax = axes[r][c]
            for method, values in per_set[name].items():
                xv, yv = values.get(x_metric, np.nan), values.get(y_metric, np.nan)
                if not (np.isfinite(xv) and np.isfinite(yv)):
                    continue
                marker = "*" if kinds.get(method) == "ours" else ("s" if kinds.get(method) == "classical" else "o")
                ax.scatter(xv, yv, color=colours[method], marker=marker, s=90 if marker == "*" else 40, zorder=3)
                ax.annotate(method, (xv, yv), fontsize=7, xytext=(4, 3), textcoords="offset points")
            ax.grid(alpha=0.3)
            ax.set_xlabel(f"{x_metric} {_arrow(higher.get(x_metric, True))}", fontsize=8)
            ax.set_ylabel(f"{y_metric} {_arrow(higher.get(y_metric))}", fontsize=8)
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def timing_bars(timing: dict[str, dict[str, float]], kinds: dict[str, str], path: Path) -> Path:
    """ms per megapixel per method and set, log scale (classical and network speeds differ by orders)."""
    methods = sorted({m for per in timing.values() for m in per}, key=lambda m: (kinds.get(m) != "ours", m))
    sets = list(timing)
    colours = method_colours(kinds)
    fig = Figure(figsize=(7.5, 0.35 * len(methods) * max(1, len(sets)) + 1.2))
    ax = fig.subplots()
    height = 0.8 / max(1, len(sets))
    for s, name in enumerate(sets):
        ypos = np.arange(len(methods))[::-1] + (len(sets) - 1 - s) * height - 0.4 + height / 2
        values = [timing[name].get(m, np.nan) for m in methods]
        ax.barh(ypos, values, height=height * 0.9, color=[colours[m] for m in methods], alpha=1.0 - 0.25 * s)
        for yy, v in zip(ypos, values, strict=True):
            if np.isfinite(v):
                ax.text(v, yy, f" {v:,.0f} ({name})", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(methods))[::-1], methods, fontsize=8)
    ax.set_xlabel("ms per megapixel on this machine (log scale, lower is faster)", fontsize=8)
    ax.grid(axis="x", alpha=0.3, which="both")
    fig.tight_layout()
    return _save(fig, path)
