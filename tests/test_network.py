import pytest
import torch

from wavecross.nn import (
    PRESETS,
    CrossAttentionFusion,
    FusionDecoder,
    ModalityAutoencoder,
    ModalityEncoder,
    MultiHeadAttention,
    PatchEmbed,
    PatchUnembed,
    WaveCross,
    WaveCrossConfig,
    WaveletAttention,
)

TINY = PRESETS["tiny"]
SIZES = [(16, 16), (64, 48), (37, 53), (475, 575)]

# The paper config's size, as stated in docs/DESIGN.md; a change of architecture must update both.
PAPER_PARAMETERS = 14_815_121


def test_paper_parameter_count_matches_design_doc():
    n = sum(p.numel() for p in WaveCross("paper").parameters())
    assert n == PAPER_PARAMETERS
    from pathlib import Path

    design = (Path(__file__).parents[1] / "docs" / "DESIGN.md").read_text()
    assert f"{PAPER_PARAMETERS:,}" in design


@pytest.mark.parametrize("size", SIZES)
def test_wavecross_output_has_input_size(size):
    torch.manual_seed(0)
    net = WaveCross(TINY).eval()
    ir, vis = torch.rand(2, 1, *size), torch.rand(2, 1, *size)
    with torch.no_grad():
        out = net(ir, vis)
    assert out.shape == ir.shape
    assert out.min() >= 0 and out.max() <= 1


def test_paper_config_forward_odd_size():
    net = WaveCross("paper").eval()
    with torch.no_grad():
        out = net(torch.rand(1, 1, 475, 575), torch.rand(1, 1, 475, 575))
    assert out.shape == (1, 1, 475, 575)


@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
def test_module_shapes(size):
    cfg = TINY
    h, w = size
    enc = ModalityEncoder(cfg)
    shallow, deep = enc(torch.rand(2, 1, h, w))
    assert shallow.shape == (2, cfg.shallow_channels, h, w)
    assert deep.shape == (2, cfg.channels, h // 8, w // 8)
    for kind in ("low", "high"):
        assert WaveletAttention(cfg, kind)(deep).shape == deep.shape
    embed = PatchEmbed(cfg.channels, cfg.patch_size, cfg.dim)
    tokens = embed(deep)
    n = (h // 8 // cfg.patch_size) * (w // 8 // cfg.patch_size)
    assert tokens.shape == (2, n, cfg.dim)
    fused = CrossAttentionFusion(cfg)(tokens, tokens)
    assert fused.shape == tokens.shape
    fmap = PatchUnembed(cfg.channels, cfg.patch_size, cfg.dim)(fused, deep.shape[-2:])
    assert fmap.shape == deep.shape
    out = FusionDecoder(cfg)(fmap, deep, deep, shallow, shallow)
    assert out.shape == (2, 1, h, w)
    assert ModalityAutoencoder(cfg)(torch.rand(2, 1, h - 3, w - 5)).shape == (2, 1, h - 3, w - 5)


def test_patch_embed_is_exact_reshape_when_dim_matches():
    x = torch.randn(1, 8, 6, 10)
    embed, unembed = PatchEmbed(8, 2, 32), PatchUnembed(8, 2, 32)
    assert sum(p.numel() for p in embed.parameters()) == 0
    assert torch.equal(unembed(embed(x), (6, 10)), x)
    assert torch.equal(embed(x)[0, 0], x[0, :, :2, :2].reshape(-1))


def test_projected_tokens_when_dim_differs():
    cfg = WaveCrossConfig(
        shallow_channels=4, encoder_channels=(8, 8, 8), dense_layers=1, heads=2, patch_size=4, token_dim=32
    )
    net = WaveCross(cfg)
    assert net(torch.rand(1, 1, 70, 70), torch.rand(1, 1, 70, 70)).shape == (1, 1, 70, 70)


def test_attention_scale_and_heads():
    attn = MultiHeadAttention(64, 16, scale="dim")
    assert attn.scale == pytest.approx(64**-0.5)
    assert MultiHeadAttention(64, 16, scale="head").scale == pytest.approx(4**-0.5)
    with pytest.raises(ValueError):
        MultiHeadAttention(60, 16)


@pytest.mark.parametrize(("kind", "attention_batch", "conv_batch"), [("low", 2, 6), ("high", 6, 2)])
def test_wa_routes_bands(kind, attention_batch, conv_batch):
    """WA-L attends over LL (batch B) and convolves the 3 detail bands (batch 3B); WA-H the opposite."""
    cfg = TINY
    wa = WaveletAttention(cfg, kind).eval()
    seen = {}
    wa.attention.register_forward_hook(lambda m, i, o: seen.__setitem__("attention", tuple(i[0].shape)))
    wa.conv.register_forward_hook(lambda m, i, o: seen.__setitem__("conv", tuple(i[0].shape)))
    x = torch.randn(2, cfg.channels, 16, 24)
    assert wa(x).shape == x.shape
    assert seen["attention"] == (attention_batch, cfg.channels, 8, 12)
    assert seen["conv"] == (conv_batch, cfg.channels, 8, 12)
    with pytest.raises(ValueError):
        WaveletAttention(cfg, "mid")


def test_wa_l_and_wa_h_have_separate_parameters():
    net = WaveCross(TINY)
    ids_ir = {id(p) for p in net.wa_ir.parameters()}
    assert ids_ir and ids_ir.isdisjoint(id(p) for p in net.wa_vis.parameters())
    assert {id(p) for p in net.encoder_ir.parameters()}.isdisjoint(id(p) for p in net.encoder_vis.parameters())


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = WaveCross(TINY)
    out = net(torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64))
    (out - 0.3).pow(2).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_same_seed_same_output():
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        net = WaveCross(TINY).eval()
        with torch.no_grad():
            outs.append(net(torch.ones(1, 1, 32, 32) * 0.3, torch.ones(1, 1, 32, 32) * 0.6))
    assert torch.equal(outs[0], outs[1])


def test_rejects_bad_shapes():
    net = WaveCross(TINY)
    with pytest.raises(ValueError):
        net(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 40))
    with pytest.raises(ValueError):
        net(torch.rand(1, 1, 8, 32), torch.rand(1, 1, 8, 32))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = WaveCross(TINY).eval()
    path = tmp_path / "w.safetensors"
    net.save(path)
    loaded = WaveCross.load(path).eval()
    assert loaded.config == net.config
    x = torch.rand(1, 1, 40, 40)
    assert torch.equal(loaded(x, x), net(x, x))
    net.save(tmp_path / "h.safetensors", half=True)
    half = WaveCross.load(tmp_path / "h.safetensors").eval()
    assert (half(x, x) - net(x, x)).abs().max() < 1e-2


def test_config_round_trip_and_unknown_key():
    cfg = PRESETS["paper"]
    assert WaveCrossConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.dim == 512 and cfg.heads == 16 and cfg.channels == 128
    with pytest.raises(ValueError, match="chanels"):
        WaveCrossConfig.from_dict({"chanels": 3})
