"""Reading ahead of and writing behind a computation that owns the CPU's threads (the folder pipeline of
``wavecross fuse``), with bounded memory and clean shutdown on errors.

Decoders (Pillow, NumPy) and encoders (zlib) release the GIL, so a few Python threads can read the next items and
write the finished ones while the main thread runs the network.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
JobT = TypeVar("JobT")  # a job (what is read, computed and written)
InT = TypeVar("InT")  # what a job reads
OutT = TypeVar("OutT")  # what the computation gives for a job

READ_THREADS = 2  # decoders release the GIL: two keep ahead of the network, more would only take its cores
AHEAD = 2  # batches read ahead of, and waiting to be written behind, the one being computed: bounded memory


def in_order(pool: Executor, fn: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """``fn(item)`` of each item, run on ``pool`` up to ``ahead`` items before the one yielded, and yielded in
    order; an error is raised in its item's place, and the items not yet started are then cancelled."""
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def run_pipeline(
    batches: list[list[JobT]],
    read: Callable[[JobT], InT],
    fuse: Callable[[list[JobT], list[InT]], list[OutT]],
    write: Callable[[JobT, InT, OutT], None],
    bar: Any,
) -> list[JobT]:
    """Fuse ``batches`` in this thread while :data:`READ_THREADS` threads read the pairs of the next ones and one
    thread writes the finished ones; returns the jobs written, counted on ``bar`` once their files are complete.

    One writer writes in the order of the batches, so after a failed write nothing more is written. At most
    :data:`AHEAD` batches are read ahead and :data:`AHEAD` wait to be written, so memory stays bounded. On an error
    the writes already handed over are finished (complete files, which the sequential loop would have written
    too), except after a failed write; the error is raised once no thread works any more.
    """
    failed = threading.Event()

    def write_batch(batch: list[JobT], images: list[InT], outputs: list[OutT]) -> None:
        for job, pair, fused in zip(batch, images, outputs, strict=True):
            if failed.is_set():
                return
            try:
                write(job, pair, fused)
            except BaseException:
                failed.set()
                raise

    written: list[JobT] = []
    pending: deque[tuple[list[JobT], Future[None]]] = deque()

    def collect(wait: bool) -> None:
        """Count the batches written: all (``wait``), else the finished ones and those over :data:`AHEAD`."""
        while pending and (wait or len(pending) > AHEAD or pending[0][1].done()):
            batch, future = pending.popleft()
            future.result()  # a failed write raises here
            written.extend(batch)
            bar.update(len(batch))

    readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="wavecross-fuse-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="wavecross-fuse-write")
    jobs = [job for batch in batches for job in batch]
    inputs = in_order(readers, read, jobs, AHEAD * max((len(batch) for batch in batches), default=1))
    try:
        for batch in batches:
            images = [next(inputs) for _ in batch]
            pending.append((batch, writer.submit(write_batch, batch, images, fuse(batch, images))))
            collect(wait=failed.is_set())  # after a failed write, its error before any more work
        collect(wait=True)
    finally:
        inputs.close()
        readers.shutdown(cancel_futures=True)
        writer.shutdown()  # the writes handed over end: complete files, never partial ones
    return written
