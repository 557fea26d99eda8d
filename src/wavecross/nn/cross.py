"""Two-stage bidirectional cross-attention between infrared and visible tokens.

Stage 1: CA1 (IR queries visible) and CA2 (visible queries IR); their sum is the shared cross-modal pattern P.
Stage 2: P queries IR (CA3) and visible (CA4); the sum of the two goes through a LayerNorm + two-layer GELU
feed-forward with a residual, giving the fused tokens. Each CA is a pre-LN cross-attention block without MLP
(residual on its queries), as the text gives CA_i only its Q/K/V projections. ``cross_depth`` > 1 repeats both
stages, the previous fused tokens added to the IR and visible tokens.
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention import FeedForward, TransformerBlock
from .config import WaveCrossConfig


class CrossAttentionStage(nn.Module):
    """CA1–CA4 and the final feed-forward: (IR tokens, visible tokens) → fused tokens, all (B, N, d)."""

    def __init__(self, cfg: WaveCrossConfig) -> None:
        super().__init__()
        d = cfg.dim

        def block() -> TransformerBlock:
            return TransformerBlock(d, cfg.heads, 0, cfg.dropout, cfg.attn_scale, cross=True)

        self.ca1, self.ca2, self.ca3, self.ca4 = block(), block(), block(), block()
        self.norm = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.mlp_ratio, cfg.dropout)

    def forward(self, ir: Tensor, vis: Tensor) -> Tensor:
        shared = self.ca1(ir, vis) + self.ca2(vis, ir)
        fused = self.ca3(shared, ir) + self.ca4(shared, vis)
        return fused + self.ffn(self.norm(fused))


class CrossAttentionFusion(nn.Module):
    """``cross_depth`` cross-attention stages; each later stage refines the previous fused tokens against both."""

    def __init__(self, cfg: WaveCrossConfig) -> None:
        super().__init__()
        self.stages = nn.ModuleList(CrossAttentionStage(cfg) for _ in range(cfg.cross_depth))

    def forward(self, ir: Tensor, vis: Tensor) -> Tensor:
        fused = self.stages[0](ir, vis)
        for stage in self.stages[1:]:
            fused = stage(fused + ir, fused + vis)
        return fused
