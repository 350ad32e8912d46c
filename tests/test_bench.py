"""`sgpose bench` and the inference rewrites: the report's shape, and that the options change no outputs."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from sgpose_lib.bench.main import upsampling_calls
from sgpose_lib.bench.models import VARIANTS, with_upsample
from sgpose_lib.bench.render import render_markdown, write_report
from sgpose_lib.bench.roofline import roofline_summary
from sgpose_lib.bench.run import run_bench
from sgpose_lib.bench.scaling import plot_scaling
from sgpose_lib.bench.shared_load import LOADS, bench_shared_load
from sgpose_lib.bench.train_settings import REFERENCE, bench_train_settings
from sgpose_lib.bench.timing import PeakMemory
from sgpose_lib.config import SGM_SITES, Config, ModelConfig
from sgpose_lib.errors import ConfigError
from sgpose_lib.model import PRESETS, PoseHighResolutionNet, build_model
from sgpose_lib.model.fuse import fuse_conv_bn_for_inference, prepare_for_inference
from sgpose_lib.numerics import AVX2_PIN


def calibrated(model: nn.Module, seed: int = 0) -> nn.Module:
    """A model whose outputs are O(1): conv weights of unit gain, random BN affine parameters, and BN
    running statistics accumulated over a few train-mode batches (as after training); in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 64, 64, generator=g))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    return model.eval()


def _outputs(model, x):
    with torch.no_grad():
        heatmaps, seg = model(x)
    return heatmaps, seg


@pytest.mark.parametrize("preset", ["hrnet_tiny", "hrnet_small"])
@pytest.mark.parametrize("sgm", [False, True], ids=["baseline", "sg"])
def test_fused_and_prepared_models_give_the_same_outputs(preset, sgm):
    model = calibrated(build_model(ModelConfig(preset=preset, sgm_sites=SGM_SITES if sgm else ())))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ref_h, ref_s = _outputs(model, x)
    assert ref_h.abs().max() > 0.1 and len(ref_s) == (4 if sgm else 0)  # not a trivial comparison
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert n_bn > 0 and model.bn1.running_var.std() > 0.01

    fused = fuse_conv_bn_for_inference(model)
    prepared = prepare_for_inference(model, channels_last=True, fuse_bn=True)
    for fast, inp in ((fused, x), (prepared, x), (prepared, x.contiguous(memory_format=torch.channels_last))):
        assert not fast.training
        assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
        h, s = _outputs(fast, inp)
        torch.testing.assert_close(h, ref_h, atol=1e-4, rtol=0)
        assert len(s) == len(ref_s)
        for a, b in zip(s, ref_s):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert prepared.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    # the original is untouched
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == n_bn
    torch.testing.assert_close(_outputs(model, x)[0], ref_h, atol=0, rtol=0)


def test_prepare_without_options_is_an_eval_copy():
    model = build_model(ModelConfig(preset="hrnet_tiny", sgm_sites=("final",))).train()
    copy_ = prepare_for_inference(model)
    assert copy_ is not model and model.training and not copy_.training
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(_outputs(copy_, x)[0], _outputs(model.eval(), x)[0], atol=0, rtol=0)


def test_official_upsampling_path_is_the_same_model():
    model = calibrated(build_model(ModelConfig(preset="hrnet_tiny")))
    x = torch.randn(2, 3, 64, 96)
    record = upsampling_calls(model, x)
    assert len(record) == 7 and {k for _, k in record} == {2, 4, 8}  # 1 + 3 + 3 fusions of stages 2-4
    official = with_upsample(model, "scale_factor")
    assert {m.upsample for m in official.modules() if hasattr(m, "fuse_layers")} == {"scale_factor"}
    torch.testing.assert_close(_outputs(official, x)[0], _outputs(model, x)[0], atol=0, rtol=0)


