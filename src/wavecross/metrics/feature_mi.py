"""Fast feature mutual information, FMI (Haghighat et al. 2011; fast form of Haghighat & Razian 2014).

The reference loops over every 3×3 window and, per window, over the 9×9 cells of a joint distribution built by
Nelsen's method between the Fréchet bounds. Here one compiled (numba) loop visits every window once, in
parallel over window rows (or on the calling thread when the caller already keeps every core busy, see
:func:`wavecross.metrics._base.run_single_threaded`), with the fused window's statistics shared by its two
pairs. The 81-cell joint-entropy sum is reduced to 17 cells: the Fréchet bound puts mass only on the monotone
staircase obtained by merging the two cumulative distributions, and the independent part Σ g((1−φ)·f_i·x_j)
over all 81 cells has a closed form in the marginal entropies. Every per-window sum runs left to right, as the
reference's loops do (the flat-window quirks below depend on that order).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np
from numba import njit, prange
from scipy import fft

from ._base import Triple, single_threaded_kernels

_N = 9  # values per 3×3 window
# One parallel kernel at a time: it already uses every core, and numba's fallback threading layer (workqueue)
# must not be entered from two threads at once (e.g. two images evaluated on two threads).
_KERNEL_LOCK = threading.Lock()


def _feature(img: np.ndarray, feature: str) -> np.ndarray:
    if feature == "pixel":
        return img
    if feature == "dct":
        return fft.dctn(img, type=2, norm="ortho")  # MATLAB dct2
    if feature == "wavelet":
        ca, (ch, cv, cd) = _dwt2_dmey(img)  # MATLAB dwt2 with the default 'sym' mode
        coeffs = np.block([[ca, ch], [cv, cd]])
        lo, hi = coeffs.min(), coeffs.max()
        return np.ones_like(coeffs) if hi == lo else (coeffs - lo) / (hi - lo)
    raise ValueError(f"unknown FMI feature {feature!r}")


def _dwt2_dmey(img: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``pywt.dwt2(img, "dmey", mode="symmetric")``, bit for bit, about twice as fast (compiled, vectorised)."""
    import pywt

    wavelet = pywt.Wavelet("dmey")
    lo, hi = np.asarray(wavelet.dec_lo), np.asarray(wavelet.dec_hi)
    if min(img.shape) < lo.size:  # multiple reflections at the borders: leave those to PyWavelets
        return pywt.dwt2(img, wavelet, mode="symmetric")

    def along_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        taps, rows = _dwt_order(x.shape[0], lo.size)
        approx, detail = np.empty((taps.shape[0], x.shape[1])), np.empty((taps.shape[0], x.shape[1]))
        _dwt_rows(np.ascontiguousarray(x), lo, hi, taps, rows, approx, detail)
        return approx, detail

    a, d = along_rows(img)
    aa, ad = along_rows(a.T)
    da, dd = along_rows(d.T)
    return aa.T, (da.T, ad.T, dd.T)


