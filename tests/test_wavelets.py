import numpy as np
import pytest
import pywt
import torch

from wavecross.nn import HaarDWT, HaarIWT, haar_dwt, haar_iwt


@pytest.mark.parametrize("size", [(8, 8), (7, 9), (475, 575), (1, 2), (33, 16)])
def test_inverse_is_exact(size):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    y = haar_iwt(*haar_dwt(x), size=size)
    assert y.shape == x.shape
    assert torch.allclose(y, x, atol=1e-6, rtol=0)


def test_orthonormal_energy_preserved():
    x = torch.randn(1, 4, 32, 48, dtype=torch.float64)
    bands = haar_dwt(x)
    assert torch.isclose(sum((b**2).sum() for b in bands), (x**2).sum())


def test_matches_pywavelets_bands_and_signs():
    x = np.random.default_rng(0).standard_normal((10, 14))
    ca, (ch, cv, cd) = pywt.dwt2(x, "haar")
    ll, lh, hl, hh = (b[0, 0].numpy() for b in haar_dwt(torch.from_numpy(x)[None, None]))
    for ours, ref in ((ll, ca), (lh, ch), (hl, cv), (hh, cd)):
        np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_horizontal_edge_lands_in_lh():
    x = torch.zeros(1, 1, 16, 16)
    x[..., 7:, :] = 1.0  # horizontal edge between rows 6 and 7 (inside a 2x2 block: rows 6,7)
    ll, lh, hl, hh = haar_dwt(x)
    assert lh.abs().sum() > 0
    assert hl.abs().sum() == 0 and hh.abs().sum() == 0
    y = x.transpose(-1, -2)  # the same edge turned vertical goes to HL
    _, lh_v, hl_v, _ = haar_dwt(y)
    assert hl_v.abs().sum() > 0 and lh_v.abs().sum() == 0


def test_module_forms_round_trip():
    x = torch.randn(2, 5, 9, 12)
    bands = HaarDWT()(x)
    assert bands.shape == (2, 4, 5, 5, 6)
    assert torch.allclose(HaarIWT()(bands, size=(9, 12)), x, atol=1e-6)
