"""Training until the plateau: the schedule arithmetic, the rule's decision on hand-made curves,
resume with moved milestones, and the protocol's run equal to an uninterrupted run of its final
config."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sgpose_lib.engine.checkpoint_io import load_checkpoint
from sgpose_lib.engine.schedule import (PlateauRule, first_drop, paper_milestones, plateau_gain,
                                        same_rates, schedule_after)
from sgpose_lib.engine.train import train
from sgpose_lib.engine.until_plateau import train_until_plateau, validation_curves
from sgpose_lib.errors import ConfigError, TrainingError


def _tiny(smoke_cfg, **kw):
    cfg = smoke_cfg("mpii", "sg", batch_size=8, val_every=5, **kw)
    cfg.data.limit_train, cfg.data.limit_val, cfg.data.workers = 24, 8, 0
    return cfg


def _same_weights(a: Path, b: Path) -> bool:
    sa, sb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_schedule_after_keeps_the_paper_fractions():
    assert schedule_after(170) == (210, (170, 200))      # the paper's own schedule
    assert schedule_after(130) == (161, (130, 153))      # 130 x 210/170 = 160.6; 161 x 200/210 = 153.3
    epochs, steps = schedule_after(10)                   # 12.35 -> 12; 11.43 -> 11
    assert (epochs, steps) == (12, (10, 11))
    assert paper_milestones(210) == schedule_after(170)[1]


def test_same_rates_compares_only_the_drops_already_passed():
    assert same_rates((), (130, 153), 130)           # drop at 130 starts after 130 epochs
    assert not same_rates((), (130, 153), 131)
    assert same_rates((130, 152), (130, 153), 150)
    assert not same_rates((130, 152), (259, 305), 160)


def test_plateau_gain_by_hand():
    curve = {5: 10.0, 10: 20.0, 15: 20.5, 20: 21.2}
    assert plateau_gain(curve, 20) == (16, pytest.approx(0.7))     # e0 = 20 - 4; 21.2 - 20.5
    assert plateau_gain(curve, 10) == (8, pytest.approx(10.0))     # e0 = 8; 20.0 - 10.0
    assert plateau_gain(curve, 5)[1] is None                        # shorter than 10 epochs


def test_first_drop_on_a_curve_that_flattens_at_100():
    curve = {e: 0.4 * min(e, 100) for e in range(5, 301, 5)}        # +2 per 5 epochs, then flat
    rule = PlateauRule(every=5, min_epochs=30, max_epochs=300)
    # k = 120: e0 = 96, last value before = v(95) = 38, best after = 40: gain 2 -> go on
    # k = 125: e0 = 100, v(100) = 40, best after = 40: gain 0 -> the constant phase ends
    k, checks = first_drop({"Mean": curve}, rule, done=300)
    assert k == 125 and checks[0]["epoch"] == 30 and checks[-1]["epoch"] == 125
    assert checks[-2]["gain"]["Mean"] == pytest.approx(2.0)
    assert first_drop({"Mean": curve}, rule, done=120)[0] is None   # not yet decided
    capped = PlateauRule(every=5, min_epochs=30, max_epochs=110)
    assert first_drop({"Mean": curve}, capped, done=110)[0] == 110  # max_epochs
    late = PlateauRule(every=5, min_epochs=150, max_epochs=300)
    assert first_drop({"Mean": curve}, late, done=300)[0] == 150


def test_first_drop_needs_every_metric_flat():
    oks = {e: 30.0 for e in range(5, 201, 5)}                       # flat from the start
    ap = {e: 0.25 * min(e, 150) for e in range(5, 201, 5)}          # +1.25 per 5 epochs to 150
    rule = PlateauRule(every=5, min_epochs=20, max_epochs=200)
    # AP rises 1.25 between validations until 150, so its gain is >= 1.25 until the last value
    # before the last fifth is v(150): k = 185: e0 = 148 -> v(145), gain 1.25; k = 190: e0 = 152
    k, _ = first_drop({"mean_oks": oks, "body_AP": ap}, rule, done=200)
    assert k == 190
    assert first_drop({"mean_oks": oks}, rule, done=200)[0] == 20


def test_rule_rejects_a_bad_setting():
    with pytest.raises(ConfigError, match="min_epochs"):
        PlateauRule(every=5, min_epochs=50, max_epochs=40)
    with pytest.raises(ConfigError, match="multiple"):
        PlateauRule(every=5, min_epochs=10, max_epochs=42)


def test_resume_may_move_milestones_not_yet_reached(smoke_cfg, tmp_path):
    final = _tiny(smoke_cfg, epochs=4, lr_steps=(2, 3))
    final.train.val_every = 2
    train(final, tmp_path / "straight", progress=False)
    chunk = _tiny(smoke_cfg, epochs=2, lr_steps=())
    chunk.train.val_every = 2
    train(chunk, tmp_path / "moved", progress=False)
    train(final, tmp_path / "moved", resume=True, progress=False)
    assert _same_weights(tmp_path / "straight" / "last.pt", tmp_path / "moved" / "last.pt")
    assert ((tmp_path / "straight" / "log.jsonl").read_text()
            == (tmp_path / "moved" / "log.jsonl").read_text())
    # a drop moved into the epochs already trained would change them: refused
    past = _tiny(smoke_cfg, epochs=4, lr_steps=(1, 3))
    past.train.val_every = 2
    with pytest.raises(TrainingError, match="train.lr_steps"):
        train(past, tmp_path / "moved", resume=True, progress=False)


def test_until_plateau_equals_an_uninterrupted_run_of_its_final_config(smoke_cfg, tmp_path):
    cfg = _tiny(smoke_cfg, epochs=15, lr_steps=())
    met = PlateauRule(every=5, min_epochs=10, max_epochs=15, tol=1e9)   # met at the first check
    # interrupted after 7 epochs of its constant phase, then continued by the protocol
    chunk = _tiny(smoke_cfg, epochs=10, lr_steps=())
    train(chunk, tmp_path / "plateau", progress=False, max_epochs=7)
    result = train_until_plateau(cfg, tmp_path / "plateau", met, progress=False)
    assert result["first_drop"] == 10 and result["epochs"] == 12
    stored = load_checkpoint(tmp_path / "plateau" / "last.pt")["config"]["train"]
    assert stored["epochs"] == 12 and list(stored["lr_steps"]) == [10, 11]
    straight = _tiny(smoke_cfg, epochs=12, lr_steps=(10, 11))
    train(straight, tmp_path / "straight", progress=False)
    assert _same_weights(tmp_path / "straight" / "last.pt", tmp_path / "plateau" / "last.pt")
    assert ((tmp_path / "straight" / "log.jsonl").read_text()
            == (tmp_path / "plateau" / "log.jsonl").read_text())
    assert sorted(validation_curves(tmp_path / "plateau", "mpii")["Mean"]) == [5, 10, 12]
    # called again: the decision is read back from the folder, nothing is trained
    before = (tmp_path / "plateau" / "timing.jsonl").read_text()
    again = train_until_plateau(cfg, tmp_path / "plateau", met, progress=False)
    assert again["first_drop"] == 10 and again["finished_before"]
    assert (tmp_path / "plateau" / "timing.jsonl").read_text() == before


def test_until_plateau_stops_the_constant_phase_at_max_epochs(smoke_cfg, tmp_path):
    cfg = _tiny(smoke_cfg, epochs=5, lr_steps=())
    never = PlateauRule(every=5, min_epochs=5, max_epochs=5, tol=-1e9)
    result = train_until_plateau(cfg, tmp_path / "run", never, progress=False)
    # schedule_after(5): round(6.18) = 6 epochs, second drop round(5.71) = 6, after the last
    assert result["first_drop"] == 5 and result["epochs"] == 6
    assert result["checks"] == [{"epoch": 5, "gain": {"Mean": None}}]   # under 10 epochs


def test_until_plateau_refuses_another_run_unless_restart(smoke_cfg, tmp_path):
    fixed = _tiny(smoke_cfg, epochs=6, lr_steps=(4, 5))   # drops this rule would not choose
    train(fixed, tmp_path / "run", progress=False, max_epochs=5)
    rule = PlateauRule(every=5, min_epochs=5, max_epochs=5)
    cfg = _tiny(smoke_cfg, epochs=5, lr_steps=())
    with pytest.raises(TrainingError, match="lr_steps"):
        train_until_plateau(cfg, tmp_path / "run", rule, progress=False)
    result = train_until_plateau(cfg, tmp_path / "run", rule, restart=True, progress=False)
    assert result["first_drop"] == 5 and result["epochs"] == 6
    stored = load_checkpoint(tmp_path / "run" / "last.pt")["config"]["train"]
    assert list(stored["lr_steps"]) == [5, 6]


@pytest.mark.parametrize("schedule, epochs, lr_steps, first_drop", [
    ("until_plateau: {min_epochs: {mpii: 5}, max_epochs: {mpii: 5}}", 6, [5, 6], 5),  # 5 -> 6
    ("epochs: {mpii: 4}", 4, [3, 4], None),   # fixed: paper_milestones(4) = round(3.2), round(3.8)
])
def test_cli_convergence_train_runs_a_setting(prepared, tmp_path, capsys, schedule, epochs,
                                              lr_steps, first_drop):
    """`sgpose convergence train` (what the notebook calls: until_plateau.train_convergence_run)
    on an until_plateau setting (the constant phase, the drops, the JSON line with first_drop) and
    on a fixed-length one (the paper's milestones for its epochs)."""
    from sgpose_lib.cli import main
    root = Path(__file__).resolve().parents[1]
    params = tmp_path / "convergence.yaml"
    params.write_text(
        "setting: tiny\n"
        "settings:\n"
        f"  tiny: {{profile: smoke, val_every: 5, {schedule},\n"
        "         set: {data.limit_train: 24, data.limit_val: 8, data.workers: 0,\n"
        f"               train.batch_size: 8, data.root: '{prepared}',\n"
        f"               data.image_root: '{root / 'data' / 'embedded'}'}}}}\n"
        "runs:\n"
        "  m: {track: mpii, variant: baseline, radius: 5, seed: 0}\n")
    out = tmp_path / "m"
    assert main(["convergence", "train", "--params", str(params), "--study-params",
                 str(root / "params.yaml"), "--run", "m", "--out", str(out), "--quiet"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line.get("first_drop") == first_drop and line["epochs"] == epochs
    stored = json.loads((out / "config.json").read_text())["train"]
    assert stored["epochs"] == epochs and stored["lr_steps"] == lr_steps
