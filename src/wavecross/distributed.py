"""Sharing a folder of pairs among the processes of a ``torchrun`` job (``torchrun ... -m wavecross fuse``).

``torchrun`` describes the job in each process's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``). Every process plans the same sorted job list, takes every ``WORLD_SIZE``-th job from its
rank on, and fuses it on the CPU or on its own GPU (``cuda:LOCAL_RANK``). The processes meet a few times, over a
gloo process group: after the checks (an error in any process stops them all before anything is written), before
the first write, and at the end (errors and totals). Without ``torchrun`` the job is one process and every meeting
is a plain function call. Training (DDP) takes its place in the job from here too
(:mod:`wavecross.train.distributed`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from .errors import WavecrossError

T = TypeVar("T")

# The last meeting waits for the slowest share, which may take hours longer than the fastest on a big folder; a
# process that dies ends the whole job anyway (torchrun stops the others), so the wait need not be short.
MEETING_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Group:
    """This process's place in a ``torchrun`` job: its rank among ``world`` processes, and among the
    ``local_world`` processes of its machine (``local_rank``). The default is a job of one process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) shows progress, prints summaries and writes training's logs, checkpoints
        and weights."""
        return self.rank == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """This process's items: every ``world``-th from its rank on, so shares differ by at most one item."""
        return list(items[self.rank :: self.world])

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every process, by rank; every process must call it (a meeting)."""
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def together(self, work: Callable[[], T]) -> T:
        """``work()``, then a meeting: a :class:`WavecrossError` in any process is raised in every process, the
        lowest rank's, so that all stop together. Rank 0 prints it; the others raise it ``quiet``."""
        try:
            result, message = work(), None
        except WavecrossError as exc:
            if self.world == 1:
                raise
            result, message = None, str(exc)
        first = next((m for m in self.gather(message) if m is not None), None)
        if first is not None:
            self.fail(first)
        return result  # type: ignore[return-value]

    def check_same(self, value: Hashable, message: str) -> None:
        """Raise ``message`` in every process unless all bring the same ``value`` (a meeting)."""
        if len(set(self.gather(value))) > 1:
            self.fail(message)

    def fail(self, message: str) -> None:
        """Raise ``message``; outside rank 0 ``quiet``, so that a job prints an error shared by all only once."""
        error = WavecrossError(message)
        error.quiet = not self.is_main
        raise error

    def device(self, name: str) -> str:
        """The device this process fuses on: ``auto`` and ``cuda`` become its own GPU, ``cuda:LOCAL_RANK``, in a
        job of several processes (other names are kept); a machine with fewer GPUs than processes is refused."""
        if self.world == 1 or name not in ("auto", "cuda"):
            return name
        import torch

        if not torch.cuda.is_available():
            return name
        gpus = torch.cuda.device_count()
        if self.local_rank >= gpus:
            raise WavecrossError(
                f"torchrun started {self.local_world} processes on this machine but it has {gpus} "
                f"GPU{'s' * (gpus != 1)}; pass --nproc_per_node={gpus} or fewer (one process per GPU)."
            )
        return f"cuda:{self.local_rank}"

    def set_threads(self, threads: int | None, device: str) -> None:
        """torch's CPU threads: ``threads`` when given; else, for one of several processes fusing on the CPU, an
        equal part of the machine's cores (torchrun's own default is one thread each); else torch's choice."""
        from .hub import resolve_device, set_threads

        if threads is None and self.world > 1 and resolve_device(device).type == "cpu":
            threads = max(1, _cores() // self.local_world)
        if threads is not None:
            set_threads(threads)


def _cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells, else the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def torchrun_group() -> Group:
    """This process's :class:`Group` as ``torchrun`` describes it in the environment; a group of one without
    ``torchrun`` (or with a single process)."""
    env = os.environ
    world = int(env.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Group()
    local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    return Group(int(env.get("RANK", "0")), world, int(env.get("LOCAL_RANK", "0")), local_world)


@contextmanager
def joined(group: Group) -> Iterator[Group]:
    """``group`` with its process group set up inside the block (gloo: only a few bytes of bookkeeping travel
    between the processes, so it serves GPU jobs as well), and taken down after it. A process group the caller
    set up already is used and left as it is; a group of one needs none."""
    if group.world == 1:
        yield group
        return
    import torch.distributed as dist

    if dist.is_initialized():
        yield group
        return
    dist.init_process_group("gloo", rank=group.rank, world_size=group.world, timeout=MEETING_TIMEOUT)
    try:
        yield group
    finally:
        dist.destroy_process_group()
