"""Progress of long loops on stderr: a tqdm bar on a terminal, plain lines in a log.

A tqdm bar redraws itself with carriage returns, which a redirected stderr (a log file, CI output) keeps as one
endless line. When stderr is not a terminal, :func:`progress_bar` writes one line at every tenth of the work
and at least every :data:`LOG_EVERY_S` seconds instead, and a last line at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

LOG_EVERY_S = 30.0  # at most this long between two lines in a log, however slow the items


class _Silent:
    """No output at all (progress turned off)."""

    def __init__(self, iterable: Iterable[Any] | None) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        yield from self.iterable or ()

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            self.close()


class LogLines(_Silent):
    """``desc: 30/100 pairs (30%), 12 s`` lines on stderr, for a log that is not a terminal."""

    def __init__(self, iterable: Iterable[Any] | None, total: int | None, desc: str, unit: str) -> None:
        super().__init__(iterable)
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self.count = self.logged = 0
        self.started = self.last = time.monotonic()
        self.next_step = 1  # the next tenth of the total that gets a line
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        tenth = 10 * self.count // self.total if self.total else 0
        if (self.total and tenth >= self.next_step and self.count < self.total) or now - self.last >= LOG_EVERY_S:
            self._line(now)
            self.next_step = tenth + 1

    def close(self) -> None:
        if not self.closed and self.count != self.logged:
            self._line(time.monotonic())  # the final count, unless the last line said it
        self.closed = True

    def _line(self, now: float) -> None:
        self.last, self.logged = now, self.count
        done = f"{self.count}/{self.total}" if self.total else str(self.count)
        share = f" ({100 * self.count // self.total}%)" if self.total else ""
        label = f"{self.desc}: " if self.desc else ""
        print(f"{label}{done} {self.unit}s{share}, {now - self.started:.0f} s", file=sys.stderr, flush=True)


def progress_bar(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "item",
    enabled: bool = True,
    leave: bool = True,
) -> Any:
    """Progress over ``iterable`` (iterate the result) or over ``total`` steps (call ``update(n)``, then
    ``close()``, or use it as a context manager): a tqdm bar when stderr is a terminal (``leave``: keep it on
    screen when done), else :class:`LogLines`; nothing when not ``enabled``."""
    if not enabled:
        return _Silent(iterable)
    if not sys.stderr.isatty():
        return LogLines(iterable, total, desc, unit)
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr, dynamic_ncols=True)
