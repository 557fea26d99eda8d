"""Modality encoder and its reconstruction decoder (used only for pre-training).

The method text gives no layer list for the encoder; we follow its closest public ancestor (CrossFuse): a 3×3 conv
to a full-resolution shallow feature, then three stride-2 stages with dense blocks down to C channels at 1/8
resolution. IR and visible each get their own encoder/decoder instance (same structure, separate parameters).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import WaveCrossConfig
from .padding import pad_to_multiple


def conv3x3(cin: int, cout: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    """3×3 convolution (padding 1), optionally followed by LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1)]
    if act:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class DenseBlock(nn.Module):
    """Densely connected 3×3 convs (each sees all earlier outputs), then a 1×1 transition back to ``channels``."""

    def __init__(self, channels: int, layers: int, growth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(conv3x3(channels + i * growth, growth) for i in range(layers))
        self.transition = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=1)))
        return self.transition(torch.cat(feats, dim=1))


class ModalityEncoder(nn.Module):
    """(B, 1, H, W) image → (shallow (B, S, H, W), deep (B, C, H/8, W/8)); H, W multiples of 8."""

    def __init__(self, cfg: WaveCrossConfig) -> None:
        super().__init__()
        self.shallow = conv3x3(1, cfg.shallow_channels)
        stages = []
        cin = cfg.shallow_channels
        for cout in cfg.encoder_channels:
            stages.append(nn.Sequential(conv3x3(cin, cout, stride=2), DenseBlock(cout, cfg.dense_layers, cout // 2)))
            cin = cout
        self.stages = nn.Sequential(*stages)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shallow = outside_autocast(self.shallow, x)
        return shallow, self.stages(shallow)


def outside_autocast(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` in fp32 even inside an autocast region (else as it is).

    For the full-resolution image path (the shallow features and the fusion decoder's 1×1 head): bf16 keeps 8
    significant bits, about the output's own 8-bit step, so rounding there moved the fused image and its edge
    metrics (docs/speed.md, "bf16 and the image path"), while these layers cost a few percent of the pass.
    """
    device = x.device.type
    if not (torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)):  # e.g. the meta device
        return module(x)
    with torch.autocast(device, enabled=False):
        return module(x.float())


def upsample2x(x: Tensor) -> Tensor:
    """×2 bilinear upsampling, the decoders' upsampling layer."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class ReconstructionDecoder(nn.Module):
    """Pre-training decoder: deep feature + shallow skip → reconstructed image in [0, 1].

    conv C→C/2, ×2; conv → C/4, ×2; conv → S, ×2; add the shallow feature; 1×1 conv to one channel; sigmoid.
    """

    def __init__(self, cfg: WaveCrossConfig) -> None:
        super().__init__()
        c, s = cfg.channels, cfg.shallow_channels
        self.body = nn.ModuleList([conv3x3(c, c // 2), conv3x3(c // 2, c // 4), conv3x3(c // 4, s)])
        self.head = nn.Conv2d(s, 1, 1)

    def forward(self, deep: Tensor, shallow: Tensor) -> Tensor:
        x = deep
        for conv in self.body:
            x = upsample2x(conv(x))
        return torch.sigmoid(self.head(x + shallow))


class ModalityAutoencoder(nn.Module):
    """Encoder + reconstruction decoder of one modality, trained alone in the pre-training stage."""

    def __init__(self, cfg: WaveCrossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ModalityEncoder(cfg)
        self.decoder = ReconstructionDecoder(cfg)

    def forward(self, x: Tensor) -> Tensor:
        padded, size = pad_to_multiple(x, 8)
        shallow, deep = self.encoder(padded)
        return self.decoder(deep, shallow)[..., : size[0], : size[1]]
