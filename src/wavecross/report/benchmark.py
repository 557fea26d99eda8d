"""The benchmark: every method on every test set, same metrics, same machine, one report folder.

Methods named in ``--methods`` are run here through :func:`wavecross.inference.get_fuser` on the luminance
of each pair (IR grey, visible BT.601 Y, 0–255 rounded as the metric references see them) and timed;
published methods enter through ``--fused NAME=DIR`` with their outputs laid out as
``DIR/<set>/<name>.png``. All of them are then scored by the same metric code from the saved 8-bit files, so
our numbers and the peers' are comparable. Tables are :mod:`.tables`, figures :mod:`.figures` and the page
:mod:`.html`; ``wavecross benchmark`` is :mod:`wavecross.cli.benchmark`.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..data import find_pairs, load_pair_set, luminance_u8, read_image, write_image
from ..data.io import check_writable, is_image_file, write_text
from ..data.pairs import is_pair_root, pair_folders
from ..errors import WavecrossError
from ..progress import progress_bar
from . import figures, tables
from .html import write_index

DEFAULT_METHODS = ("wavecross", "gff", "dwt", "laplacian", "mean", "max")
THERMAL_METRICS = ("RankAgree", "LocalEnergyErr", "HotContrast")


def find_sets(
    data_dir: Path, only: Sequence[str] | None = None, ir_dir: str | None = None, vis_dir: str | None = None
) -> list[str]:
    """Sub-folders of ``data_dir`` holding an IR and a visible folder (see
    :func:`~wavecross.data.pairs.pair_folders`), sorted (or ``only``, checked)."""
    if not data_dir.is_dir():
        raise WavecrossError(f"{data_dir}: no such folder; point --data to a folder of <set>/ir and <set>/vi.")
    found = sorted(p.name for p in data_dir.iterdir() if is_pair_root(p, ir_dir, vis_dir))
    if not found:
        raise WavecrossError(
            f"{data_dir}: contains no test set (no sub-folder with an IR and a visible folder, such as <set>/ir "
            "and <set>/vi)."
        )
    if only:
        missing = [s for s in only if s not in found]
        if missing:
            raise WavecrossError(f"--sets names {', '.join(missing)}, not in {data_dir} (found: {', '.join(found)}).")
        return list(only)
    return found


def _check_output(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise WavecrossError(f"{out_dir}: exists and is not a folder; choose another report folder.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise WavecrossError(f"{out_dir}: exists and is not empty; choose a new report folder or pass --overwrite.")
    check_writable(out_dir)


def _check_sets(
    data_dir: Path,
    folders: dict[str, tuple[Path, Path]],
    fused_dirs: dict[str, Path],
    progress: bool,
    max_pixels: int | None,
) -> None:
    """Before anything is written: every pair of every set readable (sizes, pixel limit), and a fused image for
    each pair in every published folder that has the set."""
    from ..evaluate import match_fused

    for set_name, (ir_dir, vis_dir) in folders.items():
        load_pair_set(data_dir / set_name, progress, f"{set_name}: checking", max_pixels, ir_dir.name, vis_dir.name)
        pairs = find_pairs(ir_dir, vis_dir)
        match_fused(pairs, {n: d / set_name for n, d in fused_dirs.items() if (d / set_name).is_dir()})


def _environment() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "cpu": f"{cpu} ({os.cpu_count()} cores)",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_1min_at_start": load,
    }


def _kinds(methods: Sequence[str], fused: dict[str, Path]) -> dict[str, str]:
    return {
        **{m: "ours" if m == "wavecross" else "classical" for m in methods},
        **{n: "published" for n in fused},
    }


def _check_methods(methods: Sequence[str], fused: dict[str, Path], sets: Sequence[str]) -> None:
    from ..baselines import BASELINES

    known = ("wavecross", *BASELINES)
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise WavecrossError(f"unknown method {unknown[0]!r} in --methods; choose from {', '.join(known)}.")
    if len(set(methods)) != len(methods):
        raise WavecrossError("--methods names a method twice; list each method once.")
    if not methods and not fused:
        raise WavecrossError("nothing to benchmark; name --methods or add fused outputs with --fused NAME=DIR.")
    clash = sorted(set(methods) & set(fused))
    if clash:
        raise WavecrossError(f"--fused name {clash[0]!r} is also a method to run; rename it, e.g. {clash[0]}-paper.")
    for name, folder in fused.items():
        if not folder.is_dir():
            raise WavecrossError(f"--fused {name}={folder}: no such folder; check the path.")
        if not any((folder / s).is_dir() for s in sets):
            raise WavecrossError(
                f"--fused {name}={folder}: has none of the sets {', '.join(sets)} as a sub-folder; "
                "lay its outputs out as DIR/<set>/<name>.png."
            )


def _run_method(
    fuser: Any,
    method: str,
    set_name: str,
    names: list[str],
    irs: list[np.ndarray],
    viss: list[np.ndarray],
    out: Path,
    progress: bool,
) -> dict[str, float]:
    """Fuse a whole set with one method, save 8-bit PNGs, and time the fuse calls alone."""
    side = min(128, *irs[0].shape)  # warm-up: thread pools, lazy kernels, first allocations
    fuser(irs[0][:side, :side] / np.float32(255), viss[0][:side, :side] / np.float32(255))
    seconds, megapixels = 0.0, 0.0
    for name, ir, vis in progress_bar(
        list(zip(names, irs, viss, strict=True)),
        desc=f"{set_name}: {method}",
        unit="pair",
        enabled=progress,
        leave=False,
    ):
        a, b = ir.astype(np.float32) / 255, vis.astype(np.float32) / 255
        start = time.perf_counter()
        fused = fuser(a, b)
        seconds += time.perf_counter() - start
        megapixels += ir.size / 1e6
        if fused.shape != ir.shape:
            raise WavecrossError(f"method {method} returned {fused.shape} for a {ir.shape} image; it must keep sizes.")
        write_image(out / f"{name}.png", np.clip(np.rint(fused * 255.0), 0, 255).astype(np.uint8), overwrite=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "ms_per_mp": 1000.0 * seconds / megapixels,
        "seconds": seconds,
        "megapixels": megapixels,
        "load_1min_after": load,
    }


def _find_image(folder: Path, stem: str) -> Path | None:
    """The image file named ``stem`` with any image extension (names like ``img[1]`` match literally)."""
    return next((p for p in sorted(folder.glob(f"{glob.escape(stem)}.*")) if is_image_file(p)), None)


def _grid_rows(names: list[str], count: int, shown: Sequence[str] = ()) -> list[int]:
    """Rows of a set's image grid: the ``shown`` names first (in the order given), then ``count`` evenly spaced."""
    first = [names.index(n) for n in shown]
    spaced = range(len(names)) if len(names) <= count else np.linspace(0, len(names) - 1, count)
    rest = sorted({int(round(i)) for i in spaced} - set(first))
    return first + rest


