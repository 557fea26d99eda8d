"""Fusion metrics of folders of fused images, per image and averaged, side by side (``wavecross evaluate``).

Inputs are matched by file stem (fused ``.png`` against ``.jpg`` sources is fine); colour images are evaluated on
their BT.601 Y rounded to 8 bits, as the reference codes see them. The result layout (also the JSON file) is
``{method: {"per_image": {file name: {metric: value}}, "mean": {metric: value}}}`` with NaN for undefined values
(``null`` in JSON). A value that is not finite is undefined too: PSNR of an all-black fused image under the cddfuse
convention (its peak, max F, is 0) or of a fused image equal to both sources (MSE 0) is NaN, not ±inf, and no
warning is printed. Means are over the images where the metric is defined.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data.io import is_image_file, luminance_u8, read_image
from .data.pairs import Pair, find_pairs
from .errors import WavecrossError
from .progress import progress_bar

Results = dict[str, dict[str, Any]]


# ------------------------------------------------------------------------------------------- computation


def _fused_index(folder: Path, method: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise WavecrossError(f"{folder}: no such folder for method {method!r}; check --fused.")
    index: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_image_file(path):
            if path.stem in index:
                raise WavecrossError(
                    f"{path} and {index[path.stem]}: two fused images share the stem {path.stem!r}; keep one."
                )
            index[path.stem] = path
    return index


def match_fused(pairs: list[Pair], fused: dict[str, Path]) -> dict[str, dict[str, Path]]:
    """Fused file of every pair for every method; one error naming all missing files."""
    matched: dict[str, dict[str, Path]] = {}
    missing: list[str] = []
    for method, folder in fused.items():
        index = _fused_index(Path(folder), method)
        matched[method] = {}
        for pair in pairs:
            stem = Path(pair.name).stem
            if stem in index:
                matched[method][pair.name] = index[stem]
            else:
                missing.append(str(Path(folder) / f"{stem}.*"))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise WavecrossError(
            f"missing fused image(s): {shown}; every source pair needs a fused image with the same file stem "
            "(any image extension)."
        )
    return matched


def _grey(path: Path, max_pixels: int | None) -> np.ndarray:
    return luminance_u8(read_image(path, max_pixels))


def _finite_or_nan(fn: Callable[[Any], float]) -> Callable[[Any], float]:
    """``fn`` with a non-finite value reported as undefined (NaN), without numpy's warnings (log10 of 0...)."""

    def run(t: Any) -> float:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # per thread: set where fn runs
            value = float(fn(t))
        return value if math.isfinite(value) else math.nan

    return run


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(sum(finite) / len(finite)) if finite else float("nan")


def evaluate_folders(
    ir_dir: str | Path,
    vis_dir: str | Path,
    fused: dict[str, Path],
    convention: str = "cddfuse",
    metrics: Sequence[str] | None = None,
    progress: bool = True,
    max_pixels: int | None = None,
) -> Results:
    """Metrics of every fused folder in ``fused`` (method name → folder) against the pairs of ir/vis folders.

    Returns ``{method: {"per_image": {file name: {metric: value}}, "mean": {metric: value}}}``; NaN marks an
    undefined (or non-finite) value. Raises :class:`WavecrossError` for unknown metrics/conventions, an empty metric
    list, missing or unreadable files and size mismatches (the message names the file). ``max_pixels``: see
    :func:`~wavecross.data.io.read_image`.
    """
    from .metrics import Triple, evaluate_triple, resolve

    if metrics is not None and not list(metrics):
        raise WavecrossError("no metric named; pass metric names (e.g. --metrics EN,SD) or omit --metrics.")
    chosen = {n: dataclasses.replace(m, fn=_finite_or_nan(m.fn)) for n, m in resolve(metrics, convention).items()}
    if not fused:
        raise WavecrossError("no fused folder given; pass --fused DIR or --fused NAME=DIR.")
    pairs = find_pairs(ir_dir, vis_dir)
    matched = match_fused(pairs, fused)
    results: Results = {m: {"per_image": {}, "mean": {}} for m in fused}
    with progress_bar(total=len(pairs) * len(fused), desc="evaluate", unit="img", enabled=progress) as bar:
        for pair in pairs:
            ir, vis = _grey(pair.ir, max_pixels), _grey(pair.vis, max_pixels)
            if ir.shape != vis.shape:
                raise WavecrossError(
                    f"{pair.vis}: size {vis.shape[1]}×{vis.shape[0]} differs from {pair.ir} "
                    f"({ir.shape[1]}×{ir.shape[0]}); register or resize the pair first."
                )
            sources: Triple | None = None
            for method in fused:
                path = matched[method][pair.name]
                f = _grey(path, max_pixels)
                if f.shape != ir.shape:
                    raise WavecrossError(
                        f"{path}: size {f.shape[1]}×{f.shape[0]} differs from its source pair "
                        f"({ir.shape[1]}×{ir.shape[0]}); fuse at the source size."
                    )
                # One Triple per method, sharing the sources' cached intermediates between methods.
                t = Triple(f, ir, vis) if sources is None else sources.with_fused(f)
                sources = sources or t
                results[method]["per_image"][pair.name] = evaluate_triple(t, chosen)
                bar.update(1)
    for method in fused:
        per_image = results[method]["per_image"]
        results[method]["mean"] = {n: _nanmean([v[n] for v in per_image.values()]) for n in chosen}
    return results


