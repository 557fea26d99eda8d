"""Human-visual-system metrics: pixel-domain VIF (VIFF), Chen–Blum Qcb and Chen–Varshney Qcv (VIFB forms)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Triple, correlate3x3, filter_same, filter_valid, gaussian_1d, matlab_round

# -------------------------------------------------------------------------------------------------- VIFF

_VIF_STRIP = 16  # rows per strip of the elementwise VIF terms


def _vif_terms(
    mu1: np.ndarray, mu2: np.ndarray, s11: np.ndarray, s22: np.ndarray, s12: np.ndarray
) -> tuple[float, float]:
    """Numerator and denominator sums of one scale of LIVE's vifp (σn² = 2), masks applied in its order.

    The elementwise work runs in row strips that stay in the cache; the two log maps are summed whole, as before.
    """
    eps, sigma_nsq = 1e-10, 2.0
    lnum, lden = np.empty(mu1.shape), np.empty(mu1.shape)
    for r0 in range(0, mu1.shape[0], _VIF_STRIP):
        r = slice(r0, r0 + _VIF_STRIP)
        m1, m2 = mu1[r], mu2[r]
        sigma1_sq = np.maximum(s11[r] - m1 * m1, 0.0)
        sigma2_sq = np.maximum(s22[r] - m2 * m2, 0.0)
        sigma12 = s12[r] - m1 * m2
        g = sigma12 / (sigma1_sq + eps)
        sv_sq = sigma2_sq - g * sigma12
        # Masked assignments (few pixels each) in the reference's order; np.where over the whole map is slower.
        low1 = sigma1_sq < eps
        if low1.any():
            g[low1] = 0.0
            sv_sq[low1] = sigma2_sq[low1]
            sigma1_sq[low1] = 0.0
        low2 = sigma2_sq < eps
        if low2.any():
            g[low2] = 0.0
            sv_sq[low2] = 0.0
        neg = g < 0
        if neg.any():
            sv_sq[neg] = sigma2_sq[neg]
            g[neg] = 0.0
        np.maximum(sv_sq, eps, out=sv_sq)  # sv_sq(sv_sq <= eps) = eps
        np.log10(1 + g * g * sigma1_sq / (sv_sq + sigma_nsq), out=lnum[r])
        np.log10(1 + sigma1_sq / sigma_nsq, out=lden[r])
    return float(np.sum(lnum)), float(np.sum(lden))


def viff(fused: Any, ir: Any = None, vis: Any = None, *, nan_as_one: bool = True) -> float:
    """VIF(A, F) + VIF(B, F), LIVE's multi-scale pixel-domain VIF (Sheikh & Bovik 2006, ``vifp_mscale``).

    Four scales; scale s uses a Gaussian window of N = 2^(5−s) + 1 taps, σ = N/5 (17, 9, 5, 3 taps), 'valid'
    filtering; before scales 2–4 the images are filtered with that scale's window and decimated by 2. Per scale:
    g = σ12/σ1², σv² = σ2² − g·σ12 with LIVE's clamps (ε = 1e-10), VIF = Σ log10(1 + g²σ1²/(σv² + σn²)) /
    Σ log10(1 + σ1²/σn²), σn² = 2, sums over all scales. CDDFuse's VIFF turns a NaN ratio (flat source) into 1
    (``nan_as_one``); the Tang suite's VIF keeps NaN. Higher is better.
    """
    t = Triple.of(fused, ir, vis)

    def sums() -> tuple[dict[str, float], dict[str, float]]:
        imgs = {key: t.image(key) for key in "abf"}
        num = {"a": 0.0, "b": 0.0}
        den = {"a": 0.0, "b": 0.0}
        for scale in range(1, 5):
            n = 2 ** (4 - scale + 1) + 1
            g = gaussian_1d(n, n / 5.0)
            if scale > 1:
                imgs = {key: filter_valid(img, g, step=2) for key, img in imgs.items()}
            f = imgs["f"]
            mu_f = filter_valid(f, g)
            ff = filter_valid(f * f, g)
            for src in "ab":
                x = imgs[src]
                terms = _vif_terms(filter_valid(x, g), mu_f, filter_valid(x * x, g), ff, filter_valid(x * f, g))
                num[src] += terms[0]
                den[src] += terms[1]
        return num, den

    # Shared by CDDFuse's VIFF and the Tang suite's VIF (they differ only in the NaN rule).
    num, den = t.cached(("vif_sums",), sums)
    total = 0.0
    for src in "ab":
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.float64(num[src]) / np.float64(den[src])
        total += 1.0 if (nan_as_one and np.isnan(value)) else float(value)
    return total


# ------------------------------------------------------------------------------------------- Qcb and Qcv


def _normalize1(t: Triple, key: str) -> np.ndarray:
    """Z. Liu's ``normalize1`` of image ``key``: min–max stretch to 0–255 and round (unchanged if all zero).

    Cached: Qcb and Qcv both start from it.
    """

    def compute() -> np.ndarray:
        img = t.image(key)
        hi, lo = img.max(), img.min()
        if hi == 0 and lo == 0:
            return img
        return matlab_round((img - lo) / (hi - lo) * 255.0)

    return t.cached(("normalize1", key), compute, uses=key)


def _freq_radius(shape: tuple[int, int], scale_rows: float, scale_cols: float) -> np.ndarray:
    """Radial frequency of MATLAB ``freqspace(shape, 'meshgrid')`` with u, v scaled per axis, in fftshift order."""
    rows, cols = shape
    f1 = (np.arange(cols) - cols // 2) * (2.0 / cols) * scale_cols
    f2 = (np.arange(rows) - rows // 2) * (2.0 / rows) * scale_rows
    return np.sqrt(f1[None, :] ** 2 + f2[:, None] ** 2)


def _csf_filter(img: np.ndarray, response: np.ndarray) -> np.ndarray:
    # MATLAB: ifft2(ifftshift(fftshift(fft2(x)) .* S)) = ifft2(fft2(x) .* ifftshift(S)); S is even in frequency,
    # so the product keeps Hermitian symmetry and the real-input transform pair gives the same (real) result.
    h = np.fft.ifftshift(response)[:, : img.shape[1] // 2 + 1]
    return np.fft.irfft2(np.fft.rfft2(img) * h, s=img.shape)


def _gauss31(sigma: float) -> tuple[np.ndarray, float]:
    x = np.arange(-15, 16, dtype=np.float64)
    return np.exp(-(x * x) / (2 * sigma * sigma)), 1.0 / (2 * np.pi * sigma * sigma)


def qcb(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """Qcb (Chen & Blum 2009), VIFB's implementation. Higher is better.

    Images min–max normalised to 0–255 and rounded; contrast-sensitivity filtering in the frequency domain with
    S(r) = e^(−(r/15.3870)²) − 0.7622·e^(−(r/1.3456)²), r from ``freqspace`` scaled by (M/30, N/30); local
    contrast C = |(G₂ ⋆ I)/(G₄ ⋆ I) − 1| with unnormalised 31×31 Gaussians σ = 2 and 4 (zero-padded 'same');
    C′ = C³/(C² + 1e-4); Q_XF = min(C′X, C′F)/max(C′X, C′F) (as the reference's masked sum, so 0·∞ gives NaN);
    saliency λX = C′X²/(C′A² + C′B²); Qcb = mean(λA·Q_AF + λB·Q_BF).
    """
    t = Triple.of(fused, ir, vis)
    rows, cols = t.f.shape
    r = _freq_radius((rows, cols), rows / 30.0, cols / 30.0)
    sd = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))
    g2, n2 = _gauss31(2.0)
    g4, n4 = _gauss31(4.0)

    def contrast(key: str) -> np.ndarray:  # C′ = C³/(C² + 1e-4) of one image
        filtered = _csf_filter(_normalize1(t, key), sd)
        num = filter_same(filtered, g2, "constant")
        den = filter_same(filtered, g4, "constant")
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.abs((num * n2) / (den * n4) - 1)
            return c**3 / (c**2 + 0.0001)

    # C′ of a source does not depend on F: computed once for every fused image of a pair
    cp = {key: t.cached(("qcb_contrast", key), lambda k=key: contrast(k), uses=key) for key in "abf"}
    with np.errstate(divide="ignore", invalid="ignore"):
        q = {}
        for src in "ab":
            mask = (cp[src] < cp["f"]).astype(np.float64)
            q[src] = (cp[src] / cp["f"]) * mask + (cp["f"] / cp[src]) * (1 - mask)
        sal = cp["a"] * cp["a"] + cp["b"] * cp["b"]
        lam_a = cp["a"] * cp["a"] / sal
        lam_b = cp["b"] * cp["b"] / sal
        return float(np.mean(lam_a * q["a"] + lam_b * q["b"]))


def _block_sums(x: np.ndarray, size: int) -> np.ndarray:
    """Sums over the distinct size×size blocks, partial blocks at the far edges zero-padded (``blkproc``)."""
    rows = -(-x.shape[0] // size) * size
    cols = -(-x.shape[1] // size) * size
    padded = np.zeros((rows, cols))
    padded[: x.shape[0], : x.shape[1]] = x
    return padded.reshape(rows // size, size, cols // size, size).sum(axis=(1, 3))


def qcv(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """Qcv (Chen & Varshney 2007), VIFB's implementation. Lower is better (a weighted local error).

    Images min–max normalised to 0–255 and rounded. Saliency of 16×16 blocks: λX = Σ gX⁵ with gX the Sobel
    magnitude (zero-padded 'same'). Error images X − F filtered in the frequency domain by Mannos–Sakrison's
    CSF 2.6·(0.0192 + 0.144r)·e^(−(0.144r)^1.1), r from ``freqspace`` scaled by (M/8, N/8); D_X = mean of the
    squared filtered error per block (partial blocks zero-padded to 16×16). Qcv = Σ(λA·D_A + λB·D_B)/Σ(λA + λB).
    """
    t = Triple.of(fused, ir, vis)
    size, alpha = 16, 5
    imgs = {key: _normalize1(t, key) for key in "abf"}
    rows, cols = t.f.shape
    r = _freq_radius((rows, cols), rows / 8.0, cols / 8.0)
    theta_m = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    kx = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # integer images: exact in any order
    num = 0.0
    den = 0.0
    for src in "ab":
        x = imgs[src]
        gx = correlate3x3(x, kx, "constant")
        gy = correlate3x3(x, kx.T, "constant")
        saliency = _block_sums(np.sqrt(gx * gx + gy * gy) ** alpha, size)
        err = _csf_filter(x - imgs["f"], theta_m)
        d = _block_sums(err * err, size) / (size * size)
        num += float(np.sum(saliency * d))
        den += float(np.sum(saliency))
    return num / den
