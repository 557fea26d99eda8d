"""Reading and writing images, and the BT.601 colour conventions of the field.

Everything here works on numpy arrays: files come in as ``uint8``/``uint16``/``float32`` arrays of shape (H, W) or
(H, W, 3), and go out the same way. Colour conversions also accept torch tensors (the channel axis is an argument),
so the fusion API uses the very same formulas.
"""

from __future__ import annotations

import math
import os
import secrets
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import WavecrossError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# Largest image read, in pixels (width × height; all pages of a TIFF series), checked from the file header before
# anything is decoded: a small file declaring a huge size (a decompression bomb) would otherwise fill the memory.
# Set it for the Python API (0: no limit); the commands take --max-pixels N.
MAX_PIXELS = 100_000_000

ORIENTATION_TAG = 0x0112  # EXIF and TIFF Orientation; 2-8 flip/rotate the stored pixels (PIL's exif_transpose)
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
_PIL_LIMIT_LOCK = threading.Lock()

# Temporary files of write_image: hidden, with the writer's PID, so a later run can remove those of killed writers.
TEMP_PREFIX = ".wavecross-tmp-"

# Robust range of 16-bit images: thermal cameras fill a narrow band of the 0-65535 counts, so a plain /65535
# would give an almost black image. The 0.1 and 99.9 percentiles map to 0 and 1 (values beyond are clipped).
ROBUST_PERCENTILES = (0.1, 99.9)


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has one of the image extensions the toolkit reads (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as (H, W) or (H, W, 3) ``uint8``/``uint16``/``float32``; alpha is dropped.

    The EXIF orientation (the Orientation tag of a TIFF) is applied, so the array is the upright image a viewer
    shows. Images over ``max_pixels`` (default :data:`MAX_PIXELS`; 0 for no limit) are refused from their header,
    before decoding. Integer images beyond 16 bits must hold values in 0–65535 (they become ``uint16``); float
    images must be finite and in [0, 1]. Raises :class:`WavecrossError` (one sentence naming the file) when the
    file is missing, not an image, truncated, too large or out of range.
    """
    path = Path(path)
    if not path.is_file():
        raise missing_file_error(path)
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            return normalise_layout(_read_tiff(path, limit), path)
        with _open_unchecked(path) as im:
            _check_pixels(path, im.size, im.size[0] * im.size[1], limit)
            im.load()  # forces full decoding, so truncated files fail here and not later
            return from_pil(im, path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise WavecrossError(
            f"{path}: cannot be read as an image ({_short(exc)}); replace it with a valid png/jpg/bmp/tif file."
        ) from None


def missing_file_error(path: Path) -> WavecrossError:
    """The error for a path that is not a file: a broken symbolic link says so (it is listed, yet unreadable)."""
    if path.is_symlink() and not path.exists():
        return WavecrossError(f"{path}: is a broken symbolic link (to {os.readlink(path)}); fix or remove it.")
    return WavecrossError(f"{path}: no such file; check the path.")


def _open_unchecked(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's own decompression-bomb check, which warns above 89 MP and refuses above
    179 MP whatever our limit is; :func:`read_image` checks the header size against :data:`MAX_PIXELS` instead."""
    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _read_tiff(path: Path, limit: int) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = series.keyframe
        pixels = math.prod(series.shape) // max(1, page.samplesperpixel)  # every page of the series is decoded
        _check_pixels(path, (page.imagewidth, page.imagelength), pixels, limit)
        arr = series.asarray()
        orientation = page.tags.get(ORIENTATION_TAG)
    return _ORIENT[orientation.value](arr) if orientation is not None and orientation.value in _ORIENT else arr


def _check_pixels(path: Path, size: tuple[int, int], pixels: int, limit: int | None) -> None:
    if limit and pixels > limit:
        raise WavecrossError(
            f"{path}: declares {size[0]}×{size[1]} pixels ({pixels / 1e6:.1f} megapixels), over the limit of "
            f"{limit / 1e6:g} megapixels; raise it with --max-pixels N (Python: wavecross.data.io.MAX_PIXELS) "
            "if you trust the file."
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def from_pil(im: Image.Image, name: str | Path = "image") -> np.ndarray:
    """A PIL image as :func:`read_image` returns a file of it: upright (EXIF orientation applied), same modes, same
    layout and value checks. 16-bit modes stay ``uint16``, ``F`` stays float (it must lie in [0, 1])."""
    if im.getexif().get(ORIENTATION_TAG, 1) != 1:
        im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(im, dtype=np.uint16)
    elif im.mode in ("I", "F", "L", "RGB"):
        arr = np.asarray(im)
    elif im.mode in ("1", "P", "LA", "PA"):
        arr = np.asarray(im.convert("RGB" if im.mode.startswith("P") else "L"))
    else:
        arr = np.asarray(im.convert("RGB"))
    return normalise_layout(arr, name)


def normalise_layout(arr: np.ndarray, name: str | Path = "image") -> np.ndarray:
    """(H, W) or (H, W, 3) ``uint8``/``uint16``/``float32``: alpha dropped; other integer types become ``uint16``
    when their values fit (as Pillow's 32-bit mode ``I`` holding 16-bit counts); floats must be finite, in [0, 1]."""
    if arr.ndim == 3 and arr.shape[2] in (2, 4):  # grey+alpha or RGBA: drop alpha
        arr = arr[..., 0] if arr.shape[2] == 2 else arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise WavecrossError(f"{name}: unsupported image layout {arr.shape}; use a grey or RGB image.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * np.uint8(255)
    elif arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.uint16):
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise WavecrossError(
                f"{name}: integer values span [{lo}, {hi}], beyond 16 bits; save it as an 8- or 16-bit image."
            )
        arr = arr.astype(np.uint16)
    elif arr.dtype not in (np.uint8, np.uint16):
        arr = _check_unit_range(np.asarray(arr, dtype=np.float32), name)
    return np.ascontiguousarray(arr)


def _check_unit_range(arr: np.ndarray, name: str | Path) -> np.ndarray:
    if not np.isfinite(arr).all():
        raise WavecrossError(f"{name}: contains NaN or infinite values; use a finite image.")
    if arr.size and (arr.min() < -1e-3 or arr.max() > 1 + 1e-3):
        raise WavecrossError(
            f"{name}: float values span [{arr.min():.3g}, {arr.max():.3g}] but must lie in [0, 1]; "
            "divide by 255 (or 65535) first."
        )
    return arr


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
    return np.clip(_check_unit_range(np.asarray(arr, dtype=np.float32), name), 0.0, 1.0)


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


#: zlib level of written PNGs. Pillow's default (6) took 110 ms for a 640×480 colour image, as long as half a
#: fusion; level 1 (OpenCV's default) takes 25 ms for files 10–20 % larger (docs/speed.md). PNG stays lossless.
PNG_COMPRESS_LEVEL = 1


def write_image(path: str | Path, arr: np.ndarray, overwrite: bool = False) -> Path:
    """Write a ``uint8``/``uint16`` (H, W) or (H, W, 3) array atomically (temporary file, then rename).

    An existing file is an error unless ``overwrite`` is set, so no output is ever replaced silently. The file gets
    the usual permissions (0666 less the umask). A failed write (full disk, read-only folder) is a
    :class:`WavecrossError` naming the file and leaves nothing behind.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise WavecrossError(f"{path}: already exists; choose another output or pass --overwrite.")
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise WavecrossError(f"{path}: unknown image extension; use one of {', '.join(IMAGE_EXTENSIONS)}.")

    def save(tmp: Path) -> None:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, arr)
        else:
            fmt = _pil_format(path)
            options = {"compress_level": PNG_COMPRESS_LEVEL} if fmt == "PNG" else {}
            Image.fromarray(arr).save(tmp, format=fmt, **options)

    atomic_write(path, save)
    return path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a new temporary file next to ``path``, then rename it to ``path``: readers never see a
    half-written file, and an interrupted or failed write removes its temporary file (OSError → WavecrossError)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A new name opened with O_EXCL and mode 0666: the OS applies the umask (mkstemp would give 0600).
        tmp = path.parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{path.suffix}"
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically, as :func:`write_image` writes images (existing files are replaced)."""
    path = Path(path)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def write_error(path: Path, exc: OSError) -> WavecrossError:
    """The error for a failed write of ``path``: which file, why, and what to do."""
    return WavecrossError(
        f"{path}: cannot be written ({exc.strerror or _short(exc)}); check the free disk space and that the "
        "folder is writable, or choose another output."
    )


def check_writable(folder: str | Path, output: str | Path | None = None) -> None:
    """Refuse, before any work, an output folder that cannot be created or written; messages name ``output`` (the
    file to be written there) if given, else the folder."""
    folder = Path(folder)
    name = output or folder
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WavecrossError(f"{name}: cannot be created, {existing} is a file; choose another output.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WavecrossError(f"{name}: cannot be written, {existing} is read-only or not yours; choose another output.")


def remove_stale_temp_files(folder: str | Path) -> int:
    """Delete the temporary files that :func:`write_image` left in ``folder`` when its process was killed; returns
    how many. Those of a process still running (a write in progress) are kept."""
    removed = 0
    for tmp in Path(folder).glob(f"{TEMP_PREFIX}*"):
        pid = tmp.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _running(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate the process there: keep every file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _pil_format(path: Path) -> str:
    return {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}[path.suffix.lower()]
