"""DARK decoding (Zhang et al., CVPR 2020) against an independent reference that follows the
authors' published post-processing step by step (plain loops, OpenCV's blur), on random and on
target-like heatmaps; its sub-pixel accuracy; its edge cases; and `sgpose evaluate` writing the
metrics of both decoders from one network pass."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sgpose_lib.config import DECODERS
from sgpose_lib.decode import (dark_kernel_size, decode_heatmaps, get_max_preds, modulate,
                               refine_dark, refine_quarter_offset, taylor_step)
from sgpose_lib.engine import evaluate as evaluate_module
from sgpose_lib.engine.checkpoint_io import atomic_save
from sgpose_lib.engine.evaluate import evaluate_checkpoint
from sgpose_lib.errors import ConfigError
from sgpose_lib.model import build_model
from sgpose_lib.params import apply_overrides, load_config
from sgpose_lib.targets import gaussian_heatmaps

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
EMBEDDED = ROOT / "data" / "embedded"
TOLERANCE = 1e-4  # heatmap pixels


# --- the reference: the authors' get_final_preds post-processing, one map at a time --------------
def reference_dark(heatmaps: np.ndarray, kernel: int, coord_dtype=np.float32) -> np.ndarray:
    """(B, K, 2) coordinates as the authors' code computes them: argmax (positive maxima only),
    then per map: zero-pad by (k - 1) / 2, cv2.GaussianBlur with size k and sigma 0, crop,
    rescale to the original maximum (in the maps' own dtype, in place), clamp at 1e-10, log, and
    one Newton step with a 2x2 matrix inverse where 1 < x < W - 2, 1 < y < H - 2 and det != 0.
    The authors hold the coordinates in float32; `coord_dtype` float64 leaves that rounding out
    (noise maps step up to thousands of pixels, where float32's spacing exceeds 1e-4 px)."""
    maps = np.array(heatmaps, copy=True)
    batch, joints, height, width = maps.shape
    coords = np.zeros((batch, joints, 2), dtype=coord_dtype)
    for n in range(batch):
        for j in range(joints):
            index = int(np.argmax(maps[n, j]))
            if maps[n, j].reshape(-1)[index] > 0:
                coords[n, j] = (index % width, index // width)
    border = (kernel - 1) // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        for n in range(batch):
            for j in range(joints):
                peak = np.max(maps[n, j])
                padded = np.zeros((height + 2 * border, width + 2 * border))
                padded[border:-border, border:-border] = maps[n, j]
                padded = cv2.GaussianBlur(padded, (kernel, kernel), 0)
                maps[n, j] = padded[border:-border, border:-border]
                maps[n, j] *= peak / np.max(maps[n, j])
        maps = np.log(np.maximum(maps, 1e-10))
    for n in range(batch):
        for j in range(joints):
            coords[n, j] = reference_taylor(maps[n, j], coords[n, j])
    return coords


def reference_taylor(m: np.ndarray, coord: np.ndarray) -> np.ndarray:
    """The authors' `taylor`: one Newton step on the (H, W) log-map `m` from `coord` (x, y)."""
    coord = coord.copy()
    height, width = m.shape
    x, y = int(coord[0]), int(coord[1])
    if 1 < x < width - 2 and 1 < y < height - 2:
        gx = 0.5 * (m[y, x + 1] - m[y, x - 1])
        gy = 0.5 * (m[y + 1, x] - m[y - 1, x])
        hxx = 0.25 * (m[y, x + 2] - 2 * m[y, x] + m[y, x - 2])
        hyy = 0.25 * (m[y + 2, x] - 2 * m[y, x] + m[y - 2, x])
        hxy = 0.25 * (m[y + 1, x + 1] - m[y - 1, x + 1] - m[y + 1, x - 1] + m[y - 1, x - 1])
        if hxx * hyy - hxy ** 2 != 0:
            hessian = np.array([[hxx, hxy], [hxy, hyy]])
            coord += -(np.linalg.inv(hessian) @ np.array([gx, gy]))
    return coord


def _dark(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    coords, _ = get_max_preds(heatmaps)
    return refine_dark(heatmaps, coords, kernel)


def _target_like(rng, batch: int, size: tuple[int, int], sigma: float, noise: float):
    """(B, 17, H, W) float32 maps as a network gives them: the project's targets at sub-pixel
    centres (some outside the map), scaled peaks, Gaussian noise; and (B, 17) 'inside' flags."""
    width, height = size
    maps, inside = [], []
    for _ in range(batch):
        centers = np.column_stack([rng.uniform(-1, width, 17), rng.uniform(-1, height, 17)])
        hm, _ = gaussian_heatmaps(centers, np.ones(17), size, sigma)
        maps.append(hm * rng.uniform(0.3, 1.0, (17, 1, 1)) + rng.normal(0, noise, hm.shape))
        inside.append((centers[:, 0] > 2) & (centers[:, 0] < width - 3)
                      & (centers[:, 1] > 2) & (centers[:, 1] < height - 3))
    return np.stack(maps).astype(np.float32), np.array(inside)


# --- 1. fidelity to the authors' algorithm --------------------------------------------------------
@pytest.mark.parametrize("height,width,kernel", [(64, 48, 11), (24, 24, 3), (32, 24, 5),
                                                 (96, 72, 17)])
@pytest.mark.parametrize("low", [0.0, -0.2])
def test_random_heatmaps_match_the_reference(height, width, kernel, low):
    # noise maps: ill-conditioned Hessians move points by up to ~2000 px; all in float64
    rng = np.random.default_rng(height + kernel)
    hm = rng.uniform(low, 1.0, size=(6, 17, height, width))
    ours, ref = _dark(hm, kernel), reference_dark(hm, kernel, np.float64)
    assert np.abs(ours - get_max_preds(hm)[0]).max() > 1.0  # far steps are part of the check
    assert np.abs(ours - ref).max() < TOLERANCE


@pytest.mark.parametrize("height,width,sigma", [(64, 48, 2.0), (24, 24, 0.75), (32, 24, 1.0),
                                                (96, 72, 3.0), (16, 16, 0.5)])
def test_target_like_heatmaps_match_the_reference(height, width, sigma):
    rng = np.random.default_rng(int(10 * sigma))
    hm, inside = _target_like(rng, 16, (width, height), sigma, noise=0.01)
    kernel = dark_kernel_size(sigma)
    ours = _dark(hm, kernel)
    # the algorithm on these float32 maps, in float64 arithmetic: every joint
    exact = reference_dark(hm.astype(np.float64), kernel, np.float64)
    assert np.abs(ours - exact).max() < TOLERANCE
    # the authors' code as written, in the maps' float32: the same for every joint peaking inside
    # the map (off-map joints peak in noise, where float32 moves ill-conditioned steps more)
    diff = np.abs(ours - reference_dark(hm, kernel)).max(axis=-1)
    assert diff[inside].max() < TOLERANCE


def test_modulation_is_opencvs_blur_with_zero_padding_rescaled_to_the_peak():
    rng = np.random.default_rng(3)
    hm = rng.uniform(0, 1, size=(2, 3, 20, 15))
    for kernel in (3, 5, 7, 9, 11):
        ours = modulate(hm, kernel)
        r = kernel // 2
        for n in range(2):
            for j in range(3):
                padded = cv2.copyMakeBorder(hm[n, j], r, r, r, r, cv2.BORDER_CONSTANT, value=0)
                blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[r:-r, r:-r]
                ref = blurred * hm[n, j].max() / blurred.max()
                assert np.allclose(ours[n, j], ref, rtol=0, atol=1e-12)
                assert ours[n, j].max() == pytest.approx(hm[n, j].max(), abs=1e-15)


def test_kernel_size_follows_the_target_sigma():
    # the authors' 256x192 / MPII setting (sigma 2 -> 11), mmpose's 384x288 (sigma 3 -> 17), and
    # this study's profiles: cpu COCO 32x24 (1 -> 5), cpu MPII 24x24 (0.75 -> 3), smoke (0.5 -> 3)
    assert [dark_kernel_size(s) for s in (2.0, 3.0, 1.0, 0.75, 0.5)] == [11, 17, 5, 3, 3]
    for kernel in (5, 11, 17):  # OpenCV's std for a kernel given by its size is the target's
        sigma = 0.3 * ((kernel - 1) / 2 - 1) + 0.8
        assert dark_kernel_size(sigma) == kernel


# --- 2. what DARK buys: sub-pixel centres ------------------------------------------------------
def test_newton_step_on_the_log_of_a_gaussian_is_exact():
    # L = -((x - x0)^2 + (y - y0)^2) / (2 s^2): g = -(m - mu) / s^2, H = -I / s^2, so
    # m - H^-1 g = mu exactly, whatever the integer start m (by hand)
    ys, xs = np.mgrid[0:40, 0:30]
    mu = np.array([[12.37, 20.81], [7.5, 9.02]])
    log_maps = np.stack([-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.7 ** 2) for x, y in mu])
    start = np.floor(mu + 0.5)[None]
    assert np.abs(taylor_step(log_maps[None], start)[0] - mu).max() < 1e-12


def test_dark_recovers_a_subpixel_centre_that_the_quarter_offset_cannot():
    # a target at (20.4, 30.45) on a 48x64 heatmap, sigma 2: argmax (20, 30); the standard decoder
    # moves a quarter pixel toward the higher neighbours, to (20.25, 30.25): 0.15 and 0.2 px off
    centre = np.array([[20.4, 30.45]])
    hm, _ = gaussian_heatmaps(centre, np.ones(1), (48, 64), sigma=2.0)
    coords, _ = get_max_preds(hm[None])
    standard = refine_quarter_offset(hm[None], coords)[0, 0]
    assert np.allclose(standard, [20.25, 30.25])
    dark = _dark(hm[None], 11)[0, 0]
    assert np.abs(dark - centre[0]).max() < 1e-3  # measured: 2.3e-4, 3.3e-4
    # over many sub-pixel centres: DARK's worst error is far below the quarter offset's
    rng = np.random.default_rng(7)
    centres = rng.uniform(8, 40, size=(17, 2))
    hm, _ = gaussian_heatmaps(centres, np.ones(17), (48, 64), sigma=2.0)
    coords, _ = get_max_preds(hm[None])
    err_std = np.abs(refine_quarter_offset(hm[None], coords)[0] - centres).max()
    err_dark = np.abs(_dark(hm[None], 11)[0] - centres).max()
    assert err_dark < 2e-3 and err_std > 0.15


# --- 3. edge cases, as the authors' code ----------------------------------------------------------
def test_joint_at_the_border_keeps_its_integer_argmax():
    width, height = 24, 24
    at = np.array([[1, 10], [width - 2, 10], [10, 1], [10, height - 2], [0, 0], [2, 2]], float)
    hm, _ = gaussian_heatmaps(at + 0.3, np.ones(len(at)), (width, height), sigma=0.75)
    hm = hm.astype(np.float32)[None]
    coords, _ = get_max_preds(hm)
    assert np.array_equal(coords[0], at)
    ours = _dark(hm, 3)
    assert np.array_equal(ours[0, :5], at[:5])  # no step: a tap would fall outside the map
    assert np.abs(ours[0, 5] - at[5]).max() > 0.1  # (2, 2) is inside: it steps
    assert np.abs(ours - reference_dark(hm, 3)).max() < TOLERANCE
    # the standard decoder does move the joint at x = W - 2 (its border is 1 < x < W - 1)
    assert refine_quarter_offset(hm, coords)[0, 1, 0] != width - 2


def test_zero_and_negative_heatmaps_decode_to_the_origin_without_warnings():
    hm = np.zeros((2, 3, 24, 24), dtype=np.float32)
    hm[1] = -0.5
    hm[1, 2, 5, 7] = -0.1  # a maximum that is not positive
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coords, maxvals = get_max_preds(hm)
        ours = refine_dark(hm, coords, 3)
        preds, _ = decode_heatmaps(hm, np.full((2, 2), 12.0), np.full((2, 2), 24 / 200),
                                   decoder="dark", sigma=0.75)
    assert np.array_equal(ours, np.zeros((2, 3, 2))) and np.isfinite(preds).all()
    assert np.array_equal(ours, reference_dark(hm, 3))
    assert (maxvals <= 0).all()


def test_singular_hessian_takes_no_step():
    # a log-map constant along x, in eighths (every difference exact): Lxx = Lxy = 0, det H = 0
    ys = np.arange(20, dtype=np.float64)[:, None]
    log_map = np.broadcast_to(-(ys - 9) ** 2 / 8.0, (20, 16))
    start = np.array([7.0, 9.0])
    assert np.array_equal(taylor_step(log_map[None, None], start[None, None])[0, 0], start)
    assert np.array_equal(reference_taylor(log_map, start), start)
    # a non-zero det, however small, steps (the authors test det != 0 exactly)
    tilted = log_map + np.arange(16)[None, :] * ys / 2 ** 20
    assert np.array_equal(taylor_step(tilted[None, None], start[None, None])[0, 0],
                          reference_taylor(tilted, start))
    # maps narrower than 5 pixels have no pixel with all taps inside
    assert np.array_equal(taylor_step(np.zeros((1, 1, 4, 4)), np.full((1, 1, 2), 2.0)),
                          np.full((1, 1, 2), 2.0))


# --- 4. decode_heatmaps and eval.decoder ---------------------------------------------------------
def test_decode_heatmaps_dark_maps_refined_coords_to_image_pixels():
    width, height = 48, 64
    centres = np.array([[10.3, 20.8], [30.6, 5.2], [20.0, 30.0]])
    hm, _ = gaussian_heatmaps(centres, np.ones(3), (width, height), sigma=2.0)
    identity = (np.array([[width / 2, height / 2]]), np.array([[width / 200, height / 200]]))
    preds, maxvals = decode_heatmaps(torch.from_numpy(hm[None]), *identity, decoder="dark",
                                     sigma=2.0)
    assert np.abs(preds[0] - centres).max() < 2e-3
    assert np.array_equal(maxvals[0, :, 0], hm.max(axis=(1, 2)))
    standard, standard_max = decode_heatmaps(hm[None], *identity)
    assert np.array_equal(standard, decode_heatmaps(hm[None], *identity, decoder="standard")[0])
    assert np.array_equal(maxvals, standard_max)  # scores do not depend on the decoder
    with pytest.raises(ValueError, match="sigma"):
        decode_heatmaps(hm[None], *identity, decoder="dark")
    with pytest.raises(ValueError, match="'udp' is not one of"):
        decode_heatmaps(hm[None], *identity, decoder="udp")


def test_eval_decoder_is_a_checked_config_key():
    cfg = load_config("smoke", PARAMS, track="mpii")
    assert cfg.eval.decoder == "standard" and DECODERS == ("standard", "dark")
    assert apply_overrides(cfg, ["eval.decoder=dark"]).eval.decoder == "dark"
    with pytest.raises(ConfigError, match="eval.decoder: 'udp' is not 'standard' or 'dark'"):
        apply_overrides(cfg, ["eval.decoder=udp"])


# --- 5. `sgpose evaluate` scores both decoders ----------------------------------------------------
def test_evaluate_writes_standard_and_dark_metrics_from_one_pass(prepared, tmp_path,
                                                                  monkeypatch):
    cfg = load_config("smoke", PARAMS, track="coco", variant="sg", seed=0)
    cfg.data.root, cfg.data.image_root = str(prepared), str(EMBEDDED)
    cfg.data.limit_val, cfg.data.workers = 8, 0
    torch.manual_seed(0)
    checkpoint = tmp_path / "coco.pt"
    atomic_save({"model": build_model(cfg.model).state_dict(), "config": cfg.to_dict()},
                checkpoint)
    out = tmp_path / "eval"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "sgpose_lib.cli", "evaluate", "--checkpoint",
                           str(checkpoint), "--out", str(out), "--quiet"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    standard = json.loads((out / "metrics.json").read_text())
    dark = json.loads((out / "dark" / "metrics.json").read_text())
    assert standard["settings"]["decoder"] == "standard" and dark["settings"]["decoder"] == "dark"
    assert set(standard) == set(dark) and standard["units"] == dark["units"]
    assert ({k: v for k, v in standard["settings"].items() if k != "decoder"}
            == {k: v for k, v in dark["settings"].items() if k != "decoder"})
    assert json.loads(done.stdout) == {k: v for k, v in standard.items()
                                       if k not in ("units", "settings")}
    # one OKS per validation person for the bootstrap over persons, whose mean is mean_oks
    persons = json.loads((out / "persons.json").read_text())
    oks = [v for v in persons["oks"] if v is not None]
    assert persons["metric"] == "mean_oks" and len(persons["oks"]) == standard["settings"]["samples"]
    assert sum(oks) / len(oks) == pytest.approx(standard["mean_oks"], abs=1e-9)
    assert (out / "dark" / "persons.json").is_file()
    results = [json.loads((out / d / "keypoints_results.json").read_text()) for d in ("", "dark")]
    assert results[0] and results[1]  # the same images, other coordinates
    assert {r["image_id"] for r in results[0]} == {r["image_id"] for r in results[1]}
    assert ({tuple(r["keypoints"]) for r in results[0]}
            != {tuple(r["keypoints"]) for r in results[1]})
    # one network pass for both; the standard metrics are those of a standard-only evaluation
    calls = []
    real_predict = evaluate_module.predict
    monkeypatch.setattr(evaluate_module, "predict",
                        lambda *a, **k: calls.append(k["decoders"]) or real_predict(*a, **k))
    again = evaluate_checkpoint(checkpoint, out_dir=tmp_path / "again")
    assert calls == [DECODERS] and again == evaluate_checkpoint(checkpoint)
    assert json.loads((tmp_path / "again" / "metrics.json").read_text()) == standard
