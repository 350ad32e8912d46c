"""Learning curves and the convergence study: hand-computed cases of the schedule, the plateau
rule, the per-epoch paired comparison and the trend verdict."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from sgpose_lib.engine.convergence_runs import plateau_rule, read_params, run_config
from sgpose_lib.engine.schedule import paper_milestones
from sgpose_lib.report.convergence import _before_drops, _curve_summary
from sgpose_lib.report.convergence_verdict import _uneven_clause, verdict_markdown
from sgpose_lib.report.trend import VERDICT_TEXT, trend_of, verdict_text
from sgpose_lib.report.curves import CurveRun, per_epoch, plateau, uneven_ends, validated
from sgpose_lib.errors import ConfigError
from sgpose_lib.report.stats import Estimate


def test_paper_milestones_keep_the_fractions_170_200_of_210():
    assert paper_milestones(210) == (170, 200)
    assert paper_milestones(45) == (36, 43)     # 45 x 170/210 = 36.4, 45 x 200/210 = 42.9
    assert paper_milestones(30) == (24, 29)


def test_plateau_compares_the_last_fifth_with_the_value_before_it():
    curve = pd.Series([10.0, 20.0, 25.0, 27.0, 27.5, 27.6, 28.0, 28.2, 28.4],
                      index=[5, 10, 15, 20, 25, 30, 35, 40, 45])
    # 45 epochs: last fifth = epochs 37..45; before it: epoch 35 (28.0); best after: 28.4
    p = plateau(curve, 45)
    assert p["from_epoch"] == 36 and p["gain"] == pytest.approx(0.4) and p["plateau"] is True
    rising = curve.copy()
    rising[45] = 30.0
    assert plateau(rising, 45) == {"from_epoch": 36, "gain": pytest.approx(2.0), "plateau": False}
    assert plateau(curve[curve.index <= 35], 45)["plateau"] is None   # nothing after e0


def test_runs_too_short_get_no_plateau_and_notrend_of():
    """A 3-epoch run: its "last fifth" is one epoch (the lr drop's), so no plateau decision; and
    no epoch >= 15 to start the trend from, so the verdict says that, not "runs missing"."""
    curve = pd.Series([1.0, 4.5, 4.3], index=[1, 2, 3])
    assert plateau(curve, 3) == {"from_epoch": 2, "gain": None, "plateau": None}
    assert plateau(pd.Series(range(10), index=range(1, 11), dtype=float), 10)["plateau"] is False
    d = Estimate(n=2, mean=2.6, lo=2.2, hi=2.9, p=0.09)
    table = pd.DataFrame({"epoch": [1, 2, 3], "baseline": [d, d, d], "sg": [d, d, d],
                          "diff": [d, d, d]})
    summary = _curve_summary(table, "PCKh@0.5 Mean (%)", 3)
    assert summary["trend"] == "short" and summary["early_epoch"] is None
    text = verdict_markdown({"curves": {"mpii/val_Mean": summary}, "runs": {}})
    line = text.splitlines()[0]
    assert "epoch None" not in text and line.endswith(
        "SG − baseline +2.6 [+2.2, +2.9] (n = 2 equal-schedule pairs; t-test p = 0.090; "
        "half-width 0.3, within the goal of 1.5): "
        "**supported**; trend: undecided: the runs end before epoch 15, where the trend starts.")


def _run(variant: str, seed: int, values: dict[int, float]) -> CurveRun:
    table = pd.DataFrame({"epoch": [1, 2, 3], "val_Mean": [values.get(e, math.nan) for e in (1, 2, 3)]})
    return CurveRun(f"{variant}_{seed}", "mpii", variant, seed, table)


def test_per_epoch_pairs_by_seed_and_skips_unvalidated_epochs():
    runs = [_run("baseline", 0, {1: 10.0, 3: 20.0}), _run("baseline", 1, {1: 12.0, 3: 22.0}),
            _run("sg", 0, {1: 13.0, 3: 21.0}), _run("sg", 1, {1: 14.0, 3: 25.0})]
    assert list(validated(runs[0].table, "val_Mean").index) == [1, 3]
    table = per_epoch(runs, "mpii", "baseline", "sg", "val_Mean", 1.0, n_resamples=200)
    assert list(table["epoch"]) == [1, 3]
    first, last = table.iloc[0], table.iloc[1]
    assert first["baseline"].mean == 11.0 and first["sg"].mean == 13.5
    assert first["diff"].mean == pytest.approx(2.5) and first["diff"].n == 2   # (3 + 2) / 2
    assert last["diff"].mean == pytest.approx(2.0)                             # (1 + 3) / 2
    # paired t-test of differences (3, 2): t = 2.5 / (0.7071 / sqrt 2) = 5.0, 1 dof -> p = 0.1257
    assert first["diff"].p == pytest.approx(0.1257, abs=1e-3)


@pytest.mark.parametrize("early, final, trend", [
    (Estimate(3.0, 2.0, 4.0, 2), Estimate(5.0, 4.0, 6.0, 2), "grow"),
    (Estimate(3.0, 2.0, 4.0, 2), Estimate(3.5, 2.5, 4.5, 2), "hold"),
    (Estimate(3.0, 2.0, 4.0, 2), Estimate(1.5, 0.5, 2.5, 2), "shrink"),
    (Estimate(3.0, 2.0, 4.0, 2), Estimate(0.5, -0.5, 1.5, 2), "vanish"),
    (None, Estimate(0.5, -0.5, 1.5, 2), "undecided"),
    # no gain to lose: one seed, -0.1 at epoch 15 and -0.6 at the end (body-only AP, 60 epochs)
    (Estimate(-0.1, n=1), Estimate(-0.6, n=1), "none"),
    (Estimate(0.5, 0.2, 0.8, 2), Estimate(-2.0, -3.0, -1.0, 2), "reverse"),
    (Estimate(-0.1, n=1), Estimate(-1.5, n=1), "reverse"),
])
def test_trend_of_the_gain(early, final, trend):
    assert trend_of(early, final) == trend


def test_a_vanished_gain_says_what_it_rests_on():
    """Two seeds: the CI includes 0. One seed has no CI: the verdict says so (not "the CI")."""
    two, one = Estimate(0.5, -0.5, 1.5, 2), Estimate(-0.2, n=1)
    assert trend_of(Estimate(0.4, n=1), one) == "vanish"
    assert verdict_text("vanish", two) == ("the gain is not resolved once the models are "
                                           "trained (the final CI includes 0: the gain is at "
                                           "most +1.5)")
    assert verdict_text("vanish", one).endswith(
        "(n = 1, no test: the final |SG − baseline| is below 1 point)")
    assert verdict_text("shrink", one) == "the gain shrinks with training but stays above zero"
    # a CI above 0 from 2 seeds (+0.4, +1.6: mean 1.0, sd 0.849, t = 1.0 / (0.849 / sqrt 2) =
    # 1.667 on 1 degree of freedom: p = 0.344) says that the t-test does not reject 0
    two_seeds = Estimate(1.0, 0.4, 1.6, n=2, p=0.344)
    assert verdict_text("shrink", two_seeds) == (
        "the gain shrinks with training but stays above zero (its CI excludes 0, but with n = 2 "
        "seeds the paired t-test gives p = 0.34)")
    assert verdict_text("shrink", Estimate(1.0, 0.4, 1.6, n=5, p=0.01)) == VERDICT_TEXT["shrink"]


def _setting(tmp_path, setting: str) -> Path:
    """convergence/params.yaml with `setting` chosen, written to tmp_path."""
    path = tmp_path / f"{setting}.yaml"
    path.write_text(re.sub(r"(?m)^setting: .*$", f"setting: {setting}",
                           open("convergence/params.yaml").read(), 1))
    return path


def test_run_config_uses_the_setting_and_the_paper_schedule(tmp_path):
    params = read_params(_setting(tmp_path, "cpu"))
    cfg = run_config(params, "mpii_sg_r5_s1")
    epochs = params["spec"]["epochs"]["mpii"]
    assert cfg.train.epochs == epochs and cfg.train.lr_steps == paper_milestones(epochs)
    assert cfg.train.seed == 1 and cfg.model.sgm_sites and cfg.data.track == "mpii"
    bad = tmp_path / "p.yaml"
    bad.write_text("setting: cpu\nsettings: {cpu: [\n")
    with pytest.raises(ConfigError, match=r"p.yaml, line 3, column 1: not valid YAML \(expected"):
        read_params(bad)


def test_plateau_setting_gives_a_rule_and_a_constant_phase(tmp_path):
    text = _setting(tmp_path, "cpu_plateau").read_text()
    params = read_params(tmp_path / "cpu_plateau.yaml")
    cfg = run_config(params, "coco_baseline_s0")
    rule = plateau_rule(params, "coco")
    assert (rule.every, rule.min_epochs, rule.max_epochs, rule.tol) == (5, 50, 160, 1.0)
    assert cfg.train.epochs == 160 and cfg.train.lr_steps == () and cfg.train.val_every == 5
    # an SG run given its baseline's length trains that fixed schedule: the plateau rule's
    # schedule of the baseline (198 epochs, drops at 160 and 189) is paper_milestones(198)
    sg = run_config(params, "coco_sg_r5_s0")
    assert (sg.train.epochs, sg.train.lr_steps) == (198, (160, 189))
    assert plateau_rule(read_params(_setting(tmp_path, "cpu")), "mpii") is None   # fixed epochs
    (tmp_path / "bad.yaml").write_text(text.replace("max_epochs: {mpii: 320, coco: 160}",
                                                    "max_epochs: {mpii: 320}"))
    with pytest.raises(ConfigError, match="until_plateau needs min_epochs and max_epochs for "
                                          "track 'coco'"):
        run_config(read_params(tmp_path / "bad.yaml"), "coco_sg_r5_s0")


def test_gpu_setting_is_hrnet_w32_at_the_paper_sizes(tmp_path):
    """The `gpu` setting of the convergence pipeline (not run without a device): W32, 256x256 on
    the MPII-style track, 256x192 on COCO, the paper's schedule shape over its epochs."""
    params = read_params(_setting(tmp_path, "gpu"))
    mpii, coco = run_config(params, "mpii_sg_r5_s0"), run_config(params, "coco_baseline_s0")
    assert mpii.profile == coco.profile == "paper" and mpii.model.preset == "hrnet_w32"
    assert mpii.data.input_size == (256, 256) and coco.data.input_size == (192, 256)
    epochs = params["spec"]["epochs"]["mpii"]
    assert mpii.train.epochs == epochs and mpii.train.lr_steps == paper_milestones(epochs)
    assert mpii.model.sgm_sites and not coco.model.sgm_sites
    assert mpii.train.bf16 and coco.train.channels_last and coco.train.log_every == 50


def test_the_three_params_files_report_yaml_errors_alike(tmp_path):
    """params.yaml, convergence/params.yaml and ablations/params.yaml are read by one reader: the
    same message with the file, line and column for a syntax error, and a named file when missing."""
    from sgpose_lib.params import read_params as read_study_params
    from sgpose_lib.report.ablations import ablation_table
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: {c: [\n")
    for reader in (read_study_params, read_params, ablation_table):
        with pytest.raises(ConfigError, match=r"bad.yaml, line 3, column 1: not valid YAML \("):
            reader(bad)
        with pytest.raises(ConfigError, match=r"missing.yaml: params file not found"):
            reader(tmp_path / "missing.yaml")


def test_gpu_setting_trains_on_cpu_at_tiny_size(prepared, tmp_path):
    """The `gpu` setting's run, shrunk to a tiny model and a few samples, trains on CPU through
    the same engine path (bf16 and the deferred loss reads of log_every 50 included; bf16
    autocast applies on CUDA only)."""
    from sgpose_lib.engine.train import train
    cfg = run_config(read_params(_setting(tmp_path, "gpu")), "mpii_sg_r5_s0")
    cfg.model.preset, cfg.data.mpii_image_size, cfg.data.workers = "hrnet_tiny", (64, 64), 0
    cfg.data.root, cfg.data.image_root = str(prepared), "data/embedded"
    cfg.data.limit_train, cfg.data.limit_val = 16, 8
    cfg.train.epochs, cfg.train.lr_steps, cfg.train.val_every, cfg.train.device = 2, (1,), 1, "cpu"
    cfg.train.batch_size = 8
    result = train(cfg.validate(), tmp_path / "run", progress=False)
    steps = [line for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
             if '"kind": "step"' in line]
    assert cfg.train.log_every == 50 and cfg.train.bf16 and len(steps) == 4
    assert result["epochs"] == 2 and math.isfinite(result["best"])


def test_verdict_counts_plateaus_of_the_whole_run_and_before_the_first_drop():
    """Two hand-made runs: the whole-run rule (lr drops included) and the constant-lr rule are
    counted and their gain ranges stated separately; one run still improving makes the verdict
    speak of models still improving."""
    diff = Estimate(n=1, mean=1.5, lo=math.nan, hi=math.nan, p=math.nan).to_dict()
    summary = {"curves": {"mpii/val_Mean": {
        "label": "PCKh@0.5 Mean (%)", "epochs": 160, "after": "after 160 epochs",
        "early_epoch": 15, "trend": "shrink",
        "early_diff": diff, "final": {"baseline": diff, "sg": diff, "diff": diff}}},
        "runs": {
            "a": {"val_Mean": {"plateau": False, "gain": 2.2,
                               "before_first_drop": {"plateau": True, "gain": 0.4}}},
            "b": {"val_Mean": {"plateau": False, "gain": 1.6,
                               "before_first_drop": {"plateau": False, "gain": 1.5}}}}}
    line = [x for x in verdict_markdown(summary).splitlines() if x.startswith("- Plateau")][0]
    assert ("0 of 2 runs had stopped improving (gain over the last fifth +1.6 to +2.2); before "
            "the first lr drop (lr 1e-3), 1 of 2 (gain over that phase's last fifth +0.4 to +1.5)"
            in line)
    assert line.endswith("the verdict is about models still improving, i.e. at the budget "
                         "trained, not at convergence.")



def _plateau_run(folder, offset: float, done: int | None = None) -> None:
    """A hand-made until_plateau run: PCKh 0.4 x min(epoch, 100) + offset at the constant lr
    (the rule first holds at epoch 125, see test_until_plateau), +1.5 after the drops at 125 and
    147 (schedule_after(125) = 154 epochs); `done`: epochs completed so far (default all)."""
    epochs, steps = 154, [125, 147]
    done = done or epochs
    rows = []
    for e in range(1, done + 1):
        value = 0.4 * min(e, 100) + offset + (1.5 if e > 125 else 0.0)
        rows.append({"epoch": e, "seconds": 1.0,
                     "val_Mean": value if e % 5 == 0 or e == epochs else math.nan})
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "epochs.csv", index=False)
    train = {"epochs": epochs, "lr_steps": steps} if done > 125 else {"epochs": 320, "lr_steps": []}
    (folder / "config.json").write_text(json.dumps({"train": train}))


def _plateau_params(tmp_path: Path) -> Path:
    """An until_plateau setting checked from epoch 30, with 2 seeds of baseline (b0, b1) and SG
    (s0, s1) on the MPII-style track: its params.yaml in tmp_path."""
    params = tmp_path / "params.yaml"
    params.write_text(
        "setting: plateau\n"
        "settings:\n  plateau: {profile: cpu, val_every: 5,\n"
        "    until_plateau: {min_epochs: {mpii: 30}, max_epochs: {mpii: 320}}}\n"
        "runs:\n"
        "  b0: {track: mpii, variant: baseline, seed: 0}\n"
        "  s0: {track: mpii, variant: sg, seed: 0}\n"
        "  b1: {track: mpii, variant: baseline, seed: 1}\n"
        "  s1: {track: mpii, variant: sg, seed: 1}\n")
    return params


def test_report_of_an_until_plateau_setting(tmp_path):
    """Four hand-made runs whose constant phase ends by the rule at epoch 125: the schedule line,
    the row pairing each run at its own end (SG − baseline = +2.0 on both seeds), the figure's
    drops, the verdict; then one run still at the constant lr makes the verdict provisional."""
    from sgpose_lib.report.convergence import build
    params = _plateau_params(tmp_path)
    for name, offset in (("b0", 0.0), ("s0", 2.0), ("b1", 1.0), ("s1", 3.0)):
        _plateau_run(tmp_path / "runs" / name / "train", offset)
    summary = build(params, tmp_path / "runs", tmp_path / "out", n_resamples=200)
    text = (tmp_path / "out" / "convergence.md").read_text()
    # the rule's checks, every 5 epochs from 30; by hand: at k = 110 the last fifth is (88, 110],
    # whose best, 40 (flat from 100), is 6 above the value at 85 (34); at 115, (92, 115] against
    # 90 (36): +4; at 120, (96, 120] against 95 (38): +2; at 125, (100, 125] against 100: 0
    assert ("\n- b0: constant lr for 125 epochs (the plateau rule held: Mean +0.0; earlier "
            "checks: Mean +6.0 at 110; Mean +4.0 at 115; Mean +2.0 at 120); 154 epochs, drops at "
            "125, 147; finished\n" in text)
    checks = summary["runs"]["b0"]["constant_phase"]["checks"]
    assert [c["epoch"] for c in checks] == list(range(30, 126, 5))
    assert "**the gain holds with training**.\n" in text
    # the last 3 validations (145, 150, 154) of each run: 41.5 + offset, so baseline 41.5 and
    # 42.5 -> 42.0 ± t(0.975, 1) · 0.7071 / √2 = 42.0 ± 6.35; SG − baseline +2.0 on both seeds:
    # constant differences, no interval, no t-test, sign-flip p = 2/4
    assert ("| end of each run (154 epochs; mean of its last 3 validations) | 42.0 [35.6, 48.4] "
            "| 44.0 [37.6, 50.4] | +2.0 | n/a (const.); 0.500 | — |") in text
    assert summary["runs"]["s1"]["constant_phase"]["ended_by"] == "plateau"
    verdict = verdict_markdown(summary)
    assert ("at the end of each run's schedule (154 epochs), mean of each run's last 3 validations "
            "baseline 42.0" in verdict)
    assert ("- Plateau (mpii track): the constant-lr phase of 4 of 4 runs ended by the plateau "
            "rule (at epoch 125), 0 at max_epochs, 0 still at the constant lr; 4 of 4 "
            "runs finished the paper's two drops after it; the verdict is about models trained "
            "until they stopped improving." in verdict)
    # s1 interrupted at epoch 100, still at the constant lr
    import shutil
    shutil.rmtree(tmp_path / "runs" / "s1")
    _plateau_run(tmp_path / "runs" / "s1" / "train", 3.0, done=100)
    summary = build(params, tmp_path / "runs", tmp_path / "out", n_resamples=200)
    text = (tmp_path / "out" / "convergence.md").read_text()
    assert "s1: at the constant lr, 100 epochs so far (last check: Mean +8.0)" in text
    assert "**the gain holds with training** (provisional: 1 of 4 runs not finished)." in text
    assert ("| end of each run (154 epochs; mean of its last 3 validations) |" in text
            and "n = 1, no test" in text.split("end of each run")[1])
    assert verdict_markdown(summary).count("the verdict is provisional") == 1
    # s1 and b1 not on disk at all (not started): the verdict's lines still count the matrix
    shutil.rmtree(tmp_path / "runs" / "s1")
    shutil.rmtree(tmp_path / "runs" / "b1")
    verdict = verdict_markdown(build(params, tmp_path / "runs", tmp_path / "out", n_resamples=200))
    assert "(provisional: 2 of 4 runs not finished)." in verdict
    assert ("the constant-lr phase of 2 of 4 runs ended by the plateau rule (at epoch "
            "125), 0 at max_epochs, 0 still at the constant lr; 2 of 4 runs finished the paper's "
            "two drops after it; the runs are not finished: the verdict is provisional." in verdict)


def test_wall_time_sums_the_epochs_and_the_median_epoch_shows_the_pace(tmp_path):
    """A run paused for 100 s in one epoch: its summed epoch time holds the pause (153 epochs of
    1 s + 100 s = 253 s = 4.2 min), its median epoch (1 s) does not."""
    from sgpose_lib.report.convergence import build
    params = _plateau_params(tmp_path)
    for name, offset in (("b0", 0.0), ("s0", 2.0), ("b1", 1.0), ("s1", 3.0)):
        _plateau_run(tmp_path / "runs" / name / "train", offset)
    csv = tmp_path / "runs" / "b0" / "train" / "epochs.csv"
    table = pd.read_csv(csv)
    table.loc[table["epoch"] == 40, "seconds"] = 100.0
    table.to_csv(csv, index=False)
    summary = build(params, tmp_path / "runs", tmp_path / "out", n_resamples=200)
    assert (summary["runs"]["b0"]["wall_s"], summary["runs"]["b0"]["epoch_median_s"]) == (253.0, 1.0)
    text = (tmp_path / "out" / "convergence.md").read_text()
    assert "b0 4.2 min (154 epochs, median epoch 1 s); s0 2.6 min (154 epochs, median epoch 1 s)" in text


def _environment(folder: Path, cpu: str) -> None:
    (folder / "environment.json").write_text(json.dumps({"cpu": cpu, "torch_threads": 2,
                                                         "cuda_device": None}))


def test_trained_on_names_the_runs_of_each_machine_where_a_setup_ran_on_several():
    from sgpose_lib.report.machines import Trained, mixed_pairs, trained_on
    mpii = "mpii track: hrnet_small at 96×96 (h×w) on the embedded data"
    coco = "coco track: hrnet_small at 128×96 (h×w) on the embedded data"
    intel, amd = "CPU (Intel Xeon, 2 threads)", "CPU (AMD EPYC, 2 threads)"
    where = {"b0": Trained(mpii, intel), "s0": Trained(mpii, intel), "b1": Trained(mpii, amd),
             "s1": Trained(mpii, amd), "cb0": Trained(coco, intel), "cs0": Trained(coco, intel)}
    assert trained_on(where) == [f"{mpii}, {intel} (b0, s0), {amd} (b1, s1)", f"{coco}, {intel}"]
    runs = [CurveRun(n, t, v, s, None) for n, t, v, s in
            (("b0", "mpii", "baseline", 0), ("s0", "mpii", "sg", 0), ("b1", "mpii", "baseline", 1),
             ("s1", "mpii", "sg", 1), ("cb0", "coco", "baseline", 0), ("cs0", "coco", "sg", 0))]
    assert mixed_pairs(runs, where) == []   # every pair on one machine
    where["cs0"] = Trained(coco, amd)
    assert mixed_pairs(runs, where) == [f"coco seed 0 (baseline: {intel}; sg: {amd})"]
    assert trained_on(where)[1] == f"{coco}, {intel} (cb0), {amd} (cs0)"


def test_report_says_which_pair_was_trained_on_two_machines(tmp_path):
    """The until-plateau report of four hand-made runs: seed 0 on one CPU, seed 1's baseline on
    another: the Trained-on line lists the runs per CPU and the mixed pair is named."""
    from sgpose_lib.report.convergence import build
    params = _plateau_params(tmp_path)
    for name, offset, cpu in (("b0", 0.0, "X"), ("s0", 2.0, "X"), ("b1", 1.0, "Y"),
                              ("s1", 3.0, "X")):
        _plateau_run(tmp_path / "runs" / name / "train", offset)
        _environment(tmp_path / "runs" / name / "train", cpu)
    summary = build(params, tmp_path / "runs", tmp_path / "out", n_resamples=200)
    text = (tmp_path / "out" / "convergence.md").read_text()
    setup = summary["trained_on"][0].split(", CPU")[0]   # the configs' defaults
    assert setup.startswith("mpii track: ") and setup.endswith(" on the embedded data")
    assert (f"\nTrained on: {setup}, CPU (X, 2 threads) (b0, s0, s1), CPU (Y, 2 threads) (b1).\n"
            in text)
    assert summary["mixed_pairs"] == ["mpii seed 1 (baseline: CPU (Y, 2 threads); "
                                      "sg: CPU (X, 2 threads))"]
    assert "trained on different machines" in text and "mpii seed 1 (baseline: CPU (Y" in text
    _environment(tmp_path / "runs" / "b1" / "train", "X")
    summary = build(params, tmp_path / "runs", tmp_path / "out", n_resamples=200)
    text = (tmp_path / "out" / "convergence.md").read_text()
    assert f"\nTrained on: {setup}, CPU (X, 2 threads).\n" in text
    assert "mixed_pairs" not in summary and "different machines" not in text


def _finished(variant: str, seed: int, epochs: int, track: str = "coco") -> CurveRun:
    table = pd.DataFrame({"epoch": list(range(1, epochs + 1))})
    return CurveRun(f"{track}_{variant}_s{seed}", track, variant, seed, table, epochs,
                    (epochs - 5, epochs - 1))


def test_uneven_ends_names_the_pairs_whose_schedules_differ_by_more_than_a_tenth():
    """The COCO seed-0 pair of cpu_plateau ended at 105 (baseline) and 74 (SG) epochs: 31 > 10.5
    is named; the MPII-style seed-0 pair's 179 and 173 (6 <= 17.9) is not, nor a pair one of
    whose runs is not finished (its epochs.csv stops before train.epochs)."""
    full = _finished("sg", 2, 90)
    unfinished = CurveRun(full.name, "coco", "sg", 2, full.table.iloc[:40], 90, (80, 85))
    runs = [_finished("baseline", 0, 105), _finished("sg", 0, 74), _finished("baseline", 1, 100),
            _finished("sg", 1, 91), _finished("baseline", 2, 60), unfinished,
            _finished("baseline", 0, 179, "mpii"), _finished("sg", 0, 173, "mpii")]
    assert uneven_ends(runs, "coco", "baseline", "sg") == ["seed 0: baseline 105, sg 74 epochs"]
    assert uneven_ends(runs, "mpii", "baseline", "sg") == []


def test_unequal_pair_gives_the_gain_at_the_last_budget_before_either_first_lr_drop():
    """Baseline: 30 epochs, first drop at 20; SG: 12 epochs, first drop at 8. Both are validated
    at 5 and 10; epoch 10 is after SG's drop, so the like-with-like budget is epoch 5, where SG −
    baseline = 11.0 − 10.0 = +1.0 (one seed: no CI)."""
    def run(variant: str, epochs: int, drop: int, values: dict[int, float]) -> CurveRun:
        table = pd.DataFrame({"epoch": range(1, epochs + 1),
                              "val_Mean": [values.get(e, math.nan) for e in range(1, epochs + 1)]})
        return CurveRun(variant, "mpii", variant, 0, table, epochs, (drop, epochs - 2))
    runs = [run("baseline", 30, 20, {5: 10.0, 10: 12.0, 20: 15.0, 30: 19.0}),
            run("sg", 12, 8, {5: 11.0, 10: 14.0, 12: 14.5})]
    table = per_epoch(runs, "mpii", "baseline", "sg", "val_Mean", 1.0, n_resamples=100)
    before = _before_drops(table, runs)
    assert before["epoch"] == 5 and before["diff"]["mean"] == pytest.approx(1.0)
    uneven = uneven_ends(runs, "mpii", "baseline", "sg")
    assert uneven == ["seed 0: baseline 30, sg 12 epochs"]
    assert _uneven_clause({"uneven": uneven, "before_drops": before}) == (
        " (runs of unequal length, seed 0: baseline 30, sg 12 epochs; at epoch 5, before either "
        "run's first lr drop, SG − baseline +1.0)")
    assert _uneven_clause({"uneven": [], "before_drops": None}) == ""


def test_ended_first_names_the_shorter_variant_and_nothing_without_one():
    from sgpose_lib.report.curve_plots import _ended_first
    d = Estimate(1.0, n=1)
    both = pd.DataFrame({"epoch": [5, 10], "baseline": [d, d], "sg": [d, None], "diff": [d, None]})
    assert _ended_first(both) == "the SG run ends at epoch 5"
    no_sg = pd.DataFrame({"epoch": [5], "baseline": [d], "sg": [None], "diff": [None]})
    assert _ended_first(no_sg) == ""   # no SG value at all: nothing ends first (no max of nothing)


def test_a_run_of_fixed_length_is_not_described_as_decided_by_the_rule():
    """A run whose length run_epochs sets (its pair's schedule: 173 epochs, drops at 140 and
    165) is listed with that schedule, and counts as neither a plateau nor a max_epochs end;
    a run whose config has another length than run_epochs says (an older run) keeps the rule's
    reading."""
    from sgpose_lib.engine.schedule import PlateauRule
    from sgpose_lib.report.plateaus import schedule_text, until_plateau_line
    table = pd.DataFrame({"epoch": [130, 135, 140, 165, 173], "val_Mean": [40.0, 40.2, 40.3, 42.0, 42.1]})
    run = CurveRun("mpii_baseline_s2", "mpii", "baseline", 2, table, epochs=173, lr_steps=(140, 165))
    rule = PlateauRule(every=5, tol=1.0, min_epochs=130, max_epochs=320)
    summary: dict = {}
    text = schedule_text([run], "mpii", rule, summary, {"mpii_baseline_s2": 173})
    assert text == ("- mpii_baseline_s2: a fixed schedule (run_epochs), 173 epochs, drops at 140, "
                    "165: its pair's schedule, not decided by the rule; finished\n")
    phases = {"mpii_baseline_s2": summary["mpii_baseline_s2"]["constant_phase"]}
    line = until_plateau_line("mpii", phases, finished=1)
    assert "0 of 1 runs ended by the plateau rule, 0 at max_epochs, 1 at a fixed schedule" in line
    assert line.endswith("the verdict is about models trained until they stopped improving.")
    other = schedule_text([run], "mpii", rule, {}, {"mpii_baseline_s2": 179})
    assert "fixed schedule" not in other