# ----------------------------------------------------------------------------------------------- tables


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "—"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def best_methods(values: dict[str, Any], higher: bool | None) -> set[str]:
    """Keys holding the best finite value, direction-aware (ties share it); none when the direction is undefined
    or fewer than two values are finite. Shared by every table writer, Markdown here and HTML in the report."""
    finite = {m: v for m, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if higher is None or len(finite) < 2:
        return set()
    target = max(finite.values()) if higher else min(finite.values())
    return {m for m, v in finite.items() if v == target}


def _best(rows: dict[str, dict[str, float]], metric: str) -> set[str]:
    from .metrics import HIGHER_IS_BETTER

    return best_methods({m: r[metric] for m, r in rows.items()}, HIGHER_IS_BETTER.get(metric))


def _arrow(metric: str) -> str:
    from .metrics import HIGHER_IS_BETTER

    return {True: "↑", False: "↓"}.get(HIGHER_IS_BETTER.get(metric), "")


def _metrics_of(results: Results) -> list[str]:
    first = next(iter(results.values()))
    return list(first["mean"])


def _markdown_table(rows: dict[str, dict[str, float]], metrics: list[str]) -> list[str]:
    lines = ["| method | " + " | ".join(f"{m} {_arrow(m)}".strip() for m in metrics) + " |"]
    lines.append("|---|" + "---:|" * len(metrics))
    best = {m: _best(rows, m) for m in metrics}
    for method, row in rows.items():
        cells = [f"**{_fmt(row[m])}**" if method in best[m] else _fmt(row[m]) for m in metrics]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(results: Results, convention: str | None = None) -> str:
    """Markdown report: the mean table, then one table per image; best value per column in bold."""
    metrics = _metrics_of(results)
    head = "# Fusion metrics" + (f" ({convention} convention)" if convention else "")
    lines = [head, "", "↑ higher is better, ↓ lower is better; the best value of each column is in bold.", ""]
    lines += ["## Mean", "", *_markdown_table({m: r["mean"] for m, r in results.items()}, metrics), ""]
    images = list(next(iter(results.values()))["per_image"])
    if images:
        lines += ["## Per image", ""]
    for name in images:
        rows = {m: r["per_image"][name] for m, r in results.items()}
        lines += [f"### {name}", "", *_markdown_table(rows, metrics), ""]
    return "\n".join(lines)


def to_csv(results: Results) -> str:
    """CSV with one row per (method, image) and a ``mean`` row per method; empty cells for NaN."""
    metrics = _metrics_of(results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", "image", *metrics])
    for method, r in results.items():
        for name, row in [*r["per_image"].items(), ("mean", r["mean"])]:
            writer.writerow([method, name, *("" if math.isnan(row[m]) else repr(row[m]) for m in metrics)])
    return out.getvalue()


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    return obj


def to_json(results: Results) -> str:
    """The results as JSON, NaN written as ``null``."""
    return json.dumps(_nan_to_none(results), indent=2, allow_nan=False)


def to_text(results: Results) -> str:
    """A plain-text table of the means, best value per column marked with ``*``."""
    metrics = _metrics_of(results)
    rows = {m: r["mean"] for m, r in results.items()}
    best = {m: _best(rows, m) for m in metrics}
    header = ["method", *(f"{m}{_arrow(m)}" for m in metrics)]
    body = [
        [method, *(_fmt(row[m]) + ("*" if method in best[m] else " ") for m in metrics)] for method, row in rows.items()
    ]
    header = [header[0], *(h + " " for h in header[1:])]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *body]
    ]
    n_images = len(next(iter(results.values()))["per_image"])
    return "\n".join([f"mean over {n_images} image(s); * best, ↑ higher / ↓ lower is better", *lines])
