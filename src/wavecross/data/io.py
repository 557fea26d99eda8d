"""Reading and writing images, and the BT.601 colour conventions of the field.

Everything here works on numpy arrays: files come in as ``uint8``/``uint16``/``float32`` arrays of shape (H, W) or
(H, W, 3), and go out the same way. Colour conversions also accept torch tensors (the channel axis is an argument),
so the fusion API uses the very same formulas.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import WavecrossError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# Robust range of 16-bit images: thermal cameras fill a narrow band of the 0-65535 counts, so a plain /65535
# would give an almost black image. The 0.1 and 99.9 percentiles map to 0 and 1 (values beyond are clipped).
ROBUST_PERCENTILES = (0.1, 99.9)


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has one of the image extensions the toolkit reads (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W) or (H, W, 3) ``uint8``/``uint16``/``float32``; alpha is dropped.

    Raises :class:`WavecrossError` (one sentence naming the file) when the file is missing, not an image, or
    truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise WavecrossError(f"{path}: no such file; check the path.")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = np.asarray(tifffile.imread(path))
        else:
            with Image.open(path) as im:
                im.load()  # forces full decoding, so truncated files fail here and not later
                arr = _pil_to_array(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise WavecrossError(
            f"{path}: cannot be read as an image ({_short(exc)}); replace it with a valid png/jpg/bmp/tif file."
        ) from None
    return _normalise_layout(arr, path)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _pil_to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.uint16)
    if im.mode == "I":
        arr = np.asarray(im)
        return arr.astype(np.uint16) if arr.min() >= 0 and arr.max() <= 65535 else arr.astype(np.float32)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float32)
    if im.mode in ("L", "RGB"):
        return np.asarray(im)
    if im.mode in ("1", "P", "LA", "PA"):
        return np.asarray(im.convert("RGB" if im.mode.startswith("P") else "L"))
    return np.asarray(im.convert("RGB"))


def _normalise_layout(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] in (2, 4):  # grey+alpha or RGBA: drop alpha
        arr = arr[..., :1][..., 0] if arr.shape[2] == 2 else arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise WavecrossError(f"{path}: unsupported image layout {arr.shape}; use a grey or RGB image.")
    if arr.dtype not in (np.uint8, np.uint16):
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise WavecrossError(f"{path}: contains NaN or infinite values; save a finite image.")
    return np.ascontiguousarray(arr)


def is_grey(arr: np.ndarray) -> bool:
    """True for (H, W) arrays and for (H, W, 3) arrays whose three channels are equal (grey stored as RGB)."""
    if arr.ndim == 2:
        return True
    return bool(np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]))


def to_unit(arr: np.ndarray, name: str = "image") -> np.ndarray:
    """Scale an image array to ``float32`` in [0, 1].

    ``uint8`` is divided by 255. ``uint16`` uses the robust normalisation: the 0.1/99.9 percentiles map to 0/1
    (a constant image maps to 0). Float input must already lie in [0, 1] (a 1e-3 slack is clipped).
    """
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        lo, hi = np.percentile(arr, ROBUST_PERCENTILES)
        if hi <= lo:
            return np.zeros(arr.shape, np.float32)
        return np.clip((arr.astype(np.float32) - lo) / float(hi - lo), 0.0, 1.0)
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise WavecrossError(f"{name}: contains NaN or infinite values; pass a finite image.")
    if arr.size and (arr.min() < -1e-3 or arr.max() > 1 + 1e-3):
        raise WavecrossError(
            f"{name}: float values span [{arr.min():.3g}, {arr.max():.3g}] but must lie in [0, 1]; "
            "divide by 255 (or 65535) first."
        )
    return np.clip(arr, 0.0, 1.0)


def _channels(x: Any, axis: int) -> list[Any]:
    axis = axis % x.ndim
    index = (slice(None),) * axis
    return [x[index + (i,)] for i in range(3)]


def _stack(parts: list[Any], like: Any, axis: int) -> Any:
    axis = axis % like.ndim
    if isinstance(like, np.ndarray):
        return np.stack(parts, axis=axis)
    import torch

    return torch.stack(parts, dim=axis)


def rgb_to_ycbcr(rgb: Any, axis: int = -1) -> Any:
    """BT.601 full-range (JPEG) RGB → YCbCr on [0, 1] floats; numpy arrays or torch tensors.

    Y = 0.299 R + 0.587 G + 0.114 B; Cb, Cr centred on 0.5. ``axis`` is the channel axis.
    """
    r, g, b = _channels(rgb, axis)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return _stack([y, cb, cr], rgb, axis)


def ycbcr_to_rgb(ycbcr: Any, axis: int = -1) -> Any:
    """Inverse of :func:`rgb_to_ycbcr` (not clamped: clamp the result to [0, 1] yourself)."""
    y, cb, cr = _channels(ycbcr, axis)
    cb = cb - 0.5
    cr = cr - 0.5
    r = y + 1.402 * cr
    g = y - 0.344136 * cb - 0.714136 * cr
    b = y + 1.772 * cb
    return _stack([r, g, b], ycbcr, axis)


def luminance(arr: np.ndarray) -> np.ndarray:
    """Grey/Y channel of an image array, same scale as the input, as ``float32``.

    Grey input (or RGB with equal channels) returns that channel unchanged; colour returns BT.601 Y.
    """
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if is_grey(arr):
        return arr[..., 0].astype(np.float32)
    return rgb_to_ycbcr(arr.astype(np.float32))[..., 0]


def luminance_u8(arr: np.ndarray) -> np.ndarray:
    """The 0-255 grey/Y image that metric references see: ``round(0.299R + 0.587G + 0.114B)``, half-to-even.

    16-bit and float images are first brought to [0, 1] with :func:`to_unit`, then to 0-255.
    """
    if arr.dtype != np.uint8:
        unit = to_unit(arr)
        return np.clip(np.rint(luminance(unit) * 255.0), 0, 255).astype(np.uint8)
    return np.clip(np.rint(luminance(arr)), 0, 255).astype(np.uint8)


def write_image(path: str | Path, arr: np.ndarray, overwrite: bool = False) -> Path:
    """Write a ``uint8``/``uint16`` (H, W) or (H, W, 3) array atomically (temporary file, then rename).

    An existing file is an error unless ``overwrite`` is set, so no output is ever replaced silently and a failed
    write never leaves a half-written file.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise WavecrossError(f"{path}: already exists; choose another output or pass --overwrite.")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise WavecrossError(f"{path}: unknown image extension; use one of {', '.join(IMAGE_EXTENSIONS)}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, arr)
        else:
            Image.fromarray(arr).save(tmp, format=_pil_format(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _pil_format(path: Path) -> str:
    return {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}[path.suffix.lower()]
