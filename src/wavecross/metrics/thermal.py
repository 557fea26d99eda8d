"""Thermal fidelity: does the fused image keep what the infrared image says about temperature?

These are wavecross's own measures (no external reference). They take (fused, ir) at the 0–255 scale, or a
:class:`Triple`; the visible image plays no part.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ._base import Triple, as_grey


def _fused_and_ir(fused: Any, ir: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(fused, Triple):
        return fused.f, fused.a
    f, a = as_grey(fused, "fused"), as_grey(ir, "ir")
    if f.shape != a.shape:
        raise ValueError(f"fused {f.shape} and ir {a.shape} differ in size")
    return f, a


def rank_agree(fused: Any, ir: Any = None, pairs: int = 200_000, seed: int = 0) -> float:
    """RankAgree: weighted share of pixel pairs whose brightness order in F is their temperature order in IR.

    ``pairs`` random pixel pairs (i, j) are drawn with ``seed`` (uniform, with replacement) among the pairs
    whose IR values differ by more than 2 grey levels (rejection sampling; at most 20 rounds, so a nearly flat IR
    image uses the pairs found). A pair agrees when sign(F_i − F_j) = sign(IR_i − IR_j); a tie in F does not
    agree. Each pair weighs ω = (S_i + S_j)/2 with S = sigmoid(10·(IR/255 − 0.6)), so pairs involving hot pixels
    count most. RankAgree = Σ ω·agree / Σ ω ∈ [0, 1]: 1 for F = IR, 0 for F = 255 − IR, NaN when IR has no such
    pair. Higher is better.
    """
    f, a = _fused_and_ir(fused, ir)
    if isinstance(fused, Triple):  # the pairs depend on IR only: drawn once for every fused image of a pair
        drawn = fused.cached(("rank_pairs", pairs, seed), lambda: _rank_pairs(a, pairs, seed), uses="a")
    else:
        drawn = _rank_pairs(a, pairs, seed)
    if drawn is None:
        return float("nan")
    i, j, w, ir_order = drawn
    fv = f.ravel()
    agree = np.sign(fv[i] - fv[j]) == ir_order
    return float(np.sum(w * agree) / np.sum(w))


def _rank_pairs(a: np.ndarray, pairs: int, seed: int) -> tuple[np.ndarray, ...] | None:
    """RankAgree's pixel pairs (i, j), their weights ω and sign(IR_i − IR_j); None when IR has no such pair."""
    av = a.ravel()
    n = av.size
    rng = np.random.default_rng(seed)
    chosen_i: list[np.ndarray] = []
    chosen_j: list[np.ndarray] = []
    found = 0
    for _ in range(20):
        need = pairs - found
        if need <= 0:
            break
        i = rng.integers(0, n, size=2 * need)
        j = rng.integers(0, n, size=2 * need)
        keep = np.abs(av[i] - av[j]) > 2
        i, j = i[keep][:need], j[keep][:need]
        chosen_i.append(i)
        chosen_j.append(j)
        found += i.size
    if found == 0:
        return None
    i = np.concatenate(chosen_i)
    j = np.concatenate(chosen_j)
    s = 1.0 / (1.0 + np.exp(-10.0 * (av / 255.0 - 0.6)))
    return i, j, (s[i] + s[j]) / 2.0, np.sign(av[i] - av[j])


def local_energy_err(fused: Any, ir: Any = None, size: int = 7) -> float:
    """LocalEnergyErr: mean over pixels of (box(IR) − box(F))² on the 0–1 scale. Lower is better.

    box = ``size``×``size`` (7×7) mean with zero padding (always divided by size²), so it compares the local
    thermal energy F carries with the IR's, ignoring fine texture. 0 for F = IR.
    """
    f, a = _fused_and_ir(fused, ir)
    d = ndimage.uniform_filter((a - f) / 255.0, size=size, mode="constant")
    return float(np.mean(d * d))


def hot_contrast(fused: Any, ir: Any = None, percentile: float = 90.0, ring: int = 15) -> float:
    """HotContrast: how strongly the IR's hot regions stand out from their surroundings in F, relative to IR.

    Hot set H: pixels with IR ≥ its 90th percentile (and above its median). Surround R: pixels within a
    ``ring``×``ring`` (15×15) neighbourhood of H, not in H. Contrast of an image X: mean_H(X) − mean_R(X).
    HotContrast = contrast(F) / contrast(IR): 1 when targets stand out exactly as in the IR, < 1 when fusion
    washes them out, > 1 when it accentuates them; NaN when IR has no hot region with a cooler surround.
    Higher is better.
    """
    f, a = _fused_and_ir(fused, ir)
    thr = np.percentile(a, percentile)
    hot = (a >= thr) & (a > np.median(a))
    if not hot.any():
        return float("nan")
    near = ndimage.maximum_filter(hot.astype(np.uint8), size=ring, mode="constant") > 0
    surround = near & ~hot
    if not surround.any():
        return float("nan")
    c_ir = a[hot].mean() - a[surround].mean()
    if c_ir <= 0:
        return float("nan")
    return float((f[hot].mean() - f[surround].mean()) / c_ir)
