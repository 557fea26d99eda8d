"""Registering a slightly misaligned IR/visible pair: one global transform that maps the visible image onto the
IR image's pixel grid, estimated across the two modalities (the work of ``wavecross fuse --register``).

Method. Raw intensities of the two modalities are not comparable (a warm road is bright in IR and dark in the
visible image); their edges are. Both images become edge maps (:func:`edge_map`: gradient magnitude against its
local average), and OpenCV's ECC maximisation (``cv2.findTransformECC``, invariant to the gain and offset of the
two maps) aligns them coarse to fine over an image pyramid whose coarsest level is at most :data:`COARSEST_SIDE`
pixels wide. There, starting transforms come from an exhaustive normalised-correlation search: for each of a few
rotations and scales about the centre (:data:`START_ROTATIONS`, :data:`START_SCALES`), the best shift of up to
:data:`MAX_SHIFT_FRACTION` of the size. ECC refines the :data:`STARTS` best (translation, then affine), and the
one that ends best correlated goes on; every finer level refines the chosen model (``translation``, ``affine``,
or ``homography``: affine maps until full resolution). A translation starts from shifts alone.

Convention. :attr:`RegistrationResult.matrix` is a 3×3 matrix in pixel coordinates (x to the right, y down, the
centre of the top-left pixel at (0, 0)) that maps **IR pixel coordinates to visible pixel coordinates**: the
registered visible image at IR pixel p is the visible image sampled at ``matrix @ p`` (divided by its third
coordinate). That is OpenCV's ``WARP_INVERSE_MAP`` convention, and what :func:`warp_to` applies.

A pair is refused (:class:`WavecrossError`, one sentence naming it) when an image has no edges, ECC does not
converge, the edge maps correlate less than :data:`MIN_CORRELATION` once aligned, or the transform is implausible
for a slightly misaligned pair (:func:`check_plausible`). OpenCV is imported only here, and only when used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .data.io import luminance, to_unit
from .errors import WavecrossError

MODELS = ("translation", "affine", "homography")

# Plausibility bounds of an estimated transform (check_plausible), all measured at the image centre.
MAX_SHIFT_FRACTION = 0.10  # displacement of the centre, per axis, as a fraction of the width/height
MAX_ROTATION_DEG = 10.0  # rotation
SCALE_RANGE = (0.8, 1.25)  # mean scale: square root of the Jacobian's determinant
MAX_ANISOTROPY = 0.10  # shear/stretch: ratio of the Jacobian's singular values, minus 1
MAX_PERSPECTIVE = 0.05  # homography: largest relative change of the projective scale from the centre to a corner
# Least correlation of the two edge maps once aligned (ECC's criterion at the finest level), per model. Chosen on
# val/MSRS and val/TNO (docs/registration.md): a visible image of noise or of another scene stays under 0.07, and
# above these values no translation or affine registration of a warped val pair (66 pairs, two warps each) was off
# by more than 1 px. A translation cannot follow the few-percent scale differences of real pairs, so it correlates
# less when right, and with fewer degrees of freedom also less when wrong.
MIN_CORRELATION = {"translation": 0.12, "affine": 0.18, "homography": 0.18}

# The pyramid: halve the image while its longer side exceeds COARSEST_SIDE pixels and its shorter side stays at
# least MIN_SIDE; images with a side over MAX_WORK_SIDE are registered at that size and the matrix scaled up.
COARSEST_SIDE = 192
MIN_SIDE = 32
MAX_WORK_SIDE = 1024
START_ROTATIONS = (-3.0, -1.5, 0.0, 1.5, 3.0)  # degrees, with START_SCALES: the similarity transforms tried ...
START_SCALES = (0.94, 0.97, 1.0, 1.03, 1.06)  # ... at the coarsest level, each with its best shift
STARTS = 3  # the best of them that ECC refines at the coarsest level; the one it correlates best continues
ECC_ITERATIONS = 100  # per ECC run
ECC_EPSILON = 1e-5  # an ECC run stops when the correlation gains less than this
ECC_SMOOTHING = 3  # Gaussian kernel size ECC applies to both maps (odd)
EDGE_SIGMA = 1.0  # Gaussian blur, in pixels of each level, before the Sobel gradients
LOCAL_SIGMA = 8.0  # Gaussian window of the local mean gradient that normalises the edge map
NOISE_FLOOR = 0.5  # times the median gradient, added to the local mean: keeps the noise of flat regions low

_INSTALL_HINT = "install opencv-python-headless, or pip install 'wavecross[register]'"


@dataclass(frozen=True)
class RegistrationResult:
    """An estimated transform: ``model``, the 3×3 ``matrix`` mapping IR pixel coordinates to visible pixel
    coordinates (normalised so that ``matrix[2, 2] == 1``), and the ``correlation`` of the two edge maps it
    achieves (ECC's criterion at the finest level; 1 would be identical maps)."""

    model: str
    matrix: np.ndarray
    correlation: float

    def to_json(self) -> dict[str, Any]:
        """The transform as JSON-ready values (what ``wavecross fuse --save-transform`` writes, with the pair)."""
        return {
            "model": self.model,
            "matrix": [[float(v) for v in row] for row in self.matrix],
            "maps": "ir_to_vis",
            "convention": "matrix @ (x, y, 1) in IR pixel coordinates, divided by its third value, is the point of "
            "the visible image seen at IR pixel (x, y); x to the right, y down, (0, 0) the centre of the top-left "
            "pixel (OpenCV warpPerspective with WARP_INVERSE_MAP)",
            "correlation": float(self.correlation),
        }


def require_opencv() -> ModuleType:
    """OpenCV (``cv2``), imported on first use; a :class:`WavecrossError` saying how to install it if it is missing."""
    try:
        import cv2
    except ImportError:
        raise WavecrossError(f"registration needs OpenCV, which is not installed; {_INSTALL_HINT}.") from None
    return cv2


def _refuse(name: str, why: str) -> WavecrossError:
    return WavecrossError(
        f"{name}: the visible image cannot be registered to the IR image ({why}); fuse the pair without "
        "--register, or register it by hand."
    )


def _grey_unit(image: np.ndarray) -> np.ndarray:
    """An image array as read (uint8, uint16 or float in [0, 1]; grey or RGB) → float32 luminance in [0, 1]."""
    return np.ascontiguousarray(luminance(to_unit(image)), dtype=np.float32)


def edge_map(grey: np.ndarray) -> np.ndarray:
    """The modality-neutral picture of a float32 (H, W) image that registration aligns, in [0, 1).

    The gradient magnitude (Sobel after a Gaussian blur of :data:`EDGE_SIGMA`) is divided by its local mean
    (Gaussian window :data:`LOCAL_SIGMA`) plus :data:`NOISE_FLOOR` times its median, then compressed as r/(1 + r):
    an edge counts by its contrast against its surroundings, not by its absolute strength, which differs between
    the modalities, and the median term keeps the noise of flat regions low.
    """
    cv2 = require_opencv()
    blurred = cv2.GaussianBlur(grey, (0, 0), EDGE_SIGMA, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    magnitude = cv2.magnitude(gx, gy)
    floor = NOISE_FLOOR * float(np.median(magnitude)) + 1e-6
    local = cv2.GaussianBlur(magnitude, (0, 0), LOCAL_SIGMA, borderType=cv2.BORDER_REFLECT) + floor
    ratio = magnitude / local
    return (ratio / (1.0 + ratio)).astype(np.float32)


def _rescale(matrix: np.ndarray, factor: float, offset: float = 0.0) -> np.ndarray:
    """``matrix`` expressed in the coordinates x' = factor·x + offset (both axes) of the same image resampled."""
    s = np.array([[factor, 0.0, offset], [0.0, factor, offset], [0.0, 0.0, 1.0]])
    return s @ matrix @ np.linalg.inv(s)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    """A 3×3 matrix as float64 with 1 in its bottom-right corner."""
    m = np.asarray(matrix, dtype=np.float64)
    return m / m[2, 2]


def jacobian_at(matrix: np.ndarray, x: float, y: float) -> np.ndarray:
    """The 2×2 Jacobian of the projective map ``matrix`` at the point (x, y)."""
    m = _normalise(matrix)
    w = m[2, 0] * x + m[2, 1] * y + 1.0
    mapped = (m[:2, :2] @ (x, y) + m[:2, 2]) / w
    return (m[:2, :2] - np.outer(mapped, m[2, :2])) / w


def check_plausible(matrix: np.ndarray, shape: tuple[int, int], name: str = "pair") -> None:
    """Refuse (:class:`WavecrossError` naming ``name``) a transform beyond the module's bounds for an image of
    ``shape`` (H, W): perspective, shift of the centre, and the rotation, scale and shear at the centre."""
    h, w = shape
    m = _normalise(matrix)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    points = [(cx, cy), (0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]
    denominators = [m[2, 0] * x + m[2, 1] * y + 1.0 for x, y in points]
    if min(denominators) <= 0:
        raise _refuse(name, "the estimated homography folds the image over")
    change = max(abs(d / denominators[0] - 1.0) for d in denominators[1:])
    if change > MAX_PERSPECTIVE:
        raise _refuse(
            name, f"its perspective changes the scale by {change:.0%} over the image, above {MAX_PERSPECTIVE:.0%}"
        )
    centre = m @ (cx, cy, 1.0)
    dx, dy = centre[0] / centre[2] - cx, centre[1] / centre[2] - cy
    if abs(dx) > MAX_SHIFT_FRACTION * w or abs(dy) > MAX_SHIFT_FRACTION * h:
        raise _refuse(name, f"a shift of ({dx:.1f}, {dy:.1f}) px, over {MAX_SHIFT_FRACTION:.0%} of the {w}×{h} image")
    jac = jacobian_at(m, cx, cy)
    det = float(np.linalg.det(jac))
    if det <= 0:
        raise _refuse(name, "the estimated transform mirrors the image")
    rotation = math.degrees(math.atan2(jac[1, 0] - jac[0, 1], jac[0, 0] + jac[1, 1]))
    if abs(rotation) > MAX_ROTATION_DEG:
        raise _refuse(name, f"a rotation of {rotation:.1f}°, over {MAX_ROTATION_DEG:g}°")
    scale = math.sqrt(det)
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        raise _refuse(name, f"a scale of {scale:.3f}, outside {SCALE_RANGE[0]:g}–{SCALE_RANGE[1]:g}")
    low, high = sorted(np.linalg.svd(jac, compute_uv=False))
    if high / low - 1.0 > MAX_ANISOTROPY:
        raise _refuse(name, f"a shear/stretch of {high / low - 1.0:.0%}, over {MAX_ANISOTROPY:.0%}")


def _levels(shape: tuple[int, int]) -> int:
    """How many pyramid levels an image of ``shape`` (H, W) gets (see :data:`COARSEST_SIDE`)."""
    levels = 1
    while max(shape) / 2 ** (levels - 1) > COARSEST_SIDE and min(shape) / 2**levels >= MIN_SIDE:
        levels += 1
    return levels


def _pyramid(grey: np.ndarray, levels: int) -> list[np.ndarray]:
    """Edge maps of ``grey`` and of ``levels - 1`` halvings by ``cv2.pyrDown`` (pixel i of a level lies at pixel 2i
    of the level above)."""
    cv2 = require_opencv()
    images = [grey]
    for _ in range(levels - 1):
        images.append(cv2.pyrDown(images[-1]))
    return [edge_map(image) for image in images]


def _similarity(shape: tuple[int, int], degrees: float, scale: float) -> np.ndarray:
    """The 3×3 rotation by ``degrees`` and scaling by ``scale`` about the centre of an image of ``shape`` (H, W)."""
    a = math.radians(degrees)
    rs = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2])
    m = np.eye(3)
    m[:2, :2] = rs
    m[:2, 2] = centre - rs @ centre
    return m


def _start_candidates(template: np.ndarray, moving: np.ndarray, shift_only: bool = False) -> list[np.ndarray]:
    """Starting transforms at the coarsest level, best first: for each rotation of :data:`START_ROTATIONS` and
    scale of :data:`START_SCALES` (about the centre; neither with ``shift_only``), the shift of up to
    :data:`MAX_SHIFT_FRACTION` of the size (plus one pixel) with the highest normalised correlation of the two
    maps; the :data:`STARTS` best."""
    cv2 = require_opencv()
    h, w = template.shape
    my, mx = math.ceil(MAX_SHIFT_FRACTION * h) + 1, math.ceil(MAX_SHIFT_FRACTION * w) + 1
    to_canvas = np.array([[1.0, 0.0, -mx], [0.0, 1.0, -my], [0.0, 0.0, 1.0]])  # canvas pixel → template pixel
    found = []
    for degrees in (0.0,) if shift_only else START_ROTATIONS:
        for scale in (1.0,) if shift_only else START_SCALES:
            similarity = _similarity((h, w), degrees, scale)
            canvas = cv2.warpAffine(
                moving,
                (similarity @ to_canvas)[:2],
                (w + 2 * mx, h + 2 * my),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=float(moving.mean()),
            )
            scores = cv2.matchTemplate(canvas, template, cv2.TM_CCOEFF_NORMED)
            _, best, _, (x, y) = cv2.minMaxLoc(scores)
            shift = np.array([[1.0, 0.0, x - mx], [0.0, 1.0, y - my], [0.0, 0.0, 1.0]])
            found.append((best, similarity @ shift))
    found.sort(key=lambda item: -item[0])
    return [matrix for _, matrix in found[:STARTS]]


def _schedule(model: str, level: int, levels: int) -> list[str]:
    """The ECC runs at one pyramid level: the coarsest refines the translation alone first, then (but for the
    translation model) an affine map; a homography is estimated at full resolution only, affine maps before."""
    if level == levels - 1:
        return ["translation"] if model == "translation" else ["translation", "affine"]
    return ["affine"] if model == "homography" and level > 0 else [model]


def _ecc(template: np.ndarray, moving: np.ndarray, matrix: np.ndarray, model: str) -> tuple[float, np.ndarray]:
    """One ECC run of ``model`` from ``matrix`` (3×3, template → moving coordinates); (correlation, 3×3 matrix)."""
    cv2 = require_opencv()
    motion = {"translation": cv2.MOTION_TRANSLATION, "affine": cv2.MOTION_AFFINE}.get(model, cv2.MOTION_HOMOGRAPHY)
    start = _normalise(matrix).astype(np.float32)
    if model != "homography":
        start = np.ascontiguousarray(start[:2])
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, ECC_ITERATIONS, ECC_EPSILON)
    correlation, found = cv2.findTransformECC(template, moving, start, motion, criteria, None, ECC_SMOOTHING)
    full = np.eye(3)
    full[: found.shape[0]] = found
    return float(correlation), full


