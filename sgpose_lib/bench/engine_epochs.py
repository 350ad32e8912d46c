"""The engine bench: whole training epochs through `engine.train.train`, data loading included.

Each setting trains the `paper` profile's model (HRNet-W32) on the COCO track of the embedded
data (1,772 persons; 256x192 on the paper profile) for a few epochs without validation, in a
fresh process-local run folder, and reads the run's own `timing.jsonl`: img/s of every epoch and
the share of time spent waiting for data. The first epoch holds the start-up (workers, cudnn
autotuning, torch.compile's compilation); "steady" is the median of the later epochs, and the
compile time is estimated as first-epoch seconds minus a steady epoch's.

Then the evaluation speed of the inference path (`engine.inference.fuse_for_inference`: BN folded,
channels_last), bf16 autocast on CUDA, forward only at the eval batch size.

Settings are (variant, batch, bf16, log_every, compile); the learning rate of each batch follows
the square-root rule written in params.yaml (lr = 1e-3 * sqrt(batch / 32)), which changes nothing
of the timing but keeps the runs sane.
"""
from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..config import Config
from ..params import load_config, project_root
from ..engine.inference import fuse_for_inference
from ..engine.train import train
from .cuda_modes import make_eval_step
from .models import VARIANTS, bench_model
from .timing import sync, throughput

Log = Callable[[str], None]


@dataclass(frozen=True)
class EngineSetting:
    variant: str = "sg"         # "baseline" or "sg"
    batch: int = 64             # global batch (train.batch_size)
    bf16: bool = True           # train.bf16
    log_every: int = 50         # train.log_every: steps between host reads
    compile: str = ""           # train.compile mode ("" = eager)

    @property
    def name(self) -> str:
        parts = [self.variant, f"batch {self.batch}", "bf16" if self.bf16 else "fp32",
                 f"read every {self.log_every}"]
        return ", ".join(parts + ([f"compile {self.compile}"] if self.compile else []))


def engine_config(setting: EngineSetting, profile: str, epochs: int, workers: int,
                  preset: str | None = None, input_size: tuple[int, int] | None = None,
                  limit_train: int = 0, prepared: Path | None = None) -> Config:
    """The run config of one setting: `profile` on the embedded COCO track (its first
    `limit_train` persons; 0 = all) as prepared in `prepared` (default: data/prepared), no
    validation."""
    root = project_root()
    cfg = load_config(profile, root / "params.yaml", track="coco", variant=setting.variant)
    cfg.data.root, cfg.data.coco_dir = str(prepared or root / "data" / "prepared"), ""
    cfg.data.image_root = str(root / "data" / "embedded")
    cfg.data.workers, cfg.data.limit_train = workers, limit_train
    if preset:
        cfg.model.preset = preset
    if input_size:
        cfg.data.image_size = input_size
    cfg.model.pretrained = ""
    t = cfg.train
    t.epochs, t.val_every, t.lr_steps = epochs, 0, (epochs + 1,)
    t.batch_size, t.bf16, t.log_every, t.compile = setting.batch, setting.bf16, setting.log_every, \
        setting.compile
    t.lr = 1e-3 * math.sqrt(setting.batch / 32)
    t.channels_last = True
    return cfg.validate()


def bench_engine_setting(cfg: Config, log: Log = print) -> dict:
    """Train `cfg` in a temporary folder; img/s per epoch, steady img/s, data-wait share, the
    first epoch's extra seconds (start-up, compilation) and the whole run's wall seconds."""
    with tempfile.TemporaryDirectory(prefix="sgpose-engine-") as tmp:
        t0 = time.perf_counter()
        train(cfg, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - t0
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "timing.jsonl")
                .read_text().splitlines()]
    steady = rows[1:] or rows
    steady_s = statistics.median(r["seconds"] for r in steady)
    out = {"img_s": [r["img_per_s"] for r in rows],
           "steady_img_s": statistics.median(r["img_per_s"] for r in steady),
           "data_wait_share": statistics.median(r["data_wait_share"] for r in steady),
           "first_epoch_extra_s": rows[0]["seconds"] - steady_s, "wall_s": wall}
    log(f"  {out['steady_img_s']:.0f} img/s steady, first epoch +{out['first_epoch_extra_s']:.1f} s, "
        f"data wait {100 * out['data_wait_share']:.0f} %")
    return out


def bench_fused_eval(cfg: Config, device: str, batch: int, iters: int = 20) -> dict:
    """Eval img/s of the inference path (BN folded, channels_last, bf16 autocast on CUDA) of the
    baseline and SG bench models of cfg's preset on random inputs of its size, forward only."""
    w, h = cfg.data.input_size
    out = {}
    for variant in VARIANTS:
        model = bench_model(cfg.model.preset, variant == "sg", device, cfg.model.num_joints)
        model = fuse_for_inference(model, cfg)
        x = torch.randn(batch, 3, h, w, device=device).contiguous(memory_format=torch.channels_last)
        forward = make_eval_step(model, x, device, bf16=device == "cuda")
        out[variant] = throughput(forward, batch, device, iters, warmup=3)
        sync(device)
    return out


