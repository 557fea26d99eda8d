"""Fusing image files: one pair to one file, or two folders of pairs to a folder (the work of ``wavecross fuse``).

Every input is read and checked before anything is written, and each output is written atomically, so bad input
never leaves a half-fused folder behind. Existing outputs are an error without ``overwrite``; nothing lets an
output replace an input or another output. ``skip_existing`` continues an interrupted folder run. With
``register``, every pair is registered (:mod:`wavecross.registration`) before the first file is written too, so a
pair that cannot be registered stops the run with nothing written.

A folder is a pipeline: the checks decode every input on a few threads (decoders release the GIL); then, while the
network fuses one batch of pairs of one size, threads read the next pairs and write the finished ones, with at
most a few batches in memory. Under ``torchrun`` the processes share the pairs (:mod:`wavecross.distributed`).
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .data.io import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    check_writable,
    read_image,
    remove_stale_temp_files,
    write_error,
    write_image,
    write_text,
)
from .data.pairs import Pair, find_pairs
from .errors import WavecrossError
from .panels import side_by_side
from .pipeline import READ_THREADS, in_order, run_pipeline
from .progress import progress_bar

if TYPE_CHECKING:
    from .distributed import Group
    from .registration import RegistrationResult

Job = tuple[Pair, Path]  # a pair and its fused output file
Images = tuple[np.ndarray, np.ndarray]  # a pair's IR and visible images, as read
T = TypeVar("T")
R = TypeVar("R")

#: Decoded images the checks keep for the fusion (the first pairs of a folder): one decode instead of two.
KEEP_DECODED_BYTES = 256 * 2**20


@dataclass(frozen=True)
class FuseReport:
    """What :func:`fuse_files` did: pairs fused (by all processes of a ``torchrun`` job) and skipped, stale temporary
    files removed, seconds spent fusing, the output (the file for one pair, else the folder), the fused images this
    process wrote, and its rank among the job's processes."""

    fused: int
    skipped: int
    stale: int
    seconds: float
    target: Path
    written: tuple[Path, ...] = ()
    rank: int = 0
    processes: int = 1


def plan_jobs(ir: Path, vis: Path, output: Path) -> list[Job]:
    """The pairs to fuse and their output files: one pair to an image file, or the pairs of two folders (matched
    by file name) to ``output/<stem>.png``. Refuses missing inputs, a file with a folder, a folder output that is
    an input folder or is named like an image file (it would become a folder called ``fused.jpg``)."""
    for flag, path in (("--ir", ir), ("--vis", vis)):
        if not path.exists():
            raise WavecrossError(f"{flag} {path}: no such file or folder; check the path.")
    if ir.is_dir() != vis.is_dir():
        raise WavecrossError(f"--ir {ir} and --vis {vis} must both be files or both be folders.")
    if ir.is_dir():
        if output.exists() and not output.is_dir():
            raise WavecrossError(f"{output}: is a file, but folder input needs an output folder.")
        if output.resolve() in (ir.resolve(), vis.resolve()):
            raise WavecrossError(f"-o {output}: is an input folder; write the fused images to a folder of their own.")
        if output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir():
            raise WavecrossError(
                f"-o {output}: folder input writes a folder of images, but this is an image file name; "
                f"give a folder, e.g. -o {output.with_suffix('')}/."
            )
        return [(p, output / (Path(p.name).stem + ".png")) for p in find_pairs(ir, vis)]
    if output.suffix.lower() not in IMAGE_EXTENSIONS:
        raise WavecrossError(f"{output}: output must be an image file name (.png, .jpg, .bmp, .tif) for one pair.")
    return [(Pair(ir.name, ir, vis), output)]


def panel_path(out: Path) -> Path:
    """Where the side-by-side panel of the fused image ``out`` goes."""
    return out.with_name(out.stem + "_panel.png")


def transform_path(out: Path) -> Path:
    """Where the registration transform of the fused image ``out`` goes (``save_transform``)."""
    return out.with_name(out.stem + ".transform.json")


def _targets(out: Path, panels: bool, transforms: bool = False) -> dict[Path, str]:
    """The files a pair writes, with what each is (for messages)."""
    targets = {out: "fused image"}
    if panels:
        targets[panel_path(out)] = "side-by-side panel"
    if transforms:
        targets[transform_path(out)] = "registration transform"
    return targets