def _ecc_failure(exc: Exception) -> str:
    """What an OpenCV error of ECC means, in a few words for a user."""
    text = str(exc).lower()
    if "converge" in text or "correlation" in text or "nan" in text or "starting" in text:
        return "ECC did not converge: the two images share too little structure"
    return f"OpenCV failed: {str(exc).strip().splitlines()[-1][:100]}"


def _refine(template: np.ndarray, moving: np.ndarray, matrix: np.ndarray, steps: list[str]) -> tuple[float, np.ndarray]:
    """The ECC runs ``steps`` one after the other from ``matrix``; the last correlation and matrix."""
    correlation = 0.0
    for step in steps:
        correlation, matrix = _ecc(template, moving, matrix, step)
    return correlation, matrix


def estimate_transform(
    ir: np.ndarray, vis: np.ndarray, model: str = "affine", name: str = "pair"
) -> RegistrationResult:
    """The transform of ``model`` mapping IR pixel coordinates to visible ones (the module's docstring has the
    method and the convention).

    ``ir`` and ``vis`` are image arrays as read (grey or RGB; uint8, uint16 or float in [0, 1]) of one size.
    Raises :class:`WavecrossError` naming ``name`` when an image has no edges, ECC does not converge, the aligned
    edge maps correlate less than :data:`MIN_CORRELATION`, or the result fails :func:`check_plausible`.
    """
    if model not in MODELS:
        raise WavecrossError(f"unknown registration model {model!r}; choose one of {', '.join(MODELS)}.")
    if ir.shape[:2] != vis.shape[:2]:
        raise WavecrossError(f"{name}: the IR and visible images must have the same size to be registered.")
    cv2 = require_opencv()
    h, w = ir.shape[:2]
    greys = [_grey_unit(ir), _grey_unit(vis)]
    factor = min(1.0, MAX_WORK_SIDE / max(h, w))
    if factor < 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        greys = [cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in greys]
    levels = _levels(greys[0].shape)
    ir_maps, vis_maps = (_pyramid(g, levels) for g in greys)
    for maps, what in ((ir_maps, "IR"), (vis_maps, "visible")):
        if float(maps[0].std()) < 1e-4:
            raise _refuse(name, f"the {what} image has no edges to align")
    # The coarsest level: ECC from each starting transform; the one that ends best correlated goes on.
    found, failure = [], None
    for start in _start_candidates(ir_maps[-1], vis_maps[-1], shift_only=model == "translation"):
        try:
            found.append(_refine(ir_maps[-1], vis_maps[-1], start, _schedule(model, levels - 1, levels)))
        except cv2.error as exc:
            failure = exc
    try:
        if not found:
            raise failure or cv2.error("no starting transform")
        correlation, matrix = max(found, key=lambda item: item[0])
        for level in range(levels - 2, -1, -1):
            matrix = _rescale(matrix, 2.0)
            correlation, matrix = _refine(ir_maps[level], vis_maps[level], matrix, _schedule(model, level, levels))
    except cv2.error as exc:
        raise _refuse(name, _ecc_failure(exc)) from None
    if factor < 1.0:  # working pixel centres lie at x_work = (x + 0.5)·factor − 0.5
        matrix = _rescale(matrix, 1.0 / factor, 0.5 / factor - 0.5)
    matrix = _normalise(matrix)
    if correlation < MIN_CORRELATION[model]:
        least = MIN_CORRELATION[model]
        raise _refuse(name, f"their edges correlate only {correlation:.3f} once aligned, under {least:g}")
    check_plausible(matrix, (h, w), name)
    return RegistrationResult(model, matrix, correlation)