@pytest.mark.parametrize("sgm", [False, True], ids=["baseline", "sg"])
def test_upsample_option_keeps_outputs_and_state_dict(sgm):
    """The default fusion upsampling (size=) and the official one (scale_factor=2**k) give the same
    values (nearest upsampling by an integer factor) and the same parameter names and shapes."""
    sites = SGM_SITES if sgm else ()
    default = calibrated(PoseHighResolutionNet(PRESETS["hrnet_tiny"], 17, sites))
    official = PoseHighResolutionNet(PRESETS["hrnet_tiny"], 17, sites, upsample="scale_factor")
    assert [(k, v.shape) for k, v in official.state_dict().items()] == \
        [(k, v.shape) for k, v in default.state_dict().items()]
    official.load_state_dict(default.state_dict())
    official.eval()
    built = build_model(ModelConfig(preset="hrnet_tiny", sgm_sites=sites))
    assert all(m.upsample == "size" for m in built.modules() if hasattr(m, "fuse_layers"))
    for shape in ((2, 3, 64, 64), (1, 3, 128, 96)):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(3))
        (h0, s0), (h1, s1) = _outputs(default, x), _outputs(official, x)
        assert torch.equal(h0, h1) and len(s0) == len(s1) == (4 if sgm else 0)
        assert all(torch.equal(a, b) for a, b in zip(s0, s1))
    with pytest.raises(ConfigError, match="upsample"):
        PoseHighResolutionNet(PRESETS["hrnet_tiny"], 17, upsample="bilinear")


def test_run_bench_writes_the_side_by_side_report(tmp_path):
    result = run_bench("hrnet_tiny", (64, 64), "cpu", 2, str(tmp_path), 1, compile=False, data=False)
    md, js = tmp_path / "bench_cpu.md", tmp_path / "bench_cpu.json"
    assert md.is_file() and js.is_file()
    assert json.loads(js.read_text()) == result
    main = result["main"]
    assert main["settings"]["threads"] == torch.get_num_threads() and main["settings"]["batch"] == 2
    capability = torch.backends.cpu.get_cpu_capability()   # the kernels the timings ran
    assert main["settings"]["cpu_capability"] == capability
    assert set(main["settings"]["cpu_dispatch"]) == set(AVX2_PIN)
    for v in VARIANTS:
        row = main["variants"][v]
        for key in ("params", "macs", "eval_ms_per_img", "train_ms_per_img", "eval_peak_bytes",
                    "train_peak_bytes"):
            assert row[key] >= 0, key
        assert row["eval_ms_per_img"] > 0 and row["train_ms_per_img"] > 0
        assert len(row["train_samples_s"]) == 1
    b, s = main["variants"]["baseline"], main["variants"]["sg"]
    assert s["params"] > b["params"] and s["macs"] > b["macs"]
    assert s["saved_activation_bytes"] > b["saved_activation_bytes"] > 0  # exact: the SGM's activations
    for key in ("params", "macs", "saved_activation_bytes"):
        assert main["ratio"][key] == pytest.approx(s[key] / b[key])
    for key in ("eval", "train"):  # time ratios: median of the paired per-round ratios
        lo, hi = main["ratio_range"][f"{key}_ms_per_img"]
        assert lo <= main["ratio"][f"{key}_ms_per_img"] <= hi
    names = list(main["options"]["baseline"])
    assert names == list(main["options"]["sg"]) and len(names) == 6 and names[0].startswith("eager")
    for v in VARIANTS:
        for name, e in main["options"][v].items():
            assert "error" not in e, (name, e)
            assert e["max_rel_diff"] < 1e-4 and e["speedup"] > 0 and len(e["samples_s"]) == 1
    assert main["upsampling"]["total_us"]["size"] > 0 and len(main["upsampling"]["calls"]) == 4
    assert result["data"] == {"available": False, "reason": "skipped (data=False)"}
    text = md.read_text()
    for row in ("| parameters |", "| multiply-adds per image", "| eval forward, ms/img", "| train step, ms/img",
                "| activations saved for backward",
                "| peak memory, train step", "| peak memory, eval forward", "SG / baseline",
                "| BN folded + channels_last |", "| channels_last |", "no_grad", "official upsampling",
                "torch.get_num_threads() = ", "torch 2", "data pipeline not available",
                f"CPU kernels {capability} ("):
        assert row in text, row
    fused, official = (main["options"]["sg"][n]["samples_s"][0] for n in names
                       if n.startswith(("BN folded + channels_last", "official")))
    line = next(x for x in text.splitlines() if "vs the official code, SG (stage2" in x)
    assert f"ours / official time per round: median {fused / official:.2f}" in line


