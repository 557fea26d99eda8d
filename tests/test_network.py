import pytest
import torch

from wavecross.nn import (
    PRESETS,
    CrossAttentionFusion,
    CrossAttentionStage,
    FusionDecoder,
    ModalityAutoencoder,
    ModalityEncoder,
    MultiHeadAttention,
    PatchEmbed,
    PatchUnembed,
    TransformerBlock,
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


def test_forward_runs_on_the_meta_device():
    """Shapes without compute (FLOP counting, bench/scaling.py): a device without autocast must not trip the
    full-precision image path."""
    net = WaveCross(TINY).to("meta").eval()
    ir = torch.empty(1, 1, 64, 96, device="meta")
    assert net(ir, ir).shape == (1, 1, 64, 96)


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


# ---- values, not only shapes: each module computes what the method text says, with the right inputs ------------


def _capture(module: torch.nn.Module, store: dict, key: str) -> None:
    """Record the positional inputs and the output of each call of ``module`` under ``store[key]``."""
    module.register_forward_hook(lambda m, args, out: store.__setitem__(key, (args, out)))


@pytest.mark.parametrize("scale", ["dim", "head"])
def test_attention_matches_a_hand_computed_softmax(scale):
    torch.manual_seed(0)
    dim, heads, b, nq, nk = 16, 4, 2, 5, 7
    attn = MultiHeadAttention(dim, heads, scale=scale).eval()
    query, context = torch.randn(b, nq, dim), torch.randn(b, nk, dim)
    wq, bq = attn.q.weight, attn.q.bias
    wk, wv = attn.kv.weight[:dim], attn.kv.weight[dim:]  # the kv projection: keys first, then values
    bk, bv = attn.kv.bias[:dim], attn.kv.bias[dim:]
    hd = dim // heads
    factor = dim**-0.5 if scale == "dim" else hd**-0.5
    heads_out = []
    for h in range(heads):
        cols = slice(h * hd, (h + 1) * hd)  # head h works on its own partition of the token dimension
        q = query @ wq[cols].T + bq[cols]
        k = context @ wk[cols].T + bk[cols]
        v = context @ wv[cols].T + bv[cols]
        weights = torch.softmax(q @ k.transpose(1, 2) * factor, dim=-1)
        heads_out.append(weights @ v)
    expected = attn.proj(torch.cat(heads_out, dim=-1))
    with torch.no_grad():
        torch.testing.assert_close(attn(query, context), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(attn(query), attn(query, query))  # self-attention: the queries are the context


def test_cross_block_queries_x_and_reads_keys_values_from_context():
    torch.manual_seed(1)
    block = TransformerBlock(16, 4, mlp_ratio=0, cross=True).eval()
    x, context = torch.randn(1, 6, 16), torch.randn(1, 9, 16)
    with torch.no_grad():
        expected = x + block.attn(block.norm_q(x), block.norm_kv(context))
        torch.testing.assert_close(block(x, context), expected)
        # Every output token depends on its own query token only (and on all the context): change one query token
        # and only that output token changes.
        moved = x.clone()
        moved[0, 2] += 1.0
        changed = (block(moved, context) - block(x, context)).abs().sum(-1)[0]
        assert changed[2] > 0 and torch.count_nonzero(changed) == 1


def test_cross_attention_stage_routes_ir_and_visible_as_the_text_says():
    """CA1: IR queries visible; CA2: visible queries IR; P = CA1 + CA2; CA3: P queries IR; CA4: P queries visible;
    fused = F + FFN(LN(F)) with F = CA3 + CA4."""
    torch.manual_seed(2)
    stage = CrossAttentionStage(TINY).eval()
    seen: dict = {}
    for name in ("ca1", "ca2", "ca3", "ca4"):
        _capture(getattr(stage, name), seen, name)
    ir, vis = torch.randn(2, 12, TINY.dim), torch.randn(2, 12, TINY.dim)
    with torch.no_grad():
        out = stage(ir, vis)
    shared = seen["ca1"][1] + seen["ca2"][1]
    expected_inputs = {"ca1": (ir, vis), "ca2": (vis, ir), "ca3": (shared, ir), "ca4": (shared, vis)}
    for name, (queries, keys_values) in expected_inputs.items():
        args = seen[name][0]
        assert torch.equal(args[0], queries) and torch.equal(args[1], keys_values), name
    fused = seen["ca3"][1] + seen["ca4"][1]
    with torch.no_grad():
        torch.testing.assert_close(out, fused + stage.ffn(stage.norm(fused)))


def test_later_cross_stages_refine_the_fused_tokens_against_both_modalities():
    torch.manual_seed(3)
    fusion = CrossAttentionFusion(WaveCrossConfig(**{**TINY.to_dict(), "cross_depth": 2})).eval()
    seen: dict = {}
    _capture(fusion.stages[0], seen, "first")
    _capture(fusion.stages[1], seen, "second")
    ir, vis = torch.randn(1, 8, TINY.dim), torch.randn(1, 8, TINY.dim)
    with torch.no_grad():
        out = fusion(ir, vis)
    first = seen["first"][1]
    assert torch.equal(seen["first"][0][0], ir) and torch.equal(seen["first"][0][1], vis)
    assert torch.equal(seen["second"][0][0], first + ir) and torch.equal(seen["second"][0][1], first + vis)
    assert torch.equal(out, seen["second"][1])


@pytest.mark.parametrize(("kind", "attended", "convolved"), [("low", "LL", "details"), ("high", "details", "LL")])
def test_wa_attends_and_convolves_the_right_bands(kind, attended, convolved):
    """WA-L: attention on LL, convolution on LH/HL/HH; WA-H the opposite; the output is the inverse DWT of both."""
    from wavecross.nn import haar_dwt, haar_iwt

    torch.manual_seed(4)
    wa = WaveletAttention(TINY, kind).eval()
    seen: dict = {}
    _capture(wa.attention, seen, "attention")
    _capture(wa.conv, seen, "conv")
    x = torch.randn(2, TINY.channels, 16, 24)
    with torch.no_grad():
        out = wa(x)
        ll, lh, hl, hh = haar_dwt(wa.norm(x))
    bands = {"LL": ll, "details": torch.cat((lh, hl, hh), dim=0)}
    assert torch.equal(seen["attention"][0][0], bands[attended])
    assert torch.equal(seen["conv"][0][0], bands[convolved])
    new = {attended: seen["attention"][1], convolved: seen["conv"][1]}
    torch.testing.assert_close(out, haar_iwt(new["LL"], *new["details"].split(2, dim=0), size=(16, 24)))


def test_wavecross_forward_wires_each_modality_through_its_own_branch():
    """Encoders → WA-L (IR) / WA-H (visible) → embeddings → cross-attention (IR first) → decoder with the deep and
    shallow features of each modality in their places."""
    torch.manual_seed(5)
    net = WaveCross(TINY).eval()
    assert net.wa_ir.kind == "low" and net.wa_vis.kind == "high"
    seen: dict = {}
    for name in (
        "encoder_ir",
        "encoder_vis",
        "wa_ir",
        "wa_vis",
        "embed_ir",
        "embed_vis",
        "cross",
        "unembed",
        "decoder",
    ):
        _capture(getattr(net, name), seen, name)
    m = TINY.size_multiple  # sizes that need no padding inside, so the encoders see the inputs themselves
    ir, vis = torch.rand(1, 1, m, 2 * m), torch.rand(1, 1, m, 2 * m)
    with torch.no_grad():
        out = net(ir, vis)
    assert torch.equal(seen["encoder_ir"][0][0], ir) and torch.equal(seen["encoder_vis"][0][0], vis)
    (shallow_ir, deep_ir), (shallow_vis, deep_vis) = seen["encoder_ir"][1], seen["encoder_vis"][1]
    assert torch.equal(seen["wa_ir"][0][0], deep_ir) and torch.equal(seen["wa_vis"][0][0], deep_vis)
    assert torch.equal(seen["embed_ir"][0][0], seen["wa_ir"][1])
    assert torch.equal(seen["embed_vis"][0][0], seen["wa_vis"][1])
    assert torch.equal(seen["cross"][0][0], seen["embed_ir"][1])
    assert torch.equal(seen["cross"][0][1], seen["embed_vis"][1])
    assert torch.equal(seen["unembed"][0][0], seen["cross"][1])
    for got, expected in zip(
        seen["decoder"][0], (seen["unembed"][1], deep_ir, deep_vis, shallow_ir, shallow_vis), strict=True
    ):
        assert torch.equal(got, expected)
    assert torch.equal(out, seen["decoder"][1])


def test_every_decoder_input_reaches_the_output():
    torch.manual_seed(6)
    decoder = FusionDecoder(TINY).eval()
    c, s = TINY.channels, TINY.shallow_channels
    inputs = [torch.randn(1, c, 4, 6), torch.randn(1, c, 4, 6), torch.randn(1, c, 4, 6)]
    inputs += [torch.randn(1, s, 32, 48), torch.randn(1, s, 32, 48)]
    seen: dict = {}
    _capture(decoder.conv1, seen, "conv1")
    _capture(decoder.conv5, seen, "conv5")
    with torch.no_grad():
        base = decoder(*inputs)
        for i in range(5):
            changed = list(inputs)
            changed[i] = torch.zeros_like(inputs[i])
            assert (decoder(*changed) - base).abs().max() > 1e-4, f"decoder input {i} does not reach the output"
        decoder(*inputs)
    fused, deep_ir, deep_vis, shallow_ir, shallow_vis = inputs
    torch.testing.assert_close(seen["conv1"][0][0], fused + (deep_ir + deep_vis))
    skip = seen["conv5"][0][0]  # both shallow features are concatenated for conv5 (not only added after it)
    assert torch.equal(skip[:, s : 2 * s], shallow_ir) and torch.equal(skip[:, 2 * s :], shallow_vis)


def test_shipped_weights_still_fit_the_wiring():
    """The shipped network on a fixed synthetic pair: any change of wiring (swapped modalities or bands, a dropped
    skip) breaks the trained weights and moves these statistics far beyond the tolerance."""
    import numpy as np

    import wavecross
    from wavecross.data import luminance, synthetic_pair

    ir, vis = synthetic_pair(96, 128, seed=11)
    a = torch.from_numpy(ir / np.float32(255))[None, None]
    b = torch.from_numpy(luminance(vis) / np.float32(255))[None, None]
    with torch.no_grad():
        out = wavecross.load_model(device="cpu")(a, b)[0, 0].double()
    corr = lambda x, y: float(torch.corrcoef(torch.stack((x.flatten(), y.flatten())))[0, 1])  # noqa: E731
    stats = [out.mean().item(), out.std().item(), corr(out, a[0, 0].double()), corr(out, b[0, 0].double())]
    assert stats == pytest.approx(SHIPPED_STATS, abs=2e-3)


# Mean, std, correlation with IR and with visible Y of the shipped model's output, recorded with the wiring of
# docs/DESIGN.md (re-record them when the shipped weights change). With v2, swapping CA1/CA2's modalities moved
# them by 0.06, CA3/CA4's by 0.09, WA-L/WA-H by 0.2, the decoder's shallow skips by 0.6: far beyond the tolerance.
# v3 weights; v2: 0.45318, 0.11726, 0.70554, 0.0533; v1: 0.41537, 0.13085, 0.72714, 0.01995
SHIPPED_STATS = [0.45657, 0.11343, 0.35938, 0.39846]


def test_refine_block_starts_as_identity_and_learns():
    from wavecross.nn.decoder import RefineBlock

    torch.manual_seed(0)
    block = RefineBlock(4)
    x, a, b = torch.randn(2, 4, 12, 12), torch.randn(2, 4, 12, 12), torch.randn(2, 4, 12, 12)
    assert torch.equal(block(x, a, b), x)  # zero at the start
    block(x, a, b).square().sum().backward()
    assert block.out.weight.grad.abs().sum() > 0  # but trainable
    with torch.no_grad():
        block.out.weight.normal_()
    moved = block(x, a, b)
    assert not torch.equal(moved, x)
    # it sees both shallow features: changing either changes its output
    assert not torch.equal(block(x, a + 1, b), moved) and not torch.equal(block(x, a, b + 1), moved)


@pytest.mark.parametrize("added", [{"refine_blocks": 2}, {"skip_gate": True}])
def test_network_with_an_added_part_computes_what_it_computed_without(added):
    torch.manual_seed(0)
    plain = WaveCross("tiny").eval()
    refined = WaveCross({**plain.config.to_dict(), **added}).eval()
    missing = refined.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(WaveCross.ZERO_START_PREFIXES) for k in missing)
    ir, vis = torch.rand(1, 1, 40, 56), torch.rand(1, 1, 40, 56)
    with torch.no_grad():
        assert torch.equal(refined(ir, vis), plain(ir, vis))


def test_skip_gate_is_trainable_and_changes_the_output_when_it_moves():
    torch.manual_seed(0)
    net = WaveCross({**WaveCross("tiny").config.to_dict(), "skip_gate": True})
    ir, vis = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    net(ir, vis).mean().backward()
    assert net.decoder.skip_gate.weight.grad.abs().sum() > 0
    with torch.no_grad():
        before = net(ir, vis)
        net.decoder.skip_gate.bias[net.config.shallow_channels :] = -30.0  # the visible skip's gate closed
        assert not torch.allclose(net(ir, vis), before)
