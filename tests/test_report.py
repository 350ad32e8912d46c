"""The reporting layer: t-intervals and bootstrap CIs, paired differences, and the tables written from a small
fabricated runs folder (2 seeds x baseline/SG x mpii/coco, one listed run missing)."""
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sgpose_lib.engine.checkpoint_io import json_safe
from sgpose_lib.params import load_config
from sgpose_lib.layouts import MPII16
from sgpose_lib.report import viz
from sgpose_lib.report.attention_maps import plot_attention_maps
from sgpose_lib.report.page import build_report
from sgpose_lib.report.paper import PAPER_TABLE1, PAPER_TABLE3, PCKH_COLUMNS
from sgpose_lib.report.readme import update_readme, write_results_section
from sgpose_lib.report.formatting import NO_RUN
from sgpose_lib.report.stats import bootstrap_ci, paired_difference

PROJECT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
GROUPS = ("Head", "Sho", "Elb", "Wri", "Hip", "Kne", "Ank")


# --- statistics -----------------------------------------------------------------------------------
def test_bootstrap_ci_contains_mean_and_is_reproducible():
    values = np.random.default_rng(1).normal(10.0, 2.0, size=12)
    lo, hi = bootstrap_ci(values, seed=3)
    assert lo < values.mean() < hi
    assert (lo, hi) == bootstrap_ci(values, seed=3)          # same seed, same interval
    assert hi - lo < 4 * values.std()                          # and a sensible width
    lo90, hi90 = bootstrap_ci(values, confidence=0.90, seed=3)
    assert lo <= lo90 and hi90 <= hi                           # narrower at lower confidence


def test_bootstrap_ci_constant_is_zero_width_and_one_value_undefined():
    lo, hi = bootstrap_ci([4.2, 4.2, 4.2, 4.2])
    assert hi - lo == 0.0 and lo == pytest.approx(4.2)
    assert all(math.isnan(v) for v in bootstrap_ci([4.2]))
    assert all(math.isnan(v) for v in bootstrap_ci([4.2, float("nan")]))  # nan values dropped


def test_paired_difference_hand_case():
    a = {0: 3.0, 1: 5.0, 2: 4.0}
    b = {0: 1.0, 1: 2.0, 2: 4.0, 7: 100.0}                     # seed 7 has no partner: ignored
    d = paired_difference(a, b)
    assert d.n == 3 and d.seeds == (0, 1, 2)
    assert d.mean == pytest.approx(5.0 / 3.0)
    diffs = np.array([2.0, 3.0, 0.0])
    t = diffs.mean() / (diffs.std(ddof=1) / math.sqrt(3))
    from scipy.stats import t as student
    assert d.p == pytest.approx(2 * student.sf(abs(t), df=2))
    assert d.lo <= d.mean <= d.hi
    seq = paired_difference([3.0, 5.0, 4.0], [1.0, 2.0, 4.0])  # sequences pair by position
    assert seq.mean == pytest.approx(d.mean) and seq.p == pytest.approx(d.p)


def test_paired_difference_small_and_bad_input():
    one = paired_difference({0: 2.0}, {0: 1.5})
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.p) and not one.has_ci
    const = paired_difference([2.0, 3.0], [1.0, 2.0])          # identical differences: no t-test
    assert const.mean == 1.0 and math.isnan(const.p)
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


# --- a fabricated study ---------------------------------------------------------------------------
MPII_MEANS = {("baseline", 0): 20.0, ("baseline", 1): 22.0, ("sg", 0): 23.0, ("sg", 1): 24.0}
COCO_AP = {("baseline", 0): 0.30, ("baseline", 1): 0.34, ("sg", 0): 0.31, ("sg", 1): 0.37}
# the MPII-style runs decoded with DARK (eval/dark/metrics.json): Mean + this
DARK_GAIN = {("baseline", 0): 0.5, ("baseline", 1): 0.7, ("sg", 0): 0.6, ("sg", 1): 0.4}


def _mpii_metrics(mean: float) -> dict:
    m = {g: mean + k for k, g in enumerate(GROUPS)}
    m.update({"Mean": mean, "Mean@0.1": mean / 4, "pelvis": float("nan")})
    return m


