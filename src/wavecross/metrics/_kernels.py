"""Compiled (numba) inner loops shared by the metric families: separable filtering and the SSIM map.

Each kernel performs exactly the floating-point operations of the NumPy/SciPy code it replaces, in the same
order, so results are bit-identical; it only avoids the temporaries and the Python-level strips. All kernels
release the GIL, so metrics evaluated on several threads run them side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit

@njit(cache=True, nogil=True, error_model="numpy")
def correlate_valid(x, g, step, out) -> None:  # noqa: ANN001 (numba arrays)
    """``out`` = the 'valid' part of ``x`` correlated along rows, then columns, with the odd symmetric kernel
    ``g``, every ``step``-th output row and column kept.

    Per output value, scipy.ndimage's order for symmetric kernels: centre tap first, then (x[−j] + x[+j])·g[j]
    from the outermost pair inwards (so, with the borders padded beforehand, ``correlate1d`` twice exactly).
    """
    k = g.size
    h = k // 2
    gc = g[h]
    rows, cols = out.shape
    width = x.shape[1]
    v = np.empty(width)  # one row after the vertical pass
    o = np.empty(cols)
    for i in range(rows):
        r = i * step + h
        for c in range(width):
            v[c] = x[r, c] * gc
        for j in range(h, 0, -1):
            wj = g[h - j]
            for c in range(width):
                v[c] += (x[r - j, c] + x[r + j, c]) * wj
        if step == 1:  # a separate loop the compiler vectorises
            for c in range(cols):
                o[c] = v[c + h] * gc
            for j in range(h, 0, -1):
                wj = g[h - j]
                for c in range(cols):
                    o[c] += (v[c + h - j] + v[c + h + j]) * wj
        else:
            for c in range(cols):
                o[c] = v[c * step + h] * gc
            for j in range(h, 0, -1):
                wj = g[h - j]
                for c in range(cols):
                    o[c] += (v[c * step + h - j] + v[c * step + h + j]) * wj
        out[i] = o


@njit(cache=True, nogil=True, error_model="numpy")
def central_moments(mx, my, mxx, myy, mxy, sxx, syy, sxy) -> None:  # noqa: ANN001 (numba arrays)
    """σx² = E[x²] − μx², σy², σxy = E[xy] − μxμy, elementwise into ``sxx``, ``syy``, ``sxy``."""
    for r in range(mx.shape[0]):
        for c in range(mx.shape[1]):
            a, b = mx[r, c], my[r, c]
            sxx[r, c] = mxx[r, c] - a * a
            syy[r, c] = myy[r, c] - b * b
            sxy[r, c] = mxy[r, c] - a * b


@njit(cache=True, nogil=True, error_model="numpy")
def ssim_terms(mx, my, sxx, syy, sxy, c1, c2, lum, cs) -> None:  # noqa: ANN001 (numba arrays)
    """SSIM and contrast–structure maps from local means and moments, in the references' order of operations:

    cs = (2σxy + C2)/(σx² + σy² + C2), ssim = (2μxμy + C1)·(2σxy + C2) / ((μx² + μy² + C1)·(σx² + σy² + C2)).
    """
    for r in range(mx.shape[0]):
        for c in range(mx.shape[1]):
            a, b = mx[r, c], my[r, c]
            cs_num = 2.0 * sxy[r, c] + c2
            den2 = sxx[r, c] + syy[r, c] + c2
            den1 = (a * a + b * b + c1) * den2
            cs[r, c] = cs_num / den2
            lum[r, c] = (a * b * 2.0 + c1) * cs_num / den1