def warp_to(shape: tuple[int, ...], vis: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``vis`` resampled onto the pixel grid of an image of ``shape`` ((H, W, ...): the IR image's) through
    ``matrix`` (IR → visible coordinates), every channel alike and in its own dtype (uint8, uint16 or float32).

    Bilinear; where the grid sees past the visible image's border, the nearest border pixel is repeated
    (``BORDER_REPLICATE``): a mirrored border would add edges the fusion would keep, a black one a false dark
    frame, while repeated pixels only smear the border's colour over the few pixels the misalignment uncovers.
    """
    cv2 = require_opencv()
    h, w = shape[:2]
    m = _normalise(matrix)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    src = np.ascontiguousarray(vis)
    if np.array_equal(m[2], (0.0, 0.0, 1.0)):
        out = cv2.warpAffine(src, m[:2], (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    else:
        out = cv2.warpPerspective(src, m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape((h, w, *vis.shape[2:]))


def register_pair(
    ir: np.ndarray, vis: np.ndarray, model: str = "affine", name: str = "pair"
) -> tuple[np.ndarray, RegistrationResult]:
    """The visible image warped onto the IR image's grid (:func:`warp_to`) and the transform used
    (:func:`estimate_transform`)."""
    result = estimate_transform(ir, vis, model, name)
    return warp_to(ir.shape, vis, result.matrix), result


def transform_distance(a: np.ndarray, b: np.ndarray, shape: tuple[int, ...], n: int = 10) -> float:
    """Mean distance in pixels between where the 3×3 maps ``a`` and ``b`` send an n×n grid of points spread over
    an image of ``shape``: how far apart two registrations of one pair are (the accuracy measure of the tests and
    ``bench/registration.py``)."""
    h, w = shape[:2]
    xs, ys = np.meshgrid(np.linspace(0, w - 1, n), np.linspace(0, h - 1, n))
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(n * n)])
    pa, pb = a @ points, b @ points
    return float(np.linalg.norm(pa[:2] / pa[2] - pb[:2] / pb[2], axis=0).mean())


def similarity_transform(w: int, h: int, dx: float, dy: float, degrees: float, scale: float) -> np.ndarray:
    """The 3×3 map of a rotation by ``degrees`` and a scaling about the centre of a w×h image, then the shift
    (dx, dy) — the kind of misalignment two side-by-side cameras have (used to build known warps)."""
    a = math.radians(degrees)
    rs = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    m = np.eye(3)
    m[:2, :2] = rs
    m[:2, 2] = centre + (dx, dy) - rs @ centre
    return m
