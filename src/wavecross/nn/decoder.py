"""Fusion decoder: fused deep feature + both modality deep features → fused image.

Layout (method text §3.4, Fig. 4), with the conv numbering used for the residual mixing:
conv1 C→C on (fused + deep IR + deep visible), then residual mix with the two deep encoder features;
conv2 C→C/2, ×2; conv3 C/2→C/4, ×2; conv4 C/4→S, ×2 (full resolution);
skip: concatenate the IR and visible shallow features; conv5 3S→S, then residual mix with the two shallow features;
optional (``skip_gate``): the residual mix 2 weighs each shallow feature per pixel and channel by 2σ(g), g from a
1×1 convolution of [decoder feature, shallow IR, shallow visible] that starts at zero (so the mix starts as the
plain sum), letting training drop one source's edge where both have one instead of adding them;
optional (``refine_blocks``): full-resolution refinement blocks, each seeing the decoder feature and both shallow
features again (3×3 3S→S, LeakyReLU, 3×3 S→S, added to the feature);
head: 1×1 conv to one channel and a sigmoid, so the output lies in [0, 1].

Why the refinement: conv5 is the only layer that sees full resolution, so whether a pixel takes the IR or the
visible level is otherwise decided at 1/8 scale and upsampled (bands along IR/visible boundaries), and the residual
mix adds both shallow features, so edges present in both sources add up (overshoot, the Nabf artefacts). A block's
last convolution starts at zero: a network trained without it keeps its output exactly when the block is added.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import WaveCrossConfig
from .encoder import conv3x3, outside_autocast, upsample2x


class FusionDecoder(nn.Module):
    def __init__(self, cfg: WaveCrossConfig) -> None:
        super().__init__()
        c, s = cfg.channels, cfg.shallow_channels
        self.conv1 = conv3x3(c, c)
        self.conv2 = conv3x3(c, c // 2)
        self.conv3 = conv3x3(c // 2, c // 4)
        self.conv4 = conv3x3(c // 4, s)
        self.conv5 = conv3x3(3 * s, s)
        self.skip_gate: nn.Conv2d | None = None
        if cfg.skip_gate:
            self.skip_gate = nn.Conv2d(3 * s, 2 * s, 1)
            nn.init.zeros_(self.skip_gate.weight)
            nn.init.zeros_(self.skip_gate.bias)
        self.refine = nn.ModuleList(RefineBlock(s) for _ in range(cfg.refine_blocks))
        self.head = nn.Conv2d(s, 1, 1)

    def forward(
        self, fused: Tensor, deep_ir: Tensor, deep_vis: Tensor, shallow_ir: Tensor, shallow_vis: Tensor
    ) -> Tensor:
        deep = deep_ir + deep_vis
        x = self.conv1(fused + deep) + deep  # residual mix 1: keep the pre-trained deep features
        x = upsample2x(self.conv2(x))
        x = upsample2x(self.conv3(x))
        x = upsample2x(self.conv4(x))
        # Under autocast the shallow features come in fp32 (ModalityEncoder): the convolutions take them in their
        # compute dtype, while the residual mixes add them, and the stream they start, at full precision.
        # (Mixed-dtype elementwise ops are slow on the CPU: operands are cast to one dtype first.)
        wide = shallow_ir.dtype
        low_ir, low_vis = shallow_ir.to(x.dtype), shallow_vis.to(x.dtype)
        both = torch.cat((x, low_ir, low_vis), dim=1)
        x = self.conv5(both).to(wide)
        if self.skip_gate is None:
            x = x + shallow_ir + shallow_vis  # residual mix 2
        else:  # x + 2σ(g_ir)·shallow_ir + 2σ(g_vis)·shallow_vis, in two passes over the full-resolution maps
            gate_ir, gate_vis = (g.to(wide) for g in torch.sigmoid(self.skip_gate(both)).chunk(2, dim=1))
            x = torch.addcmul(torch.addcmul(x, gate_ir, shallow_ir, value=2), gate_vis, shallow_vis, value=2)
        for block in self.refine:
            x = block(x, low_ir, low_vis)
        return torch.sigmoid(outside_autocast(self.head, x))


class RefineBlock(nn.Module):
    """x + conv(LeakyReLU(conv([x, shallow IR, shallow visible]))) at full resolution; zero at initialisation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mix = conv3x3(3 * channels, channels)
        self.out = nn.Conv2d(channels, channels, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, shallow_ir: Tensor, shallow_vis: Tensor) -> Tensor:
        """``shallow_*`` in the convolutions' compute dtype; ``x`` may be wider (fp32 under autocast) and stays so."""
        mixed = torch.cat((x.to(shallow_ir.dtype), shallow_ir, shallow_vis), dim=1)
        return x + self.out(self.mix(mixed)).to(x.dtype)
