"""GPU throughput of HRNet-W32 (baseline vs SG) at 256x192: train and eval img/s in fp32, bf16
autocast, channels_last and torch.compile, plus the top ops of a profiled train step.
Writes <out>/bench_cuda_modes.md and <out>/bench_cuda_modes.json (`sgpose bench --device cuda` writes
<out>/bench_cuda.md: the side-by-side table with the inference options). Run on a CUDA machine:

    python scripts/gpu_bench.py --out reports
(`--device cpu --model hrnet_tiny --input 64x64` is a dry run of the script itself.)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from sgpose_lib.bench.suite import _ops_lines, bench_ops
from sgpose_lib.config import SGM_SITES, ModelConfig
from sgpose_lib.losses import joints_mse_loss, seg_bce_loss
from sgpose_lib.model import build_model

MODES = {  # name: (bf16 autocast, channels_last, torch.compile)
    "fp32": (False, False, False),
    "bf16": (True, False, False),
    "bf16 + channels_last": (True, True, False),
    "bf16 + channels_last + compile": (True, True, True),
}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make(preset, sgm, device, channels_last, compiled):
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset=preset, num_joints=17,
                                    sgm_sites=SGM_SITES if sgm else ())).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, (torch.compile(model) if compiled else model)


def throughput(fn, batch, device, iters, warmup):
    for _ in range(warmup):
        fn()
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return batch * iters / (time.perf_counter() - t)


def bench(preset, size, device, batch, iters, mode):
    bf16, cl, compiled = MODES[mode]
    w, h = size
    out = {}
    for variant in ("baseline", "sg"):
        model, net = make(preset, variant == "sg", device, cl, compiled)
        x = torch.randn(batch, 3, h, w, device=device)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        target = torch.rand(batch, 17, h // 4, w // 4, device=device)
        weight = torch.ones(batch, 17, device=device)
        seg = (torch.rand(batch, h // 4, w // 4, device=device) > 0.7).float()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def train_step():
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                heat, maps = net(x)
            loss = joints_mse_loss(heat.float(), target, weight) + 0.002 * seg_bce_loss(
                [m.float() for m in maps], seg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def eval_step():
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                        enabled=bf16):
                net(x)

        t0 = time.perf_counter()
        train_step()
        sync(device)
        first = time.perf_counter() - t0
        model.train()
        tr = throughput(train_step, batch, device, iters, 3)
        model.eval()
        ev = throughput(eval_step, batch, device, iters, 3)
        out[variant] = {"train_img_s": tr, "eval_img_s": ev, "first_step_s": first}
        if device.type == "cuda":
            out[variant]["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
            torch.cuda.reset_peak_memory_stats()
        del model, net, opt
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="hrnet_w32")
    p.add_argument("--input", default="256x192", help="HEIGHTxWIDTH")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default="reports")
    args = p.parse_args()
    h, w = (int(v) for v in args.input.split("x"))
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    card = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU (dry run)"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, ops = {}, None
    for mode in MODES:  # the report is rewritten after each mode: a timeout keeps what was done
        if MODES[mode][2] and ops is None:  # profile before torch.compile, which may not finish
            ops = bench_ops(args.model, (w, h), device.type, args.batch, steps=5,
                            channels_last=True, bf16=True)
            write_report(out, device, card, args, (h, w), results, ops)
        try:
            results[mode] = bench(args.model, (w, h), device, args.batch, args.iters, mode)
        except Exception as e:  # torch.compile may be unavailable
            results[mode] = {"error": f"{e.__class__.__name__}: {str(e)[:200]}"}
        print(mode, json.dumps(results[mode]), flush=True)
        write_report(out, device, card, args, (h, w), results, ops)


def write_report(out, device, card, args, hw, results, ops):
    h, w = hw
    lines = [f"# GPU benchmark — {args.model} at {h}x{w} (h x w), batch {args.batch}", "",
             f"Card: **{card}**; torch {torch.__version__}; cudnn.benchmark on; "
             f"{args.iters} timed iterations after 3 warm-up ones; random tensors (the model's cost "
             "alone; data loading is measured by `sgpose bench` and the training log). Train = "
             "forward + backward + Adam with the real loss (JointsMSE + lambda x BCE). "
             "Generated by `scripts/gpu_bench.py`.", "",
             "| mode | variant | train img/s | eval img/s | peak memory GiB |",
             "|---|---|--:|--:|--:|"]
    for mode, res in results.items():
        if "error" in res:
            lines.append(f"| {mode} | — | {res['error']} | | |")
            continue
        for v in ("baseline", "sg"):
            r = res[v]
            lines.append(f"| {mode} | {v} | {r['train_img_s']:.0f} | {r['eval_img_s']:.0f} | "
                         f"{r.get('peak_mem_gib', float('nan')):.1f} |")
        lines.append(f"| {mode} | SG / baseline | {res['sg']['train_img_s'] / res['baseline']['train_img_s']:.3f} "
                     f"| {res['sg']['eval_img_s'] / res['baseline']['eval_img_s']:.3f} | |")
    if ops:
        lines += [""] + _ops_lines(ops)
    stem = "bench_cuda_modes" if device.type == "cuda" else "bench_gpu_script_dryrun"
    (out / f"{stem}.json").write_text(json.dumps({"card": card, "results": results}, indent=2))
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
