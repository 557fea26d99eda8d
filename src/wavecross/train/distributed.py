"""Process-group set-up for training under ``torchrun``: one process per GPU (NCCL) or per CPU worker (gloo).

A process's place in the job is the :class:`wavecross.distributed.Group` that folder fusion uses too.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from ..distributed import Group, torchrun_group


def init_distributed(device: torch.device) -> Group:
    """Join the process group that ``torchrun`` describes in the environment; a no-op for a single process."""
    group = torchrun_group()
    if group.world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=group.rank, world_size=group.world)
    return group


def pick_device(name: str) -> torch.device:
    """``auto`` → this process's GPU when CUDA is present (its torchrun ``local_rank``), else MPS, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torchrun_group().local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    from ..hub import resolve_device

    return resolve_device(name)  # a named device must exist: one clear error otherwise


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