def _coco_metrics(ap: float) -> dict:
    m = {"AP": ap, "AP50": ap + 0.2, "AP75": ap - 0.1, "APM": float("nan"), "APL": ap + 0.05,
         "AR": ap + 0.1}
    m.update({f"body_{k}": (v + 0.1 if k != "APM" else v) for k, v in m.items()})
    return m


def _write_run(root: Path, name: str, track: str, variant: str, seed: int, metrics: dict):
    cfg = load_config("smoke", PROJECT_PARAMS, track=track, variant=variant, seed=seed)
    train, ev = root / name / "train", root / name / "eval"
    train.mkdir(parents=True)
    ev.mkdir(parents=True)
    (train / "config.json").write_text(json.dumps(cfg.to_dict()))
    sg = variant == "sg"
    wiggle = [0.05 if s % 2 else -0.05 for s in range(8)]
    lines = [{"kind": "step", "epoch": s // 4, "step": s, "lr": 1e-3, "l_key": 1e-3 / (1 + s),
              "l_seg": 0.69 - 0.01 * s if sg else 0.0, "w_key": 1.0 + wiggle[s] if sg else 1.0,
              "w_seg": 1.0 - wiggle[s] if sg else 0.0, "loss": 1e-3} for s in range(8)]
    lines.append({"kind": "val", "epoch": 1, "step": 8, **metrics})
    (train / "log.jsonl").write_text("".join(json.dumps(json_safe(x)) + "\n" for x in lines))
    (ev / "metrics.json").write_text(json.dumps(json_safe(metrics)))  # NaN as null, as evaluate


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    params = yaml.safe_load(PROJECT_PARAMS.read_text())
    params["profile"] = "smoke"
    runs = {}
    for track in ("mpii", "coco"):
        for variant in ("baseline", "sg"):
            for seed in (0, 1):
                name = f"{track}_{variant}{'_r5' if variant == 'sg' else ''}_s{seed}"
                runs[name] = {"track": track, "variant": variant, "radius": 5, "seed": seed}
                metrics = (_mpii_metrics(MPII_MEANS[variant, seed]) if track == "mpii"
                           else _coco_metrics(COCO_AP[variant, seed]))
                _write_run(root / "runs", name, track, variant, seed, metrics)
                if track == "mpii":
                    dark = _mpii_metrics(MPII_MEANS[variant, seed] + DARK_GAIN[variant, seed])
                    (root / "runs" / name / "eval" / "dark").mkdir()
                    (root / "runs" / name / "eval" / "dark" / "metrics.json").write_text(
                        json.dumps(json_safe(dark)))
    runs["mpii_sg_r3_s0"] = {"track": "mpii", "variant": "sg", "radius": 3, "seed": 0}  # missing
    params["runs"] = runs
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "runs" / "baselines").mkdir()
    (root / "runs" / "baselines" / "mpii.json").write_text(json.dumps(json_safe(
        {"untrained": _mpii_metrics(1.5), "mean_pose": _mpii_metrics(3.5)})))
    # no coco.json: the COCO floors are "—"
    (root / "runs" / "not_listed").mkdir()               # on disk but not in params: ignored
    summary = build_report(root / "params.yaml", root / "runs", root / "reports",
                           n_resamples=2000)
    return root, summary


def _row(md: str, label: str) -> list[str]:
    for line in md.splitlines():
        if line.startswith(f"| {label} |"):
            return [c.strip() for c in line.strip().strip("|").split("|")][1:]
    raise AssertionError(f"row {label!r} not in table")


