"""Shared plumbing of the metrics: input conversion, the per-call cache and the filters every family uses.

Every metric is a function of a :class:`Triple` (fused image F, infrared source A, visible source B), so one call of
:func:`wavecross.metrics.compute` converts the inputs once and shares intermediates (histograms, Sobel responses,
local means) between metrics through :meth:`Triple.cached`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..errors import WavecrossError
from ._kernels import correlate_separable, correlate_taps

T = TypeVar("T")


def as_grey(image: Any, name: str = "image") -> np.ndarray:
    """A 2-D float64 copy of a grey image given as a numpy array or torch tensor (0–255 scale expected).

    Leading singleton axes (N=1, C=1 of a tensor) and a trailing singleton channel are dropped.
    """
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch tensor, without importing torch here
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise WavecrossError(f"{name}: expected a grey (H, W) image, got shape {tuple(arr.shape)}; pass the Y channel.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise WavecrossError(f"{name}: contains NaN or infinite values; pass a finite image.")
    return arr


class Triple:
    """The fused image ``f`` and its sources ``a`` (infrared) and ``b`` (visible) as float64 arrays, plus a cache.

    Metrics take a Triple so that one evaluation computes each shared intermediate once; the cache lives exactly
    as long as the Triple (one image triple).
    """

    __slots__ = ("f", "a", "b", "_cache", "_source_keys", "_lock", "_pending")

    def __init__(self, fused: Any, ir: Any, vis: Any) -> None:
        self.f = as_grey(fused, "fused")
        self.a = as_grey(ir, "ir")
        self.b = as_grey(vis, "vis")
        if not (self.f.shape == self.a.shape == self.b.shape):
            raise WavecrossError(
                f"image sizes differ (fused {self.f.shape}, ir {self.a.shape}, vis {self.b.shape}); "
                "metrics need three images of one size."
            )
        self._cache: dict[Any, Any] = {}
        self._source_keys: set[Any] = set()
        self._lock = threading.Lock()
        self._pending: dict[Any, threading.Event] = {}

    def with_fused(self, fused: Any) -> Triple:
        """A Triple of another fused image with the same sources, inheriting the sources-only cache entries."""
        new = Triple.__new__(Triple)
        new.f = as_grey(fused, "fused")
        if new.f.shape != self.a.shape:
            raise WavecrossError(
                f"image sizes differ (fused {new.f.shape}, sources {self.a.shape}); metrics need one size."
            )
        new.a, new.b = self.a, self.b
        new._source_keys = set(self._source_keys)
        new._cache = {k: self._cache[k] for k in new._source_keys}
        new._lock = threading.Lock()
        new._pending = {}
        return new

    @classmethod
    def of(cls, fused: Any, ir: Any = None, vis: Any = None) -> Triple:
        """``fused`` itself when it already is a Triple, else a new Triple of the three images."""
        if isinstance(fused, Triple):
            return fused
        if ir is None or vis is None:
            raise WavecrossError("a metric needs the fused image and both sources (ir, vis).")
        return cls(fused, ir, vis)

    def image(self, key: str) -> np.ndarray:
        """``"f"``, ``"a"`` or ``"b"``."""
        return getattr(self, key)

    def cached(self, key: Any, compute: Callable[[], T], uses: str = "fab") -> T:
        """``compute()`` the first time ``key`` is asked for, the stored value afterwards.

        ``uses`` names the images the value depends on; values that do not use "f" survive :meth:`with_fused`.
        Thread-safe: when metrics of one Triple run in parallel, a value asked for while another thread computes
        it is waited for, not computed twice (intermediates depend on each other without cycles, so no deadlock).
        """
        if key in self._cache:
            return self._cache[key]
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            event = self._pending.get(key)
            owner = event is None
            if owner:
                event = self._pending[key] = threading.Event()
        if not owner:
            event.wait()
            return self._cache[key] if key in self._cache else self.cached(key, compute, uses)
        try:
            value = self._cache[key] = compute()
            if "f" not in uses:
                self._source_keys.add(key)
            return value
        finally:
            with self._lock:
                del self._pending[key]
            event.set()

    def u8(self, key: str) -> np.ndarray:
        """Image ``key`` rounded and clipped to integers 0–255 (int64), the bins of every histogram metric."""
        return self.cached(("u8", key), lambda: np.clip(np.rint(self.image(key)), 0, 255).astype(np.int64), uses=key)

    def f32(self, key: str) -> np.ndarray:
        """Image ``key`` as float32, as the CDDFuse evaluator holds it."""
        return self.cached(("f32", key), lambda: self.image(key).astype(np.float32), uses=key)


_THREAD = threading.local()


def single_threaded_kernels() -> bool:
    """Whether compiled kernels should stay on the calling thread (set by :func:`run_single_threaded`)."""
    return getattr(_THREAD, "single", False)


def run_single_threaded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with self-parallel kernels kept on this thread: for callers that already occupy
    every core with one task per thread, where a nested parallel kernel would only oversubscribe them."""
    _THREAD.single = True
    try:
        return fn(*args, **kwargs)
    finally:
        _THREAD.single = False


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``/integer conversion: halves go away from zero (numpy's ``rint`` goes to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D factor of MATLAB's ``fspecial('gaussian', size, sigma)``.

    fspecial's 2-D kernel is the outer product of this factor with itself; its "zero below eps·max" rule never
    bites for the sizes used here (the smallest corner value is about e⁻¹¹).
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


# scipy.ndimage border modes as numpy pad modes
_PAD_MODES = {"nearest": "edge", "constant": "constant", "mirror": "reflect", "reflect": "symmetric"}


def _separable(x: np.ndarray, g: np.ndarray, pad: int, mode: str, step: int) -> np.ndarray:
    k = g.size
    rows, cols = x.shape[0] + 2 * pad - k + 1, x.shape[1] + 2 * pad - k + 1
    if rows <= 0 or cols <= 0:
        return np.zeros((max(rows, 0), max(cols, 0)))

    def source_index(n: int) -> np.ndarray:  # which row/column each position of the extended image repeats
        if mode == "constant":
            return np.pad(np.arange(n), pad, mode="constant", constant_values=-1)
        return np.pad(np.arange(n), pad, mode=_PAD_MODES[mode])

    out = np.empty((len(range(0, rows, step)), len(range(0, cols, step))))
    rows_src, cols_src = source_index(x.shape[0]), source_index(x.shape[1])
    correlate_separable(np.ascontiguousarray(x, dtype=np.float64), g, rows_src, cols_src, step, out)
    return out


def filter_valid(x: np.ndarray, g: np.ndarray, step: int = 1) -> np.ndarray:
    """Separable correlation with the kernel ``outer(g, g)`` (odd, symmetric), MATLAB ``filter2(..., 'valid')``
    output size; ``step`` keeps every step-th output row and column (decimation) without computing the others.

    Bit-identical to ``scipy.ndimage.correlate1d`` along rows, then columns, cropped to the valid part.
    """
    return _separable(x, g, 0, "constant", step)


def filter_same(x: np.ndarray, g: np.ndarray, mode: str) -> np.ndarray:
    """Separable correlation with ``outer(g, g)`` (odd, symmetric) at the input size; ``mode`` is a
    scipy.ndimage border mode ("constant" = zero padding as MATLAB ``filter2 'same'``, "nearest" =
    ``'replicate'``, "mirror"/"reflect"). Bit-identical to ``scipy.ndimage.correlate1d`` along rows, then columns.
    """
    return _separable(x, g, g.size // 2, mode, 1)


def correlate3x3(x: np.ndarray, kernel: np.ndarray, pad: str) -> np.ndarray:
    """3×3 correlation at the input size; ``pad`` is a numpy pad mode ("constant" zero, "reflect", "edge").

    The taps are accumulated onto zeros in row-major order (taps ±1 added or subtracted without a product, which
    rounds identically), as NumPy adds shifted copies.
    """
    taps = np.array([(i, j, kernel[i, j]) for i in range(3) for j in range(3) if kernel[i, j] != 0], np.float64)
    out = np.empty(x.shape)
    correlate_taps(np.pad(np.asarray(x, np.float64), 1, mode=pad), taps.reshape(-1, 3), out)
    return out