def parse_show(specs: Sequence[str], folders: dict[str, tuple[Path, Path]]) -> dict[str, list[str]]:
    """``SET/NAME`` strings → {set: [file stems]}; each must name a pair of a benchmarked set (``folders``: the
    IR and visible folders of each set)."""
    shown: dict[str, list[str]] = {}
    for spec in specs:
        set_name, sep, stem = spec.partition("/")
        stem = Path(stem).stem
        if not sep or set_name not in folders:
            raise WavecrossError(f"--show {spec!r}: expected SET/NAME with SET one of {', '.join(folders)}.")
        ir_dir = folders[set_name][0]
        if _find_image(ir_dir, stem) is None:
            raise WavecrossError(f"--show {spec!r}: {ir_dir} has no image named {stem}.")
        shown.setdefault(set_name, []).append(stem)
    return shown


def run_benchmark(
    data_dir: str | Path,
    methods: Sequence[str] = DEFAULT_METHODS,
    fused: dict[str, str | Path] | None = None,
    convention: str = "cddfuse",
    out_dir: str | Path = "report",
    *,
    sets: Sequence[str] | None = None,
    metrics: str | Sequence[str] | None = None,
    overwrite: bool = False,
    model: Any = None,
    weights: str | Path | None = None,
    device: str = "auto",
    precision: str = "fp32",
    grid_rows: int = 4,
    show: Sequence[str] = (),
    progress: bool = True,
    max_pixels: int | None = None,
    ir_dir: str | None = None,
    vis_dir: str | None = None,
) -> dict[str, Any]:
    """Run, score and report; returns the summary also written to ``out_dir/results.json``.

    ``model`` (a :class:`~wavecross.nn.WaveCross`) replaces the shipped network for the ``wavecross``
    method, as tests do with an untrained tiny one; ``metrics=None`` computes the convention's preset plus the
    thermal-fidelity metrics (``"all"``: every metric). ``show`` lists ``SET/NAME`` pairs the image grids must
    contain. A set is a sub-folder of ``data_dir`` with an IR and a visible folder (``ir/vi``, ``Ir/Vis``,
    ``infrared/visible``, ...; ``ir_dir``/``vis_dir`` name them otherwise). Everything that can be checked
    (options, sets, published outputs, the report folder, the weights) is checked before anything is written.
    ``max_pixels``: see :func:`~wavecross.data.io.read_image`. ``precision``: the network's number format
    (``wavecross fuse --precision``); fp32 by default, so that the scores do not depend on the CPU (bf16 moves
    edge metrics such as Qabf and Nabf: docs/speed.md).
    """
    from ..engine import resolve_precision
    from ..hub import resolve_device
    from ..inference import get_fuser

    resolve_precision(precision, resolve_device(device))  # an unknown name, or fp16 on a CPU: refused before writing

    started = time.perf_counter()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    fused_dirs = {name: Path(p) for name, p in (fused or {}).items()}
    methods = list(methods)
    set_names = find_sets(data_dir, sets, ir_dir, vis_dir)
    _check_methods(methods, fused_dirs, set_names)
    if sets is None:  # the sets every method covers first (the comparable ones), then by name
        set_names.sort(key=lambda s: (-sum((d / s).is_dir() for d in fused_dirs.values()), s))
    folders = {s: pair_folders(data_dir / s, ir_dir, vis_dir) for s in set_names}
    metric_names = _resolve_metrics(metrics, convention)
    shown = parse_show(show, folders)
    _check_sets(data_dir, folders, fused_dirs, progress, max_pixels)
    _check_output(out_dir, overwrite)
    kinds = _kinds(methods, fused_dirs)
    fusers = {m: get_fuser(m, model=model, device=device, precision=precision, weights=weights) for m in methods}
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "data": str(data_dir),
        "convention": convention,
        "methods": methods,
        "fused": {k: str(v) for k, v in fused_dirs.items()},
        "kinds": kinds,
        "precision": precision,
        "sets": set_names,
        "metrics": metric_names,
        "environment": _environment(),
        "per_set": {},
        "notes": [],
        "figures": {},
    }
    for set_name in set_names:
        summary["per_set"][set_name] = _benchmark_set(
            data_dir / set_name,
            folders[set_name],
            set_name,
            methods,
            fusers,
            fused_dirs,
            convention,
            metric_names,
            out_dir,
            kinds,
            grid_rows,
            shown.get(set_name, []),
            progress,
            max_pixels,
        )
    _write_overview(summary, out_dir, kinds)
    summary["elapsed_s"] = time.perf_counter() - started
    write_text(out_dir / "results.json", json.dumps(summary, indent=2, default=_jsonable))
    return summary


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _benchmark_set(
    set_dir: Path,
    pair_dirs: tuple[Path, Path],
    set_name: str,
    methods: list[str],
    fusers: dict[str, Any],
    fused_dirs: dict[str, Path],
    convention: str,
    metric_names: list[str],
    out_dir: Path,
    kinds: dict[str, str],
    grid_rows: int,
    shown: list[str],
    progress: bool,
    max_pixels: int | None,
) -> dict[str, Any]:
    names, irs, viss = load_pair_set(set_dir, progress, set_name, max_pixels, pair_dirs[0].name, pair_dirs[1].name)
    folders: dict[str, Path] = {}
    timing: dict[str, dict[str, float]] = {}
    for method in methods:
        folders[method] = out_dir / "fused" / method / set_name
        timing[method] = _run_method(fusers[method], method, set_name, names, irs, viss, folders[method], progress)
    absent = []
    for name, root in fused_dirs.items():
        if (root / set_name).is_dir():
            folders[name] = root / set_name
        else:
            absent.append(name)
    notes = []
    if absent:
        notes.append(
            f"{', '.join(absent)}: no {set_name}/ folder among {'its' if len(absent) == 1 else 'their'} fused "
            "outputs, so left out of this set."
        )
    scores = _evaluate(pair_dirs, folders, convention, metric_names, progress, max_pixels)
    info: dict[str, Any] = {
        "pairs": len(names),
        "megapixels": sum(ir.size for ir in irs) / 1e6,
        "notes": notes,
        "timing": timing,
        "means": {m: scores[m]["mean"] for m in folders},
        "per_image": {m: scores[m]["per_image"] for m in folders},
    }
    info["leaderboard"] = tables.write_leaderboard(out_dir, set_name, scores, convention)
    info["figures"] = _set_figures(
        out_dir, set_name, names, irs, viss, folders, info["means"], kinds, grid_rows, shown, max_pixels
    )
    return info


