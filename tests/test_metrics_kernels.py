"""The compiled kernels under the metrics reproduce the library code they replace bit for bit.

The reference values depend on rounding in places (flat windows, the 0/0 cases of Yang's and Cvejic's indices,
FMI's identical-window rule), so these kernels promise identical floating-point results, not close ones.
"""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest
import pywt
from scipy import ndimage

from wavecross.metrics import retain_freed_memory
from wavecross.metrics._base import correlate3x3, filter_same, filter_valid, gaussian_1d
from wavecross.metrics.feature_mi import _dwt2_dmey

RNG = np.random.default_rng(7)


def _images(shape: tuple[int, int]) -> list[np.ndarray]:
    grey = RNG.integers(0, 256, shape).astype(np.float64)
    grey[: shape[0] // 3, : shape[1] // 4] = 41.0  # a flat patch touching two borders
    return [grey, grey * grey, RNG.random(shape) * 1e3 - 500.0]


@pytest.mark.parametrize("shape", [(48, 61), (23, 17)])
@pytest.mark.parametrize(("taps", "sigma"), [(11, 1.5), (7, 1.5), (17, 3.4), (3, 0.6)])
def test_separable_filters_equal_ndimage(shape: tuple[int, int], taps: int, sigma: float) -> None:
    g = gaussian_1d(taps, sigma)
    h = taps // 2
    for x in _images(shape):
        for mode in ("nearest", "constant", "reflect", "mirror"):
            expected = ndimage.correlate1d(ndimage.correlate1d(x, g, axis=0, mode=mode), g, axis=1, mode=mode)
            np.testing.assert_array_equal(filter_same(x, g, mode), expected)
        for step in (1, 2):
            rows = ndimage.correlate1d(x, g, axis=0, mode="constant")[h : x.shape[0] - h : step]
            expected = ndimage.correlate1d(rows, g, axis=1, mode="constant")[:, h : x.shape[1] - h : step]
            np.testing.assert_array_equal(filter_valid(x, g, step), expected)


def test_unnormalised_wide_kernel_equals_ndimage() -> None:
    g = np.exp(-(np.arange(-15, 16.0) ** 2) / 8.0)  # Qcb's 31-tap Gaussian, wider than the image's short side
    for x in _images((29, 40)):
        expected = ndimage.correlate1d(ndimage.correlate1d(x, g, axis=0, mode="constant"), g, axis=1, mode="constant")
        np.testing.assert_array_equal(filter_same(x, g, "constant"), expected)


def test_3x3_taps_equal_shifted_sums() -> None:
    sobel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    for x in _images((31, 45)):
        for pad in ("constant", "reflect", "edge"):
            p = np.pad(x, 1, mode=pad)
            expected = np.zeros_like(x)
            for i in range(3):
                for j in range(3):
                    k = sobel[i, j]
                    if k == 1.0:
                        expected += p[i : i + x.shape[0], j : j + x.shape[1]]
                    elif k == -1.0:
                        expected -= p[i : i + x.shape[0], j : j + x.shape[1]]
                    elif k != 0.0:
                        expected += p[i : i + x.shape[0], j : j + x.shape[1]] * k
            np.testing.assert_array_equal(correlate3x3(x, sobel, pad), expected)


@pytest.mark.parametrize("shape", [(480, 640), (101, 77), (62, 63), (40, 90)])
def test_dmey_dwt_equals_pywavelets(shape: tuple[int, int]) -> None:
    # (40, 90) is shorter than the 62-tap filter along one axis: handed to PyWavelets itself.
    x = _images(shape)[0]
    ca, details = _dwt2_dmey(x)
    ref_a, ref_details = pywt.dwt2(x, "dmey", mode="symmetric")
    np.testing.assert_array_equal(ca, ref_a)
    for ours, ref in zip(details, ref_details, strict=True):
        np.testing.assert_array_equal(ours, ref)


def test_retain_freed_memory_reports_whether_it_applied() -> None:
    applied = retain_freed_memory()
    assert retain_freed_memory() is applied  # idempotent
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert applied is True
    if not sys.platform.startswith("linux"):
        assert applied is False
