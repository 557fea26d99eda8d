"""The benchmark's tables: per-set leaderboards and the timing table, as data and as files.

A :class:`Table` is what the page (:mod:`wavecross.report.html`) renders; the leaderboard files are written by
``wavecross evaluate``'s own table writers, so the report and the command print the same numbers the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.io import write_text


@dataclass
class Table:
    """A leaderboard to render: ``columns`` as (name, higher_is_better) and rows as (method, kind, values)."""

    columns: list[tuple[str, bool | None]]
    rows: list[tuple[str, str, dict[str, float]]]
    digits: dict[str, int] = field(default_factory=dict)


def best_rows(table: Table) -> dict[str, set[str]]:
    """Methods holding the best value of each column (ties share it); undirected columns have none."""
    from ..evaluate import best_methods

    return {name: best_methods({m: v.get(name) for m, _, v in table.rows}, higher) for name, higher in table.columns}


def metric_table(summary: dict[str, Any], set_name: str) -> Table:
    """The leaderboard of one set: every metric's mean per method, and its speed where it ran here."""
    from ..metrics import HIGHER_IS_BETTER

    info = summary["per_set"][set_name]
    columns = [(m, HIGHER_IS_BETTER.get(m)) for m in summary["metrics"]] + [("ms/MP", False)]
    rows = []
    for method, means in info["means"].items():
        values = dict(means)
        if method in info["timing"]:
            values["ms/MP"] = info["timing"][method]["ms_per_mp"]
        rows.append((method, summary["kinds"][method], values))
    return Table(columns, rows, digits={"ms/MP": 1})


def timing_table(summary: dict[str, Any]) -> Table:
    """Milliseconds per megapixel of every method run here, per set and over all sets."""
    sets = summary["sets"]
    rows = []
    for method in summary["methods"]:
        values = {s: summary["per_set"][s]["timing"][method]["ms_per_mp"] for s in sets}
        seconds = sum(summary["per_set"][s]["timing"][method]["seconds"] for s in sets)
        mp = sum(summary["per_set"][s]["timing"][method]["megapixels"] for s in sets)
        values["all sets"] = 1000.0 * seconds / mp
        rows.append((method, summary["kinds"][method], values))
    columns = [(s, False) for s in sets] + [("all sets", False)]
    return Table(columns, rows, digits={c: 1 for c, _ in columns})


def write_timing(out_dir: Path, table: Table) -> dict[str, str]:
    """``timing.csv`` and ``timing.json``; returns their paths relative to ``out_dir``."""
    names = [c for c, _ in table.columns]
    lines = ["method," + ",".join(names)]
    lines += [m + "," + ",".join(f"{v.get(c, float('nan')):.3f}" for c in names) for m, _, v in table.rows]
    write_text(out_dir / "timing.csv", "\n".join(lines) + "\n")
    data = {m: {"unit": "ms per megapixel", **{c: v.get(c) for c in names}} for m, _, v in table.rows}
    write_text(out_dir / "timing.json", json.dumps(data, indent=2))
    return {"csv": "timing.csv", "json": "timing.json"}


def write_leaderboard(
    out_dir: Path, set_name: str, scores: dict[str, dict[str, Any]], convention: str
) -> dict[str, str]:
    """``leaderboard_<set>.md/.csv/.json`` through ``wavecross evaluate``'s own table writers."""
    from ..evaluate import to_csv, to_json, to_markdown

    texts = {"md": to_markdown(scores, convention), "csv": to_csv(scores), "json": to_json(scores)}
    paths = {}
    for ext, text in texts.items():
        path = out_dir / f"leaderboard_{set_name}.{ext}"
        write_text(path, text if text.endswith("\n") else text + "\n")
        paths[ext] = path.relative_to(out_dir).as_posix()
    return paths
