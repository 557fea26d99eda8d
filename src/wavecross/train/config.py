"""Training configuration: a YAML file validated into dataclasses.

Every key is checked on load: an unknown or mistyped key, a value of the wrong type, or a missing data folder is
one :class:`~wavecross.errors.WavecrossError` naming the key (``fusion.lr``) or the path. Relative data paths are
resolved against the current directory first, then against the config file's folder and its parent (so
``configs/x.yaml`` can name ``../shared/data/...`` from the repository root).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import WavecrossError
from ..losses import FusionLossWeights
from ..nn import WaveCrossConfig, get_config


@dataclass
class DataConfig:
    """``roots``: folders with ``ir/`` and ``vi/``; empty means the synthetic generator (``synthetic_length``
    pairs). ``on_bad``: ``error`` or ``warn`` for unpaired/unreadable files."""

    roots: list[str] = field(default_factory=list)
    crop: int = 128
    val_fraction: float = 0.05
    synthetic_length: int = 512
    workers: int = 0
    on_bad: str = "error"


@dataclass
class PretrainConfig:
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    eps: float = 1.0  # weight of (1 - SSIM) against the pixel MSE


@dataclass
class FusionConfig:
    steps: int = 2000
    batch_size: int = 8
    lr: float = 2e-4
    freeze_encoders: bool = True
    encoders: str | None = None  # default: <out>/pretrain/encoders.safetensors
    loss: FusionLossWeights = field(default_factory=FusionLossWeights)


@dataclass
class RunConfig:
    """``scale_lr``: multiply learning rates by the number of processes (linear scaling rule, since the effective
    batch is batch_size × processes). ``amp``: ``off``, ``bf16`` or ``fp16`` autocast (GPU only)."""

    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 10
    sample_every: int = 200
    val_every: int = 200
    warmup_steps: int = 50
    grad_clip: float = 1.0
    weight_decay: float = 1e-4
    amp: str = "off"
    compile: bool = False
    scale_lr: bool = True
    device: str = "auto"


@dataclass
class TrainConfig:
    model: WaveCrossConfig = field(default_factory=WaveCrossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model"]["encoder_channels"] = list(out["model"]["encoder_channels"])
        return out


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        inner = [a for a in options if a is not type(None)]
        return _check_type(value, inner[0], key)
    if origin is list:
        if not isinstance(value, list):
            raise WavecrossError(f"config key {key}: expected a list, got {value!r}.")
        (item,) = typing.get_args(annotation)
        return [_check_type(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise WavecrossError(f"config key {key}: expected a list, got {value!r}.")
        return tuple(_check_type(v, int, f"{key}[{i}]") for i, v in enumerate(value))
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if annotation in (int, float, str, bool) and (
        not isinstance(value, annotation) or (annotation is int and isinstance(value, bool))
    ):
        raise WavecrossError(f"config key {key}: expected {annotation.__name__}, got {value!r}.")
    return value


def _build(cls: type, values: Any, prefix: str) -> Any:
    if not isinstance(values, dict):
        raise WavecrossError(f"config key {prefix or 'top level'}: expected a mapping, got {values!r}.")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise WavecrossError(f"unknown config key {where}{unknown[0]}; valid keys here: {', '.join(sorted(names))}.")
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, key)
        else:
            kwargs[name] = _check_type(value, hint, key)
    return cls(**kwargs)


def _model_config(value: Any) -> WaveCrossConfig:
    """``model:`` is a preset name, or a mapping with an optional ``preset`` plus field overrides."""
    if isinstance(value, str):
        try:
            return get_config(value)
        except ValueError as exc:
            raise WavecrossError(f"config key model: {exc}.") from None
    if not isinstance(value, dict):
        raise WavecrossError(f"config key model: expected a preset name or a mapping, got {value!r}.")
    values = dict(value)
    base = _model_config(values.pop("preset", "paper")).to_dict()
    merged = _build(WaveCrossConfig, {**base, **values}, "model")
    return get_config(merged.to_dict())


def resolve_data_root(root: str, config_path: Path | None) -> str:
    """The absolute folder a config's ``data.roots`` entry names: as given (relative to the current directory),
    else relative to the config file's folder or its parent."""
    candidates = [Path(root)]
    if config_path is not None and not Path(root).is_absolute():
        candidates += [config_path.parent / root, config_path.parent.parent / root]
    for c in candidates:
        if c.is_dir():
            return str(c.resolve())
    raise WavecrossError(
        f"config key data.roots: data folder {root} does not exist; fix the path or run from the repository root."
    )


def parse_config(values: dict[str, Any], config_path: Path | None = None) -> TrainConfig:
    """Validate a config mapping (as read from YAML) into a :class:`TrainConfig`."""
    values = dict(values or {})
    model = _model_config(values.pop("model", "paper"))
    cfg = _build(TrainConfig, values, "")
    cfg.model = model
    cfg.data.roots = [resolve_data_root(r, config_path) for r in cfg.data.roots]
    if cfg.data.on_bad not in ("error", "warn"):
        raise WavecrossError(f"config key data.on_bad: expected 'error' or 'warn', got {cfg.data.on_bad!r}.")
    if cfg.run.amp not in ("off", "bf16", "fp16"):
        raise WavecrossError(f"config key run.amp: expected off, bf16 or fp16, got {cfg.run.amp!r}.")
    for key, value in (
        ("pretrain.steps", cfg.pretrain.steps),
        ("fusion.steps", cfg.fusion.steps),
        ("pretrain.batch_size", cfg.pretrain.batch_size),
        ("fusion.batch_size", cfg.fusion.batch_size),
        ("run.checkpoint_every", cfg.run.checkpoint_every),
    ):
        if value < 1:
            raise WavecrossError(f"config key {key}: must be at least 1, got {value}.")
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML training config."""
    path = Path(path)
    if not path.is_file():
        raise WavecrossError(f"{path}: config file not found; pass a YAML file such as configs/tiny.yaml.")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise WavecrossError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}).") from None
    return parse_config(values or {}, path)
