"""Training configuration: a YAML file validated into dataclasses.

Every key is checked on load: an unknown or mistyped key, a value of the wrong type, or a missing data folder is
one :class:`~wavecross.errors.WavecrossError` naming the key (``fusion.lr``) or the path. Relative data paths are
resolved against the current directory first, then against the folder of the config file (or of one of its bases)
and that folder's parent. Recipes ship inside the package (``wavecross/configs/*.yaml``) and are found by name:
``wavecross train tiny``.

A config may start from another with ``base: NAME_OR_PATH``: the base's sections are read first and the file's own
keys replace theirs, section by section (a list or a value replaces the base's whole; a mapping is merged key by
key; a ``model`` that names a preset replaces the base's network whole). That is how the fine-tuning and proxy
recipes keep the shipped model's network and loss written once.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import WavecrossError
from ..losses import FusionLossWeights
from ..nn import WaveCrossConfig, get_config
from .validation import DEFAULT_METRICS, DEFAULT_WEIGHTS


@dataclass
class DataConfig:
    """``roots``: folders with ``ir/`` and ``vi/``; empty means the synthetic generator (``synthetic_length``
    pairs). ``on_bad``: ``error`` or ``warn`` for unpaired/unreadable files. ``balance_roots``: every root gives
    as many samples per epoch as the largest (a 12-pair root is not drowned by a 221-pair one)."""

    roots: list[str] = field(default_factory=list)
    crop: int = 128
    val_fraction: float = 0.05
    synthetic_length: int = 512
    workers: int = 0
    on_bad: str = "error"
    balance_roots: bool = False


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
    # default: <out>/pretrain/encoders.safetensors; also a shipped model's name or any whole model's file (its encoders)
    encoders: str | None = None
    # start from a whole trained model instead: a model name (``wavecross``) or a model.safetensors file; its
    # encoders replace the pre-trained ones, so stage 1 is not needed
    init: str | None = None
    loss: FusionLossWeights = field(default_factory=FusionLossWeights)


@dataclass
class RunConfig:
    """``scale_lr``: multiply learning rates by the number of processes (linear scaling rule, since the effective
    batch is batch_size × processes). ``amp``: autocast, ``off``, ``auto`` (bf16 where it is native, see
    :func:`wavecross.train.loop.autocast_dtype`), ``bf16`` or ``fp16`` (GPU only). ``ema``: decay of an
    exponential moving average of the weights (0: off; BasicSR's usual 0.999); when on, validation, the best
    checkpoint and the stage's final weights are the average's."""

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
    channels_last: bool = False
    scale_lr: bool = True
    device: str = "auto"
    ema: float = 0.0


@dataclass
class ValidationConfig:
    """Full-size validation of the fusion stage (:mod:`wavecross.train.validation`).

    ``roots``: folders of pairs (``ir/`` + ``vi/``) fused whole every ``every`` steps; empty turns it off.
    ``max_pairs`` > 0 keeps that many pairs per folder (evenly spaced by name; for quick proxy runs).
    ``metrics`` are computed under ``convention``; ``weights`` define the composite score that picks
    ``fusion/best.safetensors``, relative to the ``reference`` baseline (a classical method's name).
    ``at_start`` also scores the network before its first step (the baseline of a warm start). ``precision`` is the
    number format the pairs are fused in (``wavecross fuse --precision``); fp32 by default, so that a score does
    not depend on the CPU it was computed on (bf16 moves edge metrics such as Qabf and Nabf: docs/speed.md).
    """

    roots: list[str] = field(default_factory=list)
    every: int = 500
    max_pairs: int = 0
    convention: str = "cddfuse"
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    reference: str = "max"
    at_start: bool = True
    precision: str = "fp32"


@dataclass
class TrainConfig:
    model: WaveCrossConfig = field(default_factory=WaveCrossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    run: RunConfig = field(default_factory=RunConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

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
    if origin is dict:
        if not isinstance(value, dict):
            raise WavecrossError(f"config key {key}: expected a mapping, got {value!r}.")
        key_type, value_type = typing.get_args(annotation)
        return {_check_type(k, key_type, f"{key}"): _check_type(v, value_type, f"{key}.{k}") for k, v in value.items()}
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


def resolve_data_root(root: str, config_paths: Sequence[Path], key: str = "data.roots") -> str:
    """The absolute folder a config's ``data.roots`` entry names: as given (relative to the current directory),
    else relative to the folder of a config file it may come from (the file and its bases), or that folder's parent."""
    candidates = [Path(root)]
    if not Path(root).is_absolute():
        candidates += [folder / root for p in config_paths for folder in (p.parent, p.parent.parent)]
    for c in candidates:
        if c.is_dir():
            return str(c.resolve())
    raise WavecrossError(
        f"config key {key}: data folder {root} does not exist; fix the path or run from the repository root."
    )


def parse_config(values: dict[str, Any], config_paths: Sequence[Path] = ()) -> TrainConfig:
    """Validate a config mapping (as read from YAML) into a :class:`TrainConfig`; ``config_paths`` are the files it
    was read from (for relative data folders)."""
    values = dict(values or {})
    model = _model_config(values.pop("model", "paper"))
    cfg = _build(TrainConfig, values, "")
    cfg.model = model
    cfg.data.roots = [resolve_data_root(r, config_paths) for r in cfg.data.roots]
    cfg.validation.roots = [resolve_data_root(r, config_paths, "validation.roots") for r in cfg.validation.roots]
    if cfg.data.on_bad not in ("error", "warn"):
        raise WavecrossError(f"config key data.on_bad: expected 'error' or 'warn', got {cfg.data.on_bad!r}.")

    from ..losses.heat import SALIENCY_NORMS

    if cfg.fusion.loss.saliency_norm not in SALIENCY_NORMS:
        raise WavecrossError(
            f"config key fusion.loss.saliency_norm: expected one of {', '.join(SALIENCY_NORMS)}, "
            f"got {cfg.fusion.loss.saliency_norm!r}."
        )
    if cfg.run.amp not in ("auto", "off", "bf16", "fp16"):
        raise WavecrossError(f"config key run.amp: expected auto, off, bf16 or fp16, got {cfg.run.amp!r}.")
    if not 0 <= cfg.run.ema < 1:
        raise WavecrossError(f"config key run.ema: expected a decay in [0, 1) (0: off), got {cfg.run.ema}.")
    _check_validation(cfg.validation)
    _check_ranges(cfg)
    _check_sources(cfg)
    return cfg


def _check_sources(cfg: TrainConfig) -> None:
    """The device and the files a stage starts from, found before any stage runs."""
    from ..hub import MODELS

    device = cfg.run.device
    if device not in ("auto", "cpu", "cuda", "mps") and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise WavecrossError(f"config key run.device: unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps.")
    for key, source in (("fusion.init", cfg.fusion.init), ("fusion.encoders", cfg.fusion.encoders)):
        if source and source not in MODELS and not Path(source).is_file():
            raise WavecrossError(
                f"config key {key}: {source} is neither a shipped model ({', '.join(MODELS)}) nor a weights file."
            )


def _check_ranges(cfg: TrainConfig) -> None:
    """Every number of every stage in its range (finite, positive...), so a bad value fails before any training."""
    loss = cfg.fusion.loss
    checks: list[tuple[str, float, float, str]] = [  # key, value, lowest allowed, what it must be
        ("pretrain.steps", cfg.pretrain.steps, 1, "at least 1"),
        ("fusion.steps", cfg.fusion.steps, 1, "at least 1"),
        ("pretrain.batch_size", cfg.pretrain.batch_size, 1, "at least 1"),
        ("fusion.batch_size", cfg.fusion.batch_size, 1, "at least 1"),
        ("run.checkpoint_every", cfg.run.checkpoint_every, 1, "at least 1"),
        ("run.log_every", cfg.run.log_every, 1, "at least 1"),
        ("run.val_every", cfg.run.val_every, 1, "at least 1"),
        ("run.sample_every", cfg.run.sample_every, 1, "at least 1"),
        ("validation.every", cfg.validation.every, 1, "at least 1"),
        ("data.crop", cfg.data.crop, 16, "at least 16 (the network's smallest input)"),
        ("data.synthetic_length", cfg.data.synthetic_length, 1, "at least 1"),
        ("data.workers", cfg.data.workers, 0, "0 or more"),
        ("run.warmup_steps", cfg.run.warmup_steps, 0, "0 or more"),
        ("fusion.loss.rank_random_pairs", loss.rank_random_pairs, 0, "0 or more"),
        ("fusion.loss.rank_neighbour_pairs", loss.rank_neighbour_pairs, 0, "0 or more"),
        ("fusion.loss.intensity_overshoot_radius", loss.intensity_overshoot_radius, 0, "0 or more"),
    ]
    positive = [("pretrain.lr", cfg.pretrain.lr), ("fusion.lr", cfg.fusion.lr)]
    non_negative = [
        ("pretrain.eps", cfg.pretrain.eps),
        ("run.grad_clip", cfg.run.grad_clip),
        ("run.weight_decay", cfg.run.weight_decay),
        *((f"fusion.loss.{f.name}", getattr(loss, f.name)) for f in dataclasses.fields(loss) if f.type == "float"),
        *((f"validation.weights.{k}", v) for k, v in cfg.validation.weights.items()),
    ]
    for key, value in positive:
        if not math.isfinite(value) or value <= 0:
            raise WavecrossError(f"config key {key}: must be a positive number, got {value}.")
    for key, value in non_negative:
        if not math.isfinite(value) or value < 0:
            raise WavecrossError(f"config key {key}: must be a finite number of 0 or more, got {value}.")
    for key, value, lowest, what in checks:
        if value < lowest:
            raise WavecrossError(f"config key {key}: must be {what}, got {value}.")
    if not 0 <= cfg.data.val_fraction < 1:
        raise WavecrossError(f"config key data.val_fraction: must be in [0, 1), got {cfg.data.val_fraction}.")
    if loss.rank > 0 and loss.rank_random_pairs + loss.rank_neighbour_pairs == 0:
        raise WavecrossError("config key fusion.loss.rank: the rank loss is on but draws no pairs; set a pair count.")


def _check_validation(v: ValidationConfig) -> None:
    from ..baselines import BASELINES
    from ..engine import PRECISIONS
    from ..metrics import CONVENTIONS, resolve

    if v.convention not in CONVENTIONS:
        raise WavecrossError(f"config key validation.convention: choose one of {', '.join(CONVENTIONS)}.")
    try:
        resolve(v.metrics, v.convention)
    except WavecrossError as exc:
        raise WavecrossError(f"config key validation.metrics: {exc}") from None
    unknown = sorted(set(v.weights) - set(v.metrics))
    if unknown:
        raise WavecrossError(f"config key validation.weights: {', '.join(unknown)} not in validation.metrics.")
    if v.reference not in BASELINES:
        raise WavecrossError(f"config key validation.reference: choose one of {', '.join(BASELINES)}.")
    if v.max_pairs < 0:
        raise WavecrossError(f"config key validation.max_pairs: must be 0 (all) or more, got {v.max_pairs}.")
    if v.precision not in PRECISIONS:
        raise WavecrossError(f"config key validation.precision: choose one of {', '.join(PRECISIONS)}.")


def recipe_path(name_or_path: str | Path) -> Path:
    """A config file: an existing path, else a recipe shipped in the package by name (``tiny``, ``wavecross``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = Path(str(resources.files("wavecross") / "configs" / f"{path.name.removesuffix('.yaml')}.yaml"))
    if path.suffix in ("", ".yaml") and len(path.parts) <= 2 and packaged.is_file():
        return packaged
    raise WavecrossError(
        f"{name_or_path}: config file not found; pass a YAML file or a shipped recipe name ({', '.join(recipes())})."
    )


def recipes() -> list[str]:
    """Names of the recipes shipped with the package."""
    folder = resources.files("wavecross") / "configs"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_mapping(name: str) -> dict[str, Any]:
    """``model: NAME`` as the mapping it stands for: the preset as it is, no field changed."""
    return {"preset": name}


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``key.sub=value`` strings applied to a config mapping; values are read as YAML (``3``, ``1e-4``, ``[a, b]``,
    ``true``). Keys and values are then validated with the rest of the config by :func:`parse_config`."""
    values = copy.deepcopy(values)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise WavecrossError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. fusion.lr=1e-4.")
        try:
            value = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            raise WavecrossError(f"--set {item!r}: the value is not valid YAML.") from None
        node = values
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None or isinstance(child, str) and part == "model" and depth == 0:
                child = {} if child is None else preset_mapping(child)  # so a field of ``model: paper`` can be set
                node[part] = child
            if not isinstance(child, dict):
                raise WavecrossError(f"--set {item!r}: {'.'.join(parts[: depth + 1])} is not a section.")
            node = child
        node[parts[-1]] = value
    return values


def merge_sections(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """``own`` over ``base``: mappings merged key by key (recursively), anything else replaced whole."""
    merged = copy.deepcopy(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_sections(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


_MAX_BASES = 8


def read_recipe(path: str | Path) -> tuple[dict[str, Any], list[Path]]:
    """A config file's mapping with its ``base`` chain merged in, and the files read (the file first)."""
    files: list[Path] = []
    chain: list[dict[str, Any]] = []
    source: str | Path | None = path
    while source is not None:
        try:
            found = recipe_path(source)
        except WavecrossError as exc:
            if not files:
                raise
            raise WavecrossError(f"{files[-1]}: config key base: {exc}") from None
        if found.resolve() in (f.resolve() for f in files):
            raise WavecrossError(f"{files[0]}: its base chain loops back to {found}; remove one of the base keys.")
        if len(files) == _MAX_BASES:
            raise WavecrossError(f"{files[0]}: its base chain is deeper than {_MAX_BASES} files; shorten it.")
        try:
            values = yaml.safe_load(found.read_text())
        except yaml.YAMLError as exc:
            raise WavecrossError(f"{found}: not valid YAML ({str(exc).splitlines()[0]}).") from None
        if values is not None and not isinstance(values, dict):
            raise WavecrossError(f"{found}: a training config is a mapping of sections (model, data, fusion, ...).")
        values = dict(values or {})
        source = values.pop("base", None)
        if source is not None and not isinstance(source, str):
            raise WavecrossError(f"{found}: config key base: expected a recipe name or a YAML file, got {source!r}.")
        if source is not None and not Path(source).is_absolute() and (found.parent / source).is_file():
            source = found.parent / source  # a base next to the file that names it
        files.append(found)
        chain.append(values)
    merged: dict[str, Any] = {}
    for values in reversed(chain):
        if isinstance(values.get("model"), str):
            values = {**values, "model": preset_mapping(values["model"])}
        if isinstance(values.get("model"), dict) and "preset" in values["model"]:
            merged.pop("model", None)  # naming a preset starts the network over, not from the base's fields
        merged = merge_sections(merged, values)
    return merged, files


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read and validate a YAML training config (a path or a shipped recipe name, with its ``base`` chain), with
    ``--set`` overrides."""
    values, files = read_recipe(path)
    return parse_config(apply_overrides(values, overrides), files)