def test_scaling_section_merges_into_the_report(tmp_path):
    write_report(tmp_path, "cpu", {"data": {"available": False, "reason": "test"}})
    settings = {"date": "d", "device": "cpu", "torch": "t", "python": "p", "threads": 2,
                "interop_threads": 2, "cpu": "c", "logical_cpus": 2, "batch": 2, "repeats": 1}
    rows = [{"preset": p, "input_hw": [h, h * 3 // 4], "macs": m * h * 1e7, "train_ms_per_img": m * h}
            for p, m in (("hrnet_small", 1), ("hrnet_w32", 4)) for h in (128, 256)]
    scaling = {"settings": settings, "rows": rows}
    png = plot_scaling(scaling, tmp_path / "figures" / "bench_scaling.png")
    assert png.stat().st_size > 1000
    md, js = write_report(tmp_path, "cpu", {"scaling": scaling})
    merged = json.loads(js.read_text())
    assert merged["data"]["reason"] == "test" and merged["scaling"]["rows"] == rows
    text = md.read_text()
    assert "data pipeline not available (test)" in text and "## Scaling" in text
    assert "| preset | 128x96 | 256x192 |" in text and "| hrnet_w32 | 512.0 (5.12) | 1024.0 (10.24) |" in text
    assert render_markdown(merged) == text


def test_report_files_of_other_tools_are_not_overwritten(tmp_path):
    (tmp_path / "bench_cpu.json").write_text('{"rows": []}')
    with pytest.raises(ConfigError, match="not written by"):
        write_report(tmp_path, "cpu", {"data": {"available": False, "reason": "x"}})
    assert (tmp_path / "bench_cpu.json").read_text() == '{"rows": []}'


def test_peak_memory_and_bad_arguments(tmp_path):
    with PeakMemory("cpu") as mem:
        x = torch.ones(8 * 2 ** 20)  # 32 MiB
        del x
    assert mem.peak >= 0
    with pytest.raises(ConfigError):
        run_bench("hrnet_tiny", (64, 60), "cpu", 2, str(tmp_path), 1)
    with pytest.raises(ConfigError):
        run_bench("hrnet_nope", (64, 64), "cpu", 2, str(tmp_path), 1)


def test_cli_flags_reach_the_bench_and_the_profiler_table(tmp_path):
    from sgpose_lib.cli import main
    threads = torch.get_num_threads()
    try:
        args = ["bench", "--model", "hrnet_tiny", "--input", "64x64", "--batch", "2", "--repeats", "1",
                "--threads", "1", "--out", str(tmp_path)]
        assert main(args + ["--no-compile", "--no-data"]) == 0
        assert main(args + ["--ops"]) == 0  # the profiler section is merged into the report
    finally:
        torch.set_num_threads(threads)
    result = json.loads((tmp_path / "bench_cpu.json").read_text())
    assert result["main"]["settings"]["threads"] == 1
    assert not any(n.startswith("torch.compile") for n in result["main"]["options"]["baseline"])
    assert result["data"]["reason"] == "skipped (data=False)"
    ops = result["ops"]
    assert ops["settings"]["model"] == "hrnet_tiny" and 0 < len(ops["ops"]) <= 15
    shares = [o["share"] for o in ops["ops"]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-9
    assert any("conv" in o["op"] for o in ops["ops"])  # convolutions are among the top CPU ops
    assert "## Where the time goes: torch.profiler" in (tmp_path / "bench_cpu.md").read_text()


def test_roofline_summary_by_hand():
    """1 G multiply-adds per image, batch 2: 4 GFLOP per forward. The GEMM (50 GFLOP) runs at 100
    then 50 GFLOP/s; the official path at 40 then 20 (0.4 of it), ours at 80 then 40 (0.8);
    0.6 x the official time needs 66.7 then 33.3 GFLOP/s, 2/3 of the GEMM rate in both rounds."""
    r = roofline_summary(1e9, 2, {"official": [0.1, 0.2], "ours": [0.05, 0.1]}, [0.5, 1.0], 50e9,
                         "official", target=0.6)
    assert r["gemm_gflops"] == pytest.approx(75)
    off, ours = r["paths"]["official"], r["paths"]["ours"]
    assert off["ms_per_img"] == pytest.approx(75) and ours["ms_per_img"] == pytest.approx(37.5)
    assert off["gflops"] == pytest.approx(30) and ours["gflops"] == pytest.approx(60)
    assert off["share_of_gemm"] == pytest.approx(0.4) and ours["share_of_gemm"] == pytest.approx(0.8)
    assert off["vs_official"] == pytest.approx(1) and ours["vs_official"] == pytest.approx(0.5)
    assert r["target"]["ms_per_img"] == pytest.approx(45) and r["target"]["gflops"] == pytest.approx(50)
    assert r["target"]["share_of_gemm"] == pytest.approx(2 / 3)


def test_roofline_section_merges_into_the_report(tmp_path):
    write_report(tmp_path, "cpu", {"data": {"available": False, "reason": "test"}})
    result = run_bench("hrnet_tiny", (64, 64), "cpu", 2, str(tmp_path), 2, compile=False,
                       roofline=True)
    assert result["data"]["reason"] == "test" and "main" not in result  # merged, nothing else run
    rf = result["roofline"]
    for v in VARIANTS:
        row = rf["variants"][v]
        assert list(row["paths"]) == ["official upsampling (nn.Upsample scale_factor)",
                                      "BN folded + channels_last"]
        assert all(len(t) == 2 for t in row["samples_s"].values()) and row["gemm_gflops"] > 0
        assert row["paths"]["official upsampling (nn.Upsample scale_factor)"]["vs_official"] == 1
    assert len(rf["gemm_samples_s"]) == 2 and rf["settings"]["gemm_n"] == 2048
    text = (tmp_path / "bench_cpu.md").read_text()
    assert "## Roofline: the eval paths against" in text and "| target: 0.6 x official |" in text
    assert "Verdict: 0.6 x the official time needs" in text


def test_shared_load_section_at_tiny_size(tmp_path):
    """The shared-load case end to end on a tiny step: fresh worker processes (one with a busy
    process beside it), img/s and shares, merged into the report as its own section."""
    cfg = Config()
    cfg.model.preset, cfg.model.sgm_sites, cfg.data.track = "hrnet_tiny", SGM_SITES, "coco"
    cfg.data.image_size, cfg.train.batch_size, cfg.train.threads = (64, 64), 2, 1
    waits = {"default": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}}
    res = bench_shared_load(cfg, 2, log=lambda _: None, waits=waits)
    assert res["settings"]["model"] == "hrnet_tiny" and res["settings"]["input_hw"] == [64, 64]
    assert list(res["runs"]) == list(waits)
    for name, runs in res["runs"].items():
        assert list(runs) == list(LOADS)
        for run in runs.values():
            assert "error" not in run, run
            assert run["img_per_s"] > 0 and len(run["samples_s"]) == 2 and run["threads"] == 1
            assert run["env"] == waits[name] and run["share_of_idle_default"] > 0
    assert res["runs"]["default"]["alone"]["share_of_idle_default"] == 1.0
    md, _ = write_report(tmp_path, "cpu", {"shared_load": res})
    text = md.read_text()
    assert "## Shared load" in text and "| OMP_WAIT_POLICY=PASSIVE |" in text and "| default |" in text
    assert "100 %" in text


def test_shared_load_of_a_side_by_side_pair_sums_its_two_processes(tmp_path):
    """together=2: two workers at once per measurement (as `sgpose train-pair` runs the study),
    the group's img/s the sum of theirs, shares against the pair's own idle default; the report
    gets its own table beside the single process's."""
    cfg = Config()
    cfg.model.preset, cfg.model.sgm_sites, cfg.data.track = "hrnet_tiny", SGM_SITES, "coco"
    cfg.data.image_size, cfg.train.batch_size, cfg.train.threads = (64, 64), 2, 1
    res = bench_shared_load(cfg, 2, log=lambda _: None, waits={"default": {}}, together=2)
    assert res["settings"]["together"] == 2
    for run in res["runs"]["default"].values():
        assert "error" not in run, run
        assert len(run["workers"]) == 2 and all(w["threads"] == 1 for w in run["workers"])
        assert run["img_per_s"] == pytest.approx(sum(w["img_per_s"] for w in run["workers"]))
    assert res["runs"]["default"]["alone"]["share_of_idle_default"] == 1.0
    md, _ = write_report(tmp_path, "cpu", {"shared_load_pair": res})
    text = md.read_text()
    assert "## Shared load: 2 train steps side by side (as `sgpose train-pair` trains the study)" in text
    assert "(1 torch thread;" in text and "img/s is their sum" in text


def test_train_settings_section_at_tiny_size(prepared, tmp_path):
    """Whole epochs of the smoke profile's SG run (32 samples) per setting in fresh processes:
    each epoch's img/s from the run's timing.jsonl, steady = the epoch after the first, the ratio
    to the reference in the same round (the reference's own: exactly 1), and the report's table."""
    logged: list[str] = []
    res = bench_train_settings(1, epochs=2, log=logged.append, tracks=("mpii",), limit_train=32,
                               profile="smoke", prepared=prepared,
                               train_settings={REFERENCE: [], "contiguous": ["train.channels_last=false"]})
    rows = res["tracks"]["mpii"]
    assert list(rows) == [REFERENCE, "contiguous"] and len(logged) == 2
    for row in rows.values():
        run = row["rounds"][0]
        assert "error" not in run, run
        assert len(run["img_s"]) == 2 and run["steady_img_s"] == run["img_s"][1] > 0
    assert rows[REFERENCE]["ratio"] == {"median": 1.0, "min": 1.0, "max": 1.0, "n": 1}
    ratio = rows["contiguous"]["rounds"][0]["steady_img_s"] / rows[REFERENCE]["rounds"][0]["steady_img_s"]
    assert rows["contiguous"]["ratio"]["median"] == pytest.approx(ratio)
    assert res["settings"]["profile"] == "smoke" and res["settings"]["limit_train"] == 32
    md, _ = write_report(tmp_path, "cpu", {"train_settings": res})
    text = md.read_text()
    assert "## Training settings: whole epochs of the `smoke` profile's SG runs" in text
    assert f"| {REFERENCE} | " in text and "| 1.00x (1.00-1.00) |" in text
    with pytest.raises(ConfigError, match="prepare the data first"):
        bench_train_settings(1, profile="smoke", prepared=tmp_path / "nothing")


def test_side_by_side_section_at_tiny_size(prepared, tmp_path):
    """The smoke profile's baseline and SG run (32 samples), one after the other and side by side
    (one thread each), in fresh processes: the pair's rates from each run's steady img/s (the
    harmonic combination one after the other, the sum side by side), their ratio, and the table."""
    from sgpose_lib.bench.side_by_side import _pair_jobs, bench_side_by_side
    jobs = _pair_jobs("mpii", ["train.threads=1"], 2, 32, "smoke", prepared)
    assert [(len(j["config"]["model"]["sgm_sites"]) > 0, j["config"]["train"]["threads"])
            for j in jobs] == [(False, 1), (True, 1)]
    logged: list[str] = []
    res = bench_side_by_side(1, epochs=2, log=logged.append, tracks=("mpii",), limit_train=32,
                             profile="smoke", prepared=prepared)
    row = res["tracks"]["mpii"]["rounds"][0]
    assert len(logged) == 1 and "ratio" in row, (logged, row)
    after = [row["one_after_the_other"][v]["steady_img_s"] for v in ("baseline", "sg")]
    side = [row["side_by_side"][v]["steady_img_s"] for v in ("baseline", "sg")]
    assert row["pair_img_s"]["one_after_the_other"] == pytest.approx(
        1 / (0.5 / after[0] + 0.5 / after[1]))
    assert row["pair_img_s"]["side_by_side"] == pytest.approx(side[0] + side[1])
    assert row["ratio"] == pytest.approx((side[0] + side[1]) * (0.5 / after[0] + 0.5 / after[1]))
    walls = [row[w][v]["wall_s"] for w in ("one_after_the_other", "side_by_side")
             for v in ("baseline", "sg")]
    assert row["wall_ratio"] == pytest.approx((walls[0] + walls[1]) / max(walls[2:]))
    assert res["tracks"]["mpii"]["ratio"]["median"] == row["ratio"]
    md, _ = write_report(tmp_path, "cpu", {"side_by_side": res})
    text = md.read_text()
    assert "## Side by side: the `smoke` profile's pair of runs" in text
    assert f"| 1 | {after[0]:.1f}, {after[1]:.1f} (" in text and f"| {row['ratio']:.2f}x |" in text


def test_engine_bench_dry_run_at_tiny_size(prepared, tmp_path):
    """The GPU check's engine section on CPU at tiny size: whole epochs through engine.train (data
    included), one row per setting with each epoch's img/s, the SG / baseline line, the fused
    eval speed; the report is the dry run's, not the GPU's."""
    from sgpose_lib.bench.engine_epochs import EngineSetting, run_engine_bench
    settings = (EngineSetting("baseline", 8, False, 1), EngineSetting("sg", 8, False, 1),
                EngineSetting("sg", 8, False, 3))
    res = run_engine_bench(tmp_path, "cpu", settings, epochs=2, workers=0, preset="hrnet_tiny",
                           input_size=(64, 64), eval_batch=2, limit_train=16, prepared=prepared,
                           log=lambda _: None)
    assert [r["name"] for r in res["settings"]] == [s.name for s in settings]
    for row in res["settings"]:
        assert "error" not in row, row
        assert len(row["img_s"]) == 2 and row["steady_img_s"] == row["img_s"][1] > 0
    assert res["eval"]["baseline"] > 0 and res["eval"]["sg"] > 0
    text = (tmp_path / "bench_engine_dryrun.md").read_text()
    assert "CPU (dry run)" in text and "| sg, batch 8, fp32, read every 3 |" in text
    assert "SG / baseline time per image (eager): batch 8, read every 1:" in text
    assert not (tmp_path / "bench_cuda_engine.md").exists()
