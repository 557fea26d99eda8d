"""Edge-transfer metrics of Xydeas and Petrovic: Qabf (edge information kept) and Nabf (artefacts added).

Both rest on one Sobel core, :func:`sobel`, whose responses are cached per image and border rule so that Qabf and
Nabf of one triple filter each image once per border rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from ._base import Triple, correlate3x3

# Sign convention of the references' conv2(img, h3) / conv2(img, h1): true convolution flips the kernels, so the
# x response is left − right and the y response bottom − top. The sign matters where one orientation takes the
# special value π/2 and the other does not.
_SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
_SOBEL_Y = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])


def sobel(t: Triple, key: str, pad: str = "constant") -> tuple[np.ndarray, np.ndarray]:
    """Sobel responses (x, y) of image ``key`` of ``t`` at its own size.

    ``pad`` is the border rule: ``"constant"`` (zero padding, MATLAB ``conv2 'same'``) or ``"reflect"`` (mirror
    without repeating the edge pixel, Kumar's ``per_extn_im_fn``). x = left − right, y = bottom − top columns/rows
    weighted 1-2-1.
    """

    def compute() -> tuple[np.ndarray, np.ndarray]:
        img = t.image(key)
        return correlate3x3(img, _SOBEL_X, pad), correlate3x3(img, _SOBEL_Y, pad)

    return t.cached(("sobel", key, pad), compute, uses=key)


# --------------------------------------------------------------------------------------------------- Qabf


def _qabf_maps(sx: np.ndarray, sy: np.ndarray, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength g and orientation α of one image, in ``dtype`` arithmetic."""
    sx = sx.astype(dtype)
    sy = sy.astype(dtype)
    g = np.sqrt(sx * sx + sy * sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(sx == 0, dtype(math.pi / 2), np.arctan(sy / sx)).astype(dtype)
    return g, alpha


# Constants of the Qabf sigmoids, passed to the kernel in the images' dtype so that float32 stays float32:
# Γg, κg, σg, Γα, κα, σα, π/2, 1.
_QABF_CONSTANTS = (0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8, math.pi / 2, 1.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _qabf_weighted(ga, aa, gb, ab, gf, af, scale, k, out) -> None:  # noqa: ANN001 (numba arrays)
    """out = Q_AF·gA + Q_BF·gB per pixel, each operation in the dtype of the maps (as NumPy evaluates it)."""
    tg, kg, dg, ta, ka, da, half_pi, one = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
    for r in range(gf.shape[0]):
        for c in range(gf.shape[1]):
            f, fa = gf[r, c], af[r, c]
            total = one
            for src in range(2):
                g, a = (ga[r, c], aa[r, c]) if src == 0 else (gb[r, c], ab[r, c])
                # Reference quirk kept: where the strengths are equal the "ratio" is the strength itself, not 1
                # (so it depends on the image scale; ratios and orientations do not).
                if g > f:
                    g_rel = f / g
                elif g == f:
                    g_rel = f * scale
                else:
                    g_rel = g / f
                a_rel = one - abs(a - fa) / half_pi
                q = (tg / (one + math.exp(kg * (g_rel - dg)))) * (ta / (one + math.exp(ka * (a_rel - da))))
                total = q * g if src == 0 else total + q * g
            out[r, c] = total


def qabf(fused: Any, ir: Any = None, vis: Any = None, *, scale: float = 1.0, dtype: type = np.float64) -> float:
    """Qabf (Xydeas & Petrovic 2000): share of the sources' edge information that reaches F. Higher is better.

    Sobel responses sx, sy with zero padding (conv2 'same'); strength g = √(sx²+sy²), orientation
    α = atan(sy/sx) (π/2 where sx = 0). Per source X: G = min(gX, gF)/max(gX, gF) (reference quirk: G = gF where
    gX = gF), A = 1 − |αX − αF|/(π/2), Q_XF = 0.9994/(1+e^(−15(G−0.5))) · 0.9879/(1+e^(−22(A−0.8))).
    Combination: Σ(Q_AF·gA + Q_BF·gB) / Σ(gA + gB).
    ``scale`` multiplies the images first (VIFB works on 255·image, which changes only the G = gF quirk);
    ``dtype=np.float32`` follows the CDDFuse evaluator's float32 arithmetic.
    """
    t = Triple.of(fused, ir, vis)
    name = np.dtype(dtype).name
    maps = {
        key: t.cached(("qabf", key, name), lambda k=key: _qabf_maps(*sobel(t, k, "constant"), dtype), uses=key)
        for key in "abf"
    }
    gf, af = maps["f"]
    ga, aa = maps["a"]
    gb, ab = maps["b"]
    weighted = np.empty_like(gf)
    _qabf_weighted(ga, aa, gb, ab, gf, af, gf.dtype.type(scale), np.array(_QABF_CONSTANTS, gf.dtype), weighted)
    den = np.sum(ga + gb)
    return float(np.sum(weighted) / den)


# --------------------------------------------------------------------------------------------------- Nabf


def nabf(fused: Any, ir: Any = None, vis: Any = None, *, scale: float = 1.0) -> float:
    """Nabf, fusion artefacts as modified by Shreyamsha Kumar (2013), Tang-suite form. Lower is better.

    Sobel/8 responses with mirror borders (``per_extn_im_fn``) of the 0–255 images times ``scale``: gv (x) and
    gh (y), g = √(gv²+gh²), α = atan(gv/gh) (0 where both vanish). Per source X: relative strength
    G = min/max of (gX, gF) (0 if either is 0), relative orientation A = ||αX − αF| − π/2|·2/π,
    Q_XF = √(0.9999/(1+e^(−19(G−0.5))) · 0.9995/(1+e^(−22(A−0.5))));
    weight wX = gX^1.5 where gX ≥ 2, else 0.001 (the threshold makes the value scale-dependent: the reference
    values are those of 0–255 images; with ``scale=1/255`` every weight would be 0.001).
    Nabf = Σ n·((1−Q_AF)·wA + (1−Q_BF)·wB) / Σ(wA + wB) with n = 1 where gF exceeds both gA and gB, else 0.
    """
    t = Triple.of(fused, ir, vis)
    responses = [r for key in "fab" for r in sobel(t, key, "reflect")]
    artefacts, weights = np.empty_like(t.f), np.empty_like(t.f)
    _nabf_terms(*responses, scale / 8.0, artefacts, weights)
    return float(np.sum(artefacts) / np.sum(weights))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _strength_orientation(sx: float, sy: float, s: float) -> tuple[float, float]:
    gv, gh = -sx * s, sy * s
    return math.sqrt(gh * gh + gv * gv), 0.0 if (gv == 0 and gh == 0) else math.atan(gv / gh)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _nabf_loss(gx: float, ax: float, gf: float, af: float) -> tuple[float, float]:
    """(1 − Q_XF)·wX and wX of one pixel."""
    rel = 0.0 if (gx == 0 or gf == 0) else (gf / gx if gx > gf else gx / gf)
    a_rel = abs(abs(ax - af) - math.pi / 2) * 2 / math.pi
    q_g = 0.9999 / (1 + math.exp(-19.0 * (rel - 0.5)))
    q_a = 0.9995 / (1 + math.exp(-22.0 * (a_rel - 0.5)))
    w = gx**1.5 if gx >= 2.0 else 0.001
    return (1 - math.sqrt(q_g * q_a)) * w, w


@njit(cache=True, nogil=True, error_model="numpy")
def _nabf_terms(fx, fy, ax, ay, bx, by, s, artefacts, weights) -> None:  # noqa: ANN001 (numba arrays)
    """Per pixel, Nabf's numerator term n·((1−Q_AF)·wA + (1−Q_BF)·wB) and denominator term wA + wB."""
    for r in range(fx.shape[0]):
        for c in range(fx.shape[1]):
            gf, alf = _strength_orientation(fx[r, c], fy[r, c], s)
            ga, ala = _strength_orientation(ax[r, c], ay[r, c], s)
            gb, alb = _strength_orientation(bx[r, c], by[r, c], s)
            loss_a, w_a = _nabf_loss(ga, ala, gf, alf)
            loss_b, w_b = _nabf_loss(gb, alb, gf, alf)
            artefacts[r, c] = loss_a + loss_b if (gf > ga and gf > gb) else 0.0
            weights[r, c] = w_a + w_b
