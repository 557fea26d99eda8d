"""The Wave-Cross network: encoders → WA-L / WA-H → two-stage cross-attention → fusion decoder."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from .attention import PatchEmbed, PatchUnembed
from .config import WaveCrossConfig, get_config
from .cross import CrossAttentionFusion
from .decoder import FusionDecoder
from .encoder import ModalityEncoder
from .io import load_module, save_weights
from .padding import pad_to_multiple
from .wa import WaveletAttention


class WaveCross(nn.Module):
    """Infrared–visible fusion network.

    ``forward(ir, vis)`` takes two (B, 1, H, W) tensors in [0, 1] (IR grey and visible Y), any H, W ≥ 16, and returns
    the fused (B, 1, H, W) image in [0, 1]. Sizes that are not multiples of :attr:`WaveCrossConfig.size_multiple`
    are padded inside and cropped back, so the output always has the input's size.
    """

    def __init__(self, config: str | WaveCrossConfig | dict | None = None) -> None:
        super().__init__()
        cfg = get_config(config)
        self.config = cfg
        self.encoder_ir = ModalityEncoder(cfg)
        self.encoder_vis = ModalityEncoder(cfg)
        self.wa_ir = WaveletAttention(cfg, "low")  # WA-L
        self.wa_vis = WaveletAttention(cfg, "high")  # WA-H
        self.embed_ir = PatchEmbed(cfg.channels, cfg.patch_size, cfg.dim)
        self.embed_vis = PatchEmbed(cfg.channels, cfg.patch_size, cfg.dim)
        self.cross = CrossAttentionFusion(cfg)
        self.unembed = PatchUnembed(cfg.channels, cfg.patch_size, cfg.dim)
        self.decoder = FusionDecoder(cfg)

    #: Parameters of optional parts whose output is zero when they are created: a model trained without them can be
    #: loaded into a network that has them (fine-tuning with an added part) and computes the same image.
    ZERO_START_PREFIXES = ("decoder.refine.", "decoder.skip_gate.")

    def encoders(self) -> list[nn.Module]:
        """The two modality encoders (pre-trained in stage 1, frozen by default in stage 2)."""
        return [self.encoder_ir, self.encoder_vis]

    def forward(self, ir: Tensor, vis: Tensor) -> Tensor:
        if ir.shape != vis.shape or ir.ndim != 4 or ir.shape[1] != 1:
            raise ValueError(
                f"expected two (B, 1, H, W) tensors of the same shape, got {tuple(ir.shape)} and {tuple(vis.shape)}"
            )
        if min(ir.shape[-2:]) < 16:
            raise ValueError(f"images must be at least 16×16, got {tuple(ir.shape[-2:])}")
        m = self.config.size_multiple
        ir_p, (h, w) = pad_to_multiple(ir, m)
        vis_p, _ = pad_to_multiple(vis, m)
        shallow_ir, deep_ir = self.encoder_ir(ir_p)
        shallow_vis, deep_vis = self.encoder_vis(vis_p)
        tokens = self.cross(self.embed_ir(self.wa_ir(deep_ir)), self.embed_vis(self.wa_vis(deep_vis)))
        fused = self.unembed(tokens, deep_ir.shape[-2:])
        out = self.decoder(fused, deep_ir, deep_vis, shallow_ir, shallow_vis)
        return out[..., :h, :w]

    def save(self, path: str | Path, half: bool = False) -> None:
        """Save weights (and the config, as metadata) to a safetensors file; ``half`` stores fp16."""
        save_weights(self, path, half=half)

    @classmethod
    def load(cls, path: str | Path, map_location: str = "cpu") -> WaveCross:
        """A network built from the config stored in a safetensors file, with its weights."""
        return load_weights(path, map_location=map_location)


def load_weights(path: str | Path, map_location: str = "cpu") -> WaveCross:
    """Build a :class:`WaveCross` from the config in ``path`` and load its weights (fp32)."""
    return load_module(path, WaveCross, map_location)
