"""Fusing images with a trained model: the in-memory API (arrays, PIL images, tensors, single paths); files and
folders of pairs, as `wavecross fuse` does them, are :mod:`wavecross.fuse_files`.

Conventions (those of the field): the network fuses one luminance channel, the IR grey level and the visible
BT.601 Y, both in [0, 1]. A colour visible image gives a colour result: the fused Y is recombined with the
visible Cb/Cr (BT.601 full range) and clamped to [0, 1]. RGB-stored IR (three equal channels) is read as grey.
16-bit inputs are normalised robustly (0.1/99.9 percentiles → 0/1; see :func:`wavecross.data.io.to_unit`). The
output always has exactly the input's size.

The network runs through :func:`wavecross.engine.fuse_tensors`: ``precision="auto"`` picks the fastest number
format measured to keep the output (bf16 on CPUs with native bf16), and large images are fused in overlapping
tiles blended with linear ramps, so neither time nor memory grows with the square of the area.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .data.io import from_pil, is_grey, luminance, read_image, rgb_to_ycbcr, to_unit, ycbcr_to_rgb
from .engine import fuse_tensors
from .errors import WavecrossError
from .hub import load_model
from .nn import WaveCross

Fuser = Callable[[np.ndarray, np.ndarray], np.ndarray]


def get_fuser(
    method: str = "wavecross",
    model: WaveCross | None = None,
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    weights: str | Path | None = None,
) -> Fuser:
    """A function fusing (H, W) float32 luminance arrays in [0, 1] → (H, W) float32 in [0, 1].

    ``method`` is ``wavecross`` (the network: ``model``, else the ``weights`` file, else the shipped model) or a
    classical baseline from :data:`wavecross.baselines.BASELINES`.
    """
    if method != "wavecross":
        from .baselines import BASELINES

        if method not in BASELINES:
            raise WavecrossError(f"unknown method {method!r}; choose wavecross or one of {', '.join(BASELINES)}.")
        return BASELINES[method]
    net = model if model is not None else load_model(device=device, weights=weights)

    def fuse_luminance(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
        a = torch.from_numpy(np.ascontiguousarray(ir, dtype=np.float32))[None, None]
        b = torch.from_numpy(np.ascontiguousarray(vis, dtype=np.float32))[None, None]
        with eval_mode(net):
            return fuse_tensors(net, a, b, tile=tile, precision=precision)[0, 0].numpy()

    return fuse_luminance


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model`` in eval mode inside the block, then every submodule back in its own mode: a caller's training
    model (perhaps with frozen parts in eval mode) is left exactly as it was."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


# --- the user-facing function -------------------------------------------------------------------------------


def _as_array(x: Any, name: str) -> tuple[np.ndarray, str, str]:
    """Input → (H, W) or (H, W, 3) array, its kind (``path``, ``pil``, ``numpy`` or ``tensor``) and its name in
    messages (the file name for paths). PIL images are converted exactly as :func:`read_image` converts files."""
    if isinstance(x, (str, Path)):
        return read_image(x), "path", str(x)
    if isinstance(x, np.ndarray):
        return _check_layout(x, name), "numpy", name
    if isinstance(x, Tensor):
        t = x.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim == 3 and t.shape[0] in (1, 3):
            t = t.permute(1, 2, 0)
        return _check_layout(t.float().numpy(), name), "tensor", name
    from PIL import Image

    if isinstance(x, Image.Image):
        return from_pil(x, name), "pil", name
    raise WavecrossError(f"{name}: unsupported input type {type(x).__name__}; pass a path, PIL image, array or tensor.")


def _check_layout(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise WavecrossError(f"{name}: expected an (H, W) or (H, W, 3) image, got shape {arr.shape}.")
    if arr.dtype not in (np.uint8, np.uint16):
        arr = arr.astype(np.float32)
    return arr


def _prepare(
    ir: Any, vis: Any, gray: bool, index: int = 0, register: str | None = None, name: str | None = None
) -> dict[str, Any]:
    tag = "" if index == 0 else f" #{index}"
    ir_arr, _, ir_name = _as_array(ir, "ir" + tag)
    vis_arr, kind, vis_name = _as_array(vis, "vis" + tag)
    if ir_arr.shape[:2] != vis_arr.shape[:2]:
        raise WavecrossError(
            f"IR{tag} is {ir_arr.shape[1]}×{ir_arr.shape[0]} but visible{tag} is {vis_arr.shape[1]}×"
            f"{vis_arr.shape[0]}; the two images of a pair must have the same size (register/resize them first)."
        )
    name = name or (ir_name if isinstance(ir, (str, Path)) else f"pair #{index}")
    if register is not None:  # every channel of the visible image, before the YCbCr split
        from .registration import register_pair

        vis_arr, _ = register_pair(ir_arr, vis_arr, register, name)
    vis_unit = to_unit(vis_arr, vis_name)
    colour = vis_unit.ndim == 3 and not is_grey(vis_arr) and not gray
    ycc = rgb_to_ycbcr(vis_unit) if vis_unit.ndim == 3 else None
    return {
        "ir": luminance(to_unit(ir_arr, ir_name)).astype(np.float32),
        "vis": (ycc[..., 0] if ycc is not None else vis_unit).astype(np.float32),
        "ycc": ycc if colour else None,
        "kind": kind,
        "dtype": vis_arr.dtype,
        "name": name,
    }


def fuse_batch(
    irs: list[Any],
    viss: list[Any],
    model: WaveCross | None = None,
    *,
    method: str = "wavecross",
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    gray: bool = False,
    weights: str | Path | None = None,
    batch_size: int = 4,
    names: Sequence[str] | None = None,
    register: str | None = None,
) -> list[Any]:
    """:func:`fuse` for many pairs; pairs of equal size go through the network ``batch_size`` at a time.

    ``names`` label the pairs in error messages (default: the IR file name, or ``pair #i``); ``register`` registers
    every pair first, as in :func:`fuse`.
    """
    if len(irs) != len(viss):
        raise WavecrossError(f"got {len(irs)} IR images but {len(viss)} visible images; pass one of each per pair.")
    labels = list(names or ())
    items = [
        _prepare(a, b, gray, i, register, labels[i] if i < len(labels) else None)
        for i, (a, b) in enumerate(zip(irs, viss, strict=True))
    ]
    fused: list[np.ndarray | None] = [None] * len(items)
    if method == "wavecross":
        net = model if model is not None else load_model(device=device, weights=weights)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, item in enumerate(items):
            by_size.setdefault(item["ir"].shape, []).append(i)
        for indices in by_size.values():
            for k in range(0, len(indices), batch_size):
                chunk = indices[k : k + batch_size]
                a = torch.from_numpy(np.stack([items[i]["ir"] for i in chunk]))[:, None]
                b = torch.from_numpy(np.stack([items[i]["vis"] for i in chunk]))[:, None]
                with eval_mode(net):
                    out = fuse_tensors(net, a, b, tile=tile, precision=precision)[:, 0].numpy()
                for i, f in zip(chunk, out, strict=True):
                    fused[i] = f
    else:
        fuser = get_fuser(method)
        fused = [fuser(item["ir"], item["vis"]) for item in items]
    for f, item in zip(fused, items, strict=True):
        if not np.isfinite(f).all():  # NaN would silently become black pixels in the uint8 output
            raise WavecrossError(
                f"{item['name']}: the fused image has NaN or infinite values (the network's output is not finite); "
                "use precision fp32, or check the model's weights."
            )
    return [_finish(np.clip(f, 0.0, 1.0), item) for f, item in zip(fused, items, strict=True)]


def _finish(fused_y: np.ndarray, item: dict[str, Any]) -> Any:
    if item["ycc"] is not None:
        ycc = item["ycc"].copy()
        ycc[..., 0] = fused_y
        result = np.clip(ycbcr_to_rgb(ycc), 0.0, 1.0).astype(np.float32)
    else:
        result = fused_y.astype(np.float32)
    return _to_kind(result, item["kind"], item["dtype"])


def fuse(
    ir: Any,
    vis: Any,
    model: WaveCross | None = None,
    *,
    method: str = "wavecross",
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    gray: bool = False,
    weights: str | Path | None = None,
    register: str | None = None,
) -> Any:
    """Fuse an IR image with a visible image.

    Inputs may be paths, PIL images, numpy arrays (uint8, uint16, or float in [0, 1]) or tensors ((H, W),
    (C, H, W) or (1, C, H, W), float in [0, 1]). Files and PIL images are read alike: EXIF orientation applied,
    16-bit modes (``I;16``, ``I``) robustly normalised, mode ``F`` taken as floats in [0, 1]; files larger than
    :data:`wavecross.data.io.MAX_PIXELS` are refused before decoding. The result has the visible input's kind: a
    PIL image for PIL, an array of the same dtype for arrays (uint16 output spans 0–65535), a float tensor
    (C, H, W) for tensors, and a ``uint8`` array for paths. It is colour (H, W, 3) when the visible image is colour
    and ``gray`` is false, else grey (H, W). ``model=None`` uses the shipped model (loaded once per call: keep a
    model from :func:`~wavecross.load_model` for many calls); a ``model`` given is run in eval mode and left in the
    mode it was in. ``method`` may name a classical baseline instead.

    ``register`` (``translation``, ``affine`` or ``homography``; needs OpenCV) first warps the visible image onto
    the IR image's grid by a transform estimated from the two (:mod:`wavecross.registration`, for slightly
    misaligned pairs); a pair that cannot be registered plausibly is a :class:`WavecrossError`. To see the
    transform, call :func:`wavecross.registration.estimate_transform` yourself.
    """
    return fuse_batch(
        [ir],
        [vis],
        model,
        method=method,
        device=device,
        precision=precision,
        tile=tile,
        gray=gray,
        weights=weights,
        register=register,
    )[0]


def _to_kind(unit: np.ndarray, kind: str, dtype: np.dtype) -> Any:
    if kind == "tensor":
        t = torch.from_numpy(unit)
        return t.permute(2, 0, 1).contiguous() if t.ndim == 3 else t[None]
    if kind in ("path", "pil") or dtype == np.uint8:
        arr = np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)
        if kind == "pil":
            from PIL import Image

            return Image.fromarray(arr)
        return arr
    if dtype == np.uint16:
        return np.clip(np.rint(unit * 65535.0), 0, 65535).astype(np.uint16)
    return unit