def check_outputs(
    jobs: list[Job], panels: bool, overwrite: bool, skip_existing: bool, transforms: bool = False
) -> set[Path]:
    """Refuse, before anything is written, an output that would replace an input or another output, or an existing
    one without ``overwrite``/``skip_existing``; returns the existing outputs to keep (``skip_existing``)."""
    inputs = {p.resolve(): p for pair, _ in jobs for p in (pair.ir, pair.vis)}
    planned: dict[Path, tuple[str, Pair]] = {}
    keep = set()
    for pair, out in jobs:
        for target, role in _targets(out, panels, transforms).items():
            key = target.resolve()
            if key in inputs:
                raise WavecrossError(f"{target}: would overwrite the input {inputs[key]}; choose another output.")
            if key in planned:
                other_role, other = planned[key]
                raise WavecrossError(
                    f"{target}: both the {other_role} of {other.ir} and the {role} of {pair.ir} would be written "
                    "there; rename one of the inputs."
                )
            planned[key] = (role, pair)
            if target.is_dir():
                raise WavecrossError(f"{target}: is a folder; remove it or choose another output.")
            if target.exists() and skip_existing:
                keep.add(target)
            elif target.exists() and not overwrite:
                raise WavecrossError(
                    f"{target}: already exists; choose another output, pass --overwrite, or --skip-existing to "
                    "continue an interrupted run."
                )
    return keep


def check_inputs(
    jobs: list[Job], max_pixels: int | None, decoded: dict[Path, Images] | None = None
) -> dict[Path, tuple[int, int]]:
    """Every input readable, within the pixel limit, of its partner's size and at least 16 pixels a side; returns
    each pair's (height, width) by output file. Every image is decoded in full, on :data:`READ_THREADS` threads:
    only decoding finds a truncated file, a NaN or a value out of range, and all must be found before any write.
    With ``decoded``, the images of the first pairs are kept there (by output file) up to :data:`KEEP_DECODED_BYTES`
    in all, so that the fusion does not decode them a second time."""
    budget = KEEP_DECODED_BYTES if decoded is not None else 0
    sizes = {}
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="wavecross-fuse-check") as pool:
        checked = in_order(pool, partial(_checked_pair, max_pixels=max_pixels), jobs, 2 * READ_THREADS)
        for (_, out), images in zip(jobs, checked, strict=True):
            sizes[out] = images[0].shape[:2]
            nbytes = images[0].nbytes + images[1].nbytes
            if nbytes <= budget and decoded is not None:
                decoded[out] = images
                budget -= nbytes
    return sizes


def _checked_pair(job: Job, max_pixels: int | None) -> Images:
    """A pair's two images, as read, once both are known to read well and to fit together."""
    pair = job[0]
    a, b = read_image(pair.ir, max_pixels), read_image(pair.vis, max_pixels)
    if a.shape[:2] != b.shape[:2]:
        raise WavecrossError(
            f"{pair.ir} is {a.shape[1]}×{a.shape[0]} but {pair.vis} is {b.shape[1]}×{b.shape[0]}; "
            "a pair must have the same size (register/resize them first)."
        )
    if min(a.shape[:2]) < 16:
        raise WavecrossError(f"{pair.ir}: {a.shape[1]}×{a.shape[0]} is too small; both sides must be ≥ 16.")
    return a, b


def register_jobs(
    jobs: list[Job],
    model: str,
    max_pixels: int | None,
    progress: bool = True,
    decoded: dict[Path, Images] | None = None,
) -> dict[Path, RegistrationResult]:
    """The registration of every pair (by output file), estimated on :data:`READ_THREADS` threads before anything
    is written; the first pair (in order) that cannot be registered raises its :class:`WavecrossError`. Pairs in
    ``decoded`` (kept by :func:`check_inputs`) are not read again."""
    from .registration import estimate_transform

    def register(job: Job) -> RegistrationResult:
        pair, out = job
        kept = (decoded or {}).get(out)
        ir, vis = kept if kept is not None else (read_image(pair.ir, max_pixels), read_image(pair.vis, max_pixels))
        return estimate_transform(ir, vis, model, str(pair.ir))

    results = {}
    bar = progress_bar(total=len(jobs), desc="registering", unit="pair", enabled=progress and len(jobs) > 1)
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="wavecross-fuse-register") as pool, bar:
        for (_, out), result in zip(jobs, in_order(pool, register, jobs, 2 * READ_THREADS), strict=True):
            results[out] = result
            bar.update(1)
    return results


def plan_batches(jobs: list[Job], sizes: dict[Path, tuple[int, int]], batch_size: int) -> list[list[Job]]:
    """``jobs`` in batches of up to ``batch_size`` pairs of one size (``sizes`` by output file, from
    :func:`check_inputs`), so that each batch is one forward pass: the batches of the size met first come first,
    each in the order of ``jobs``."""
    by_size: dict[tuple[int, int], list[Job]] = {}
    for job in jobs:
        by_size.setdefault(sizes[job[1]], []).append(job)
    return [group[k : k + batch_size] for group in by_size.values() for k in range(0, len(group), batch_size)]


