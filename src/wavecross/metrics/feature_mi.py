"""Fast feature mutual information, FMI (Haghighat et al. 2011; fast form of Haghighat & Razian 2014).

The reference loops over every 3×3 window and, per window, over the 9×9 cells of a joint distribution built by
Nelsen's method between the Fréchet bounds. Here all windows of a block are processed at once, laid out as
(9, windows) arrays so every reduction over a window is a run of contiguous vector additions in the reference's
left-to-right order. The 81-cell joint-entropy sum is reduced to 17 cells: the Fréchet bound puts mass only on
the monotone staircase obtained by merging the two cumulative distributions (a 25-comparator merging network),
and the independent part Σ g((1−φ)·f_i·x_j) over all 81 cells has a closed form in the marginal entropies.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from scipy import fft

from ._base import Triple

_BLOCK = 2048  # windows per block: the (17, block) intermediates stay small and cache-resident


def _feature(img: np.ndarray, feature: str) -> np.ndarray:
    if feature == "pixel":
        return img
    if feature == "dct":
        return fft.dctn(img, type=2, norm="ortho")  # MATLAB dct2
    if feature == "wavelet":
        import pywt

        ca, (ch, cv, cd) = pywt.dwt2(img, "dmey", mode="symmetric")  # MATLAB dwt2 with the default 'sym' mode
        coeffs = np.block([[ca, ch], [cv, cd]])
        lo, hi = coeffs.min(), coeffs.max()
        return np.ones_like(coeffs) if hi == lo else (coeffs - lo) / (hi - lo)
    raise ValueError(f"unknown FMI feature {feature!r}")


def _g(x: np.ndarray, nonnegative: bool = False) -> np.ndarray:
    """−x·log2|x| with 0 at 0 (the reference keeps the real part of log2 for negative joint-pdf values).

    ``nonnegative`` skips the |x| (the same values where x ≥ 0, e.g. for pdfs).
    """
    lg = np.empty_like(x)
    # x = 0 then gives 0·finite = 0, without a masked (slow) ufunc
    np.maximum(x if nonnegative else np.abs(x, out=lg), 1e-300, out=lg)
    np.log2(lg, out=lg)
    lg *= x
    return np.negative(lg, out=lg)


def _cumsum_rows(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Cumulative sum over axis 0, row after row (numpy's axis-0 cumsum is several times slower)."""
    out = np.empty(x.shape, np.result_type(x.dtype, np.int64) if x.dtype == bool else x.dtype) if out is None else out
    out[0] = x[0]
    for r in range(1, x.shape[0]):
        np.add(out[r - 1], x[r], out=out[r])
    return out