def test_table1_paper_rows_and_our_means(study):
    root, _ = study
    md = (root / "reports" / "tables" / "table1_pckh.md").read_text()
    assert md.startswith("# Table 1 analogue")
    assert "profile `smoke`" in md and "0.75 × ‖head_top − neck‖" in md
    assert "mean over seeds [95 % t-interval of the mean" in md and "paired" in md
    paper = _row(md, "HRNet-W32 (paper, Table 1)")
    assert paper[:10] == ["28.5M", "7.10", "97.1", "95.9", "90.3", "86.4", "89.1", "87.1",
                          "83.3", "90.3"]
    ours_paper = _row(md, "SG-HRNet (Our) (paper, Table 1)")
    assert ours_paper[2:10] == [f"{PAPER_TABLE1['SG-HRNet (Our)'][c]:.1f}"
                                for c in PCKH_COLUMNS]
    base = _row(md, "Ours: HRNet baseline")
    assert base[9].startswith("21.0 [")                 # Mean of 20 and 22
    assert base[2].startswith("21.0 [")                 # Head = Mean + 0
    assert base[10] == "2"
    sg = _row(md, "Ours: SG-HRNet r=5")
    assert sg[9].startswith("23.5 [")
    diff = _row(md, "Ours: SG − baseline (paired by seed)")
    assert diff[9].startswith("+2.5 [")                 # (3 + 2) / 2
    p = _row(md, "Ours: SG − baseline, paired t-test p")
    assert re.fullmatch(r"<?0\.\d+|<0\.001", p[9])
    assert _row(md, "Ours: SG − baseline, sign-flip p")[9] == "0.500"   # 2 pairs, both > 0: 2/4
    mde = _row(md, "Ours: SG − baseline, MDE (80 % power)")[9]
    assert float(mde) > 2.5                             # with 2 pairs the MDE exceeds the effect
    assert _row(md, "floor: mean training pose in each box")[9] == "3.5"
    assert "`mpii_sg_r3_s0` (not on disk)" in md        # the missing run is named
    assert "generated" not in md.lower()                # no timestamp: stable files


def test_table2_percent_complexity_and_undefined(study):
    root, summary = study
    md = (root / "reports" / "tables" / "table2_coco.md").read_text()
    assert _row(md, "HRNet-W32, pretrain Y (paper, Table 2)")[3:9] == [
        "74.4", "90.5", "81.9", "70.8", "81.0", "79.8"]
    assert _row(md, "SG-HRNet (Our), pretrain Y (paper, Table 2)")[3] == "76.3"
    w32 = _row(md, "HRNet-W32, computed here")
    assert w32[1] == "28.54" and w32[2].startswith("7.65 (7.12")   # computed, not typed
    base = _row(md, "Ours: HRNet baseline")
    assert base[3].startswith("32.0 [")                 # AP 0.30, 0.34 -> 32.0 %
    assert base[6] == "n/a"                             # APM nan in every run: undefined
    assert "multiply-adds" in md and "Body-only AP" in md
    body = _row(md, "Ours: HRNet baseline (body-only AP)")
    assert body[0].startswith("42.0 [")
    assert all(c == NO_RUN for c in _row(md, "floor: untrained model")[3:9])  # no coco.json
    assert summary["coco"]["baseline"]["AP"]["mean"] == pytest.approx(32.0)


def test_table3_missing_radius_is_dash_never_a_number(study):
    root, _ = study
    md = (root / "reports" / "tables" / "table3_radius.md").read_text()
    for r in (3, 5, 9):
        paper = _row(md, f"r={r} (paper, Table 3)")
        assert paper[:8] == [f"{PAPER_TABLE3[r][c]:.1f}" for c in PCKH_COLUMNS]
    for r in (3, 9):                                    # listed but missing / not in the matrix
        cells = _row(md, f"Ours: SG-HRNet r={r}")
        assert cells[:8] == [NO_RUN] * 8 and cells[8] == "0"
        assert _row(md, f"Ours: SG r={r} − baseline (paired)")[:8] == [NO_RUN] * 8
    assert _row(md, "Ours: SG-HRNet r=5")[7].startswith("23.5 [")
    assert "Missing runs" in md and "mpii_sg_r3_s0" in md
    csv = (root / "reports" / "tables" / "table3_radius.csv").read_text().splitlines()
    r3 = [ln for ln in csv if ln.startswith("table3_radius,Ours: SG-HRNet r=3,")]
    assert len(r3) == 8 and all(ln.endswith(",no run") for ln in r3)
    assert all(",—,," in ln for ln in r3)              # text "—", value empty


