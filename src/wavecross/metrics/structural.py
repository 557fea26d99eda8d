"""Structural similarity family: the references' SSIMs, MS-SSIM, Piella's Q_S/Q_W/Q_E, Yang's Q_Y, Cvejic's Q_C.

One float64 core, :func:`ssim_maps`, serves every Gaussian-window SSIM; local means and second moments are
cached per (image product, window), and the valid part of a 'same'-size filtering is reused for 'valid' users,
so e.g. VIFB's SSIM, the Tang SSIM, Piella's indices and the first MS-SSIM scale share their filterings.
The CDDFuse SSIM is the exception: it reproduces scikit-image's float32 arithmetic (:func:`ssim_skimage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from scipy import ndimage, signal

from ._base import Triple, correlate3x3, filter_same, filter_valid, gaussian_1d
from ._kernels import low_variance, ssim_maps_from_means, ssim_terms_at

K1, K2 = 0.01, 0.03
C1_255 = (K1 * 255.0) ** 2
C2_255 = (K2 * 255.0) ** 2


@dataclass(frozen=True)
class Window:
    """A Gaussian SSIM window: ``size`` taps, ``sigma``; ``border`` "valid" or "replicate" (same-size output)."""

    size: int = 11
    sigma: float = 1.5
    border: str = "valid"


WANG = Window(11, 1.5, "valid")  # Wang et al. 2004 ssim_index, VIFB, Piella (Z. Liu's code)
MATLAB = Window(11, 1.5, "replicate")  # MATLAB's built-in ssim (Tang suite)
YANG = Window(7, 1.5, "valid")  # Yang's and Cvejic's metrics (Z. Liu's code)


def _product(t: Triple, expr: str) -> np.ndarray:
    if len(expr) == 1:
        return t.image(expr)
    return t.cached(("prod", expr), lambda: t.image(expr[0]) * t.image(expr[1]), uses=expr)


def _border(window: Window) -> int:
    """How far the window's output lies inside the same-size mean maps (0 for same-size output)."""
    return window.size // 2 if window.border == "valid" else 0


def _mean_map(t: Triple, expr: str, window: Window) -> np.ndarray:
    """Same-size (replicated borders) Gaussian mean of ``expr``; 'valid' users read it :func:`_border` inside."""

    def same() -> np.ndarray:
        return filter_same(_product(t, expr), gaussian_1d(window.size, window.sigma), "nearest")

    return t.cached(("gauss", expr, window.size, window.sigma), same, uses=expr)


