"""Pixel statistics: SD, SF, AG, EI, CC, SCD, MSE, PSNR, RMSE.

Each function follows one definition with the switches that separate the references (normalisation of SF/AG,
value scale of MSE, peak of PSNR); ``dtype=np.float32`` reproduces the CDDFuse evaluator, which holds images in
float32 and lets numpy reduce in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Triple, correlate3x3


def _img(t: Triple, key: str, dtype: type) -> np.ndarray:
    return t.f32(key) if dtype == np.float32 else t.image(key)


def standard_deviation(fused: Any, ir: Any = None, vis: Any = None, *, dtype: type = np.float64) -> float:
    """SD: population standard deviation of F, √(Σ(F − μ)²/(M·N)). Higher is better (more contrast)."""
    t = Triple.of(fused, ir, vis)
    return float(np.std(_img(t, "f", dtype)))


def spatial_frequency(
    fused: Any, ir: Any = None, vis: Any = None, *, per_pixel: bool = False, dtype: type = np.float64
) -> float:
    """SF = √(RF² + CF²), RF² and CF² the mean squared horizontal and vertical neighbour differences of F.

    Means over the M·(N−1) and (M−1)·N differences (CDDFuse, Tang); ``per_pixel=True`` divides both sums by M·N
    instead (VIFB's quirk). Higher is better.
    """
    t = Triple.of(fused, ir, vis)
    f = _img(t, "f", dtype)
    dx = f[:, 1:] - f[:, :-1]
    dy = f[1:, :] - f[:-1, :]
    if per_pixel:
        return float(np.sqrt((np.sum(dx * dx) + np.sum(dy * dy)) / f.size))
    return float(np.sqrt(np.mean(dx**2) + np.mean(dy**2)))


def average_gradient(
    fused: Any, ir: Any = None, vis: Any = None, *, interior: bool = False, dtype: type = np.float64
) -> float:
    """AG: mean of √((Gx² + Gy²)/2) over F, with MATLAB ``gradient`` derivatives (central differences inside,
    one-sided at the borders).

    CDDFuse averages over all M·N pixels; ``interior=True`` divides the sum by (M−1)(N−1) as the MATLAB codes
    (VIFB, Tang) do. Higher is better.
    """
    t = Triple.of(fused, ir, vis)
    f = _img(t, "f", dtype)
    gx = np.zeros_like(f)
    gy = np.zeros_like(f)
    gx[:, 0] = f[:, 1] - f[:, 0]
    gx[:, -1] = f[:, -1] - f[:, -2]
    gx[:, 1:-1] = (f[:, 2:] - f[:, :-2]) / 2
    gy[0, :] = f[1, :] - f[0, :]
    gy[-1, :] = f[-1, :] - f[-2, :]
    gy[1:-1, :] = (f[2:, :] - f[:-2, :]) / 2
    s = np.sqrt((gx**2 + gy**2) / 2)
    if interior:
        return float(np.sum(s) / ((f.shape[0] - 1) * (f.shape[1] - 1)))
    return float(np.mean(s))


def edge_intensity(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """EI (VIFB): mean Sobel gradient magnitude √(gx² + gy²) of F, borders replicated (imfilter 'replicate').

    Higher is better.
    """
    t = Triple.of(fused, ir, vis)
    k = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
    gx = correlate3x3(t.f, k, "edge")
    gy = correlate3x3(t.f, k.T, "edge")
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - np.mean(x)
    yc = y - np.mean(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(xc * yc) / np.sqrt(np.sum(xc**2) * np.sum(yc**2))


def correlation_coefficient(fused: Any, ir: Any = None, vis: Any = None, *, dtype: type = np.float64) -> float:
    """CC: mean of the Pearson correlations r(A, F) and r(B, F). Higher is better.

    (The Tang suite centres B on the mean of A in the numerator of r(B, F); the extra term is
    (μB − μA)·Σ(F − μF) = 0, so the values agree to rounding.)
    """
    t = Triple.of(fused, ir, vis)
    f = _img(t, "f", dtype)
    return float((_pearson(_img(t, "a", dtype), f) + _pearson(_img(t, "b", dtype), f)) / 2)


def scd(fused: Any, ir: Any = None, vis: Any = None, *, dtype: type = np.float64) -> float:
    """SCD (Aslantas & Bendes 2015): r(F − B, A) + r(F − A, B), the sum of correlations of differences.

    NaN when F equals a source (a difference image is constant). Higher is better.
    """
    t = Triple.of(fused, ir, vis)
    f, a, b = (_img(t, k, dtype) for k in "fab")
    return float(_pearson(a, f - b) + _pearson(b, f - a))


def mse(fused: Any, ir: Any = None, vis: Any = None, *, unit: bool = False, dtype: type = np.float64) -> float:
    """MSE: (mean((A − F)²) + mean((B − F)²))/2 on the 0–255 scale, or on 0–1 with ``unit=True`` (Tang).

    Lower is better.
    """
    t = Triple.of(fused, ir, vis)
    f, a, b = (_img(t, k, dtype) for k in "fab")
    if unit:
        f, a, b = f / 255.0, a / 255.0, b / 255.0
        m, n = f.shape
        return float(0.5 * (np.sum((f - a) ** 2) / (m * n)) + 0.5 * (np.sum((f - b) ** 2) / (m * n)))
    return float((np.mean((a - f) ** 2) + np.mean((b - f) ** 2)) / 2)


def rmse_vifb(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """VIFB's "RMSE": (√SSE(A, F) + √SSE(B, F)) / (2·M·N), SSE the sum of squared differences. Lower is better.

    (Not a root mean square: the root is taken before dividing by the pixel count, as VIFB does.)
    """
    t = Triple.of(fused, ir, vis)
    n = t.f.size
    return float((np.sqrt(np.sum((t.a - t.f) ** 2)) / n + np.sqrt(np.sum((t.b - t.f) ** 2)) / n) / 2.0)


def psnr(fused: Any, ir: Any = None, vis: Any = None, *, convention: str = "cddfuse") -> float:
    """PSNR in dB under one of three references. Higher is better.

    - ``"cddfuse"``: 10·log10(max(F)² / MSE), MSE on 0–255 (float32) — the peak is the fused image's maximum;
    - ``"tang"``: 20·log10(255 / √MSE₀₁), MSE₀₁ on the 0–1 scale (hence values near 60 dB);
    - ``"vifb"``: 20·log10(255 / √RMSE_VIFB) with VIFB's "RMSE" (see :func:`rmse_vifb`).
    """
    t = Triple.of(fused, ir, vis)
    if convention == "cddfuse":
        f = t.f32("f")
        return float(10 * np.log10(np.max(f) ** 2 / np.float32(mse(t, dtype=np.float32))))
    if convention == "tang":
        return float(20 * np.log10(255.0 / np.sqrt(mse(t, unit=True))))
    if convention == "vifb":
        return float(20 * np.log10(255.0 / np.sqrt(rmse_vifb(t))))
    raise ValueError(f"unknown PSNR convention {convention!r}")
