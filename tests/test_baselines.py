"""Classical baselines: the fuser contract (size, range, dtype), exact rules, the guided filter, GFF."""

from __future__ import annotations

import numpy as np
import pytest

from wavecross.baselines import BASELINES, box_mean, gff_fusion, guided_filter, mean_fusion
from wavecross.baselines.classical import laplacian_pyramid, reconstruct

ODD_SIZES = [(1, 1), (7, 5), (33, 17), (75, 101)]


def _pair(shape: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)


def test_registry_names() -> None:
    assert set(BASELINES) == {"mean", "max", "dwt", "laplacian", "gff"}


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("shape", ODD_SIZES)
def test_size_range_dtype(name: str, shape: tuple[int, int]) -> None:
    ir, vis = _pair(shape)
    out = BASELINES[name](ir, vis)
    assert out.shape == shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("shape", [(1, 1), (33, 17), (75, 101)])
def test_identical_inputs_give_the_input(name: str, shape: tuple[int, int]) -> None:
    img, _ = _pair(shape, seed=3)
    np.testing.assert_allclose(BASELINES[name](img, img), img, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_rejects_mismatched_shapes(name: str) -> None:
    with pytest.raises(ValueError, match="same shape"):
        BASELINES[name](np.zeros((8, 8), np.float32), np.zeros((8, 9), np.float32))


def test_mean_and_max_are_exact() -> None:
    ir, vis = _pair((9, 13), seed=1)
    expected = ((ir.astype(np.float64) + vis) / 2).astype(np.float32)
    np.testing.assert_array_equal(BASELINES["mean"](ir, vis), expected)
    np.testing.assert_array_equal(BASELINES["max"](ir, vis), np.maximum(ir, vis))


def test_laplacian_pyramid_reconstructs_odd_sizes() -> None:
    x = np.random.default_rng(2).random((37, 23))
    pyramid = laplacian_pyramid(x, 3)
    assert [p.shape for p in pyramid] == [(37, 23), (19, 12), (10, 6), (5, 3)]
    np.testing.assert_allclose(reconstruct(pyramid), x, atol=1e-12)


def _brute_box_mean(x: np.ndarray, r: int) -> np.ndarray:
    h, w = x.shape
    out = np.empty_like(x)
    for y in range(h):
        for c in range(w):
            out[y, c] = x[max(0, y - r) : y + r + 1, max(0, c - r) : c + r + 1].mean()
    return out


def _brute_guided(i: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s algorithm written per window, without any summed-area trick."""
    h, w = i.shape
    a, b = np.empty_like(i), np.empty_like(i)
    for y in range(h):
        for c in range(w):
            wi = i[max(0, y - r) : y + r + 1, max(0, c - r) : c + r + 1]
            wp = p[max(0, y - r) : y + r + 1, max(0, c - r) : c + r + 1]
            a[y, c] = ((wi * wp).mean() - wi.mean() * wp.mean()) / (wi.var() + eps)
            b[y, c] = wp.mean() - a[y, c] * wi.mean()
    return _brute_box_mean(a, r) * i + _brute_box_mean(b, r)


@pytest.mark.parametrize("r", [0, 1, 3, 20])
def test_box_mean_matches_brute_force(r: int) -> None:
    x = np.random.default_rng(4).random((11, 8))
    np.testing.assert_allclose(box_mean(x, r), _brute_box_mean(x, r), atol=1e-12)


@pytest.mark.parametrize(("r", "eps"), [(1, 1e-6), (2, 0.3), (4, 1e-2)])
def test_guided_filter_matches_brute_force(r: int, eps: float) -> None:
    rng = np.random.default_rng(5)
    guide, src = rng.random((13, 10)), (rng.random((13, 10)) > 0.5).astype(np.float64)
    expected = _brute_guided(guide, src, r, eps)
    np.testing.assert_allclose(guided_filter(guide, src, r, eps), expected, atol=1e-10)


def test_guided_filter_preserves_guide_edges() -> None:
    """With a small eps, filtering the guide by itself keeps a step edge sharp (it does not blur edges)."""
    guide = np.zeros((20, 20))
    guide[:, 10:] = 1.0
    out = guided_filter(guide, guide, 3, 1e-6)
    np.testing.assert_allclose(out, guide, atol=1e-3)


def _texture(shape: tuple[int, int], period: int, axis: int) -> np.ndarray:
    idx = np.indices(shape)[axis]
    return np.where((idx // period) % 2 == 0, 1.0, -1.0)


def test_gff_transfers_the_stronger_detail() -> None:
    """IR has strong texture on the left, visible on the right: fusion keeps both at full strength."""
    shape = (96, 160)
    ir = np.full(shape, 0.5)
    vis = np.full(shape, 0.5)
    ir[:, :80] += 0.25 * _texture(shape, 2, 1)[:, :80]
    ir[:, 80:] += 0.02 * _texture(shape, 3, 0)[:, 80:]
    vis[:, 80:] += 0.25 * _texture(shape, 2, 0)[:, 80:]
    vis[:, :80] += 0.02 * _texture(shape, 3, 1)[:, :80]
    fused = gff_fusion(ir.astype(np.float32), vis.astype(np.float32)).astype(np.float64)
    mean = mean_fusion(ir.astype(np.float32), vis.astype(np.float32)).astype(np.float64)
    left, right = (slice(16, 80), slice(16, 64)), (slice(16, 80), slice(96, 144))
    for region, source in ((left, ir), (right, vis)):
        src_detail = source[region] - source[region].mean()
        fused_detail = fused[region] - fused[region].mean()
        corr = float(np.corrcoef(src_detail.ravel(), fused_detail.ravel())[0, 1])
        assert corr > 0.99
        assert fused_detail.std() > 0.9 * src_detail.std()
        assert fused_detail.std() > 1.5 * (mean[region] - mean[region].mean()).std()
