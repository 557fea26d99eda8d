"""The two training stages of Wave-Cross and the function that runs them.

Stage ``pretrain``: the IR and the visible auto-encoders (encoder + reconstruction decoder, separate parameters),
each with its own reconstruction loss; their sum is optimised. Stage ``fusion``: a :class:`WaveCross` whose two
encoders are loaded from the pre-training result (frozen by default); the WA modules, the cross-attention and the
fusion decoder learn with L_all. Outputs under ``out/``: ``pretrain/encoders.safetensors``,
``fusion/model.safetensors`` (fp32, the config in its metadata), checkpoints, ``metrics.jsonl`` and TensorBoard logs.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..errors import WavecrossError
from ..losses import fusion_loss, reconstruction_loss
from ..nn import ModalityAutoencoder, WaveCross, load_weights, save_weights
from ..nn.config import WaveCrossConfig
from ..nn.io import read_weights, save_state
from .checkpoint import CHECKPOINT_NAME, has_checkpoint
from .config import TrainConfig
from .distributed import cleanup, init_distributed, pick_device
from .loop import FullValidation, Stage, Trainer

STAGES = ("pretrain", "fusion", "all")
#: The model config fields the two encoders are built from (:class:`wavecross.nn.encoder.ModalityEncoder`).
ENCODER_FIELDS = ("shallow_channels", "encoder_channels", "dense_layers")
ENCODER_PREFIXES = ("encoder_ir.", "encoder_vis.")


class AutoencoderPair(nn.Module):
    """The two modality auto-encoders trained side by side in stage 1."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.config = cfg.model
        self.ir = ModalityAutoencoder(cfg.model)
        self.vis = ModalityAutoencoder(cfg.model)
        self.eps = cfg.pretrain.eps

    def forward(self, ir: Tensor, vis: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        rec_ir, rec_vis = self.ir(ir), self.vis(vis)
        loss_ir = reconstruction_loss(rec_ir.float(), ir, self.eps)
        loss_vis = reconstruction_loss(rec_vis.float(), vis, self.eps)
        terms = {f"ir_{k}": v for k, v in loss_ir.items()} | {f"vis_{k}": v for k, v in loss_vis.items()}
        terms["total"] = loss_ir["total"] + loss_vis["total"]
        terms["output"] = torch.cat((rec_ir, rec_vis), dim=-1)
        return terms

    def encoder_state(self) -> dict[str, Tensor]:
        """Encoder weights under the names :class:`WaveCross` uses (``encoder_ir.*``, ``encoder_vis.*``)."""
        state = {f"encoder_ir.{k}": v for k, v in self.ir.encoder.state_dict().items()}
        return state | {f"encoder_vis.{k}": v for k, v in self.vis.encoder.state_dict().items()}


class FusionStage(nn.Module):
    """WaveCross + L_all; frozen encoders stay in eval mode (no BN/dropout drift) while the rest trains."""

    def __init__(self, cfg: TrainConfig, net: WaveCross) -> None:
        super().__init__()
        self.net = net
        self.config = cfg.model
        self.weights = cfg.fusion.loss
        self.frozen = cfg.fusion.freeze_encoders
        if self.frozen:
            for enc in net.encoders():
                enc.requires_grad_(False)

    def train(self, mode: bool = True) -> FusionStage:
        super().train(mode)
        if self.frozen:
            for enc in self.net.encoders():
                enc.eval()
        return self

    def forward(self, ir: Tensor, vis: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        fused = self.net(ir, vis)
        terms = fusion_loss(fused.float(), ir, vis, self.weights, generator)
        terms["output"] = fused
        return terms


def build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset | None]:
    """Train and validation sets: the configured roots, or the synthetic generator when there are none."""
    from ..data import PairedImageDataset, SyntheticPairDataset

    d = cfg.data
    if not d.roots:
        train = SyntheticPairDataset(length=d.synthetic_length, size=d.crop, seed=cfg.run.seed)
        val = SyntheticPairDataset(length=4, size=d.crop, seed=cfg.run.seed + 10_000)
        return train, val
    common = {"crop": d.crop, "val_fraction": d.val_fraction, "seed": cfg.run.seed, "on_bad": d.on_bad}
    train = PairedImageDataset(d.roots, split="train", **common)
    # val_fraction 0: every pair trains, and validation is left to the full-size validation sets
    return train, PairedImageDataset(d.roots, split="val", **common) if d.val_fraction > 0 else None


def _pretrain_stage(cfg: TrainConfig, out: Path, data: tuple[Dataset, Dataset | None]) -> Stage:
    def finalize(module: nn.Module) -> None:
        save_state(module.encoder_state(), out / "pretrain" / "encoders.safetensors", cfg.model)

    p = cfg.pretrain
    stage = Stage("pretrain", AutoencoderPair(cfg), p.steps, p.batch_size, p.lr, data[0], data[1], finalize)
    stage.groups = _groups(cfg, data[0])
    return stage


def _groups(cfg: TrainConfig, train_set: Dataset) -> list[list[int]] | None:
    return train_set.groups if cfg.data.balance_roots and hasattr(train_set, "groups") else None


def _weights_file(source: str) -> Path:
    """A shipped model's weights file by its name (``wavecross``), else ``source`` as a path."""
    from ..hub import MODELS, weights_path

    return weights_path(source) if source in MODELS else Path(source)


def _initial_network(cfg: TrainConfig, out: Path) -> WaveCross:
    """The fusion network before stage 2: a whole model (``fusion.init``), else fresh with pre-trained encoders."""
    net = WaveCross(cfg.model)
    if cfg.fusion.init:
        path = _weights_file(cfg.fusion.init)
        tensors, _ = read_weights(path)
        state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        # parts added for fine-tuning (zero at the start) may be absent from the file; nothing else may
        added = {k: v for k, v in net.state_dict().items() if k.startswith(net.ZERO_START_PREFIXES) and k not in state}
        try:
            net.load_state_dict({**state, **added})
        except RuntimeError as exc:
            raise WavecrossError(
                f"{path}: does not fit this config's model ({str(exc).splitlines()[0][:160]}); "
                "fusion.init must be a whole model of the same sizes."
            ) from None
        return net
    return _with_encoders(net, cfg, out)


def _with_encoders(net: WaveCross, cfg: TrainConfig, out: Path) -> WaveCross:
    """``net`` with the encoders of stage 1, or of ``fusion.encoders``: an encoders file, a whole model's file or a
    shipped model's name (every shipped model keeps the frozen stage-1 encoders it was trained with)."""
    source = cfg.fusion.encoders
    enc_path = _weights_file(source) if source else out / "pretrain" / "encoders.safetensors"
    if not enc_path.is_file():
        raise WavecrossError(
            f"{enc_path}: pre-trained encoders not found; run --stage pretrain first (same --out) "
            "or set fusion.encoders in the config."
        )
    tensors, meta = read_weights(enc_path)
    try:
        theirs = WaveCrossConfig.from_dict(json.loads(meta.get("config", "{}")))
    except (ValueError, TypeError):
        theirs = None
    # Only the encoders' own sizes must agree: a file from a model with other attention or decoder options (or
    # written before an option existed) holds the same encoders.
    if theirs is None or any(getattr(theirs, k) != getattr(cfg.model, k) for k in ENCODER_FIELDS):
        raise WavecrossError(
            f"{enc_path}: encoders were trained with another model config; pre-train again with this config."
        )
    encoders = {k: v.float() for k, v in tensors.items() if k.startswith(ENCODER_PREFIXES)}
    result = net.load_state_dict(encoders, strict=False)
    missing = [k for k in result.missing_keys if k.startswith(ENCODER_PREFIXES)]
    if missing or not encoders:
        raise WavecrossError(f"{enc_path}: holds no complete encoders (missing {missing[:3]}); not an encoders file.")
    return net


def _fusion_stage(cfg: TrainConfig, out: Path, data: tuple[Dataset, Dataset | None]) -> Stage:
    net = _initial_network(cfg, out)

    def finalize(module: nn.Module) -> None:
        save_weights(module.net, out / "fusion" / "model.safetensors")

    f = cfg.fusion
    stage = Stage("fusion", FusionStage(cfg, net), f.steps, f.batch_size, f.lr, data[0], data[1], finalize)
    stage.full_validation = _full_validation(cfg, out)
    stage.groups = _groups(cfg, data[0])
    return stage


def _full_validation(cfg: TrainConfig, out: Path) -> FullValidation | None:
    """Whole-image validation of the fusion stage, when ``validation.roots`` lists folders."""
    v = cfg.validation
    if not v.roots:
        return None
    from .validation import FullImageValidator, flatten

    validator = FullImageValidator(v.roots, v.metrics, v.weights, v.reference, v.max_pairs, v.convention)

    def evaluate(module: nn.Module) -> dict[str, float]:
        values = validator.evaluate(module.net, v.precision)
        return {**flatten(values), "score": validator.score(values)}

    def save_best(module: nn.Module, values: dict) -> None:
        save_weights(module.net, out / "fusion" / "best.safetensors")
        (out / "fusion" / "best.json").write_text(json.dumps(values, indent=1) + "\n")

    return FullValidation(v.every, evaluate, save_best, v.at_start)


def train(
    cfg: TrainConfig,
    stage: str = "all",
    out: str | Path = "runs/default",
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
) -> dict[str, nn.Module]:
    """Run ``pretrain``, ``fusion`` or ``all``; works under ``torchrun`` as is.

    Returns the trained module of each stage run (on every process, so replicas can be compared).
    """
    if stage not in STAGES:
        raise WavecrossError(f"unknown stage {stage!r}; choose pretrain, fusion or all.")
    out = Path(out)
    if max_steps is not None:
        cfg.pretrain.steps = cfg.fusion.steps = max_steps
    device = pick_device(cfg.run.device)
    _check_validation_precision(cfg, stage, device)
    group = init_distributed(device)
    torch.manual_seed(cfg.run.seed)
    trained: dict[str, nn.Module] = {}
    try:
        data = build_datasets(cfg)  # loaded once, shared by both stages
        for name in stages_to_run(cfg, stage):
            ckpt = out / name / CHECKPOINT_NAME
            if has_checkpoint(ckpt) and not resume:
                raise WavecrossError(f"{ckpt} exists; pass --resume to continue that run or choose another --out.")
            if group.is_main:
                out.mkdir(parents=True, exist_ok=True)
                (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            torch.manual_seed(cfg.run.seed)  # same initial weights whatever ran before
            make = _pretrain_stage if name == "pretrain" else _fusion_stage
            trainer = Trainer(make(cfg, out, data), cfg.run, out, group, device, cfg.data.workers)
            if resume and trainer.resume() and group.is_main and trainer.step >= trainer.stage.steps:
                print(f"{name}: already finished ({trainer.step} steps)")
            trainer.fit(progress=progress)
            trained[name] = trainer.module
    finally:
        cleanup()
    return trained


def _check_validation_precision(cfg: TrainConfig, stage: str, device: torch.device) -> None:
    """Refuse a ``validation.precision`` the training device cannot run (fp16 on a CPU) before the first step,
    not at the first validation, hours into the run."""
    if not cfg.validation.roots or "fusion" not in stages_to_run(cfg, stage):
        return
    from ..engine import resolve_precision

    try:
        resolve_precision(cfg.validation.precision, device)
    except WavecrossError:
        raise WavecrossError(
            f"config key validation.precision: {cfg.validation.precision} cannot run on the {device.type} this run "
            "trains on; use fp32 (the default), bf16 or auto."
        ) from None


def stages_to_run(cfg: TrainConfig, stage: str) -> tuple[str, ...]:
    """The stages ``stage`` stands for. ``all`` skips pre-training when ``fusion.init`` (a whole model) or
    ``fusion.encoders`` gives the encoders: they replace whatever stage 1 would produce, so that stage would be
    time spent for nothing."""
    if stage != "all":
        return (stage,)
    return ("fusion",) if cfg.fusion.init or cfg.fusion.encoders else ("pretrain", "fusion")


def export_fp16(model_path: str | Path, dest: str | Path) -> Path:
    """Copy a trained ``model.safetensors`` as fp16 (the shipped-weights format)."""
    model = load_weights(model_path)
    save_weights(model, dest, half=True)
    return Path(dest)


__all__ = ["STAGES", "AutoencoderPair", "FusionStage", "build_datasets", "export_fp16", "stages_to_run", "train"]
