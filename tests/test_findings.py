"""Beyond the paper, the reporting side: robustness drops and their SG − baseline difference, the
attention table, the verdicts of the generated discussion and the ablation table, all checked on a
fabricated runs folder with hand-computed values."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from sgpose_lib.params import load_config
from sgpose_lib.report.ablations import ablation_table
from sgpose_lib.report.discussion import _verdict, discussion
from sgpose_lib.report.findings import attention_table, robustness_table
from sgpose_lib.report.runs import load_study

PROJECT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
# per-person OKS (4 persons) under each condition
OKS = {"baseline": {"original": [0.5, 0.4, 0.3, 0.2], "blur": [0.5, 0.4, 0.3, 0.2],
                    "clutter": [0.3, 0.2, 0.1, 0.0], "grey": [0.6, 0.5, 0.4, 0.3]},
       "sg": {"original": [0.5, 0.4, 0.3, 0.2], "blur": [0.5, 0.4, 0.3, 0.2],
              "clutter": [0.45, 0.35, 0.25, 0.15], "grey": [0.6, 0.5, 0.4, 0.3]}}


def _run(root: Path, name: str, track: str, variant: str, seed: int, metrics: dict) -> Path:
    cfg = load_config("smoke", PROJECT_PARAMS, track=track, variant=variant, seed=seed)
    (root / name / "train").mkdir(parents=True)
    (root / name / "eval").mkdir(parents=True)
    (root / name / "train" / "config.json").write_text(json.dumps(cfg.to_dict()))
    (root / name / "eval" / "metrics.json").write_text(json.dumps(metrics))
    return root / name


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    root = tmp_path_factory.mktemp("findings")
    params = yaml.safe_load(PROJECT_PARAMS.read_text())
    params["profile"] = "smoke"
    params["runs"] = {}
    for variant in ("baseline", "sg"):
        name = f"coco_{variant}_s0"
        params["runs"][name] = {"track": "coco", "variant": variant, "radius": 5, "seed": 0}
        folder = _run(root / "runs", name, "coco", variant, 0, {"AP": 0.1, "mean_oks": 0.35})
        rob = {c: {"AP": 0.1 if c != "clutter" else 0.05, "mean_oks": float(np.mean(v)),
                   "oks": v, "ann_ids": [11, 12, 13, 14]} for c, v in OKS[variant].items()}
        (folder / "analysis" / "robustness").mkdir(parents=True)
        (folder / "analysis" / "robustness" / "robustness.json").write_text(json.dumps(rob))
    for variant, seeds in (("baseline", (0, 1)), ("sg", (0, 1))):
        for seed in seeds:
            name = f"mpii_{variant}_s{seed}"
            params["runs"][name] = {"track": "mpii", "variant": variant, "radius": 5, "seed": seed}
            mean = {"baseline": 20.0, "sg": 23.0}[variant] + seed
            folder = _run(root / "runs", name, "mpii", variant, seed, {"Mean": mean})
            if variant == "sg":
                site = {"disc_share": 0.4 + 0.02 * seed, "disc_share_uniform": 0.2, "bce": 0.3,
                        "iou": 0.0, "iou_topk": 0.3, "iou_topk_chance": 0.1, "mean_map": 0.15,
                        "persons_share": None, "persons_share_uniform": None}
                (folder / "analysis").mkdir()
                (folder / "analysis" / "attention.json").write_text(json.dumps(
                    {"track": "mpii", "n": 4, "stage2": site, "final": site}))
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root, load_study(root / "params.yaml", root / "runs")


def test_robustness_drops_and_difference_are_the_hand_values(fabricated):
    _, study = fabricated
    md, frame, summary = robustness_table(study)
    clutter = summary["conditions"]["clutter"]
    # baseline loses 0.2 on every person, SG 0.05: drops 20 and 5 (x 100), difference -15
    assert clutter["baseline"]["drop"]["mean"] == pytest.approx(20.0)
    assert clutter["sg"]["drop"]["mean"] == pytest.approx(5.0)
    assert clutter["sg_minus_baseline_drop"]["mean"] == pytest.approx(-15.0)
    assert clutter["sg_minus_baseline_drop"]["lo"] == pytest.approx(-15.0)  # constant: zero width
    grey = summary["conditions"]["grey"]
    assert grey["baseline"]["drop"]["mean"] == pytest.approx(-10.0)  # grey helps by 0.1
    assert grey["sg_minus_baseline_drop"]["mean"] == pytest.approx(0.0)
    assert clutter["baseline"]["AP drop"]["mean"] == pytest.approx(5.0)
    assert summary["persons"] == 4 and "clutter: SG − baseline" in md and len(frame) > 0
    # the verdict's estimate pairs by training seed: one seed here, so no interval
    seeds = clutter["sg_minus_baseline_drop_seeds"]
    assert seeds["mean"] == pytest.approx(-15.0) and seeds["n"] == 1 and seeds["lo"] is None


def test_robustness_difference_over_seeds_is_the_paired_t_interval():
    """Two seeds per variant: seed 0 as the fabricated runs (SG − baseline of the clutter drop
    −15), seed 1 with SG losing 0.10 instead of 0.05 (−10): mean −12.5, SD 3.536, half-width
    t(0.975, 1) x 3.536 / sqrt 2 = 12.706 x 2.5 = 31.77: [−44.3, +19.3], covers 0."""
    from sgpose_lib.report.findings import seed_drop_difference
    def rob(variant, loss):
        return {"original": {"oks": OKS[variant]["original"]},
                "clutter": {"oks": [v - loss for v in OKS[variant]["original"]]}}
    runs = {"baseline": {0: rob("baseline", 0.2), 1: rob("baseline", 0.2)},
            "sg": {0: rob("sg", 0.05), 1: rob("sg", 0.10)}}
    e = seed_drop_difference(runs, "clutter", 100.0)
    assert e.n == 2 and e.mean == pytest.approx(-12.5)
    assert e.lo == pytest.approx(-12.5 - 12.7062 * 2.5, abs=1e-3)
    assert e.hi == pytest.approx(-12.5 + 12.7062 * 2.5, abs=1e-3)


def test_robustness_needs_both_variants(fabricated, tmp_path):
    root, _ = fabricated
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["runs"] = {k: v for k, v in params["runs"].items() if k != "coco_sg_s0"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    md, _, summary = robustness_table(load_study(tmp_path / "params.yaml", root / "runs"))
    assert summary == {"available": False} and "—" in md


def test_attention_table_means_over_seeds(fabricated):
    _, study = fabricated
    md, _, summary = attention_table(study)
    part = summary["mpii_r5"]
    assert set(part) == {"stage2", "final"}
    assert part["stage2"]["disc share"]["mean"] == pytest.approx(41.0)  # (40 + 42) / 2, in %
    assert part["stage2"]["disc share"]["n"] == 2
    assert part["final"]["IoU top-k (chance)"]["mean"] == pytest.approx(10.0)
    assert "n/a (no masks)" in md


def test_verdicts():
    assert _verdict({"mean": 1.0, "lo": 0.5, "hi": 1.5, "n": 3}) == "supported"
    assert _verdict({"mean": -1.0, "lo": -1.5, "hi": -0.5, "n": 3}) == "contradicted"
    assert _verdict({"mean": 0.1, "lo": -0.5, "hi": 0.7, "n": 3}) == (
        "not resolved (the t-interval covers 0: the gain is at most +0.7)")
    assert _verdict({"mean": -1.0, "lo": -1.5, "hi": -0.5, "n": 3}, good_if_positive=False) == "supported"
    assert _verdict({"mean": 1.0, "lo": None, "hi": None, "n": 1}) == "no test (n = 1)"
    assert _verdict(None) == "not measured"


def test_discussion_reads_every_number_from_the_summaries(fabricated):
    _, study = fabricated
    _, _, robust = robustness_table(study)
    _, _, attention = attention_table(study)
    text = discussion({"profile": "smoke",
                       "mpii": {"difference": {"Mean": {"mean": 3.0, "lo": 2.0, "hi": 4.0, "n": 2,
                                                        "p": 0.01}}}}, robust, attention)
    assert "profile `smoke`" in text and "+3.0 [+2.0, +4.0]" in text
    clutter = next(line for line in text.splitlines() if "clutter" in line)
    # SG loses less on every person, but one training seed per variant gives no interval over
    # seeds: the persons' interval is shown, the verdict is none
    assert "−15.0" in clutter and "over persons" in clutter and "**no test (n = 1)**" in clutter
    grey = next(line for line in text.splitlines() if "grey" in line)
    assert "Both models do better without the real background" in grey
    # both sites: mean over the seeds (40 + 42) / 2 = 41 % against 20 % uniform; top-k 30 vs 10 %
    # both sites alike: one value, not a range "41.0-41.0"
    assert ("mpii, r5: 41.0 % of the maps' mass inside the disc target over the 2 sites, "
            "against 20.0 % for a uniform map (2.0×)") in text
    assert "top-k IoU with the disc 30.0 % (chance 10.0 %)" in text


def test_section_6_names_what_each_convergence_setting_was_trained_on(fabricated):
    """The pipeline's setting first, then its other reports (archived fixed-length runs, GPU runs)
    with their epochs per track and where they were trained (all from the summaries), each line
    saying where its numbers come from."""
    _, study = fabricated
    _, _, robust = robustness_table(study)
    _, _, attention = attention_table(study)
    d = {"n": 2, "mean": 2.6, "lo": 2.2, "hi": 2.9, "p": 0.094}
    curve = {"label": "PCKh@0.5 Mean (%)", "epochs": 3, "end": "3", "after": "after 3 epochs",
             "early_epoch": None, "trend": "short", "early_diff": None,
             "final": {"baseline": d, "sg": d, "diff": d}}
    gpu = {"setting": "gpu", "profile": "paper", "runs": {},
           "curves": {"mpii/val_Mean": curve, "coco/val_mean_oks": {**curve, "label": "OKS"}},
           "trained_on": ["mpii track: hrnet_w32 at 256×256 (h×w) on the embedded data, "
                          "NVIDIA H200"]}
    cpu = {**gpu, "setting": "cpu_plateau", "profile": "cpu", "trained_on": ["mpii track: CPU"]}
    fixed = {**cpu, "setting": "cpu", "curves": {"mpii/val_Mean": {**curve, "end": "160"},
                                                 "coco/val_mean_oks": {**curve, "end": "60"}}}
    text = discussion({"profile": "smoke"}, robust, attention, cpu,
                      [("convergence_fixed", fixed), ("convergence_gpu", gpu)])
    section = text.split("## 6.")[1].split("## Caveats")[0]
    assert "Setting `cpu_plateau` (profile `cpu`), `dvc repro convergence/dvc.yaml`; SG − " \
           "baseline paired by seed, [95 % t-interval]; trained on: mpii track: CPU:" in section
    assert ("Setting `cpu` (profile `cpu`), mpii track 160, coco track 60 epochs per run; trained "
            "on: mpii track: CPU (`reports/convergence_fixed/convergence.md`):") in section
    assert ("Setting `gpu` (profile `paper`), 3 epochs per run; trained on: mpii track: hrnet_w32 "
            "at 256×256 (h×w) on the embedded data, NVIDIA H200 "
            "(`reports/convergence_gpu/convergence.md`):") in section
    assert section.index("`cpu_plateau`") < section.index("`cpu` (") < section.index("`gpu`")
    assert section.count("undecided: the runs end before epoch 15") == 6  # 2 curves x 3 settings
    assert "Setting `gpu`" not in discussion({"profile": "smoke"}, robust, attention, cpu)


def test_ablation_table_pairs_each_row_with_the_paper_configuration(fabricated, tmp_path):
    root, _ = fabricated
    (tmp_path / "ablations.yaml").write_text(yaml.safe_dump({"ablation_runs": {
        "dwa_off_s0": {"seed": 0, "set": "'loss.dwa=\"off\"'"},
        "dwa_off_s1": {"seed": 1, "set": "'loss.dwa=\"off\"'"},
        "lam_s0": {"seed": 0, "set": "loss.lam=0.008"}}}))
    for name, mean in (("dwa_off_s0", 22.0), ("dwa_off_s1", 22.5)):  # lam_s0 not run yet
        (tmp_path / "runs" / name / "eval").mkdir(parents=True)
        (tmp_path / "runs" / name / "eval" / "metrics.json").write_text(json.dumps({"Mean": mean}))
    summary = ablation_table(tmp_path / "ablations.yaml", tmp_path / "runs", root / "params.yaml",
                             root / "runs", tmp_path / "out")
    # the paper configuration: sg seeds 0, 1 = 23, 24; dwa_off - paper = -1.0, -1.5
    assert summary["paper"]["mean"]["mean"] == pytest.approx(23.5)
    assert summary["dwa_off"]["minus_paper"]["mean"] == pytest.approx(-1.25)
    assert summary["dwa_off"]["minus_paper"]["n"] == 2
    assert summary["baseline"]["minus_paper"]["mean"] == pytest.approx(-3.0)
    assert summary["lam"]["mean"] is None
    md = (tmp_path / "out" / "ablations.md").read_text()
    assert "`loss.dwa=\"off\"`" in md and (tmp_path / "out" / "ablations.csv").is_file()
    assert "two machines" not in md   # no environment.json: nothing to compare


def test_ablation_pairs_trained_on_two_machines_are_named(fabricated, tmp_path):
    """An ablation run trained on another CPU than the study run of its seed is named under the
    table with both devices; one trained on the same CPU is not."""
    root, _ = fabricated
    study = tmp_path / "study"
    shutil.copytree(root, study)
    amd, intel = {"cpu": "AMD EPYC", "torch_threads": 2}, {"cpu": "Intel Xeon", "torch_threads": 2}
    for seed in (0, 1):
        (study / "runs" / f"mpii_sg_s{seed}" / "train" / "environment.json").write_text(
            json.dumps(amd))
    (tmp_path / "ablations.yaml").write_text(yaml.safe_dump({"ablation_runs": {
        "dwa_off_s0": {"seed": 0, "set": "a=1"}, "dwa_off_s1": {"seed": 1, "set": "a=1"}}}))
    for name, env in (("dwa_off_s0", intel), ("dwa_off_s1", amd)):
        (tmp_path / "runs" / name / "eval").mkdir(parents=True)
        (tmp_path / "runs" / name / "train").mkdir()
        (tmp_path / "runs" / name / "eval" / "metrics.json").write_text(json.dumps({"Mean": 22.0}))
        (tmp_path / "runs" / name / "train" / "environment.json").write_text(json.dumps(env))
    ablation_table(tmp_path / "ablations.yaml", tmp_path / "runs", study / "params.yaml",
                   study / "runs", tmp_path / "out")
    md = (tmp_path / "out" / "ablations.md").read_text()
    assert ("Trained on two machines: `dwa_off_s0` on CPU (Intel Xeon, 2 threads), the study's "
            "runs they are paired with on CPU (AMD EPYC, 2 threads).") in md
    assert "dwa_off_s1`" not in md


def test_backgrounds_claim_takes_its_verdict_from_the_seeds():
    """The claims table's backgrounds row: one training seed per variant gives no interval over
    seeds, so no verdict, however narrow the bootstrap over persons (shown beside it as a view)."""
    from sgpose_lib.report.claims import _robustness_claim, claims_markdown
    robust = {"persons": 142, "conditions": {"clutter": {
        "sg_minus_baseline_drop": {"mean": -0.9, "lo": -1.6, "hi": -0.2, "n": 142},
        "sg_minus_baseline_drop_seeds": {"mean": -0.9, "lo": None, "hi": None, "n": 1}}}}
    row = claims_markdown([_robustness_claim(robust)]).splitlines()[-1]
    assert "−0.9 (n = 1), SG − baseline of the mean-OKS drop" in row
    assert "a view, the bootstrap over the 142 validation persons: −0.9 [−1.6, −0.2]" in row
    assert "| **no test (n = 1)** |" in row and "supported" not in row
    robust["conditions"]["clutter"]["sg_minus_baseline_drop_seeds"] = {
        "mean": -0.9, "lo": -1.5, "hi": -0.3, "n": 5, "p": 0.01, "sd": 0.5, "mde": 0.9}
    row = claims_markdown([_robustness_claim(robust)]).splitlines()[-1]
    assert "| **supported** |" in row   # the claim predicts a smaller drop with SG
