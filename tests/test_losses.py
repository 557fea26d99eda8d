import pytest
import torch

from wavecross.losses import (
    gradient_loss,
    heat_consistency_loss,
    intensity_loss,
    local_energy_loss,
    local_mean,
    rank_loss,
    reconstruction_loss,
    sample_pairs,
    thermal_saliency,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_rank_loss_zero_for_identity_positive_for_inversion():
    ir = torch.rand(2, 1, 32, 32, generator=_gen(1))
    assert rank_loss(ir, ir, generator=_gen()) == 0
    assert rank_loss(1 - ir, ir, generator=_gen()) > 0
    # a monotone (order-preserving) remapping costs nothing either
    assert rank_loss(ir**2, ir, generator=_gen()) == 0


def test_rank_loss_larger_for_violations_in_hot_regions():
    # Left half cold (around 0.2), right half hot (around 0.9), both with the same internal gradient.
    ramp = torch.linspace(0, 0.1, 16).repeat(32, 1)
    ir = torch.cat((0.15 + ramp, 0.85 + ramp), dim=1)[None, None]
    flip_cold, flip_hot = ir.clone(), ir.clone()
    flip_cold[..., :16] = 0.15 + ramp.flip(-1)  # same inversion inside the cold half
    flip_hot[..., 16:] = 0.85 + ramp.flip(-1)  # ... and inside the hot half
    cold = rank_loss(flip_cold, ir, 0, 20000, _gen())
    hot = rank_loss(flip_hot, ir, 0, 20000, _gen())
    assert cold > 0 and hot > 5 * cold


def test_pairs_reproducible_and_in_range():
    i1, j1 = sample_pairs(10, 12, 100, 100, _gen(3))
    i2, j2 = sample_pairs(10, 12, 100, 100, _gen(3))
    assert torch.equal(i1, i2) and torch.equal(j1, j2)
    assert i1.max() < 120 and j1.max() < 120 and i1.min() >= 0
    # neighbour pairs are adjacent (right, below, or diagonal)
    di = (j1[100:] // 12 - i1[100:] // 12, j1[100:] % 12 - i1[100:] % 12)
    assert set(zip(di[0].tolist(), di[1].tolist(), strict=True)) <= {(0, 1), (1, 0), (1, 1)}
    i3, _ = sample_pairs(10, 12, 100, 100, _gen(4))
    assert not torch.equal(i1, i3)


def test_saliency_values():
    s = thermal_saliency(torch.tensor([0.6, 1.0, 0.0]))
    assert s[0] == pytest.approx(0.5)
    assert s[1] == pytest.approx(1 / (1 + torch.exp(torch.tensor(-4.0)).item()))
    assert s[2] == pytest.approx(1 / (1 + torch.exp(torch.tensor(6.0)).item()))


def test_local_energy_zero_for_identity_and_analytic_for_offset():
    ir = torch.rand(1, 1, 20, 24, generator=_gen(2)) * 0.5
    assert local_energy_loss(ir, ir) == 0
    c = 0.1

    # (F - IR) = c everywhere; with zero padding the box mean of c at (y, x) is c·ny(y)·nx(x)/49,
    # where ny, nx count the window rows/columns inside the image.
    def inside(n, size):
        return torch.tensor([min(k + 3, size - 1) - max(k - 3, 0) + 1 for k in range(size)], dtype=torch.float64)

    diff = c * torch.outer(inside(0, 20), inside(0, 24)) / 49
    expected = (diff**2).mean().item()
    assert local_energy_loss(ir + c, ir).item() == pytest.approx(expected, rel=1e-5)
    # away from the border the local-mean difference is exactly c
    d = local_mean(ir + c) - local_mean(ir)
    assert torch.allclose(d[..., 3:-3, 3:-3], torch.full_like(d[..., 3:-3, 3:-3], c), atol=1e-6)


def test_heat_consistency_combines_terms():
    ir = torch.rand(1, 1, 32, 32, generator=_gen(5))
    f = 1 - ir
    out = heat_consistency_loss(f, ir, rank_weight=2.0, energy_weight=3.0, generator=_gen())
    rank = rank_loss(f, ir, generator=_gen())
    assert out["rank"] == pytest.approx(rank.item())
    assert out["total"].item() == pytest.approx(2 * rank.item() + 3 * local_energy_loss(f, ir).item(), rel=1e-6)


def test_intensity_and_gradient_terms():
    ir = torch.zeros(1, 1, 16, 16)
    vis = torch.zeros(1, 1, 16, 16)
    ir[..., 4:8, 4:8] = 1.0
    vis[..., :, 10:] = 0.5
    target = torch.maximum(ir, vis)
    assert intensity_loss(target, ir, vis) == 0
    assert gradient_loss(target, ir, vis) == 0
    assert intensity_loss(torch.zeros_like(ir), ir, vis) == pytest.approx(target.mean().item())
    assert gradient_loss(torch.zeros_like(ir), ir, vis) > 0


def test_reconstruction_loss():
    x = torch.rand(2, 1, 32, 32, generator=_gen(8))
    same = reconstruction_loss(x, x)
    assert same["total"].item() == pytest.approx(0.0, abs=1e-6)
    worse = reconstruction_loss(torch.zeros_like(x), x, eps=2.0)
    assert worse["total"] == pytest.approx((worse["pixel"] + 2 * worse["ssim"]).item())
    assert worse["pixel"] > 0 and worse["ssim"] > 0


def test_minmax_saliency_finds_the_warmest_object_of_a_dark_scene():
    from wavecross.losses.heat import normalize_ir

    ir = torch.full((1, 1, 8, 8), 0.05)
    ir[..., 2:4, 2:4] = 0.25  # a person in a dark night scene: far below t = 0.6 on the absolute scale
    absolute = thermal_saliency(ir)
    relative = thermal_saliency(ir, norm="minmax")
    assert absolute.max() < 0.05  # ignored
    assert relative[..., 2, 2] > 0.95 and relative[..., 0, 0] < 0.01  # the person is the heat source
    assert torch.equal(normalize_ir(ir, "none"), ir)
    flat = normalize_ir(torch.full((1, 1, 4, 4), 0.3), "minmax")
    assert torch.isfinite(flat).all()


def test_gradient_overshoot_counts_only_edges_stronger_than_both_sources():
    from wavecross.losses import FusionLossWeights, fusion_loss, gradient_overshoot_loss, sobel_magnitude

    torch.manual_seed(0)
    ir, vis = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    assert gradient_overshoot_loss(ir, ir, vis) == 0 and gradient_overshoot_loss(vis, ir, vis) == 0
    doubled = ir * 2  # every edge of IR twice as strong: the excess over max(|∇IR|, |∇VIS|), never negative
    expected = (sobel_magnitude(doubled) - torch.maximum(sobel_magnitude(ir), sobel_magnitude(vis))).clamp(min=0)
    assert torch.isclose(gradient_overshoot_loss(doubled, ir, vis), expected.mean())
    assert gradient_overshoot_loss(doubled, ir, vis) > 0
    off = fusion_loss(doubled, ir, vis, FusionLossWeights(rank=0, energy=0))
    on = fusion_loss(doubled, ir, vis, FusionLossWeights(rank=0, energy=0, overshoot=3.0))
    assert "overshoot" not in off and torch.isclose(on["total"], off["total"] + 3.0 * on["overshoot"])


def test_intensity_overshoot_counts_only_grey_levels_above_both_sources():
    from wavecross.losses import FusionLossWeights, fusion_loss, intensity_overshoot_loss

    ir = torch.tensor([[[[0.2, 0.8], [0.5, 0.1]]]])
    vis = torch.tensor([[[[0.6, 0.3], [0.5, 0.4]]]])
    assert intensity_overshoot_loss(torch.maximum(ir, vis), ir, vis) == 0
    assert intensity_overshoot_loss(torch.minimum(ir, vis), ir, vis) == 0  # darker is L1's business, not this term's
    fused = torch.tensor([[[[0.9, 0.8], [0.4, 0.6]]]])  # 0.3 above the max at one pixel, 0.2 at another
    assert torch.isclose(intensity_overshoot_loss(fused, ir, vis), torch.tensor(0.5 / 4))
    off = fusion_loss(fused, ir, vis, FusionLossWeights(rank=0, energy=0))
    on = fusion_loss(fused, ir, vis, FusionLossWeights(rank=0, energy=0, intensity_overshoot=4.0))
    assert "intensity_overshoot" not in off
    assert torch.isclose(on["total"], off["total"] + 4.0 * torch.tensor(0.5 / 4))


def test_intensity_overshoot_near_shared_edges_only_counts_the_band():
    from wavecross.losses import intensity_overshoot_loss

    ir = torch.zeros(1, 1, 64, 64)
    vis = torch.zeros(1, 1, 64, 64)
    ir[..., :, 32:] = 1.0  # both sources share one vertical edge at x = 32
    vis[..., :, :32] = 1.0
    fused = torch.maximum(ir, vis).clone()
    fused[..., :, 36] += 0.5  # a band next to the shared edge
    fused[..., :, 4] += 0.5  # a lift far from it
    everywhere = intensity_overshoot_loss(fused, ir, vis)
    assert torch.isclose(everywhere, torch.tensor(2 * 0.5 * 64 / 64**2))
    assert torch.isclose(intensity_overshoot_loss(fused, ir, vis, radius=6), torch.tensor(0.5 * 64 / 64**2))
    assert intensity_overshoot_loss(fused, ir, vis, radius=2) == 0  # column 36 is 4 px from the edge's Sobel band
    no_shared = torch.zeros_like(vis)  # IR's edge alone is not a shared edge: nothing counts near it
    assert intensity_overshoot_loss(fused, ir, no_shared, radius=6) == 0