def test_learning_groups_summary_and_figures(study):
    root, summary = study
    tables = root / "reports" / "tables"
    learning = (tables / "learning.md").read_text()
    assert "mean training pose" in learning and "21.0 [" in learning
    groups = (tables / "groups.md").read_text()
    assert "| mpii | sg | 3 | 0 |" in groups
    assert json.loads((tables / "summary.json").read_text())["mpii"]["baseline"]["Mean"][
        "mean"] == pytest.approx(21.0)
    assert summary["runs_missing"] == {"mpii_sg_r3_s0": "not on disk"}
    assert summary["w32_256x192"]["params"] == 28_536_113
    for name in ("training_curves", "dwa_weights", "pckh_bars", "coco_bars", "radius_ablation"):
        assert (root / "reports" / "figures" / "study" / f"{name}.png").stat().st_size > 10_000


def test_results_section_and_readme(study, tmp_path):
    _, summary = study
    text = write_results_section(summary)
    assert text.startswith("## Results") and "21.0 [" in text and "+2.5" in text
    assert "mpii_sg_r3_s0" in text and "small" in text
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold\n<!-- results:end -->\nend\n")
    assert update_readme(readme, text)
    content = readme.read_text()
    assert "old" not in content and "21.0 [" in content and content.endswith("end\n")
    assert not update_readme(readme, text)             # unchanged the second time
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not update_readme(plain, text)
    assert plain.read_text() == "no markers\n" and caught


def test_results_section_opens_with_the_answer_and_the_claims(study, tmp_path):
    """The README's results open with the generated answer and the claims table, whose plateau
    column reads the convergence pipeline's summary (reports/convergence/summary.json) where it
    is written, and says 'not measured' where it is not."""
    _, summary = study
    text = write_results_section(summary, out_dir=tmp_path)
    lines = text.splitlines()
    assert lines[0] == "## Results" and lines[2].startswith("**The answer.** On the MPII-style")
    assert lines[4].startswith("| Claim | Paper's evidence | Ours, 15 epochs |")
    row = next(ln for ln in lines if ln.startswith("| SG improves MPII PCKh@0.5"))
    assert "— not measured (PCKh Mean, no convergence run) | **not measured** |" in row
    diff = {"n": 2, "mean": 0.4, "lo": -8.5, "hi": 9.3, "p": 0.5, "sd": 1.0, "mde": 4.4,
            "seeds": [0, 1], "values": [1.1, -0.3]}
    level = {"n": 2, "mean": 46.0, "lo": 45.5, "hi": 46.5, "p": None}
    conv = {"setting": "cpu_plateau", "profile": "cpu", "rule": {"tol": 1.0}, "curves": {
        "mpii/val_Mean": {"label": "PCKh@0.5 Mean (%)", "epochs": None, "end": "179–185",
                          "after": "at the end of each run's schedule (179–185 epochs)",
                          "early_epoch": 15, "trend": "vanish", "pairs": [2, 3],
                          "early_diff": {"n": 2, "mean": 3.2, "lo": 1.5, "hi": 4.9, "p": 0.1},
                          "final": {"baseline": level, "sg": level, "diff": diff}}}}
    (tmp_path / "convergence").mkdir()
    (tmp_path / "convergence" / "summary.json").write_text(json.dumps(conv))
    text = write_results_section(summary, out_dir=tmp_path)
    row = next(ln for ln in text.splitlines() if ln.startswith("| SG improves MPII PCKh@0.5"))
    assert ("+0.4 [−8.5, +9.3] (n = 2; t-test p = 0.500; MDE 4.4), PCKh Mean, 179–185 epochs, "
            "2 of 3 seed pairs with equal schedules | **not resolved**: the gain is at most +9.3; "
            "seed pairs needed (80 % power, at the SD of these 2 pairs, 1.00, from 1 degree of "
            "freedom: a rough guide) for the paper's +0.3: ") in row
    # COCO: the verdict is body-only AP's; the mean per-person OKS of the same pairs stands beside
    one = {"n": 1, "lo": None, "hi": None, "p": None, "seeds": [0]}
    conv["curves"].update({
        key: {"label": key, "epochs": None, "end": "198", "after": "", "early_epoch": 15,
              "trend": "grow", "pairs": [1, 1], "early_diff": {"n": 1, "mean": 0.0},
              "final": {"baseline": level, "sg": level, "diff": {**one, "mean": mean, "values": [mean]}}}
        for key, mean in (("coco/val_body_AP", 1.8), ("coco/val_mean_oks", -4.1))})
    (tmp_path / "convergence" / "summary.json").write_text(json.dumps(conv))
    text = write_results_section(summary, out_dir=tmp_path)
    row = next(ln for ln in text.splitlines() if ln.startswith("| SG improves COCO AP"))
    assert ("| +1.8 (n = 1), body-only AP × 100, 198 epochs, 1 of 1 seed pairs with equal "
            "schedules; beside it, mean per-person OKS × 100: −4.1 (n = 1) | **no test (n = 1)** |"
            ) in row
    answer = text.splitlines()[2]   # the COCO pairs' estimate ends the answer's first sentence
    assert ("; on the COCO track, trained to the end of the paper's schedule, it is +1.8 "
            "body-only AP (n = 1), no test.") in answer