def _transform_json(pair: Pair, ir: np.ndarray, result: RegistrationResult) -> str:
    """The text of ``NAME.transform.json``: the pair, the IR grid's size and the transform."""
    record = {"ir": str(pair.ir), "vis": str(pair.vis), "width": ir.shape[1], "height": ir.shape[0]}
    return json.dumps({**record, **result.to_json()}, indent=2) + "\n"


def _read(
    job: Job, max_pixels: int | None, registered: dict[Path, RegistrationResult], decoded: dict[Path, Images]
) -> Images:
    """A pair's images as read (taken from ``decoded`` when the checks kept them); the visible one warped onto
    the IR image's grid when the pair was registered."""
    pair, out = job
    kept = decoded.pop(out, None)  # a dict's pop is atomic: the reader threads may share it
    ir, vis = kept if kept is not None else (read_image(pair.ir, max_pixels), read_image(pair.vis, max_pixels))
    if out in registered:
        from .registration import warp_to

        vis = warp_to(ir.shape, vis, registered[out].matrix)
    return ir, vis


def _fuse(batch: list[Job], images: list[Images], **options: Any) -> list[np.ndarray]:
    """A batch through :func:`wavecross.inference.fuse_batch` (``options`` are its own), pairs named by their IR
    files in its errors."""
    from .inference import fuse_batch

    irs, viss = [a for a, _ in images], [b for _, b in images]
    return fuse_batch(irs, viss, names=[str(pair.ir) for pair, _ in batch], **options)


