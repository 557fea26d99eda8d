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
    td, wt_min, lg = 2.0, 0.001, 1.5
    nrg, kg, sg, nra, ka, sa = 0.9999, 19.0, 0.5, 0.9995, 22.0, 0.5
    g: dict[str, np.ndarray] = {}
    alpha: dict[str, np.ndarray] = {}
    for key in "abf":
        sx, sy = sobel(t, key, "reflect")
        gv = -sx * (scale / 8.0)
        gh = sy * (scale / 8.0)
        g[key] = np.sqrt(gh * gh + gv * gv)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha[key] = np.where((gv == 0) & (gh == 0), 0.0, np.arctan(gv / gh))

    def preservation(x: str) -> np.ndarray:
        gx, gf = g[x], g["f"]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where((gx == 0) | (gf == 0), 0.0, np.where(gx > gf, gf / gx, gx / gf))
        a_rel = np.abs(np.abs(alpha[x] - alpha["f"]) - np.pi / 2) * 2 / np.pi
        q_g = nrg / (1 + np.exp(-kg * (rel - sg)))
        q_a = nra / (1 + np.exp(-ka * (a_rel - sa)))
        return np.sqrt(q_g * q_a)

    w_a = np.where(g["a"] >= td, g["a"] ** lg, wt_min)
    w_b = np.where(g["b"] >= td, g["b"] ** lg, wt_min)
    artefact = (g["f"] > g["a"]) & (g["f"] > g["b"])
    num = np.sum(artefact * ((1 - preservation("a")) * w_a + (1 - preservation("b")) * w_b))
    return float(num / np.sum(w_a + w_b))
