"""Saving and loading weights as safetensors (no pickle), with the model's config in the file's metadata.

The file format only: which network a config builds is the caller's (:func:`wavecross.nn.load_weights` passes
``WaveCross``), so this module imports no network code and ``nn`` has no import cycle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from ..errors import WavecrossError


def save_state(
    state: dict[str, torch.Tensor],
    path: str | Path,
    config=None,
    half: bool = False,
    extra: dict[str, str] | None = None,
) -> None:
    """Write tensors atomically as safetensors; floating tensors become fp16 when ``half``.

    ``config`` (anything with ``to_dict``) is stored as JSON metadata under ``"config"``.
    """
    path = Path(path)
    tensors = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if half and value.is_floating_point():
            value = value.half()
        tensors[key] = value.contiguous()
    metadata = dict(extra or {})
    if config is not None and hasattr(config, "to_dict"):
        metadata["config"] = json.dumps(config.to_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write_safetensors(tensors, tmp, metadata)
    os.replace(tmp, path)


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """The safetensors file of ``tensors`` at ``path``, with the usual umask-respecting mode (safetensors'
    ``save_file`` creates its files 0600, which hides shared weights and checkpoints from the rest of a group)."""
    path.write_bytes(safetensors_bytes(tensors, metadata=metadata))


def save_weights(model: nn.Module, path: str | Path, half: bool = False, extra: dict[str, str] | None = None) -> None:
    """:func:`save_state` of ``model.state_dict()`` with the model's ``config``."""
    save_state(model.state_dict(), path, getattr(model, "config", None), half, extra)


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file; a missing or corrupt file, or a tensor holding NaN or infinite
    values (a diverged run, a damaged file), is a :class:`WavecrossError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise WavecrossError(
            f"{path}: weights file not found; check the path (or omit --weights to use the shipped model)."
        )
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WavecrossError(
            f"{path}: not a readable safetensors weights file ({_one_line(exc)}); point to a file written "
            "by wavecross train or WaveCross.save."
        ) from None
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise WavecrossError(
            f"{path}: tensor {bad[0]!r}{f' and {len(bad) - 1} more' if len(bad) > 1 else ''} holds NaN or "
            "infinite values (a diverged training run or a damaged file); use another weights file."
        )
    return tensors, metadata


def load_module(path: str | Path, build: Callable[[dict[str, Any]], nn.Module], map_location: str = "cpu") -> nn.Module:
    """``build(config)`` with the config stored in ``path``, its weights loaded (fp32), on ``map_location``.

    A config that is not a JSON object, or that ``build`` refuses (``ValueError``/``TypeError``: unknown keys,
    values of the wrong type), and weights that do not fit it are :class:`WavecrossError` naming the file.
    """
    tensors, metadata = read_weights(path)
    if "config" not in metadata:
        raise WavecrossError(f"{path}: has no model config in its metadata; it was not written by wavecross.")
    try:
        config = json.loads(metadata["config"])
        if not isinstance(config, dict):
            raise TypeError(f"a JSON {type(config).__name__}, not an object")
        with torch.device("meta"):  # no memory and no random initialisation for weights about to be replaced
            model = build(config)
    except (ValueError, TypeError) as exc:  # invalid JSON, unknown keys, values of the wrong type
        raise WavecrossError(
            f"{path}: the model config in its metadata is invalid ({_one_line(exc)}); it was not written by this "
            "version of wavecross, or was edited."
        ) from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    try:
        model.load_state_dict(state, assign=True)  # strict: every parameter and buffer gets its stored tensor
    except RuntimeError as exc:
        raise WavecrossError(f"{path}: weights do not match the stored config ({_one_line(exc)}).") from None
    return model.to(map_location)


def _one_line(exc: BaseException, most: int = 160) -> str:
    return " ".join(str(exc).split())[:most]