def _write(
    job: Job,
    images: Images,
    fused: np.ndarray,
    keep: set[Path],
    panels: bool,
    overwrite: bool,
    transforms: dict[Path, RegistrationResult] | None = None,
) -> None:
    """The pair's outputs, but those kept by ``skip_existing``; with ``transforms`` (``save_transform``) also its
    transform file."""
    (pair, out), (ir, vis) = job, images
    if fused.dtype == np.uint16 and out.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        fused = (fused // 257).astype(np.uint8)  # these formats hold 8 bits only
    try:
        if out not in keep:
            write_image(out, fused, overwrite=overwrite)
        if panels and panel_path(out) not in keep:
            write_image(panel_path(out), side_by_side(ir, vis, fused), overwrite=overwrite)
        if transforms is not None and transform_path(out) not in keep:
            if transform_path(out).exists() and not overwrite:
                raise WavecrossError(
                    f"{transform_path(out)}: already exists; choose another output or pass --overwrite."
                )
            write_text(transform_path(out), _transform_json(pair, ir, transforms[out]))
    except OSError as exc:  # one sentence naming the file, as write_image gives its own
        raise write_error(out, exc) from None


@dataclass(frozen=True)
class _Work:
    """One process's part of a run, decided before anything is written."""

    jobs: list[Job]  # every pair of the run, in order (the same in every process)
    todo: int  # how many of them the processes fuse together (the others are kept by skip_existing)
    batches: list[list[Job]]  # this process's share, in forward passes of pairs of one size
    keep: set[Path]  # existing outputs kept (skip_existing)
    registered: dict[Path, RegistrationResult]  # the registration of this process's pairs (register)
    decoded: dict[Path, Images]  # images the checks decoded and kept for the fusion (emptied as it reads them)
    folder: Path  # where the outputs go
    digest: str  # of the pairs to fuse: every process must plan the same


def _check_options(
    batch_size: int, overwrite: bool, skip_existing: bool, register: str | None, save_transform: bool
) -> None:
    """Refuse options that contradict each other or cannot work here."""
    if batch_size < 1:
        raise WavecrossError("--batch-size must be at least 1.")
    if overwrite and skip_existing:
        raise WavecrossError("--overwrite and --skip-existing contradict each other; pass one of them.")
    if register is not None:
        from .registration import MODELS, require_opencv

        if register not in MODELS:
            raise WavecrossError(f"--register {register}: unknown model; choose one of {', '.join(MODELS)}.")
        require_opencv()
    elif save_transform:
        raise WavecrossError("--save-transform writes the transform of --register; pass --register MODEL too.")


def _plan(
    group: Group,
    ir: Path,
    vis: Path,
    output: Path,
    *,
    panels: bool,
    overwrite: bool,
    skip_existing: bool,
    transforms: bool,
    register: str | None,
    max_pixels: int | None,
    batch_size: int,
    progress: bool,
) -> _Work:
    """Every check of a run, and this process's share of the pairs to fuse (every process plans the same list)."""
    jobs = plan_jobs(ir, vis, output)
    folder = output if ir.is_dir() else output.parent
    check_writable(folder)
    keep = check_outputs(jobs, panels, overwrite, skip_existing, transforms)
    done = {out for _, out in jobs if all(t in keep for t in _targets(out, panels, transforms))}
    todo = [job for job in jobs if job[1] not in done]
    mine = group.share(todo)  # after skip_existing, so that shares stay even when a run is continued
    # Each process checks its share of the pairs to fuse and of those skipped: every input once, in all.
    decoded: dict[Path, Images] = {}
    sizes = check_inputs(mine, max_pixels, decoded)
    check_inputs(group.share([job for job in jobs if job[1] in done]), max_pixels)
    registered = register_jobs(mine, register, max_pixels, progress and group.is_main, decoded) if register else {}
    digest = hashlib.sha256("\n".join(str(out) for _, out in todo).encode()).hexdigest()
    batches = plan_batches(mine, sizes, batch_size)
    return _Work(jobs, len(todo), batches, keep, registered, decoded, folder, digest)


def fuse_files(
    ir: str | Path,
    vis: str | Path,
    output: str | Path,
    *,
    method: str = "wavecross",
    model: str = "wavecross",
    weights: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    gray: bool = False,
    side_by_side_panels: bool = False,
    overwrite: bool = False,
    skip_existing: bool = False,
    max_pixels: int | None = MAX_PIXELS,
    batch_size: int = 1,
    progress: bool = True,
    register: str | None = None,
    save_transform: bool = False,
    threads: int | None = None,
) -> FuseReport:
    """Fuse the pair ``ir``/``vis`` (files) into the image ``output``, or the pairs of two folders into the folder
    ``output``; with ``side_by_side_panels`` also an IR | visible | fused panel per pair (``<stem>_panel.png``).

    ``register`` (``translation``, ``affine`` or ``homography``) warps each visible image onto its IR image's grid
    first (the panel then shows the registered visible image); ``save_transform`` also writes each transform as
    ``<stem>.transform.json`` (:func:`transform_path`). Other options are those of
    :func:`wavecross.inference.fuse_batch` plus ``model`` (a bundled model name) and the file handling above;
    every check, registration included, runs before the first file is written.

    Pairs of one size go through the network ``batch_size`` at a time (:func:`plan_batches`), while threads read
    the next pairs and write the finished ones (:func:`wavecross.pipeline.run_pipeline`). Under ``torchrun`` each
    process fuses its share of the pairs on the CPU or its own GPU (:mod:`wavecross.distributed`): the checks of
    every process pass before any writes, and the report counts the pairs of all. ``threads``: torch's CPU
    threads (default: torch's choice; under ``torchrun`` on the CPU, the machine's cores shared evenly among its
    processes).
    """
    from .distributed import joined, torchrun_group

    ir, vis, output = Path(ir), Path(vis), Path(output)
    group = torchrun_group()

    def prepare() -> tuple[_Work, Any]:
        """Every check, this process's share of the pairs and the network, before any process writes."""
        _check_options(batch_size, overwrite, skip_existing, register, save_transform)
        on = group.device(device)
        group.set_threads(threads, on)
        work = _plan(
            group,
            ir,
            vis,
            output,
            panels=side_by_side_panels,
            overwrite=overwrite,
            skip_existing=skip_existing,
            transforms=save_transform,
            register=register,
            max_pixels=max_pixels,
            batch_size=batch_size,
            progress=progress,
        )
        if method != "wavecross" or not work.batches:
            return work, None
        from .hub import load_model

        return work, load_model(model, device=on, weights=weights)

    with joined(group):
        work, net = group.together(prepare)
        group.check_same(
            work.digest,
            f"{output}: the processes of this torchrun job see different pairs or outputs; give them all the same "
            "folders (one shared file system).",
        )
        # One process removes stale temporary files (the PIDs of other machines are not its to judge); the meeting
        # after it keeps every process from writing before it is done.
        stale = group.together(
            lambda: remove_stale_temp_files(work.folder) if group.is_main and work.folder.is_dir() else 0
        )
        started = time.perf_counter()
        read = partial(_read, max_pixels=max_pixels, registered=work.registered, decoded=work.decoded)
        fuse = partial(
            _fuse, model=net, method=method, precision=precision, tile=tile, gray=gray, batch_size=batch_size
        )
        write = partial(
            _write,
            keep=work.keep,
            panels=side_by_side_panels,
            overwrite=overwrite,
            transforms=work.registered if save_transform else None,
        )
        mine = sum(len(batch) for batch in work.batches)
        desc = "fusing" if group.world == 1 else f"fusing, process 1 of {group.world}"
        with progress_bar(total=mine, desc=desc, unit="pair", enabled=progress and group.is_main and mine > 1) as bar:
            written = group.together(lambda: run_pipeline(work.batches, read, fuse, write, bar))
        fused = sum(group.gather(len(written)))
    target = work.jobs[0][1] if len(work.jobs) == 1 else output
    outputs = tuple(out for _, out in written)
    return FuseReport(
        fused,
        len(work.jobs) - work.todo,
        stale,
        time.perf_counter() - started,
        target,
        outputs,
        group.rank,
        group.world,
    )
