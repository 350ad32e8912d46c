"""The training engine: exact resume, determinism, NaN stop, DDP equivalence, the CLI end to end."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from sgpose_lib.engine import step as step_module
from sgpose_lib.engine import train as train_module
from sgpose_lib.engine.checkpoint_io import load_checkpoint
from sgpose_lib.engine.runtime import dispatch_folder
from sgpose_lib.errors import TrainingError
from sgpose_lib.engine.train import lr_at, train

from cli_helpers import run_cli_here

ROOT = Path(__file__).resolve().parents[1]


def _tiny(smoke_cfg, **kw):
    cfg = smoke_cfg("mpii", "sg", epochs=3, batch_size=8, lr_steps=(2,), val_every=1, **kw)
    cfg.data.limit_train, cfg.data.limit_val, cfg.data.workers = 24, 8, 0
    return cfg


def _same_weights(a: Path, b: Path) -> bool:
    sa, sb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_lr_schedule_follows_the_paper(smoke_cfg):
    cfg = smoke_cfg()
    cfg.train.lr, cfg.train.lr_steps, cfg.train.lr_factor = 1e-3, (170, 200), 0.1
    assert lr_at(0, cfg) == 1e-3 and lr_at(169, cfg) == 1e-3
    assert lr_at(170, cfg) == pytest.approx(1e-4) and lr_at(199, cfg) == pytest.approx(1e-4)
    assert lr_at(200, cfg) == pytest.approx(1e-5) and lr_at(209, cfg) == pytest.approx(1e-5)


def test_resume_is_bit_exact(smoke_cfg, tmp_path):
    cfg = _tiny(smoke_cfg)
    train(cfg, tmp_path / "straight", progress=False)
    train(cfg, tmp_path / "resumed", progress=False, max_epochs=1)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 1
    train(cfg, tmp_path / "resumed", resume=True, progress=False)
    assert _same_weights(tmp_path / "straight" / "last.pt", tmp_path / "resumed" / "last.pt")
    log_a = (tmp_path / "straight" / "log.jsonl").read_text()
    log_b = (tmp_path / "resumed" / "log.jsonl").read_text()
    assert log_a == log_b and log_a.count('"kind": "step"') == 9  # 3 epochs x 3 steps
    dwa_a = load_checkpoint(tmp_path / "straight" / "last.pt")["dwa"]
    assert dwa_a == load_checkpoint(tmp_path / "resumed" / "last.pt")["dwa"]


def test_same_seed_same_result_other_seed_differs(smoke_cfg, tmp_path):
    cfg = _tiny(smoke_cfg)
    cfg.train.epochs = 1
    train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert _same_weights(tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt")
    cfg.train.seed = 1
    train(cfg, tmp_path / "c", progress=False)
    assert not _same_weights(tmp_path / "a" / "last.pt", tmp_path / "c" / "last.pt")


def test_resume_with_another_config_refuses_then_restarts_when_asked(smoke_cfg, tmp_path):
    cfg = _tiny(smoke_cfg)
    cfg.train.epochs = 1
    train(cfg, tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    cfg.data.radius = 3.0
    cfg.data.workers = 1              # result-free: not named
    with pytest.raises(TrainingError, match=r"another config: data.radius: 5.0 -> 3.0; --restart"):
        train(cfg, tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
    with pytest.raises(TrainingError, match="holds a run"):
        train(cfg, tmp_path / "run", progress=False)
    train(cfg, tmp_path / "run", resume=True, restart=True, progress=False)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["config"]["data"]["radius"] == 3.0


def test_resume_nothing_or_finished_and_more_epochs(smoke_cfg, tmp_path):
    cfg = _tiny(smoke_cfg)
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(cfg, tmp_path / "typo", resume=True, progress=False)
    assert not (tmp_path / "typo").exists()
    cfg.train.epochs = 1
    first = train(cfg, tmp_path / "run", progress=False)
    again = train(cfg, tmp_path / "run", resume=True, progress=False)
    assert again["finished_before"] and again["metrics"] == first["metrics"] != {}
    cfg.train.epochs = 2              # more epochs continue the run
    longer = train(cfg, tmp_path / "run", resume=True, progress=False)
    assert not longer["finished_before"] and load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 2
    rows = (tmp_path / "run" / "epochs.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,") and "val_Mean" in rows[0]


def test_finished_run_keeps_the_environment_that_trained_it(smoke_cfg, tmp_path):
    """Resuming a finished run (the pipeline does on every `dvc repro`) trains nothing and must not
    replace environment.json, the record of the software that trained it; more epochs do."""
    cfg = _tiny(smoke_cfg)
    cfg.train.epochs = 1
    train(cfg, tmp_path / "run", progress=False)
    record = tmp_path / "run" / "environment.json"
    assert "torch" in json.loads(record.read_text())["packages"]
    record.write_text('{"marker": "the machine that trained epoch 1"}')
    again = train(cfg, tmp_path / "run", resume=True, progress=False)
    assert again["finished_before"]
    assert json.loads(record.read_text()) == {"marker": "the machine that trained epoch 1"}
    cfg.train.epochs = 2
    train(cfg, tmp_path / "run", resume=True, progress=False)
    assert "torch" in json.loads(record.read_text())["packages"]


def test_nan_loss_stops_with_step_and_term_and_keeps_checkpoint(smoke_cfg, tmp_path, monkeypatch):
    cfg = _tiny(smoke_cfg)
    train(cfg, tmp_path / "run", progress=False, max_epochs=1)
    good = load_checkpoint(tmp_path / "run" / "last.pt")["model"]
    real = step_module.joints_mse_loss
    calls = {"n": 0}

    def poisoned(*args):
        calls["n"] += 1
        loss = real(*args)
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(step_module, "joints_mse_loss", poisoned)
    with pytest.raises(TrainingError, match=r"step 4: loss term L_key is not finite"):
        train(cfg, tmp_path / "run", resume=True, progress=False)
    kept = load_checkpoint(tmp_path / "run" / "last.pt")
    assert kept["epoch"] == 1 and all(torch.equal(good[k], kept["model"][k]) for k in good)


# --- DistributedDataParallel: 2 CPU processes (gloo) == 1 process on the concatenated batch ---

def _ddp_worker(rank: int, world: int, port: int, cfg_dict: dict, batch: dict, out: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    state = _one_step(cfg_dict, {k: v.chunk(world)[rank] for k, v in batch.items()}, ddp=True)
    if rank == 0:
        torch.save(state, out)
    torch.distributed.destroy_process_group()


def _one_step(cfg_dict: dict, batch: dict, ddp: bool) -> dict:
    from sgpose_lib.config import config_from_dict
    from sgpose_lib.losses import DynamicWeightAverage
    from sgpose_lib.model import build_model
    cfg = config_from_dict(cfg_dict)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    model.eval()  # BN on running statistics: a batch split over processes then changes nothing
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_module.train_step(net, batch, optimizer, DynamicWeightAverage(2), cfg, 0)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_ddp_two_processes_match_one_process(smoke_cfg, tmp_path):
    cfg = smoke_cfg("mpii", "sg")
    h, w = cfg.data.input_size[1], cfg.data.input_size[0]
    hh, hw = h // 4, w // 4
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.randn(4, 3, h, w, generator=g),
             "heatmaps": torch.rand(4, 16, hh, hw, generator=g),
             "target_weight": torch.ones(4, 16),
             "seg": (torch.rand(4, hh, hw, generator=g) > 0.7).float()}
    single = _one_step(cfg.to_dict(), batch, ddp=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, port, cfg.to_dict(), batch, str(out)), nprocs=2, join=True)
    multi = torch.load(out, weights_only=True)
    for k in single:
        assert torch.allclose(single[k].float(), multi[k].float(), atol=1e-5), k
    assert any(not torch.equal(single[k], v) for k, v in _one_step(cfg.to_dict(), {
        **batch, "image": batch["image"] * 0}, ddp=False).items())


# --- the CLI, end to end, in a subprocess ---

def test_cli_train_then_evaluate_smoke(prepared, tmp_path):
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    params.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "sgpose_lib.cli", "train", "--params", str(params), "--profile",
           "smoke", "--track", "coco", "--variant", "sg", "--seed", "0", "--out", str(run),
           "--quiet"]
    # point the smoke profile at the session's prepared data through a copy of params.yaml
    params.write_text(text.replace("limit_train: 64, limit_val: 24}",
                                   f"limit_train: 64, limit_val: 24, root: '{prepared}',"
                                   f" image_root: '{ROOT / 'data' / 'embedded'}'}}"))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (run / "last.pt").exists() and (run / "config.json").exists()
    done = subprocess.run([sys.executable, "-m", "sgpose_lib.cli", "evaluate", "--checkpoint",
                           str(run / "last.pt"), "--out", str(tmp_path / "eval")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert {"AP", "AP50", "AP75", "APM", "APL", "AR", "body_AP"} <= metrics.keys()
    results = json.loads((tmp_path / "eval" / "keypoints_results.json").read_text())
    assert results and len(results[0]["keypoints"]) == 17 * 3


def test_cli_user_error_is_one_line(tmp_path):
    done = run_cli_here(["train", "--params", ROOT / "params.yaml", "--profile", "nope"], ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "profile: 'nope'" in done.stderr


# --- the GPU-minded engine paths, checked on CPU ---

def test_epoch_order_is_the_loader_order_of_earlier_runs():
    """EpochSampler's order equals that of the per-epoch DataLoader(shuffle=True, generator
    seeded with seed * 100_003 + epoch) that trained every earlier run."""
    from torch.utils.data import DataLoader
    from sgpose_lib.engine.loader import epoch_order
    for seed, epoch in ((0, 0), (0, 7), (3, 1)):
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        old = [int(i) for b in DataLoader(range(50), batch_size=1, shuffle=True, generator=g)
               for i in b]
        assert epoch_order(50, seed, epoch) == old


def test_persistent_workers_and_deferred_reads_give_the_same_run(smoke_cfg, tmp_path):
    """Persistent loader workers see each epoch's augmentation through the (epoch, index) keys:
    1 worker == no worker, bit for bit. train.log_every = 4 reads the losses every 4 steps (DWA
    on the device, in float32): the same number of step lines, the same losses to 1e-6."""
    cfg = _tiny(smoke_cfg)
    train(cfg, tmp_path / "w0", progress=False)
    cfg.data.workers = 1
    train(cfg, tmp_path / "w1", progress=False)
    assert _same_weights(tmp_path / "w0" / "last.pt", tmp_path / "w1" / "last.pt")
    assert (tmp_path / "w0" / "log.jsonl").read_text() == (tmp_path / "w1" / "log.jsonl").read_text()
    cfg.data.workers, cfg.train.log_every = 0, 4
    train(cfg, tmp_path / "l4", progress=False)
    steps = [[json.loads(x) for x in (tmp_path / r / "log.jsonl").read_text().splitlines()
              if '"kind": "step"' in x] for r in ("w0", "l4")]
    assert len(steps[0]) == len(steps[1]) == 9
    for a, b in zip(*steps):
        assert a["step"] == b["step"] and b["loss"] == pytest.approx(a["loss"], rel=1e-6)
        assert b["w_seg"] == pytest.approx(a["w_seg"], rel=1e-6)


def test_deferred_read_names_the_first_non_finite_step():
    rec = {"kind": "step", "epoch": 0, "lr": 1e-3, "w_key": 1.0, "w_seg": 1.0}
    good = dict(rec, step=5, l_key=torch.tensor(1e-3), l_seg=torch.tensor(0.5),
                loss=torch.tensor(0.0015))
    bad = dict(rec, step=6, l_key=torch.tensor(1e-3), l_seg=torch.tensor(float("inf")),
               loss=torch.tensor(float("inf")))
    assert step_module.read_steps([good])[0]["l_seg"] == 0.5
    with pytest.raises(TrainingError, match=r"step 6: loss term L_seg is not finite"):
        step_module.read_steps([good, bad, bad])


def test_run_stored_before_a_config_key_existed_resumes(smoke_cfg, tmp_path):
    """A checkpoint whose stored config lacks keys added since (here train.log_every and
    train.compile) reads them as their defaults: a finished run resumes as a no-op."""
    cfg = _tiny(smoke_cfg)
    cfg.train.epochs = 1
    train(cfg, tmp_path / "run", progress=False)
    path = tmp_path / "run" / "last.pt"
    ckpt = load_checkpoint(path)
    del ckpt["config"]["train"]["log_every"], ckpt["config"]["train"]["compile"]
    torch.save(ckpt, path)
    assert train(cfg, tmp_path / "run", resume=True, progress=False)["finished_before"]


def test_compile_wraps_the_stepping_module_and_keeps_the_cache(smoke_cfg, monkeypatch, tmp_path):
    """train.compile hands the (DDP-wrapped) model to torch.compile with the mode, after pointing
    the kernel cache at a lasting folder; validation and checkpoints keep the bare model."""
    seen = {}
    monkeypatch.setattr(torch, "compile", lambda net, mode: seen.update(net=net, mode=mode) or net)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    cfg = _tiny(smoke_cfg)
    cfg.train.compile = "reduce-overhead"
    model = torch.nn.Linear(2, 2)
    net = train_module._stepping_module(model, cfg, train_module.Dist(), torch.device("cpu"))
    assert net is model and seen == {"net": model, "mode": "reduce-overhead"}
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cache" / dispatch_folder())


def test_cli_train_prints_strict_json_without_validation(smoke_params, tmp_path):
    """`sgpose train` ends with one line of JSON that strict parsers read: a run that never
    validated (train.val_every = 0) has best null, not the invalid token -Infinity."""
    done = run_cli_here(["train", "--params", smoke_params, "--profile", "smoke", "--track",
                         "mpii", "--out", tmp_path / "run", "--set", "train.epochs=1",
                         "--set", "train.val_every=0", "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr

    def reject(token):
        raise AssertionError(f"not JSON: {token}")
    result = json.loads(done.stdout.strip().splitlines()[-1], parse_constant=reject)
    assert result["best"] is None and result["epochs"] == 1 and result["metrics"] == {}
