"""Image I/O, IR/visible pair discovery, the training datasets and the synthetic pair generator."""

from .dataset import PairedImageDataset
from .io import luminance, luminance_u8, read_image, rgb_to_ycbcr, to_unit, write_image, ycbcr_to_rgb
from .pairs import Pair, find_pairs, load_pair_set, pair_folders
from .synthetic import SyntheticPairDataset, synthetic_pair

__all__ = [
    "Pair",
    "PairedImageDataset",
    "SyntheticPairDataset",
    "find_pairs",
    "load_pair_set",
    "luminance",
    "luminance_u8",
    "pair_folders",
    "read_image",
    "rgb_to_ycbcr",
    "synthetic_pair",
    "to_unit",
    "write_image",
    "ycbcr_to_rgb",
]
