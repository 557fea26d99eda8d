"""All sizes of the Wave-Cross network in one dataclass, with named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class WaveCrossConfig:
    """Sizes and switches of :class:`~wavecross.nn.WaveCross`.

    Attributes:
        shallow_channels: width of the full-resolution shallow feature used by the decoder skips.
        encoder_channels: widths of the three stride-2 encoder stages (1/2, 1/4, 1/8 resolution); the last is C.
        dense_layers: 3×3 layers in each stage's dense block (growth = stage width / 2).
        patch_size: p of the p×p patch embedding, for the WA low-frequency tokens and the cross-attention tokens.
        token_dim: d; ``None`` means C·p·p, a parameter-free reshape as in the method text.
        heads: attention partitions (16 in the text).
        mlp_ratio: hidden width of the transformer MLPs, as a multiple of d.
        wa_depth: transformer blocks in each WA attention branch; ``cross_depth``: repeats of the two-stage
            cross-attention.
        dropout: dropout after attention projections and MLPs (the text allows 0–0.1).
        attn_scale: ``"dim"`` (d^-1/2, as written in the text) or ``"head"`` ((d/heads)^-1/2).
        conv_residual: wrap the WA convolution block in an identity skip.
        skip_gate: weigh the decoder's shallow skips per pixel by learned gates that start as the plain sum (off in
            the paper's layout; see :class:`~wavecross.nn.decoder.FusionDecoder`).
        refine_blocks: full-resolution refinement blocks at the end of the fusion decoder (0 in the paper's layout;
            see :class:`~wavecross.nn.decoder.RefineBlock`).
    """

    shallow_channels: int = 16
    encoder_channels: tuple[int, int, int] = (32, 64, 128)
    dense_layers: int = 2
    patch_size: int = 2
    token_dim: int | None = None
    heads: int = 16
    mlp_ratio: float = 4.0
    wa_depth: int = 1
    cross_depth: int = 1
    dropout: float = 0.0
    attn_scale: str = "dim"
    conv_residual: bool = True
    refine_blocks: int = 0
    skip_gate: bool = False

    @property
    def channels(self) -> int:
        """C, the deep-feature width at 1/8 resolution."""
        return self.encoder_channels[-1]

    @property
    def dim(self) -> int:
        """d, the token dimension."""
        return self.token_dim or self.channels * self.patch_size**2

    @property
    def size_multiple(self) -> int:
        """Inputs are padded to a multiple of this: 8 (encoder) × 2 (DWT) × p (patches of the LL band)."""
        return 16 * self.patch_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> WaveCrossConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)} (valid: {', '.join(sorted(known))})")
        values = dict(values)
        if "encoder_channels" in values:
            values["encoder_channels"] = tuple(values["encoder_channels"])
        return cls(**values)


PRESETS: dict[str, WaveCrossConfig] = {
    # The paper's sizes: C = 128, 16 heads, d = C·p·p = 512 with p = 2 (see docs/DESIGN.md, open point 1).
    "paper": WaveCrossConfig(),
    # A few thousand parameters: same structure, for fast tests.
    "tiny": WaveCrossConfig(shallow_channels=4, encoder_channels=(8, 8, 8), dense_layers=1, heads=2),
}


def get_config(name_or_config: str | WaveCrossConfig | dict[str, Any] | None = None) -> WaveCrossConfig:
    """A config from a preset name, a dict of fields, or a config (returned as is); ``None`` → ``paper``."""
    if name_or_config is None:
        return PRESETS["paper"]
    if isinstance(name_or_config, WaveCrossConfig):
        return name_or_config
    if isinstance(name_or_config, dict):
        return WaveCrossConfig.from_dict(name_or_config)
    if name_or_config not in PRESETS:
        raise ValueError(f"unknown model config {name_or_config!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name_or_config]
