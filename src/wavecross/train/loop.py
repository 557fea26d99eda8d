"""The training loop shared by both stages: sharded batches, AMP, clipping, logs, checkpoints, exact resume.

Determinism is by construction rather than by saved iterator state: the batch order of epoch ``e`` is a
permutation drawn from ``seed + e``, each item's crop/flip comes from (seed, index, epoch) inside the dataset, and
the rank-loss pairs of step ``s`` come from a generator seeded with (seed, s, rank). A run resumed at step ``s``
therefore sees exactly the batches an uninterrupted run would, and on CPU ends with identical weights.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Dataset

from ..distributed import Group
from ..errors import WavecrossError
from .checkpoint import CHECKPOINT_NAME, has_checkpoint, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import RunConfig
from .distributed import barrier


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """``run.amp`` on ``device``: ``auto`` is bf16 where it is native (a CUDA GPU that supports it, a CPU with
    ``avx512_bf16``/``amx_bf16``: 1.4× the fp32 samples/s there, docs/speed.md), else fp16 on older GPUs, else
    off; ``bf16`` is kept on any device (emulated and slow on other CPUs); ``fp16`` is GPU-only, off elsewhere."""
    if amp == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        from ..engine import cpu_has_native_bf16

        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    if amp == "fp16" and device.type != "cuda":
        return None
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def ema_decay(decay: float, updates: int) -> float:
    """The moving average's decay at its ``updates``-th update: ``decay``, but at most (1 + n)/(10 + n) (as
    TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so that early on the average follows the
    weights instead of remembering the untrained ones for thousands of steps (0.999^1000 is still 0.37)."""
    return min(decay, (1 + updates) / (10 + updates))


def ema_update(decay: float) -> Callable[[list[Tensor], list[Tensor], Tensor | int], None]:
    """``AveragedModel``'s ``multi_avg_fn``: every averaged tensor moves toward the current one by 1 − the decay
    of :func:`ema_decay`."""

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], updates: Tensor | int) -> None:
        d = ema_decay(decay, int(updates))
        for avg, now in zip(averaged, current, strict=True):
            if avg.is_floating_point():
                avg.lerp_(now, 1 - d)
            else:  # integer buffers (BatchNorm's batch count)
                avg.copy_(now)

    return update


@dataclass
class Stage:
    """What differs between the two stages.

    ``model(ir, vis, generator)`` returns a dict of scalar loss terms with ``total``, plus ``output`` (the image
    shown in the sample panels). ``finalize(module)`` writes the stage's weights (main process only).
    """

    name: str
    model: nn.Module
    steps: int
    batch_size: int
    lr: float
    train_set: Dataset
    val_set: Dataset | None
    finalize: Callable[[nn.Module], None]
    full_validation: FullValidation | None = None
    groups: list[list[int]] | None = None  # item indices per data root, to sample the roots evenly


@dataclass
class FullValidation:
    """Scoring of whole validation images every ``every`` steps (fusion stage).

    ``evaluate(module)`` returns flat values (``"MSRS/SD"``…) including ``"score"``; ``save_best(module, values)``
    writes the best model so far.
    """

    every: int
    evaluate: Callable[[nn.Module], dict[str, float]]
    save_best: Callable[[nn.Module, dict[str, Any]], None]
    at_start: bool = True


def epoch_batches(
    n: int, batch: int, epoch: int, seed: int, rank: int, world: int, groups: list[list[int]] | None = None
) -> list[list[int]]:
    """This rank's batches of epoch ``epoch``: a seeded permutation, split across ranks, cut into full batches.

    With ``groups`` (the item indices of each data root) every root gives as many draws per epoch as the largest
    one: a small root's items repeat, as indices ``i + k·n`` that the dataset reads as new crops of item ``i``.
    Datasets smaller than one global batch are repeated so every step has ``batch`` items on every rank.
    """
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    pool = list(range(n)) if groups is None else _balanced_draws(n, groups, g)
    need = batch * world
    order: list[int] = []
    while len(order) < max(len(pool), need):
        order += [pool[i] for i in torch.randperm(len(pool), generator=g).tolist()]
    usable = (len(order) // need) * need
    shard = order[:usable][rank::world]
    return [shard[k : k + batch] for k in range(0, len(shard), batch)]


def _balanced_draws(n: int, groups: list[list[int]], g: torch.Generator) -> list[int]:
    largest = max(len(items) for items in groups)
    draws: list[int] = []
    for items in groups:
        picks: list[int] = []
        while len(picks) < largest:
            picks += [items[i] for i in torch.randperm(len(items), generator=g).tolist()]
        draws += [item + n * (k // len(items)) for k, item in enumerate(picks[:largest])]
    return draws


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5 % of the base rate."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _set_epoch(dataset: Dataset, epoch: int) -> None:
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


class Trainer:
    def __init__(
        self,
        stage: Stage,
        run: RunConfig,
        out_dir: Path,
        group: Group,
        device: torch.device,
        workers: int = 0,
    ) -> None:
        self.stage, self.run, self.group, self.device, self.workers = stage, run, group, device, workers
        self.dir = out_dir / stage.name
        self.ckpt_path = self.dir / CHECKPOINT_NAME
        self.module = stage.model.to(device)
        if run.channels_last:  # faster convolutions on CPUs (oneDNN) and tensor cores; same results to rounding
            self.module = self.module.to(memory_format=torch.channels_last)
        params = [p for p in self.module.parameters() if p.requires_grad]
        lr = stage.lr * (group.world if run.scale_lr else 1)
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=run.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, stage.steps, run.warmup_steps)
        )
        self.amp_dtype = autocast_dtype(run.amp, device)
        if device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matmuls, as cuDNN convolutions already use
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)
        net: nn.Module = torch.compile(self.module) if run.compile else self.module
        if group.world > 1:
            net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        self.net = net
        # The average lives beside the trained module (same device and layout); the loss module it wraps is
        # copied too, so the average is evaluated exactly as the module is.
        self.ema: AveragedModel | None = None
        if run.ema > 0:
            self.ema = AveragedModel(self.module, multi_avg_fn=ema_update(run.ema), use_buffers=True)
        self.step = 0
        self.best: dict[str, Any] = {"score": None, "step": 0}
        self.writer: Any = None

    # --- state -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage.name,
            "step": self.step,
            "model": _unwrap(self.net).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best": self.best,
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def evaluated(self) -> nn.Module:
        """The weights that are validated and kept: the moving average when ``run.ema`` is on, else the model."""
        return self.ema.module if self.ema is not None else _unwrap(self.net)

    def resume(self) -> bool:
        """Load this stage's checkpoint if there is one; returns whether it did."""
        if not has_checkpoint(self.ckpt_path):
            return False
        state = load_checkpoint(self.ckpt_path)
        _unwrap(self.net).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        if self.ema is not None:
            if "ema" not in state:
                raise WavecrossError(
                    f"{self.ckpt_path}: this checkpoint was written without run.ema; resume with the run's own "
                    "settings, or start a new run in another folder."
                )
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        self.best = state.get("best", self.best)
        self._drop_log_rows_after(self.step)
        return True

    def _drop_log_rows_after(self, step: int) -> None:
        """A run killed after its last checkpoint logged steps it will redo: drop those rows, so none repeats."""
        log = self.dir / "metrics.jsonl"
        if not self.group.is_main or not log.is_file():
            return
        kept = []
        for line in log.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the kill
        log.write_text("".join(f"{line}\n" for line in kept))

    def save(self) -> None:
        if self.group.is_main:
            save_checkpoint(self.ckpt_path, self.state_dict())
        barrier()

    # --- logging ---------------------------------------------------------------------------------------------
    def _log(self, values: dict[str, float], split: str) -> None:
        if not self.group.is_main:
            return
        record = {"stage": self.stage.name, "split": split, "step": self.step, **values}
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{self.stage.name}/{split}/{key}", value, self.step)

    def _reduce(self, terms: dict[str, Tensor]) -> dict[str, float]:
        keys = sorted(k for k, v in terms.items() if k != "output" and v.ndim == 0)
        vec = torch.stack([terms[k].detach().float() for k in keys])
        if self.group.world > 1:
            dist.all_reduce(vec)
            vec /= self.group.world
        return dict(zip(keys, vec.tolist(), strict=True))

    def _generator(self, step: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.run.seed * 1_000_003 + step * 1009 + self.group.rank)

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @torch.no_grad()
    def validate(self) -> None:
        """Mean loss terms over the validation set (main process), and a sample panel in TensorBoard."""
        if not self.group.is_main or self.stage.val_set is None or len(self.stage.val_set) == 0:
            return
        module = self.evaluated()
        module.eval()
        sums: dict[str, float] = {}
        loader = DataLoader(self.stage.val_set, batch_size=1, shuffle=False)
        panels = []
        for k, item in enumerate(loader):
            ir, vis = item["ir"].to(self.device), item["vis"].to(self.device)
            terms = module(ir, vis, torch.Generator().manual_seed(k))
            for key, value in terms.items():
                if key != "output":
                    sums[key] = sums.get(key, 0.0) + float(value)
            if k < 4:
                panels.append(torch.cat((ir, vis, terms["output"].float()), dim=-1)[0].cpu())
        module.train()
        self._log({k: v / len(loader) for k, v in sums.items()}, "val")
        if self.writer is not None and panels:
            width = min(p.shape[-1] for p in panels)
            grid = torch.cat([p[..., :width] for p in panels], dim=-2).clamp(0, 1)
            self.writer.add_image(f"{self.stage.name}/samples (IR | VIS | output)", grid, self.step)

    def validate_full(self, full: FullValidation) -> None:
        """Score whole validation images (main process); log them and keep the best model by the score."""
        if not self.group.is_main:
            return
        module = self.evaluated()
        started = time.perf_counter()
        values = full.evaluate(module)
        module.train()
        values["seconds"] = time.perf_counter() - started
        self._log(values, "val_full")
        score = values.get("score", math.nan)
        if not math.isnan(score) and (self.best["score"] is None or score > self.best["score"]):
            self.best = {"score": score, "step": self.step}
            full.save_best(module, {"step": self.step, **values})

    # --- the loop ------------------------------------------------------------------------------------------
    def fit(self, progress: bool = True) -> None:
        stage, run = self.stage, self.run
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.group.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.dir / "tb"))
        n = len(stage.train_set)
        if n == 0:
            raise WavecrossError("the training set is empty; check data.roots in the config.")

        def batches_of(epoch: int) -> list[list[int]]:
            return epoch_batches(n, stage.batch_size, epoch, run.seed, self.group.rank, self.group.world, stage.groups)

        per_epoch = len(batches_of(0))
        bar = None
        if progress and self.group.is_main:
            from ..progress import progress_bar

            # a bar on a terminal, a line per tenth of the remaining steps in a log
            bar = progress_bar(total=stage.steps - self.step, desc=stage.name, unit="step")
        self.net.train()
        if stage.full_validation is not None and stage.full_validation.at_start and self.step == 0:
            self.validate_full(stage.full_validation)  # the starting point: a warm start's score, the baseline
            barrier()
        started, first_step = time.perf_counter(), self.step
        while self.step < stage.steps:
            epoch, offset = divmod(self.step, per_epoch)
            _set_epoch(stage.train_set, epoch)
            batches = batches_of(epoch)
            loader = DataLoader(stage.train_set, batch_sampler=batches[offset:], num_workers=self.workers)
            for batch in loader:
                self._train_step(batch)
                if bar is not None:
                    bar.update(1)
                if self.step % run.log_every == 0 or self.step == stage.steps:
                    elapsed = time.perf_counter() - started
                    rate = (self.step - first_step) * stage.batch_size * self.group.world / max(elapsed, 1e-9)
                    self._last_terms["lr"] = self.scheduler.get_last_lr()[0]
                    self._last_terms["samples_per_s"] = rate
                    self._log(self._last_terms, "train")
                    if bar is not None and hasattr(bar, "set_postfix"):
                        bar.set_postfix(loss=f"{self._last_terms['total']:.4f}")
                if self.step % run.val_every == 0 or self.step == stage.steps:
                    self.validate()
                    barrier()
                full = stage.full_validation
                if full is not None and (self.step % full.every == 0 or self.step == stage.steps):
                    self.validate_full(full)
                    barrier()
                if self.step % run.checkpoint_every == 0 or self.step == stage.steps:
                    self.save()
                if self.step >= stage.steps:
                    break
        if bar is not None:
            bar.close()
        if self.group.world > 1:
            # DDP syncs parameters every step, but BatchNorm statistics last updated on each rank's own batch:
            # adopt rank 0's, so every replica ends identical to the weights rank 0 writes.
            for buffer in self.module.buffers():
                dist.broadcast(buffer, src=0)
        if self.group.is_main:
            stage.finalize(self.evaluated())
            if self.writer is not None:
                self.writer.close()
        barrier()

    def _train_step(self, batch: dict[str, Any]) -> None:
        ir = batch["ir"].to(self.device, non_blocking=True)
        vis = batch["vis"].to(self.device, non_blocking=True)
        with self._autocast():
            terms = self.net(ir, vis, self._generator(self.step))
        loss = terms["total"]
        if not torch.isfinite(loss):
            raise WavecrossError(
                f"{self.stage.name} loss became {float(loss)} at step {self.step}; lower the learning rate "
                "(or set run.amp: off) and resume from the last checkpoint with --resume."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.run.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for p in self.module.parameters() if p.requires_grad], self.run.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.module)
        self.step += 1
        log_now = self.step % self.run.log_every == 0 or self.step == self.stage.steps
        if log_now:
            self._last_terms = self._reduce(terms)