# the device check: eager settings first (the 1,000 img/s goal, the cost of per-step reads, SG /
# baseline), then torch.compile cold and again on the warm cache (each may run long: last)
GPU_SETTINGS = (
    EngineSetting("baseline", 64, True, 50), EngineSetting("sg", 64, True, 50),
    EngineSetting("sg", 64, True, 1),
    EngineSetting("baseline", 128, True, 50), EngineSetting("sg", 128, True, 50),
    EngineSetting("sg", 128, True, 50, "default"), EngineSetting("sg", 128, True, 50, "default"),
)


def run_engine_bench(out: Path, device: str, settings=GPU_SETTINGS, epochs: int = 4,
                     workers: int = 12, preset: str | None = None,
                     input_size: tuple[int, int] | None = None, eval_batch: int = 256,
                     limit_train: int = 0, prepared: Path | None = None,
                     log: Log = print) -> dict:
    """The fused eval speed, then every setting in order (the compiling ones last, as they may
    run long); `<out>/bench_cuda_engine.{md,json}` (CPU: `bench_engine_dryrun.*`) rewritten after
    each, so that a timeout keeps what was done."""
    card = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (dry run)"
    torch.backends.cudnn.benchmark = True
    res: dict = {"card": card, "torch": torch.__version__, "epochs": epochs, "workers": workers,
                 "settings": [], "eval": None}

    def config(setting: EngineSetting) -> Config:
        cfg = engine_config(setting, "paper", epochs, workers, preset, input_size, limit_train,
                            prepared)
        cfg.train.device = device
        return cfg
    first = config(settings[0])
    res["eval"] = bench_fused_eval(first, device, eval_batch)
    write_engine_report(out, device, res, first)
    for setting in settings:
        cfg = config(setting)
        log(f"{setting.name}")
        try:
            row = bench_engine_setting(cfg, log)
        except Exception as e:  # torch.compile may fail on a machine: keep the other rows
            row = {"error": f"{e.__class__.__name__}: {str(e)[:300]}"}
            log(f"  {row['error']}")
        res["settings"].append({"setting": setting.__dict__, "name": setting.name, **row})
        write_engine_report(out, device, res, cfg)
    return res


def write_engine_report(out: Path, device: str, res: dict, cfg: Config) -> None:
    w, h = cfg.data.input_size
    lines = [f"# Engine throughput: whole training epochs ({cfg.model.preset}, {h}x{w} h x w)", "",
             f"Card: **{res['card']}**; torch {res['torch']}. `engine.train.train` on the embedded "
             f"COCO track ({res['epochs']} epochs, {res['workers']} loader workers, persistent, "
             "channels_last, no validation); img/s from the run's timing.jsonl, data included. "
             "Steady = median of epochs 2+; first epoch extra = start-up and compilation. "
             "Generated by `scripts/gpu_check.sh` (`sgpose_lib.bench.engine_epochs`).", "",
             "| setting | steady img/s | data wait | first epoch extra s | img/s per epoch |",
             "|---|--:|--:|--:|---|"]
    for r in res["settings"]:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['error']} | | | |")
            continue
        lines.append(f"| {r['name']} | {r['steady_img_s']:.0f} | {100 * r['data_wait_share']:.0f} % "
                     f"| {r['first_epoch_extra_s']:.1f} | "
                     f"{', '.join(f'{v:.0f}' for v in r['img_s'])} |")
    steady = {tuple(r["setting"][k] for k in ("variant", "batch", "log_every", "compile")):
              r["steady_img_s"] for r in res["settings"] if "error" not in r}
    ratios = [f"batch {b}, read every {n}: {steady[('baseline', b, n, '')] / steady[('sg', b, n, '')]:.3f}"
              for (v, b, n, c) in steady if v == "sg" and not c and ("baseline", b, n, "") in steady]
    if ratios:
        lines += ["", "SG / baseline time per image (eager): " + "; ".join(ratios)]
    if res["eval"]:
        e = res["eval"]
        lines += ["", f"Evaluation, inference path (BN folded, channels_last, "
                  f"{'bf16' if device == 'cuda' else 'fp32'}), forward only: baseline "
                  f"{e['baseline']:.0f} img/s, SG {e['sg']:.0f} img/s."]
    out.mkdir(parents=True, exist_ok=True)
    stem = "bench_cuda_engine" if device == "cuda" else "bench_engine_dryrun"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2))
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