@functools.lru_cache(maxsize=16)
def _dwt_order(n: int, taps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output of a step-2 symmetric-extension DWT of length ``n`` (n ≥ taps): its filter indices and input
    rows in PyWavelets' summation order (which decides the rounding, and so which windows come out flat).

    Output o is centred on i = 2o + 1: Σ_j h[j]·x[i − j], j ascending, except on the right overhang (i ≥ n),
    where PyWavelets first adds the reflected inputs (j from i − n down to 0), then the rest in ascending j.
    """
    outs = (n + taps - 1) // 2
    order = np.empty((outs, taps), np.int64)
    for o in range(outs):
        i = 2 * o + 1
        order[o] = np.r_[i - n : -1 : -1, i - n + 1 : taps] if i >= n else np.arange(taps)
    pos = 2 * np.arange(outs)[:, None] + 1 - order
    rows = np.where(pos < 0, -pos - 1, np.where(pos >= n, 2 * n - 1 - pos, pos))  # half-sample symmetric
    return order, rows


@njit(cache=True, nogil=True, error_model="numpy")
def _dwt_rows(x, lo, hi, taps, rows, approx, detail) -> None:  # noqa: ANN001 (numba arrays)
    """approx[o] = Σ_t lo[taps[o, t]]·x[rows[o, t]] (detail with hi), summed in the order of t, for every column."""
    cols = x.shape[1]
    for o in range(approx.shape[0]):
        a, d = approx[o], detail[o]
        a[:] = 0.0
        d[:] = 0.0
        for t in range(taps.shape[1]):
            row = x[rows[o, t]]
            wl, wh = lo[taps[o, t]], hi[taps[o, t]]
            for c in range(cols):
                a[c] += wl * row[c]
                d[c] += wh * row[c]


def _log2_table(maps: list[np.ndarray]) -> np.ndarray:
    """log2 of 0 … 9·(range of the maps) (entry 0 unused) when every value is an integer, else an empty array.

    A window's min-subtracted values are then integers, and so are their sums (at most 9 × the range).
    """
    lo, hi = min(m.min() for m in maps), max(m.max() for m in maps)
    if hi - lo > 65535 or not all(np.array_equal(m, np.rint(m)) for m in maps):
        return np.empty(0)
    table = np.zeros(int(9 * (hi - lo)) + 10)
    table[1:] = np.log2(np.arange(1, table.size, dtype=np.float64))
    return table


# Work array layout, per source (0 = fused, 1 = IR, 2 = visible): rows of ``w[src]``.
_RAW, _NORM, _PDF, _CENT, _CDF, _LOG = range(6)
# Per-source scalars in ``st[src]``.
_ENT, _SD, _CDFSUM, _TOTAL, _SS = range(5)
_CELLS = 2 * _N - 1  # staircase cells of a merged pair of 3×3 cdfs


@njit(cache=True, error_model="numpy", inline="always")
def _g(x: float) -> float:
    """−x·log2|x| with 0 at 0 (the reference keeps the real part of log2 for negative joint-pdf values)."""
    return -x * math.log2(max(abs(x), 1e-300))


# The kernels index one preallocated work array instead of slicing it: a slice inside the window loop would
# create an array object (with reference counting) per window, which costs more than the arithmetic.


@njit(cache=True, error_model="numpy", inline="always")
def _marginal(w, st, src, log2_table) -> None:  # noqa: ANN001 (numba arrays)
    """Min–max normalised window (all ones if flat), its pdf, cdf, centred pdf, log2 pdf and statistics.

    log2 of the pdf is kept because the pair terms reuse it; it is 0 where p = 0 (every use multiplies it by 0).
    With a ``log2_table`` (integer-valued images), log2 p = log2(x − min) − log2 Σ(x − min) is looked up instead
    of computed (the same value within an ulp, nine logarithms fewer per window).
    """
    lo = hi = w[src, _RAW, 0]
    for k in range(1, _N):
        lo = min(lo, w[src, _RAW, k])
        hi = max(hi, w[src, _RAW, k])
    span = hi - lo
    total_norm = 0.0
    # Multiplying by reciprocals instead of dividing moves values by at most an ulp; a flat window's uniform
    # pdf (1/9 from 1 × (1/9)) is unchanged, so the flat-window quirks below still hold.
    inv_span = 1.0 / span
    for k in range(_N):
        v = 1.0 if span == 0 else (w[src, _RAW, k] - lo) * inv_span
        w[src, _NORM, k] = v
        total_norm += v
    inv_total = 1.0 / total_norm
    # log2 p per value, before the pdf loop so that loop stays branch-free
    if log2_table.size > 0:
        steps = 0
        for k in range(_N):
            steps += 1 if span == 0 else int(w[src, _RAW, k] - lo)
        log_steps = log2_table[steps]
        for k in range(_N):
            w[src, _LOG, k] = (0.0 if span == 0 else log2_table[int(w[src, _RAW, k] - lo)]) - log_steps
    else:
        for k in range(_N):
            p = w[src, _NORM, k] * inv_total
            w[src, _LOG, k] = math.log2(p) if p > 0 else 0.0
    entropy = e1 = e2 = cdf_sum = total = 0.0
    for k in range(_N):
        p = w[src, _NORM, k] * inv_total
        w[src, _PDF, k] = p
        total += p
        w[src, _CDF, k] = total
        cdf_sum += total
        lg = w[src, _LOG, k] if p > 0 else 0.0
        w[src, _LOG, k] = lg
        entropy -= p * lg
        e1 += (k + 1) * p
        e2 += (k + 1) * (k + 1) * p
    # Left-to-right mean as the reference sums it: for a flat window's uniform pdf it leaves a rounding residue
    # in pdf − mean, which makes the reference's correlation of two flat windows exactly 1.
    mean = total / _N
    ss = 0.0
    for k in range(_N):
        d = w[src, _PDF, k] - mean
        w[src, _CENT, k] = d
        ss += d * d
    st[src, _ENT] = entropy
    st[src, _SD] = math.sqrt(max(e2 - e1 * e1, 0.0))
    st[src, _CDFSUM] = cdf_sum
    st[src, _TOTAL] = total
    st[src, _SS] = ss


@njit(cache=True, error_model="numpy", inline="always")
def _fmi_pair(w, st, a, x, cells) -> float:  # noqa: ANN001 (numba arrays)
    """Normalised FMI of the fused window (source 0) and source ``a``, the reference's ``fmi_af``.

    ``x`` (4, 17) and ``cells`` (2, 17) are work space: the pdf of A (reversed for the lower bound), its cdf, the
    staircase masses and log2 of that pdf; the staircase cells (i, j).
    """
    n = _N
    s = 0.0
    for k in range(n):
        s += w[a, _CENT, k] * w[0, _CENT, k]
    c = 0.0 if s == 0 else s / math.sqrt(st[a, _SS] * st[0, _SS])
    lower = c < 0
    # The lower Fréchet bound of (F, A) is the upper bound of (F, A reversed).
    acc = 0.0
    for k in range(n):
        src = n - 1 - k if lower else k
        x[0, k] = w[a, _PDF, src]
        x[3, k] = w[a, _LOG, src]
        acc += x[0, k]
        x[1, k] = acc
    # Merge the 8 interior breakpoints of the two cdfs: staircase cell k (after k breakpoints) is (i, j) and its
    # mass the gap to the next breakpoint. Σ_{i,j<8} min(F_i, X_j) accumulates along the way: each breakpoint is
    # the smaller one of its pairs with the other cdf's breakpoints still to come.
    i = j = 0
    prev = sum_min8 = 0.0
    for k in range(_CELLS - 1):
        cells[0, k] = i
        cells[1, k] = j
        if j >= n - 1 or (i < n - 1 and w[0, _CDF, i] <= x[1, j]):
            value = w[0, _CDF, i]
            sum_min8 += (n - 1 - j) * value
            i += 1
        else:
            value = x[1, j]
            sum_min8 += (n - 1 - i) * value
            j += 1
        x[2, k] = value - prev
        prev = value
    cells[0, _CELLS - 1] = i
    cells[1, _CELLS - 1] = j
    f_end, x_end = w[0, _CDF, n - 1], x[1, n - 1]
    x[2, _CELLS - 1] = min(f_end, x_end) - prev
    last_row = last_col = 0.0
    for k in range(n - 1):
        last_row += min(f_end, x[1, k])
    for k in range(n):
        last_col += min(w[0, _CDF, k], x_end)
    product = st[0, _CDFSUM] * st[a, _CDFSUM]
    upper_cov = sum_min8 + last_row + last_col
    cov = (n * st[0, _CDFSUM] - (sum_min8 + last_row) if lower else upper_cov) - product
    sd_f, sd_a = st[0, _SD], st[a, _SD]
    phi = 0.0 if (sd_f == 0 or sd_a == 0 or c == 0) else c / (cov / (sd_f * sd_a))
    one_minus = 1.0 - phi
    # Σ over all n×n cells of g((1−φ)·f_i·x_j), in closed form; then the staircase cells corrected.
    s_f, s_a = st[0, _TOTAL], st[a, _TOTAL]
    log_om = math.log2(abs(one_minus)) if one_minus != 0 else 0.0
    joint = one_minus * (s_a * st[0, _ENT] + s_f * st[a, _ENT] - log_om * s_f * s_a)
    for k in range(_CELLS):
        mass = x[2, k]
        if mass == 0:
            continue  # g(base + 0) − g(base)
        ci, cj = cells[0, k], cells[1, k]
        base = one_minus * w[0, _PDF, ci] * x[0, cj]
        # g(base) without a log: log2|base| = log2|1−φ| + log2 f_i + log2 x_j (g = 0 when a factor is 0)
        g_base = 0.0 if base == 0 else -base * (log_om + w[0, _LOG, ci] + x[3, cj])
        joint += _g(base + phi * mass) - g_base
    h_sum = st[0, _ENT] + st[a, _ENT]
    mi = h_sum - joint
    return 0.0 if mi == 0 else 2.0 * mi / h_sum


@njit(cache=True, error_model="numpy", nogil=True)
def _fmi_row(f, a, b, log2_table, r) -> float:  # noqa: ANN001 (numba arrays)
    """Σ over the windows of window row ``r`` of (FMI_AF + FMI_BF), windows read in MATLAB's column-major order.

    ``log2_table``: log2 n for n = 0 … 9·(value range) when all three maps hold integers, else empty.
    """
    cols = f.shape[1] - 2
    w = np.empty((3, 6, _N))
    st = np.empty((3, 5))
    x = np.empty((4, _CELLS))
    cells = np.empty((2, _CELLS), np.int64)
    acc = 0.0
    for col in range(cols):
        for dc in range(3):
            for dr in range(3):
                w[0, _RAW, dc * 3 + dr] = f[r + dr, col + dc]
                w[1, _RAW, dc * 3 + dr] = a[r + dr, col + dc]
                w[2, _RAW, dc * 3 + dr] = b[r + dr, col + dc]
        _marginal(w, st, 0, log2_table)
        _marginal(w, st, 1, log2_table)
        _marginal(w, st, 2, log2_table)
        same_a = same_b = True
        for k in range(_N):
            same_a = same_a and w[1, _RAW, k] == w[0, _RAW, k]
        # Reference quirk: its first branch overwrites the fused window with the normalised one unless the
        # windows were equal, and the visible window is then compared with that.
        seen = _RAW if same_a else _NORM
        for k in range(_N):
            same_b = same_b and w[2, _RAW, k] == w[0, seen, k]
        acc += 1.0 if same_a else _fmi_pair(w, st, 1, x, cells)
        acc += 1.0 if same_b else _fmi_pair(w, st, 2, x, cells)
    return acc


@njit(cache=True, error_model="numpy", parallel=True, nogil=True)
def _fmi_rows_parallel(f, a, b, log2_table) -> np.ndarray:  # noqa: ANN001 (numba arrays)
    """:func:`_fmi_row` of every window row, rows spread over numba's threads."""
    out = np.empty(f.shape[0] - 2)
    for r in prange(out.size):
        out[r] = _fmi_row(f, a, b, log2_table, r)
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def _fmi_rows_serial(f, a, b, log2_table) -> np.ndarray:  # noqa: ANN001 (numba arrays)
    """:func:`_fmi_row` of every window row on the calling thread (when the caller already fills the cores)."""
    out = np.empty(f.shape[0] - 2)
    for r in range(out.size):
        out[r] = _fmi_row(f, a, b, log2_table, r)
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
    if window != 3:  # the kernels are built for 3×3 windows (8 interior breakpoints per cdf)
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
    maps = [np.ascontiguousarray(feats[k], dtype=np.float64) for k in "fab"]
    # DCT and wavelet maps are real-valued by construction: only grey levels can take the log2 table
    table = _log2_table(maps) if feature == "pixel" else np.empty(0)
    if single_threaded_kernels():
        row_sums = _fmi_rows_serial(*maps, table)
    else:
        with _KERNEL_LOCK:
            row_sums = _fmi_rows_parallel(*maps, table)
    return float(row_sums.sum()) / (2.0 * rows * cols)
