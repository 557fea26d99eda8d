"""The no-data demo: fuse a generated synthetic scene with the shipped model (``wavecross demo``)."""

from __future__ import annotations

import time
from pathlib import Path

from .errors import WavecrossError

FILES = ("ir.png", "vis.png", "fused.png", "panel.png")


def run_demo(
    output: str | Path = "demo_out",
    size: tuple[int, int] = (640, 480),
    seed: int = 7,
    device: str = "auto",
    overwrite: bool = False,
) -> float:
    """Write :data:`FILES` (the scene, its fusion and a labelled side-by-side panel) to ``output``; ``size`` is
    (width, height). Returns the seconds the fusion took. Existing files are an error without ``overwrite``."""
    from .data import synthetic_pair, write_image
    from .data.io import check_writable
    from .hub import load_model
    from .inference import fuse
    from .panels import side_by_side

    width, height = size
    out = Path(output)
    check_writable(out)
    for name in FILES:
        if (out / name).exists() and not overwrite:
            raise WavecrossError(f"{out / name}: already exists; choose another -o folder or pass --overwrite.")
    ir, vis = synthetic_pair(height, width, seed)
    model = load_model(device=device)
    started = time.perf_counter()
    fused = fuse(ir, vis, model)
    elapsed = time.perf_counter() - started
    for name, image in zip(FILES, (ir, vis, fused, side_by_side(ir, vis, fused)), strict=True):
        write_image(out / name, image, overwrite=overwrite)
    return elapsed