def _kernel2d(window: Window) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)`` as a 2-D array (the references' filter2 kernel)."""
    r = (window.size - 1) / 2.0
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * window.sigma * window.sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h / h.sum()


def _direct_window_sums(values: np.ndarray, window: Window) -> np.ndarray:
    """Σ w·v over a window of constant value v, rounded exactly as a direct 2-D correlation sums it.

    Only constant windows need this: their true variance is 0 and the references' value is whatever rounding
    leaves of E[x²] − μ² (about 1e-11), which decides λ in Piella's indices and the 0/0 ratios of Yang's and
    Cvejic's metrics (C = 2e-16). The references filter with a direct 2-D correlation (``filter2`` in MATLAB,
    ``scipy.signal.correlate2d`` in the Python ports the reference values come from); its rounding of a
    constant window depends only on v, so it is computed here once per distinct v.
    """
    k = window.size
    blocks = np.repeat(values.astype(np.float64), k)[:, None] * np.ones((1, k))
    return signal.correlate2d(blocks, _kernel2d(window), mode="valid")[::k, 0]


def _summed_area(ind: np.ndarray) -> np.ndarray:
    s = np.zeros((ind.shape[0] + 1, ind.shape[1] + 1), np.int64)
    np.cumsum(np.cumsum(ind, axis=0, dtype=np.int64), axis=1, out=s[1:, 1:])
    return s


def _flat_by_counts(img: np.ndarray, k: int) -> np.ndarray:
    """Constant k×k windows (valid positions) as those with no differing neighbours inside, by summed areas."""
    across = _summed_area(img[:, 1:] != img[:, :-1])
    down = _summed_area(img[1:, :] != img[:-1, :])

    def box(s: np.ndarray, kh: int, kw: int) -> np.ndarray:
        return s[kh:, kw:] - s[:-kh, kw:] - s[kh:, :-kw] + s[:-kh, :-kw]

    return (box(across, k, k - 1) == 0) & (box(down, k - 1, k) == 0)


def constant_windows(t: Triple, key: str, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the constant windows of image ``key`` (over 'valid' positions) and their values.

    Screened by the local variance (a constant window's computed variance is rounding noise, < 1e-12·(1+μ²)) and
    confirmed exactly: on the candidates' pixels when they are few, else by counting differing neighbours.
    """

    def compute() -> tuple[np.ndarray, np.ndarray]:
        k = window.size
        img = t.image(key)
        low = np.empty((img.shape[0] - k + 1, img.shape[1] - k + 1), bool)
        low_variance(_mean_map(t, key, window), _mean_map(t, key + key, window), k // 2, 1e-12, low)
        candidates = np.flatnonzero(low)
        if candidates.size == 0:
            return candidates, np.empty(0)
        cols = img.shape[1] - k + 1
        if candidates.size * k * k > 2_000_000:  # large flat areas: one exact pass over the image is cheaper
            flat = np.flatnonzero(_flat_by_counts(img, k))
            r, c = np.divmod(flat, cols)
            return flat, img[r, c]
        r, c = np.divmod(candidates, cols)
        patches = np.lib.stride_tricks.sliding_window_view(img, (k, k))[r, c]
        flat = patches.max(axis=(1, 2)) == patches.min(axis=(1, 2))
        return candidates[flat], img[r[flat], c[flat]]

    return t.cached(("const", key, window), compute, uses=key)


def _reference_rounding(
    t: Triple, x: str, y: str, window: Window, sxx: np.ndarray, syy: np.ndarray, sxy: np.ndarray
) -> np.ndarray:
    """Put the direct-correlation rounding into the (fresh) moment maps of constant windows, in place; returns
    the flat indices changed."""
    found = {}
    for key, var in ((x, sxx), (y, syy)):
        where, values = constant_windows(t, key, window)
        found[key] = (where, values)
        if where.size:
            u, inv = np.unique(values, return_inverse=True)
            m1 = _direct_window_sums(u, window)
            var.ravel()[where] = (_direct_window_sums(u * u, window) - m1 * m1)[inv]
    (wx, vx), (wy, vy) = found[x], found[y]
    if wx.size and wy.size:
        both, ix, iy = np.intersect1d(wx, wy, assume_unique=True, return_indices=True)
        if both.size:
            cx, cy = vx[ix], vy[iy]
            u, inv = np.unique(np.stack([cx, cy]), axis=1, return_inverse=True)
            sums = _direct_window_sums(np.concatenate([u[0], u[1], u[0] * u[1]]), window).reshape(3, -1)
            sxy.ravel()[both] = (sums[2] - sums[0] * sums[1])[inv.ravel()]
    return np.union1d(wx, wy)


def ssim_maps(
    t: Triple, x: str, y: str, window: Window, c1: float, c2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SSIM map, contrast–structure map, σx², σy² and σxy of images ``x``, ``y`` of ``t`` (keys "f", "a", "b").

    SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), moments under ``window``; for 'valid'
    windows the moments of constant windows carry the references' rounding (see :func:`_direct_window_sums`).
    """
    key = ("ssim", x, y, window, c1, c2)

    def compute() -> tuple[np.ndarray, ...]:
        xy = "".join(sorted(x + y))
        mx, my, mxx, myy, mxy = (_mean_map(t, e, window) for e in (x, y, x + x, y + y, xy))
        off = _border(window)
        shape = (mx.shape[0] - 2 * off, mx.shape[1] - 2 * off)
        sxx, syy, sxy, lum, cs = (np.empty(shape) for _ in range(5))
        ssim_maps_from_means(mx, my, mxx, myy, mxy, off, c1, c2, sxx, syy, sxy, lum, cs)
        if window.border == "valid":
            changed = _reference_rounding(t, x, y, window, sxx, syy, sxy)
            if changed.size:
                ssim_terms_at(mx, my, off, sxx, syy, sxy, c1, c2, lum, cs, changed)
        return lum, cs, sxx, syy, sxy

    return t.cached(key, compute, uses=x + y)


# ------------------------------------------------------------------------------------ per-reference SSIMs


def ssim_wang(fused: Any, ir: Any = None, vis: Any = None, *, window: Window = WANG) -> float:
    """SSIM(A, F) + SSIM(B, F), Wang et al.: Gaussian 11×11, σ = 1.5, 'valid' window positions only,
    K = (0.01, 0.03), L = 255 (VIFB's SSIM). Higher is better (2 = F equals both sources)."""
    t = Triple.of(fused, ir, vis)
    return float(sum(np.mean(ssim_maps(t, src, "f", window, C1_255, C2_255)[0]) for src in "ab"))


def ssim_matlab(fused: Any, ir: Any = None, vis: Any = None, *, data_range: float = 1.0) -> float:
    """(ssim(F, A) + ssim(F, B))/2 with MATLAB's ``ssim`` (Tang suite): Gaussian σ = 1.5 on an 11×11 support,
    replicated borders, every pixel averaged, C1 = (0.01·L)², C2 = (0.03·L)² for the image range L. Higher is
    better (1 = F equals both sources)."""
    t = Triple.of(fused, ir, vis)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return float(sum(np.mean(ssim_maps(t, src, "f", MATLAB, c1, c2)[0]) for src in "ab") / 2)


def ssim_skimage(fused: Any, ir: Any = None, vis: Any = None, *, data_range: float = 2.0, win_size: int = 7) -> float:
    """SSIM(F, A) + SSIM(F, B) as the CDDFuse evaluator gets it from scikit-image ``structural_similarity``.

    float32 arithmetic throughout, uniform 7×7 window (``scipy.ndimage.uniform_filter``, mirrored borders),
    sample covariances (×49/48), C1 = (0.01·R)², C2 = (0.03·R)², mean over the map without its 3-pixel border.
    ``data_range`` R = 2 is what scikit-image ≤ 0.19 assumed for float images (the published numbers); R = 255 is
    the physically meaningful choice. Higher is better.
    """
    t = Triple.of(fused, ir, vis)
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    cov_norm = win_size**2 / (win_size**2 - 1)
    pad = (win_size - 1) // 2

    def unif(expr: str) -> np.ndarray:
        def compute() -> np.ndarray:
            img = t.f32(expr[0]) if len(expr) == 1 else t.f32(expr[0]) * t.f32(expr[1])
            return ndimage.uniform_filter(img, size=win_size)

        return t.cached(("uniform32", expr, win_size), compute, uses=expr)

    total = 0.0
    f32 = np.float32
    for src in "ab":
        s = np.empty(t.f.shape, np.float32)
        _ssim32_map(
            unif("f"), unif(src), unif("ff"), unif(src + src), unif("f" + src), f32(cov_norm), f32(c1), f32(c2), s
        )
        total += float(s[pad : s.shape[0] - pad, pad : s.shape[1] - pad].mean(dtype=np.float64))
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _ssim32_map(ux, uy, uxx, uyy, uxy, cov_norm, c1, c2, out) -> None:  # noqa: ANN001 (numba arrays)
    """scikit-image's SSIM map in float32, operation by operation as its NumPy code evaluates it:
    vx = n·(E[x²] − μx²), vy, vxy likewise; ((2μxμy + C1)(2vxy + C2)) / ((μx² + μy² + C1)(vx + vy + C2))."""
    two = np.float32(2.0)
    for r in range(out.shape[0]):
        mx, my, mxx, myy, mxy, o = ux[r], uy[r], uxx[r], uyy[r], uxy[r], out[r]
        for c in range(out.shape[1]):
            vx = cov_norm * (mxx[c] - mx[c] * mx[c])
            vy = cov_norm * (myy[c] - my[c] * my[c])
            vxy = cov_norm * (mxy[c] - mx[c] * my[c])
            a1 = two * mx[c] * my[c] + c1
            a2 = two * vxy + c2
            b1 = mx[c] * mx[c] + my[c] * my[c] + c1
            b2 = vx + vy + c2
            o[c] = (a1 * a2) / (b1 * b2)


# ------------------------------------------------------------------------------------------------ MS-SSIM

MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _avg_pool2(x: np.ndarray) -> np.ndarray:
    # torch avg_pool2d(kernel 2, padding = size % 2, count_include_pad=True): odd sides get a zero row/column in
    # front and the 2×2 sums are divided by 4 regardless.
    ph, pw = x.shape[0] % 2, x.shape[1] % 2
    if ph or pw:
        x = np.pad(x, ((ph, ph), (pw, pw)))
    h, w = x.shape[0] // 2, x.shape[1] // 2
    x = x[: 2 * h, : 2 * w]
    return (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4.0


def _ms_level(x: np.ndarray, y: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    def filt(z: np.ndarray) -> np.ndarray:
        if min(z.shape) >= g.size:
            return filter_valid(z, g)
        for axis in (0, 1):
            if z.shape[axis] >= g.size:  # the reference skips an axis shorter than the window
                h = g.size // 2
                z = ndimage.correlate1d(z, g, axis=axis, mode="constant")
                z = z[h : z.shape[0] - h] if axis == 0 else z[:, h : z.shape[1] - h]
        return z

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    cs = (2 * sxy + C2_255) / (sxx + syy + C2_255)
    ssim = (2 * mx * my + C1_255) / (mx * mx + my * my + C1_255) * cs
    return float(np.mean(ssim)), float(np.mean(cs))


def ms_ssim(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """MS-SSIM(F, A) + MS-SSIM(F, B), Wang et al. 2003 in the ``pytorch_msssim`` form. Higher is better.

    Five scales; Gaussian 11 taps, σ = 1.5, 'valid'; L = 255; between scales a 2×2 average pool with a zero
    row/column in front of odd sides; MS-SSIM = Π_{j<5} max(cs_j, 0)^w_j · max(ssim_5, 0)^w_5 with
    w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). (pytorch_msssim refuses images whose smaller side is ≤ 160
    pixels; here such images are evaluated with its rule for short axes: an axis shorter than the window is not
    filtered.)
    """
    t = Triple.of(fused, ir, vis)
    g = gaussian_1d(11, 1.5)
    total = 0.0
    for src in "ab":
        # The first scale is the Wang-window SSIM of the full images, shared with SSIM/Piella.
        ssim_map, cs_map = ssim_maps(t, src, "f", WANG, C1_255, C2_255)[:2]
        ssim, cs = float(np.mean(ssim_map)), float(np.mean(cs_map))
        x, y = t.f, t.image(src)
        value = 1.0
        for level, w in enumerate(MS_WEIGHTS):
            if level > 0:
                ssim, cs = _ms_level(x, y, g)
            if level < len(MS_WEIGHTS) - 1:
                value *= max(cs, 0.0) ** w
                x, y = _avg_pool2(x), _avg_pool2(y)
            else:
                value *= max(ssim, 0.0) ** w
        total += value
    return total


# ------------------------------------------------------------------------------------------ Piella (2003)


def _piella_terms(t: Triple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """λ, the saliency weight max(σA², σB²) and the local index λ·SSIM(F, A) + (1 − λ)·SSIM(F, B)."""

    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, _, sa, sb, _ = ssim_maps(t, "a", "b", WANG, C1_255, C2_255)
        flat = (sa + sb) == 0
        sa = np.where(flat, sa + 0.5, sa)
        sb = np.where(flat, sb + 0.5, sb)
        lam = sa / (sa + sb)
        q = lam * ssim_maps(t, "a", "f", WANG, C1_255, C2_255)[0]
        q = q + (1 - lam) * ssim_maps(t, "b", "f", WANG, C1_255, C2_255)[0]
        return lam, np.maximum(sa, sb), q

    return t.cached(("piella",), compute)


def piella_qs(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """Q_S, Piella's fusion quality index (Z. Liu's implementation). Higher is better.

    Local SSIM (Wang window: Gaussian 11, σ = 1.5, valid, L = 255) instead of the paper's UIQI;
    λ = σA² / (σA² + σB²) (½ each where both variances vanish); Q_S = mean(λ·SSIM(F, A) + (1 − λ)·SSIM(F, B)).
    """
    t = Triple.of(fused, ir, vis)
    return float(np.mean(_piella_terms(t)[2]))


def piella_qw(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """Q_W, Piella's weighted fusion quality index: the local Q_S terms weighted by c = max(σA², σB²)/Σ max.

    Higher is better.
    """
    t = Triple.of(fused, ir, vis)
    _, c, q = _piella_terms(t)
    if c.size == 0:  # image smaller than the window
        return float("nan")
    return float(np.sum(c / np.sum(c) * q))


_PREWITT_X = np.array([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
_PREWITT_Y = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]])


def edge_triple(t: Triple) -> Triple:
    """The Prewitt gradient magnitudes √(gx² + gy²) of F, A, B (zero padding), as a Triple of their own."""

    def compute() -> Triple:
        mags = []
        for key in "fab":
            img = t.image(key)
            gx = correlate3x3(img, _PREWITT_X, "constant")
            gy = correlate3x3(img, _PREWITT_Y, "constant")
            mags.append(np.sqrt(gx * gx + gy * gy))
        return Triple(*mags)

    return t.cached(("edges",), compute)


def piella_qw_edges(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """Q_W of the Prewitt edge-magnitude images (what MEFB reports as "Q_W"). Higher is better."""
    return piella_qw(edge_triple(Triple.of(fused, ir, vis)))


def piella_qe(fused: Any, ir: Any = None, vis: Any = None, *, alpha: float = 1.0) -> float:
    """Q_E, Piella's edge-dependent index: Q_W(A, B, F) · Q_W(A′, B′, F′)^α, primes the Prewitt edge
    magnitudes (zero padding), α = 1. Higher is better."""
    t = Triple.of(fused, ir, vis)
    return piella_qw(t) * piella_qw_edges(t) ** alpha


# --------------------------------------------------------------------------------- Yang (2008), Cvejic (2005)

C_TINY = 2e-16  # Z. Liu's codes replace SSIM's constants by 2e-16: flat windows become 0/0-sensitive


def yang_qy(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """Q_Y (Yang et al. 2008), Z. Liu's/MEFB implementation. Higher is better.

    Local SSIMs with a 7×7 Gaussian window (σ = 1.5, valid) and C1 = C2 = 2e-16. Where SSIM(A, B) ≥ 0.75:
    λ·SSIM(A, F) + (1 − λ)·SSIM(B, F) with λ = σA²/(σA² + σB²); elsewhere max(SSIM(A, F), SSIM(B, F)).
    Mean over the map, NaN entries (0/0 in flat windows) left out.
    """
    t = Triple.of(fused, ir, vis)
    s_ab, _, sa, sb, _ = ssim_maps(t, "a", "b", YANG, C_TINY, C_TINY)
    s_af = ssim_maps(t, "a", "f", YANG, C_TINY, C_TINY)[0]
    s_bf = ssim_maps(t, "b", "f", YANG, C_TINY, C_TINY)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = sa / (sa + sb)
        q = np.where(s_ab >= 0.75, lam * s_af + (1 - lam) * s_bf, np.maximum(s_af, s_bf))
    return float(np.mean(q[~np.isnan(q)]))


def cvejic_qc(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """Q_C (Cvejic et al. 2005), Z. Liu's/MEFB implementation. Higher is better.

    With the Yang-style local SSIM (7×7 Gaussian, σ = 1.5, C = 2e-16) and the local covariances σAF, σBF:
    μ = σAF/(σAF + σBF); Q = μ·SSIM(A, F) + (1 − μ)·SSIM(B, F), set to 0 where μ < 0 and to 1 where μ > 1;
    mean over the map, NaN entries left out. A is the infrared image.
    """
    t = Triple.of(fused, ir, vis)
    s_af, _, _, _, c_af = ssim_maps(t, "a", "f", YANG, C_TINY, C_TINY)
    s_bf, _, _, _, c_bf = ssim_maps(t, "b", "f", YANG, C_TINY, C_TINY)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = c_af / (c_af + c_bf)
        q = mu * s_af + (1 - mu) * s_bf
    q = np.where(mu < 0, 0.0, np.where(mu > 1, 1.0, q))
    return float(np.mean(q[~np.isnan(q)]))
