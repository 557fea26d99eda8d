"""Compiled (numba) inner loops shared by the metric families: separable and 3×3 filtering, SSIM maps, the
constant-window screen.

Each kernel performs exactly the floating-point operations of the NumPy/SciPy code it replaces, in the same
order, so results are bit-identical (tests/test_metrics_kernels.py); it only avoids the temporaries and the
Python-level loops. All kernels release the GIL, so metrics evaluated on several threads run them side by side.
Kernels specific to one metric live beside it (Qabf/Nabf in ``gradient``, FMI and its DWT in ``feature_mi``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def correlate_separable(x, g, rows_src, cols_src, step, out) -> None:  # noqa: ANN001 (numba arrays)
    """``out`` = the border-extended ``x`` correlated along rows, then columns, with the odd symmetric kernel
    ``g``: its 'valid' part, every ``step``-th output row and column.

    ``rows_src``/``cols_src`` give, for each position of the extended image, the row/column of ``x`` it repeats
    (−1 for a zero); identity maps filter ``x`` itself. Per output value, scipy.ndimage's order for symmetric
    kernels: centre tap first, then (x[−j] + x[+j])·g[j] from the outermost pair inwards — so this is
    ``correlate1d`` along each axis with the same border mode, bit for bit.
    """
    k = g.size
    h = k // 2
    gc = g[h]
    rows, cols = out.shape
    width = x.shape[1]
    pad = (cols_src.size - width) // 2
    v = np.zeros(cols_src.size)  # one row after the vertical pass, extended
    inner = v[pad : pad + width]
    zero = np.zeros(width)
    o = np.empty(cols)
    # Rows are taken as 1-D views before the inner loops: indexing them with the loop counter alone lets the
    # compiler vectorise (2-D indexing with offset rows is about twice as slow).
    for i in range(rows):
        r = i * step + h
        centre = x[rows_src[r]] if rows_src[r] >= 0 else zero
        for c in range(width):
            inner[c] = centre[c] * gc
        for j in range(h, 0, -1):
            wj = g[h - j]
            s_up, s_down = rows_src[r - j], rows_src[r + j]
            up = x[s_up] if s_up >= 0 else zero
            down = x[s_down] if s_down >= 0 else zero
            for c in range(width):
                inner[c] += (up[c] + down[c]) * wj
        for q in range(pad):  # extend the filtered row as ndimage extends each line
            left, right = cols_src[q], cols_src[cols_src.size - 1 - q]
            v[q] = v[pad + left] if left >= 0 else 0.0
            v[cols_src.size - 1 - q] = v[pad + right] if right >= 0 else 0.0
        if step == 1:  # contiguous taps: a loop the compiler vectorises
            for c in range(cols):
                o[c] = v[c + h] * gc
            for j in range(h, 0, -1):
                wj = g[h - j]
                left_taps, right_taps = v[h - j : h - j + cols], v[h + j : h + j + cols]
                for c in range(cols):
                    o[c] += (left_taps[c] + right_taps[c]) * wj
        else:
            for c in range(cols):
                o[c] = v[c * step + h] * gc
            for j in range(h, 0, -1):
                wj = g[h - j]
                for c in range(cols):
                    o[c] += (v[c * step + h - j] + v[c * step + h + j]) * wj
        out[i] = o


@njit(cache=True, nogil=True, error_model="numpy")
def correlate_taps(p, taps, out) -> None:  # noqa: ANN001 (numba arrays)
    """``out[r, c]`` = Σ k·p[r + i, c + j] over the rows (i, j, k) of ``taps``, accumulated onto 0 in their order;
    k = ±1 taps are added/subtracted without a product (the same rounding as NumPy's shifted-copy sums)."""
    rows, cols = out.shape
    acc = np.empty(cols)
    for r in range(rows):
        acc[:] = 0.0
        for t in range(taps.shape[0]):
            i, j, k = int(taps[t, 0]), int(taps[t, 1]), taps[t, 2]
            src = p[r + i, j : j + cols]
            if k == 1.0:
                for c in range(cols):
                    acc[c] += src[c]
            elif k == -1.0:
                for c in range(cols):
                    acc[c] -= src[c]
            else:
                for c in range(cols):
                    acc[c] += src[c] * k
        out[r] = acc


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ssim_pixel(a: float, b: float, vx: float, vy: float, cxy: float, c1: float, c2: float) -> tuple[float, float]:
    """(ssim, cs) of one window in the references' order of operations: cs = (2σxy + C2)/(σx² + σy² + C2),
    ssim = (2μxμy + C1)·(2σxy + C2) / ((μx² + μy² + C1)·(σx² + σy² + C2))."""
    cs_num = 2.0 * cxy + c2
    den2 = vx + vy + c2
    return (a * b * 2.0 + c1) * cs_num / ((a * a + b * b + c1) * den2), cs_num / den2


@njit(cache=True, nogil=True, error_model="numpy")
def ssim_maps_from_means(mx, my, mxx, myy, mxy, off, c1, c2, sxx, syy, sxy, lum, cs) -> None:  # noqa: ANN001
    """σx² = E[x²] − μx², σy², σxy = E[xy] − μxμy and the SSIM / contrast–structure maps, in one pass over
    same-size mean maps cropped by ``off`` on every side."""
    rows, cols = lum.shape
    for r in range(rows):
        q = r + off
        a, b = mx[q, off : off + cols], my[q, off : off + cols]
        aa, bb, ab = mxx[q, off : off + cols], myy[q, off : off + cols], mxy[q, off : off + cols]
        vx, vy, cxy, out_l, out_cs = sxx[r], syy[r], sxy[r], lum[r], cs[r]
        for c in range(cols):
            vx[c] = aa[c] - a[c] * a[c]
            vy[c] = bb[c] - b[c] * b[c]
            cxy[c] = ab[c] - a[c] * b[c]
            out_l[c], out_cs[c] = _ssim_pixel(a[c], b[c], vx[c], vy[c], cxy[c], c1, c2)


@njit(cache=True, nogil=True, error_model="numpy")
def ssim_terms_at(mx, my, off, sxx, syy, sxy, c1, c2, lum, cs, flat) -> None:  # noqa: ANN001 (numba arrays)
    """Recompute the SSIM and cs maps at the flat indices ``flat`` (after their moments were changed)."""
    cols = lum.shape[1]
    for i in flat:
        r, c = i // cols, i % cols
        lum[r, c], cs[r, c] = _ssim_pixel(
            mx[r + off, c + off], my[r + off, c + off], sxx[r, c], syy[r, c], sxy[r, c], c1, c2
        )


@njit(cache=True, nogil=True, error_model="numpy")
def low_variance(m, mm, off, tol, out) -> None:  # noqa: ANN001 (numba arrays)
    """out = (E[x²] − μ² ≤ tol·(1 + μ²)) over mean maps cropped by ``off``: candidate constant windows."""
    rows, cols = out.shape
    for r in range(rows):
        a, aa, o = m[r + off, off : off + cols], mm[r + off, off : off + cols], out[r]
        for c in range(cols):
            mu2 = a[c] * a[c]
            o[c] = aa[c] - mu2 <= tol * (1.0 + mu2)