def _read_fused(folder: Path, stem: str, max_pixels: int | None) -> np.ndarray | None:
    path = _find_image(folder, stem)
    return None if path is None else luminance_u8(read_image(path, max_pixels))


def _set_figures(
    out_dir: Path,
    set_name: str,
    names: list[str],
    irs: list[np.ndarray],
    viss: list[np.ndarray],
    folders: dict[str, Path],
    means: dict[str, dict[str, float]],
    kinds: dict[str, str],
    grid_rows: int,
    shown: list[str],
    max_pixels: int | None,
) -> dict[str, str]:
    """Image grid, zoomed crops and metric bars of one set; returns their paths relative to ``out_dir``.

    The grid holds the ``shown`` pairs first, then ``grid_rows`` evenly spaced ones; the zoom panel the first row
    and the middle one."""
    from ..metrics import HIGHER_IS_BETTER

    columns = ["IR", "VIS", *folders]
    rows = []
    for i in _grid_rows(names, max(1, grid_rows), shown):
        fused = [_read_fused(folder, names[i], max_pixels) for folder in folders.values()]
        fused = [f if f is None or f.shape == irs[i].shape else None for f in fused]
        rows.append((names[i], [irs[i], viss[i], *fused]))
    fig_dir = out_dir / "figures"
    paths = {
        "grid": figures.image_grid(rows, columns, fig_dir / f"grid_{set_name}.png"),
        "zoom": figures.zoom_panel(
            [rows[0], rows[len(rows) // 2]] if len(rows) > 1 else rows,
            columns,
            fig_dir / f"zoom_{set_name}.png",
        ),
        "metrics": figures.metric_bars(
            means,
            dict(HIGHER_IS_BETTER),
            kinds,
            fig_dir / f"metrics_{set_name}.png",
            title=f"{set_name}: mean over {len(names)} pairs",
        ),
    }
    return {k: p.relative_to(out_dir).as_posix() for k, p in paths.items()}


def _write_overview(summary: dict[str, Any], out_dir: Path, kinds: dict[str, str]) -> None:
    """Cross-set outputs: thermal scatter, timing table and chart, ``index.html``."""
    from ..metrics import HIGHER_IS_BETTER

    fig_dir = out_dir / "figures"
    means = {s: summary["per_set"][s]["means"] for s in summary["sets"]}
    thermal = [m for m in THERMAL_METRICS if m in summary["metrics"]]
    if thermal and "SF" in summary["metrics"]:
        path = figures.thermal_scatter(means, kinds, fig_dir / "thermal.png", "SF", thermal, dict(HIGHER_IS_BETTER))
        summary["figures"]["thermal"] = path.relative_to(out_dir).as_posix()
    else:
        summary["notes"].append("No thermal-fidelity figure: it needs SF and RankAgree or LocalEnergyErr.")
    timing = tables.timing_table(summary)
    if summary["methods"]:
        per_set = {
            s: {m: summary["per_set"][s]["timing"][m]["ms_per_mp"] for m in summary["methods"]} for s in summary["sets"]
        }
        path = figures.timing_bars(per_set, kinds, fig_dir / "timing.png")
        summary["figures"]["timing"] = path.relative_to(out_dir).as_posix()
    summary["timing_files"] = tables.write_timing(out_dir, timing)
    _note_busy_machine(summary)
    leaderboards = {s: tables.metric_table(summary, s) for s in summary["sets"]}
    write_index(out_dir, summary, leaderboards, figures.method_colours(kinds), timing)


def _note_busy_machine(summary: dict[str, Any]) -> None:
    """Warn when other work shared the CPU: at start, or during timing beyond what our own threads explain."""
    env = summary["environment"]
    cores = os.cpu_count() or 1
    during = [
        t.get("load_1min_after", np.nan) for s in summary["sets"] for t in summary["per_set"][s]["timing"].values()
    ]
    peak = max([v for v in during if np.isfinite(v)], default=float("nan"))
    start = env["load_1min_at_start"]
    if (np.isfinite(start) and start > 0.5 * cores) or (np.isfinite(peak) and peak > env["threads"] + 1):
        summary["notes"].append(
            f"Other work shared this {cores}-core CPU (1-minute load {start:.1f} at start, up to {peak:.1f} "
            f"while timing, of which about {env['threads']} is ours): absolute timings are pessimistic; "
            "compare methods through their ratios."
        )


def _resolve_metrics(metrics: str | Sequence[str] | None, convention: str) -> list[str]:
    """Metric names in display order.

    ``None`` is the convention's own preset plus the thermal-fidelity metrics; ``"all"`` every metric the
    toolkit has (slow: FMI); another string is a preset name or a single metric; a list is taken as is.
    """
    from ..metrics import ALL_METRICS, CONVENTIONS, HIGHER_IS_BETTER, PRESETS

    if convention not in CONVENTIONS:
        raise WavecrossError(f"unknown --convention {convention!r}; choose one of {', '.join(CONVENTIONS)}.")
    if metrics is None:
        names = list(PRESETS[convention])
        names += [m for m in THERMAL_METRICS if m in HIGHER_IS_BETTER and m not in names]
    elif metrics == "all":
        names = list(ALL_METRICS)
    elif isinstance(metrics, str):
        names = list(PRESETS[metrics]) if metrics in PRESETS else [metrics]
    else:
        names = list(dict.fromkeys(metrics))
    unknown = [m for m in names if m not in HIGHER_IS_BETTER]
    if unknown:
        raise WavecrossError(
            f"unknown metric {unknown[0]!r} in --metrics; use a preset ({', '.join(PRESETS)}), all, or metric names."
        )
    return names


def _evaluate(
    pair_dirs: tuple[Path, Path],
    folders: dict[str, Path],
    convention: str,
    metric_names: list[str],
    progress: bool,
    max_pixels: int | None,
) -> dict[str, dict[str, Any]]:
    from ..evaluate import evaluate_folders

    return evaluate_folders(
        *pair_dirs,
        folders,
        convention=convention,
        metrics=metric_names,
        progress=progress,
        max_pixels=max_pixels,
    )
