"""Guided-filtering fusion (GFF): Li, Kang & Hu, "Image fusion with guided filtering", IEEE TIP 22(7), 2013.

Two-scale decomposition (31×31 mean → base, remainder → detail); saliency = Gaussian-smoothed |Laplacian|
(r = 5, σ = 5); binary weight maps pick the most salient source per pixel; the guided filter, with each source
as its own guide, turns them into edge-aligned weights — smooth ones for the base (r1 = 45, eps1 = 0.3) and
sharp ones for the detail (r2 = 7, eps2 = 1e-6). The guided filter (He, Sun & Tang, TPAMI 2013) is built from
box means over summed-area tables, so its cost does not grow with the radius.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, laplace, uniform_filter

from ._common import check_pair, finish


def _window_sums(x: np.ndarray, r: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums over [i - r, i + r] ∩ [0, n) along ``axis`` and the number of terms, via one cumulative sum."""
    n = x.shape[axis]
    c = np.concatenate([np.zeros_like(np.take(x, [0], axis=axis)), np.cumsum(x, axis=axis)], axis=axis)
    idx = np.arange(n)
    hi, lo = np.minimum(idx + r + 1, n), np.maximum(idx - r, 0)
    return np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis), (hi - lo).astype(np.float64)


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the (2r+1)² window clipped to the image (He et al.'s border rule); O(1) per pixel, any r."""
    s, nr = _window_sums(np.asarray(x, np.float64), r, 0)
    s, nc = _window_sums(s, r, 1)
    return s / (nr[:, None] * nc[None, :])


def guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """Filter ``src`` so that its edges follow ``guide``: a local linear model q = a·I + b per window."""
    i, p = np.asarray(guide, np.float64), np.asarray(src, np.float64)
    mean_i, mean_p = box_mean(i, r), box_mean(p, r)
    var_i = box_mean(i * i, r) - mean_i**2
    cov_ip = box_mean(i * p, r) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, r) * i + box_mean(b, r)


def gff_fusion(
    ir: np.ndarray,
    vis: np.ndarray,
    base_size: int = 31,
    r1: int = 45,
    eps1: float = 0.3,
    r2: int = 7,
    eps2: float = 1e-6,
) -> np.ndarray:
    """GFF of an IR and a visible luminance image, (H, W) float32 in [0, 1] → (H, W) float32 in [0, 1].

    Defaults are the paper's. Ties in saliency go to the IR image (the reference code's ``max`` keeps the
    first source), so fusing an image with itself returns it. Weights are normalised to sum to one per pixel,
    as in the reference code; borders use replicated pixels for the mean and Gaussian filters and clipped
    windows for the guided filter, so any size works.
    """
    sources = check_pair(ir, vis)
    bases = [uniform_filter(s, base_size, mode="nearest") for s in sources]
    details = [s - b for s, b in zip(sources, bases, strict=True)]
    edges = [np.abs(laplace(s, mode="nearest")) for s in sources]
    saliency = np.stack([gaussian_filter(e, 5.0, mode="nearest", truncate=1.0) for e in edges])
    winner = np.argmax(saliency, axis=0)
    masks = [(winner == k).astype(np.float64) for k in range(len(sources))]
    fused = np.zeros_like(sources[0])
    for layers, r, eps in ((bases, r1, eps1), (details, r2, eps2)):
        weights = [guided_filter(s, m, r, eps) for s, m in zip(sources, masks, strict=True)]
        total = np.sum(weights, axis=0)
        total = np.where(np.abs(total) < 1e-8, 1e-8, total)
        fused += sum(w * x for w, x in zip(weights, layers, strict=True)) / total
    return finish(fused)