def test_dark_beside_sg_by_hand(study):
    """SG's gain, DARK's (the baseline decoded with DARK) and both, each paired by seed over the
    baseline with the standard decoder: SG (3, 2) -> +2.5 ± 12.706 · 0.7071/√2 = [−3.9, +8.9];
    DARK (0.5, 0.7) -> +0.6 ± 12.706 · 0.1414/√2 = [−0.7, +1.9]; both (3.6, 2.4) -> +3.0
    ± 12.706 · 0.8485/√2 = [−4.6, +10.6]; t = 5, 6, 5 with 1 df: p = 0.126, 0.105, 0.126.
    The COCO runs have no DARK results: no line."""
    root, summary = study
    assert set(summary["dark"]) == {"mpii"}
    text = (root / "reports" / "README.md").read_text()
    assert ("- mpii track, PCKh@0.5 Mean, gain over the baseline with the standard decoder, "
            "paired by seed: SG +2.5 [−3.9, +8.9] (n = 2, p = 0.126); DARK +0.6 [−0.7, +1.9] "
            "(n = 2, p = 0.105); both +3.0 [−4.6, +10.6] (n = 2, p = 0.126).") in text


def test_plot_training_curves_single_run(study):
    root, _ = study
    fig = viz.plot_training_curves(root / "runs" / "mpii_sg_r5_s0" / "train")
    assert len(fig.axes) == 3                          # L_key, L_seg, DWA weights
    assert all(ax.lines for ax in fig.axes)


# --- attention maps on a fake validation set ------------------------------------------------------
class _FakeVal:
    layout = MPII16

    def __init__(self, n=2, size=64):
        rng = np.random.default_rng(0)
        self.items = []
        for i in range(n):
            joints = np.zeros((16, 3), np.float32)
            joints[:, :2] = rng.uniform(10, 54, size=(16, 2))
            joints[:, 2] = 1
            joints[[6, 7], 2] = 0                      # pelvis, thorax unlabelled, as in LSPET
            seg = np.zeros((size // 4, size // 4), np.float32)
            seg[4:8, 4:8] = 1
            self.items.append({
                "image": torch.from_numpy(rng.normal(size=(3, size, size)).astype(np.float32)),
                "seg": torch.from_numpy(seg), "joints": torch.from_numpy(joints),
                "joints_input": torch.from_numpy(joints),
                "center": torch.tensor([32.0, 32.0]), "scale": torch.tensor([0.32, 0.32]),
                "headsize": 10.0, "image_id": i, "score": 1.0})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.fixture
def one_thread():
    """A tiny model on a shared 2-core machine: one thread avoids oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_plot_attention_maps_columns(tmp_path, one_thread):
    from sgpose_lib.model import build_model
    cfg = load_config("smoke", PROJECT_PARAMS, track="mpii", variant="sg")
    cfg.data.workers = 0
    torch.manual_seed(0)
    sg = build_model(cfg.model)
    base = build_model(load_config("smoke", PROJECT_PARAMS, track="mpii").model)
    out = tmp_path / "att.png"
    fig = plot_attention_maps(sg, _FakeVal(), cfg, indices=[0, 1], baseline_model=base,
                              out_png=out)
    titles = [ax.get_title() for ax in fig.axes[:8]]
    assert titles[:6] == ["input crop", "ground-truth disc (r=5)", "SG map: stage2",
                          "SG map: stage3", "SG map: stage4", "SG map: final"]
    assert titles[6].startswith("SG skeleton") and titles[7].startswith("baseline skeleton")
    assert out.stat().st_size > 10_000
