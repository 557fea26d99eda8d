"""Two-stage training of Wave-Cross (``wavecross train``), single process or under ``torchrun``."""

from .config import TrainConfig, load_config, parse_config
from .stages import STAGES, train

__all__ = ["STAGES", "TrainConfig", "load_config", "parse_config", "train"]