def _gather(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """table[rows[k, w], w] for every k, w (a gather along axis 0 through flat indices)."""
    flat_index = rows * table.shape[1] + np.arange(table.shape[1])
    return np.take(table.ravel(), flat_index)


@lru_cache(maxsize=4)
def _merge_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd–even merge of two sorted halves of length n (a power of two): comparator index pairs."""

    def merge(lo: int, hi: int, r: int) -> list[tuple[int, int]]:
        step = r * 2
        if step < hi - lo:
            return merge(lo, hi, step) + merge(lo + r, hi, step) + [(i, i + r) for i in range(lo + r, hi - r, step)]
        return [(lo, lo + r)]

    return tuple(merge(0, 2 * n - 1, 1))


class _Marginal:
    """Per-window statistics of one feature map block; arrays are (9, windows)."""

    __slots__ = ("raw", "norm", "pdf", "cdf", "entropy", "sd", "cdf_sum", "total", "centred", "ss")

    def __init__(self, raw: np.ndarray) -> None:
        n = raw.shape[0]
        lo = raw.min(axis=0)
        span = raw.max(axis=0) - lo
        flat = span == 0
        norm = (raw - lo) / np.where(flat, 1.0, span)
        np.copyto(norm, 1.0, where=flat)
        self.raw = raw
        self.norm = norm
        self.pdf = norm / norm.sum(axis=0)  # axis-0 sums of a C-ordered array run row after row
        self.cdf = _cumsum_rows(self.pdf)
        self.entropy = _g(self.pdf, nonnegative=True).sum(axis=0)
        idx = np.arange(1, n + 1, dtype=np.float64)
        e1 = idx @ self.pdf
        e2 = (idx * idx) @ self.pdf
        self.sd = np.sqrt(np.maximum(e2 - e1 * e1, 0.0))
        self.cdf_sum = self.cdf.sum(axis=0)
        # Left-to-right mean as the reference sums it: for a flat window's uniform pdf it leaves a rounding
        # residue in pdf − mean, which makes the reference's correlation of two flat windows exactly 1.
        self.total = self.pdf.sum(axis=0)
        self.centred = self.pdf - self.total / n
        self.ss = (self.centred * self.centred).sum(axis=0)


def _staircase(fc: np.ndarray, xc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge the interior breakpoints of two cdfs (9, w): staircase cells (i, j), their masses and
    Σ_{i,j<8} min(F_i, X_j).

    The breakpoints are merged by a comparator network on their float64 bit patterns (order-preserving for
    non-negative numbers) whose 4 lowest bits are replaced by the breakpoint's identity; this moves each value
    by at most 16 ulp, far below anything that matters to the sums.
    """
    n = fc.shape[0] - 1
    if n != 8:
        raise ValueError("the merging network and the 4-bit codes are built for 3×3 windows")
    w = fc.shape[1]
    keys = np.empty((2 * n, w), np.int64)
    keys[:n] = fc[:n].view(np.int64)
    keys[n:] = xc[:n].view(np.int64)
    keys &= ~np.int64(15)
    keys |= np.arange(2 * n, dtype=np.int64)[:, None]
    spare = np.empty(w, np.int64)
    for i, j in _merge_network(n):
        np.minimum(keys[i], keys[j], out=spare)
        np.maximum(keys[i], keys[j], out=keys[j])
        keys[i] = spare
    low = keys & 15
    keys -= low
    values = keys.view(np.float64)
    # Cells in merge order: cell k lies after the first k breakpoints; cj counts the X breakpoints among them
    # (codes 8–15 are X breakpoints, so the code shifted right by 3 is the X flag).
    low >>= 3
    cj = np.empty((2 * n + 1, w), np.int64)
    cj[0] = 0
    _cumsum_rows(low, out=cj[1:])
    ci = np.arange(2 * n + 1)[:, None] - cj
    mass = np.empty((2 * n + 1, w))
    mass[0] = values[0]
    np.subtract(values[1:], values[:-1], out=mass[1:-1])
    np.subtract(np.minimum(fc[n], xc[n]), values[-1], out=mass[-1])
    # Σ_{i,j<n} min(F_i, X_j): each breakpoint is the smaller one of its pairs with the other cdf's later
    # breakpoints; F_i at merge position r has r − i X breakpoints before it, hence this weighted-sum form.
    weights = np.arange(n, 2 * n, dtype=np.float64)
    positions = np.arange(2 * n, dtype=np.float64)
    sum_min = weights @ fc[:n] + weights @ xc[:n] - positions @ values
    return ci, cj, mass, sum_min


def _fmi_pair(fm: _Marginal, am: _Marginal, same: np.ndarray) -> np.ndarray:
    """Normalised FMI of each window pair (F, X), the reference's ``fmi_af``; 1 where ``same``."""
    n = fm.pdf.shape[0]
    s = (am.centred * fm.centred).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(s == 0, 0.0, s / np.sqrt(am.ss * fm.ss))
    lower = c < 0
    # The lower Fréchet bound of (F, A) is the upper bound of (F, A reversed).
    if lower.any():
        # Whole-block selection and row-by-row cumsum: the same sums as the cdf of each (reversed) pdf alone.
        x = np.where(lower, am.pdf[::-1], am.pdf)
        xc = _cumsum_rows(x)
    else:
        x, xc = am.pdf, am.cdf
    ci, cj, mass, sum_min8 = _staircase(fm.cdf, xc)
    last_row = np.minimum(fm.cdf[n - 1], xc[: n - 1]).sum(axis=0)
    last_col = np.minimum(fm.cdf, xc[n - 1]).sum(axis=0)
    product = fm.cdf_sum * am.cdf_sum
    cov = np.where(lower, n * fm.cdf_sum - (sum_min8 + last_row), sum_min8 + last_row + last_col) - product
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = c / (cov / (fm.sd * am.sd))
    phi[(fm.sd == 0) | (am.sd == 0) | (c == 0)] = 0.0
    one_minus = 1.0 - phi
    # Σ over all n×n cells of g((1−φ)·f_i·x_j), in closed form; then the staircase cells corrected.
    s_f, s_a = fm.total, am.total
    log_om = np.zeros_like(one_minus)
    np.log2(np.abs(one_minus), out=log_om, where=one_minus != 0)
    joint = one_minus * (s_a * fm.entropy + s_f * am.entropy - log_om * s_f * s_a)
    base = one_minus * _gather(fm.pdf, ci) * _gather(x, cj)
    joint += (_g(base + phi * mass) - _g(base)).sum(axis=0)
    h_sum = fm.entropy + am.entropy
    mi = h_sum - joint
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.0 * mi / h_sum
    out[mi == 0] = 0.0
    out[same] = 1.0
    return out


def _window_block(x: np.ndarray, w: int, r0: int, r1: int) -> np.ndarray:
    """(w², windows) values of the w×w windows whose top rows are r0..r1−1, in MATLAB's column-major order."""
    cols = x.shape[1] - w + 1
    out = np.empty((w * w, (r1 - r0) * cols))
    for dc in range(w):
        for dr in range(w):
            out[dc * w + dr] = x[r0 + dr : r1 + dr, dc : dc + cols].ravel()
    return out


def fmi(fused: Any, ir: Any = None, vis: Any = None, *, feature: str = "pixel", window: int = 3) -> float:
    """FMI, Haghighat's fast feature mutual information with w×w sliding windows (w = 3). Higher is better.

    Features: ``"pixel"`` (grey levels), ``"dct"`` (orthonormal 2-D DCT of the whole image, MATLAB ``dct2``)
    or ``"wavelet"`` (one-level discrete Meyer DWT, symmetric extension, [cA cH; cV cD] rescaled to 0–1). In
    every 'valid' w×w window: both windows min–max normalised (all ones if flat) and divided by their sum → pdfs
    f, x (column-major); c = Pearson r of the pdfs; joint pdf by Nelsen's method, φ·(Fréchet bound) +
    (1−φ)·f·xᵀ, upper bound with φ = c/ρ_up for c ≥ 0, lower bound with φ = c/ρ_lo for c < 0 (φ = 0 if either
    index s.d. is 0); FMI_XF = 2·MI/(H(f) + H(x)) with −p·log2|p| for negative joint cells, 0 if MI = 0, 1 if
    the two windows are identical. FMI = mean over windows of (FMI_AF + FMI_BF)/2. Reference quirk kept: the
    visible window is compared for identity with the fused window as normalised for the infrared pair.
    """
    if window != 3:  # the merging network is built for 3×3 windows (8 interior breakpoints per cdf)
        raise ValueError("FMI is implemented for 3×3 windows (the fast-FMI default)")
    t = Triple.of(fused, ir, vis)
    feats = {
        key: t.cached(("fmi_feature", key, feature), lambda k=key: _feature(t.image(k), feature), uses=key)
        for key in "abf"
    }
    rows = feats["f"].shape[0] - window + 1
    cols = feats["f"].shape[1] - window + 1
    if rows <= 0 or cols <= 0:
        return float("nan")
    step = max(1, _BLOCK // cols)
    total = 0.0
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        fm = _Marginal(_window_block(feats["f"], window, r0, r1))
        am = _Marginal(_window_block(feats["a"], window, r0, r1))
        bm = _Marginal(_window_block(feats["b"], window, r0, r1))
        same_a = np.all(am.raw == fm.raw, axis=0)
        # Reference quirk: its first branch overwrites the fused window with the normalised one unless the
        # windows were equal, and the visible window is then compared with that.
        f_seen = np.where(same_a, fm.raw, fm.norm)
        same_b = np.all(bm.raw == f_seen, axis=0)
        total += float(np.sum(_fmi_pair(fm, am, same_a) + _fmi_pair(fm, bm, same_b)))
    return total / (2.0 * rows * cols)
