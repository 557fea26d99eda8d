"""Pixel and multi-scale baselines: mean, max, DWT and Laplacian-pyramid fusion.

All take IR and visible luminance as (H, W) float32 in [0, 1] (any size, odd sizes included) and return the
fused (H, W) float32 in [0, 1]. The multi-scale rules are the textbook ones (Burt & Kolczynski 1993; Li,
Manjunath & Mitra 1995): average the coarsest approximation (it carries brightness, where neither modality
should win outright) and keep the larger-magnitude detail coefficient (the stronger edge or texture wins).
Fusing an image with itself therefore returns it unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve1d

from ._common import check_pair, finish


def mean_fusion(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Pixel-wise average: the lower bound every method should beat on contrast and detail."""
    a, b = check_pair(ir, vis)
    return finish(0.5 * (a + b))


def max_fusion(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Pixel-wise maximum: keeps hot targets at full brightness, but also every bright visible patch."""
    a, b = check_pair(ir, vis)
    return finish(np.maximum(a, b))


def _max_abs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) >= np.abs(y), x, y)


def dwt_fusion(ir: np.ndarray, vis: np.ndarray, wavelet: str = "db2", levels: int = 3) -> np.ndarray:
    """Discrete-wavelet fusion: averaged approximation, max-abs detail coefficients per band and level.

    ``db2`` (4 taps) is the default because the per-coefficient max-abs choice switches between sources often:
    Haar makes those switches visible as blocks, while long wavelets ring around them; db2 sits in between.
    ``levels`` is capped at what the image size allows (a 20×20 image gets fewer levels, 1×1 none — then this
    is mean fusion). Symmetric extension plus a final crop keeps odd sizes exact.
    """
    a, b = check_pair(ir, vis)
    import pywt  # only this baseline needs PyWavelets; importing it lazily keeps `import wavecross` light

    n = min(levels, pywt.dwt_max_level(min(a.shape), pywt.Wavelet(wavelet).dec_len))
    if n <= 0:
        return finish(0.5 * (a + b))
    ca = pywt.wavedec2(a, wavelet, mode="symmetric", level=n)
    cb = pywt.wavedec2(b, wavelet, mode="symmetric", level=n)
    fused = [0.5 * (ca[0] + cb[0])]
    for da, db in zip(ca[1:], cb[1:], strict=True):
        fused.append(tuple(_max_abs(x, y) for x, y in zip(da, db, strict=True)))
    out = pywt.waverec2(fused, wavelet, mode="symmetric")
    return finish(out[: a.shape[0], : a.shape[1]])


_KERNEL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0  # Burt & Adelson's binomial generating kernel


def _blur(x: np.ndarray, gain: float = 1.0) -> np.ndarray:
    k = _KERNEL * gain
    return convolve1d(convolve1d(x, k, axis=0, mode="reflect"), k, axis=1, mode="reflect")


def _expand(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Upsample by 2 to exactly ``shape`` (odd sizes: ceil(n/2) → n): insert zeros, then blur."""
    up = np.zeros(shape)
    up[::2, ::2] = x
    return _blur(up, gain=2.0)  # 2 per axis: the zeros halve the mean along each axis


def laplacian_pyramid(x: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` band-pass images, finest first, then the low-pass residual (``levels + 1`` arrays)."""
    pyramid = []
    for _ in range(levels):
        low = _blur(x)[::2, ::2]
        pyramid.append(x - _expand(low, x.shape))
        x = low
    return [*pyramid, x]


def reconstruct(pyramid: list[np.ndarray]) -> np.ndarray:
    """Inverse of :func:`laplacian_pyramid`; exact whatever the blur (bands store what expand misses)."""
    x = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        x = band + _expand(x, band.shape)
    return x


def laplacian_fusion(ir: np.ndarray, vis: np.ndarray, levels: int = 4) -> np.ndarray:
    """Laplacian-pyramid fusion: max-abs band-pass coefficients, averaged low-pass residual.

    ``levels`` is capped so that the coarsest level keeps at least 4 pixels on its short side (a tiny image
    gets fewer levels; below 8 pixels none, which is mean fusion).
    """
    a, b = check_pair(ir, vis)
    n = max(0, min(levels, int(np.floor(np.log2(max(min(a.shape), 1) / 4)))))
    pa, pb = laplacian_pyramid(a, n), laplacian_pyramid(b, n)
    fused = [_max_abs(x, y) for x, y in zip(pa[:-1], pb[:-1], strict=True)]
    return finish(reconstruct([*fused, 0.5 * (pa[-1] + pb[-1])]))
