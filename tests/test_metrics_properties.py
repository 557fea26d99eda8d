"""Analytic properties of the metrics and the behaviour of the public API."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch

from wavecross.errors import WavecrossError
from wavecross.metrics import (
    ALL_METRICS,
    HIGHER_IS_BETTER,
    PRESETS,
    Triple,
    compute,
    entropy,
    evaluate_triple,
    fmi,
    local_energy_err,
    mutual_information,
    rank_agree,
)


def _scene(seed: int = 0, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A textured 8-bit image with a flat patch (flat windows exercise the references' special cases)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    img = 120 + 60 * np.sin(x / 5.0 + seed) * np.cos(y / 7.0) + rng.normal(0, 12, shape)
    img[5:17, 8:24] = 37 + 5 * seed
    return np.clip(np.rint(img), 0, 254).astype(np.uint8)


IR, VIS = _scene(1), _scene(2)
MEAN = ((IR.astype(int) + VIS + 1) // 2).astype(np.uint8)


def test_presets_are_the_published_lists() -> None:
    assert PRESETS["cddfuse"] == ("EN", "SD", "SF", "AG", "MI", "MSE", "CC", "PSNR", "SCD", "VIFF", "Qabf", "SSIM")
    assert PRESETS["vifb"] == (
        "CE", "EN", "MI", "PSNR", "AG", "EI", "Qabf", "SD", "SF", "RMSE", "SSIM", "Qcb", "Qcv",
    )  # fmt: skip
    assert PRESETS["tang"] == (
        "EN", "MI", "SF", "SD", "AG", "MSE", "PSNR", "VIF", "CC", "SCD", "Qabf", "Nabf", "SSIM",
    )  # fmt: skip
    paper = {"SD", "AG", "SCD", "SF", "CC", "EN", "Nabf", "MS_SSIM"}  # what the Wave-Cross paper reports
    assert paper <= set(ALL_METRICS)
    assert set(HIGHER_IS_BETTER) == set(ALL_METRICS)
    for name in ("MSE", "RMSE", "CE", "Qcv", "Nabf", "LocalEnergyErr"):
        assert HIGHER_IS_BETTER[name] is False


def test_entropy_of_constant_image_is_zero() -> None:
    flat = np.full((20, 30), 77, np.uint8)
    assert entropy(flat, flat, flat) == 0.0
    assert compute(flat, flat, flat, ["EN"])["EN"] == 0.0


def test_entropy_of_uniform_histogram() -> None:
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert entropy(img, img, img) == pytest.approx(8.0, abs=1e-12)


def test_mutual_information_of_an_image_with_itself_is_its_entropy() -> None:
    x = IR  # values ≤ 254: no saturation in the Tang joint histogram
    h_bits = entropy(x, x, x)
    # MI is summed over the two sources, each MI(x, x) = H(x)
    assert mutual_information(x, x, x, convention="tang") == pytest.approx(2 * h_bits, rel=1e-12)
    assert mutual_information(x, x, x, convention="cddfuse") == pytest.approx(2 * h_bits * math.log(2), rel=1e-12)
    full = np.arange(256, dtype=np.uint8).repeat(4).reshape(32, 32)  # 0..255: VIFB's stretch is the identity
    h_full = entropy(full, full, full)
    assert mutual_information(full, full, full, convention="vifb") == pytest.approx(2 * h_full * math.log(2))


def test_tang_mi_merges_254_and_255_in_the_joint_histogram() -> None:
    x = np.array([[254, 255] * 8] * 8, np.uint8)  # H(x) = 1 bit, but the joint sees one level
    assert entropy(x, x, x) == pytest.approx(1.0)
    assert mutual_information(x, x, x, convention="tang") == pytest.approx(2 * (1.0 + 1.0 - 0.0))
    assert mutual_information(x, x, x, convention="cddfuse") == pytest.approx(2 * math.log(2))


@pytest.mark.parametrize(
    ("convention", "expected"), [("cddfuse", 2.0), ("vifb", 2.0), ("tang", 1.0)]
)  # sums of two SSIMs for CDDFuse/VIFB, the mean for Tang
def test_ssim_of_an_image_with_itself(convention: str, expected: float) -> None:
    assert compute(IR, IR, IR, ["SSIM"], convention=convention)["SSIM"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("name", "expected"), [("MS_SSIM", 2.0), ("Q_S", 1.0), ("Q_W", 1.0), ("Q_E", 1.0), ("Q_Y", 1.0)]
)
def test_structural_indices_of_identical_images(name: str, expected: float) -> None:
    assert compute(IR, IR, IR, [name])[name] == pytest.approx(expected, abs=1e-9)


def test_rank_agree_of_ir_and_of_its_negative() -> None:
    assert rank_agree(IR, IR) == 1.0
    assert rank_agree(255 - IR.astype(np.int16), IR) == 0.0
    assert 0.0 < rank_agree(MEAN, IR) < 1.0
    assert rank_agree(MEAN, IR) == rank_agree(MEAN, IR)  # fixed seed: reproducible


def test_rank_agree_weights_hot_pixels() -> None:
    # F keeps the order of the hot half of IR and reverses the cold half: hot pairs weigh more, so > 0.5.
    ir = np.tile(np.linspace(0, 255, 64), (32, 1))
    fused = np.where(ir > 127, ir, 127 - ir)
    assert rank_agree(fused, ir, pairs=20_000) > 0.5


def test_rank_agree_of_flat_ir_is_nan() -> None:
    assert math.isnan(rank_agree(IR, np.full(IR.shape, 9.0)))


def test_local_energy_error() -> None:
    assert local_energy_err(IR, IR) == 0.0
    shifted = IR.astype(float) + 51.0  # +0.2 on the 0–1 scale inside; zero padding lowers it at the border
    err = local_energy_err(shifted, IR)
    assert 0.8 * 0.04 < err < 0.04


def test_hot_contrast() -> None:
    assert compute(IR, IR, VIS, ["HotContrast"])["HotContrast"] == pytest.approx(1.0)
    washed = compute(0.5 * IR + 0.5 * 128, IR, VIS, ["HotContrast"])["HotContrast"]
    assert washed == pytest.approx(0.5)


def test_scd_is_nan_when_fused_equals_a_source() -> None:
    for convention in ("cddfuse", "tang"):
        assert math.isnan(compute(IR, IR, VIS, ["SCD"], convention=convention)["SCD"])


def test_qabf_quirk_for_identical_images() -> None:
    # Equal strengths make G = g (not 1) in the references, so a perfect fusion scores about Tg·Ta·σ(4.4).
    value = compute(IR, IR, IR, ["Qabf"], convention="tang")["Qabf"]
    assert 0.97 < value < 0.99


def test_tensors_and_arrays_agree() -> None:
    as_tensor = [torch.from_numpy(x.astype(np.float32))[None, None] for x in (MEAN, IR, VIS)]
    assert compute(*as_tensor, ["EN", "SD", "SSIM"]) == compute(MEAN, IR, VIS, ["EN", "SD", "SSIM"])


@pytest.mark.slow
def test_names_outside_the_preset_use_their_single_definition() -> None:
    assert compute(MEAN, IR, VIS, ["Nabf"]) == compute(MEAN, IR, VIS, ["Nabf"], convention="tang")
    assert set(compute(MEAN, IR, VIS, ["RankAgree", "FMI_dct"], convention="vifb")) == {"RankAgree", "FMI_dct"}


def test_unknown_names_raise_a_wavecross_error() -> None:
    with pytest.raises(WavecrossError, match="valid names: .*Qabf"):
        compute(MEAN, IR, VIS, ["NotAMetric"])
    with pytest.raises(WavecrossError, match="cddfuse, vifb, tang"):
        compute(MEAN, IR, VIS, convention="matlab")
    with pytest.raises(WavecrossError, match="sizes differ"):
        compute(MEAN[:-1], IR, VIS, ["EN"])


def test_every_metric_runs_and_is_finite_on_a_generic_triple() -> None:
    t = Triple(MEAN, IR, VIS)
    for convention in PRESETS:
        values = compute(t, t.a, t.b, convention=convention)
        assert all(math.isfinite(v) for v in values.values()), values
    general = compute(t, t.a, t.b, [n for n in ALL_METRICS if all(n not in p for p in PRESETS.values())])
    assert all(math.isfinite(v) for v in general.values()), general


def test_shared_sources_give_the_same_values() -> None:
    # Every metric, so that each sources-only cache entry (RankAgree's pairs, Qcb's source contrasts, ...) is
    # reused by the second fused image and must give what a fresh evaluation gives.
    for convention in PRESETS:
        names = list(ALL_METRICS)
        first = Triple(MEAN, IR, VIS)
        compute(first, first.a, first.b, names, convention=convention)
        second = first.with_fused(VIS)
        reused = compute(second, second.a, second.b, names, convention=convention)
        fresh = compute(VIS, IR, VIS, names, convention=convention)
        assert reused.keys() == fresh.keys()
        for name in names:
            assert reused[name] == fresh[name] or (math.isnan(reused[name]) and math.isnan(fresh[name])), name


# ------------------------------------------------------------------------------- FMI against the definition


def _direct_fmi_pair(x_raw: np.ndarray, f_norm: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Haghighat's per-window computation over all 9×9 joint cells (windows × 9 arrays), for cross-checking."""

    def normalise(w: np.ndarray) -> np.ndarray:
        lo, hi = w.min(1, keepdims=True), w.max(1, keepdims=True)
        flat = hi == lo
        return np.where(flat, 1.0, (w - lo) / np.where(flat, 1.0, hi - lo))

    def seq_sum(v: np.ndarray) -> np.ndarray:
        total = v[:, 0].copy()
        for k in range(1, v.shape[1]):
            total += v[:, k]
        return total

    x = normalise(x_raw)
    xp, fp = x / seq_sum(x)[:, None], f_norm / seq_sum(f_norm)[:, None]
    xc, fc = np.cumsum(xp, 1), np.cumsum(fp, 1)
    xt, ft = xp - (seq_sum(xp) / 9)[:, None], fp - (seq_sum(fp) / 9)[:, None]
    s = seq_sum(xt * ft)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(s == 0, 0.0, s / np.sqrt(seq_sum(xt * xt) * seq_sum(ft * ft)))
    k = np.arange(1, 10.0)
    sd_x = np.sqrt(np.maximum(seq_sum(k * k * xp) - seq_sum(k * xp) ** 2, 0))
    sd_f = np.sqrt(np.maximum(seq_sum(k * k * fp) - seq_sum(k * fp) ** 2, 0))
    big_f, big_x = fc[:, :, None], xc[:, None, :]
    upper = 0.5 * (big_f + big_x - np.abs(big_f - big_x))
    lower = 0.5 * (big_f + big_x - 1 + np.abs(big_f + big_x - 1))
    cov_up = (upper - big_f * big_x).reshape(len(c), -1).sum(1)
    cov_lo = (lower - big_f * big_x).reshape(len(c), -1).sum(1)
    degenerate = (sd_x == 0) | (sd_f == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(degenerate | (c == 0), 0.0, c / (cov_up / (sd_f * sd_x)))
        theta = np.where(degenerate, 0.0, c / (cov_lo / (sd_f * sd_x)))

    def cells(bound: np.ndarray) -> np.ndarray:
        b = np.pad(bound, ((0, 0), (1, 0), (1, 0)))
        return b[:, 1:, 1:] - b[:, :-1, 1:] - b[:, 1:, :-1] + b[:, :-1, :-1]

    indep = fp[:, :, None] * xp[:, None, :]
    up = c >= 0
    weight = np.where(up, phi, theta)[:, None, None]
    jpdf = weight * np.where(up[:, None, None], cells(upper), cells(lower)) + (1 - weight) * indep
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(jpdf != 0, -jpdf * np.log2(np.abs(np.where(jpdf != 0, jpdf, 1))), 0)
        h = lambda p: np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1)), 0).sum(1)  # noqa: E731
        mi = h(xp) + h(fp) - g.reshape(len(c), -1).sum(1)
        out = np.where(mi == 0, 0.0, 2 * mi / (h(xp) + h(fp)))
    return np.where(same, 1.0, out)


