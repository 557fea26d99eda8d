"""Loss terms against hand computations of their definitions, with the right inputs in the right places.

A test that only re-adds the terms a loss returns cannot notice a term computed on the wrong input (the visible
image in a heat term) or with the wrong formula; here every term is recomputed from the images themselves.
"""

import pytest
import torch
import torch.nn.functional as F

from wavecross.losses import FusionLossWeights, fusion_loss, rank_loss, reconstruction_loss


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(seed: int, shape=(2, 1, 24, 28)) -> torch.Tensor:
    return torch.rand(*shape, generator=_gen(seed), dtype=torch.float64)


def _sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """|Sobel x| + |Sobel y| written out pixel by pixel, borders replicated."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")

    def at(dy: int, dx: int) -> torch.Tensor:
        return p[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]

    gx = (at(0, 2) + 2 * at(1, 2) + at(2, 2)) - (at(0, 0) + 2 * at(1, 0) + at(2, 0))
    gy = (at(2, 0) + 2 * at(2, 1) + at(2, 2)) - (at(0, 0) + 2 * at(0, 1) + at(0, 2))
    return gx.abs() + gy.abs()


def _box7(x: torch.Tensor) -> torch.Tensor:
    """7×7 mean with zero padding, divisor always 49."""
    return F.conv2d(F.pad(x, (3, 3, 3, 3)), torch.full((1, 1, 7, 7), 1 / 49, dtype=x.dtype))


def test_fusion_loss_terms_are_their_definitions_on_the_right_images():
    f, ir, vis = _images(1), _images(2), _images(3)
    w = FusionLossWeights(intensity=1.5, gradient=2.0, rank=3.0, energy=4.0, rank_random_pairs=64)
    t = fusion_loss(f, ir, vis, w, _gen(9))
    intensity = (f - torch.maximum(ir, vis)).abs().mean()
    gradient = (_sobel_magnitude(f) - torch.maximum(_sobel_magnitude(ir), _sobel_magnitude(vis))).abs().mean()
    energy = ((_box7(f) - _box7(ir)) ** 2).mean()  # heat terms compare F with the IR image, never the visible one
    rank = rank_loss(f, ir, 64, w.rank_neighbour_pairs, _gen(9))
    torch.testing.assert_close(t["intensity"], intensity)
    torch.testing.assert_close(t["gradient"], gradient)
    torch.testing.assert_close(t["energy"], energy)
    torch.testing.assert_close(t["rank"], rank)
    assert rank_loss(f, vis, 64, w.rank_neighbour_pairs, _gen(9)) != pytest.approx(rank.item())
    torch.testing.assert_close(t["total"], 1.5 * intensity + 2.0 * gradient + 3.0 * rank + 4.0 * energy)
    swapped = fusion_loss(f, vis, ir, w, _gen(9))  # max(IR, VIS) terms are symmetric; heat terms are not
    torch.testing.assert_close(swapped["intensity"], intensity)
    assert swapped["energy"] != pytest.approx(energy.item())


def _ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004): Gaussian 11×11 window, σ = 1.5, valid positions only, data range 1."""
    coords = torch.arange(11, dtype=x.dtype) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = torch.outer(g, g) / g.sum() ** 2

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, window[None, None])

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    return (((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean()


def test_reconstruction_loss_is_mse_plus_eps_times_one_minus_ssim():
    target = _images(4, (2, 1, 32, 36))
    recon = (0.7 * target + 0.2 * _images(5, (2, 1, 32, 36))).clamp(0, 1)
    out = reconstruction_loss(recon, target, eps=2.0)
    mse = ((recon - target) ** 2).mean()
    structure = 1 - _ssim(recon, target)
    torch.testing.assert_close(out["pixel"], mse)
    torch.testing.assert_close(out["ssim"], structure, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["total"], mse + 2.0 * structure, atol=1e-6, rtol=1e-5)
    assert 0.05 < structure.item() < 0.9  # a real difference, far from both 0 and 1
