"""The metric catalogue: the three reference conventions, the general metrics, and :func:`compute`.

A name means one definition per convention (``PRESETS``); names outside a preset have a single definition
(the general metrics, or the one preset that defines them), so ``compute(..., metrics=["Nabf"],
convention="cddfuse")`` gives the Tang-suite Nabf.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..errors import WavecrossError
from . import feature_mi as _fmi
from . import gradient as _gr
from . import information as _inf
from . import statistics as _st
from . import structural as _sx
from . import thermal as _th
from . import visual as _vi
from ._base import Triple, run_single_threaded

f32 = np.float32


@dataclass(frozen=True)
class Metric:
    """One named metric under one convention: the function of a :class:`Triple` and its direction.

    ``self_parallel``: the function can spread its work over every core (a compiled parallel kernel).
    ``cost``: its run time relative to the other self-parallel metrics, so that the longest start first.
    """

    fn: Callable[[Triple], float]
    higher_is_better: bool | None
    self_parallel: bool = False
    cost: float = 0.0


def _m(
    fn: Callable[..., float], higher: bool | None, self_parallel: bool = False, cost: float = 0.0, **kwargs: Any
) -> Metric:
    return Metric(partial(fn, **kwargs) if kwargs else fn, higher, self_parallel, cost)


CONVENTIONS: dict[str, dict[str, Metric]] = {
    # MMIF-CDDFuse utils/Evaluator.py (float32 images, scikit-image 0.19 SSIM)
    "cddfuse": {
        "EN": _m(_inf.entropy, True),
        "SD": _m(_st.standard_deviation, True, dtype=f32),
        "SF": _m(_st.spatial_frequency, True, dtype=f32),
        "AG": _m(_st.average_gradient, True, dtype=f32),
        "MI": _m(_inf.mutual_information, True, convention="cddfuse"),
        "MSE": _m(_st.mse, False, dtype=f32),
        "CC": _m(_st.correlation_coefficient, True, dtype=f32),
        "PSNR": _m(_st.psnr, True, convention="cddfuse"),
        "SCD": _m(_st.scd, True, dtype=f32),
        "VIFF": _m(_vi.viff, True, nan_as_one=True),
        "Qabf": _m(_gr.qabf, True, dtype=f32),
        "SSIM": _m(_sx.ssim_skimage, True, data_range=2.0),
    },
    # VIFB MATLAB toolbox (Zhang et al. 2020)
    "vifb": {
        "CE": _m(_inf.cross_entropy, False),
        "EN": _m(_inf.entropy, True),
        "MI": _m(_inf.mutual_information, True, convention="vifb"),
        "PSNR": _m(_st.psnr, True, convention="vifb"),
        "AG": _m(_st.average_gradient, True, interior=True),
        "EI": _m(_st.edge_intensity, True),
        "Qabf": _m(_gr.qabf, True, scale=255.0),
        "SD": _m(_st.standard_deviation, True),
        "SF": _m(_st.spatial_frequency, True, per_pixel=True),
        "RMSE": _m(_st.rmse_vifb, False),
        "SSIM": _m(_sx.ssim_wang, True),
        "Qcb": _m(_vi.qcb, True),
        "Qcv": _m(_vi.qcv, False),
    },
    # analysis_Reference.m of the SeAFusion / PIAFusion / SwinFusion line (Tang et al.)
    "tang": {
        "EN": _m(_inf.entropy, True),
        "MI": _m(_inf.mutual_information, True, convention="tang"),
        "SF": _m(_st.spatial_frequency, True),
        "SD": _m(_st.standard_deviation, True),
        "AG": _m(_st.average_gradient, True, interior=True),
        "MSE": _m(_st.mse, False, unit=True),
        "PSNR": _m(_st.psnr, True, convention="tang"),
        "VIF": _m(_vi.viff, True, nan_as_one=False),
        "CC": _m(_st.correlation_coefficient, True),
        "SCD": _m(_st.scd, True),
        "Qabf": _m(_gr.qabf, True),
        "Nabf": _m(_gr.nabf, False),
        "SSIM": _m(_sx.ssim_matlab, True),
    },
}

GENERAL: dict[str, Metric] = {
    "Q_S": _m(_sx.piella_qs, True),
    "Q_W": _m(_sx.piella_qw, True),
    "Q_E": _m(_sx.piella_qe, True),
    "Q_Y": _m(_sx.yang_qy, True),
    "Q_C": _m(_sx.cvejic_qc, True),
    # costs: measured ratios (the wavelet map is larger than the image, the pixel one has a log2 table)
    "FMI_pixel": _m(_fmi.fmi, True, self_parallel=True, cost=1.0, feature="pixel"),
    "FMI_dct": _m(_fmi.fmi, True, self_parallel=True, cost=1.3, feature="dct"),
    "FMI_w": _m(_fmi.fmi, True, self_parallel=True, cost=1.7, feature="wavelet"),
    "MS_SSIM": _m(_sx.ms_ssim, True),
    "RankAgree": _m(_th.rank_agree, True),
    "LocalEnergyErr": _m(_th.local_energy_err, False),
    "HotContrast": _m(_th.hot_contrast, True),
}

PRESETS: dict[str, tuple[str, ...]] = {name: tuple(defs) for name, defs in CONVENTIONS.items()}

ALL_METRICS: tuple[str, ...] = tuple(dict.fromkeys([n for defs in CONVENTIONS.values() for n in defs] + list(GENERAL)))

HIGHER_IS_BETTER: dict[str, bool | None] = {}
for _defs in [*CONVENTIONS.values(), GENERAL]:
    for _name, _metric in _defs.items():
        HIGHER_IS_BETTER.setdefault(_name, _metric.higher_is_better)


def resolve(metrics: Sequence[str] | None, convention: str = "cddfuse") -> dict[str, Metric]:
    """The definitions ``compute`` would use: the preset's own, else the general or single other definition.

    Raises :class:`WavecrossError` for an unknown convention or metric name (the message lists the valid ones).
    """
    if convention not in CONVENTIONS:
        raise WavecrossError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}.")
    names = list(PRESETS[convention]) if metrics is None else list(metrics)
    chosen: dict[str, Metric] = {}
    unknown = []
    for name in names:
        if name in CONVENTIONS[convention]:
            chosen[name] = CONVENTIONS[convention][name]
        elif name in GENERAL:
            chosen[name] = GENERAL[name]
        else:
            owner = next((c for c, defs in CONVENTIONS.items() if name in defs), None)
            if owner is None:
                unknown.append(name)
            else:
                chosen[name] = CONVENTIONS[owner][name]
    if unknown:
        raise WavecrossError(
            f"unknown metric name(s) {', '.join(map(repr, unknown))}; valid names: {', '.join(ALL_METRICS)}."
        )
    return chosen


def compute(
    fused: Any, ir: Any, vis: Any, metrics: Sequence[str] | None = None, convention: str = "cddfuse"
) -> dict[str, float]:
    """Metric values of one fused image against its infrared and visible sources.

    Images are grey (H, W) numpy arrays or tensors at the 0–255 scale (8-bit images as saved). ``metrics=None``
    computes the whole preset of ``convention`` ("cddfuse", "vifb" or "tang"); names are those of
    :data:`PRESETS` and the general metrics (Q_S, Q_W, Q_E, Q_Y, Q_C, FMI_pixel, FMI_dct, FMI_w, MS_SSIM,
    RankAgree, LocalEnergyErr, HotContrast). Values are floats; NaN where a metric is undefined (e.g. SCD when
    F equals a source). Intermediates shared by several metrics are computed once per call.
    """
    chosen = resolve(metrics, convention)
    return evaluate_triple(Triple.of(fused, ir, vis), chosen)


def evaluate_triple(t: Triple, chosen: dict[str, Metric], threads: int | None = None) -> dict[str, float]:
    """Values of the ``chosen`` metrics (from :func:`resolve`) on one Triple, in the order given.

    Metrics run on ``threads`` threads (default: one per CPU): the heavy ones spend their time in NumPy, SciPy
    and compiled kernels that release the GIL, and the Triple's cache makes each shared intermediate be computed
    once whichever thread asks first. Self-parallel metrics (compiled kernels that can use every core, the FMIs)
    are scheduled by how many there are: at least one per thread, and every metric runs on the pool, each on
    one core, the self-parallel ones first (the longest tasks start first, the short ones fill the gaps);
    fewer, and they run one after another on a lane of their own using every core, beside the pool. The values
    do not depend on the thread count or the schedule.
    """
    workers = min(len(chosen), threads or os.cpu_count() or 1)
    if workers <= 1:
        return {name: float(metric.fn(t)) for name, metric in chosen.items()}
    lane = sorted((name for name, metric in chosen.items() if metric.self_parallel), key=lambda n: -chosen[n].cost)
    rest = [name for name in chosen if name not in lane]
    pool = _executor(workers, "pool")
    values: dict[str, float] = {}
    if len(lane) >= workers:
        order = lane + rest
        values.update(zip(order, pool.map(lambda n: float(run_single_threaded(chosen[n].fn, t)), order), strict=True))
    else:
        done = _executor(1, "lane").submit(lambda: {name: float(chosen[name].fn(t)) for name in lane})
        values.update(zip(rest, pool.map(lambda name: float(chosen[name].fn(t)), rest), strict=True))
        values.update(done.result())
    return {name: values[name] for name in chosen}


_EXECUTORS: dict[tuple[int, str], ThreadPoolExecutor] = {}
_EXECUTORS_LOCK = threading.Lock()


def _executor(workers: int, role: str) -> ThreadPoolExecutor:
    # Kept for the life of the process: starting threads per image costs time, and a thread's malloc arena is
    # given back to the system when the thread ends (its arrays then fault their pages in again).
    with _EXECUTORS_LOCK:
        key = (workers, role)
        if key not in _EXECUTORS:
            _EXECUTORS[key] = ThreadPoolExecutor(workers, thread_name_prefix=f"wavecross-metrics-{role}")
        return _EXECUTORS[key]