def _direct_fmi(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    def windows(img: np.ndarray) -> np.ndarray:
        v = np.lib.stride_tricks.sliding_window_view(img.astype(float), (3, 3))
        return v.transpose(0, 1, 3, 2).reshape(-1, 9)  # column-major like MATLAB's aSub(:)

    wf, wa, wb = windows(f), windows(a), windows(b)
    lo, hi = wf.min(1, keepdims=True), wf.max(1, keepdims=True)
    f_norm = np.where(hi == lo, 1.0, (wf - lo) / np.where(hi == lo, 1.0, hi - lo))
    same_a = np.all(wa == wf, 1)
    same_b = np.all(wb == np.where(same_a[:, None], wf, f_norm), 1)
    return float(np.mean((_direct_fmi_pair(wa, f_norm, same_a) + _direct_fmi_pair(wb, f_norm, same_b)) / 2))


@pytest.mark.parametrize("fused", ["mean", "ir", "flat", "noise"])
def test_fast_fmi_equals_the_per_window_definition(fused: str) -> None:
    rng = np.random.default_rng(7)
    f = {
        "mean": MEAN,
        "ir": IR,
        "flat": np.where(IR > 150, 200, 37).astype(np.uint8),
        "noise": rng.integers(0, 256, IR.shape).astype(np.uint8),
    }[fused]
    assert fmi(f, IR, VIS) == pytest.approx(_direct_fmi(f, IR, VIS), rel=1e-12, abs=1e-14)


def test_fmi_does_not_depend_on_the_thread_count() -> None:
    from wavecross.metrics._base import run_single_threaded

    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = fmi(MEAN, IR, VIS, feature="dct")
    finally:
        numba.set_num_threads(threads)
    assert fmi(MEAN, IR, VIS, feature="dct") == single  # each window row is summed by one thread, in order
    assert run_single_threaded(fmi, MEAN, IR, VIS, feature="dct") == single  # the serial kernel


# ------------------------------------------------------------------------------------------ parallel evaluation


def test_metrics_on_threads_equal_the_serial_values() -> None:
    from wavecross.metrics import resolve

    chosen = {n: m for c in ("cddfuse", "vifb", "tang") for n, m in resolve(None, c).items()}
    chosen |= resolve(["Q_S", "Q_W", "Q_E", "Q_Y", "Q_C", "FMI_pixel", "FMI_dct", "FMI_w", "MS_SSIM", "RankAgree"])
    serial = evaluate_triple(Triple(MEAN, IR, VIS), chosen, threads=1)
    # 2 threads: the three FMIs fill them, so everything runs on the pool with single-threaded kernels;
    # 4 threads: the FMIs run on their own lane with the parallel kernel.
    for threads in (2, 4):
        threaded = evaluate_triple(Triple(MEAN, IR, VIS), chosen, threads=threads)
        assert list(threaded) == list(serial)
        np.testing.assert_array_equal(np.array(list(threaded.values())), np.array(list(serial.values())))


def test_triple_cache_computes_a_shared_value_once_under_threads() -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    t = Triple(MEAN, IR, VIS)
    calls = []
    lock = threading.Lock()

    def slow() -> int:
        with lock:
            calls.append(1)
        time.sleep(0.05)  # long enough for every thread to ask while the first one computes
        return 42

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: t.cached("shared", slow), range(8)))
    assert values == [42] * 8 and len(calls) == 1
