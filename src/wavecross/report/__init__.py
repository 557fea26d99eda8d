"""The benchmark report: run methods on test sets, score them alike, and write tables, figures and a page.

:func:`run_benchmark` (:mod:`.benchmark`) runs and scores; :mod:`.tables` builds the leaderboards, :mod:`.figures`
draws and :mod:`.html` writes ``index.html``. The command ``wavecross benchmark`` is :mod:`wavecross.cli.benchmark`.
"""

from __future__ import annotations

__all__ = ["run_benchmark"]


def __getattr__(name: str):  # lazy: importing the package must not pull in matplotlib and torch
    if name == "run_benchmark":
        from .benchmark import run_benchmark

        return run_benchmark
    raise AttributeError(name)
