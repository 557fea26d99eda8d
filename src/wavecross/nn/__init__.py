"""The Wave-Cross network and its building blocks (tensor in, tensor out)."""

from .attention import FeedForward, MultiHeadAttention, PatchEmbed, PatchUnembed, TransformerBlock
from .config import PRESETS, WaveCrossConfig, get_config
from .cross import CrossAttentionFusion, CrossAttentionStage
from .decoder import FusionDecoder
from .encoder import DenseBlock, ModalityAutoencoder, ModalityEncoder, ReconstructionDecoder
from .io import save_weights
from .network import WaveCross, load_weights
from .padding import pad_to_multiple
from .wa import BandAttention, BandConvBlock, ChannelLayerNorm, WaveletAttention
from .wavelets import BAND_NAMES, HaarDWT, HaarIWT, haar_dwt, haar_iwt

__all__ = [
    "BAND_NAMES",
    "PRESETS",
    "BandAttention",
    "BandConvBlock",
    "ChannelLayerNorm",
    "CrossAttentionFusion",
    "CrossAttentionStage",
    "DenseBlock",
    "FeedForward",
    "FusionDecoder",
    "HaarDWT",
    "HaarIWT",
    "ModalityAutoencoder",
    "ModalityEncoder",
    "MultiHeadAttention",
    "PatchEmbed",
    "PatchUnembed",
    "ReconstructionDecoder",
    "TransformerBlock",
    "WaveCross",
    "WaveCrossConfig",
    "WaveletAttention",
    "get_config",
    "haar_dwt",
    "haar_iwt",
    "load_weights",
    "pad_to_multiple",
    "save_weights",
]
