"""GPU check of `sgpose evaluate`'s compiled inference path (eval.compile = on) against the eager
one, on the device the profile picks (`paper`: HRNet-W32, COCO track at 256x192, CUDA when there).

1. Train an SG checkpoint of the profile for --epochs epochs (first --limit training persons; 0:
   all), so that the folded BN terms are not their initial values and the heatmaps have peaks.
2. Equality: on the first 64 validation samples, the compiled fused model (inference.compile_for_set)
   against the eager model: max |difference| of the heatmaps and of the SGM maps (goal: < 1e-4
   of a heatmap value); the heatmap argmax of each (sample, joint), and where the two differ, the
   eager map's own margin between its maximum and its value at the compiled argmax (a margin
   within the float difference is a tie that rounding breaks either way, not a wrong kernel);
   predict's keypoints (image pixels) and maxvals.
3. Time: evaluate_checkpoint on the whole validation set (flip test), compile off, then on (cold:
   the compilation included), then on again (warm: the compile cache on disk), with the metrics
   of each.

Writes <out>/eval_compile_<device>.{md,json}. `--profile smoke --limit 32` is a CPU dry run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from sgpose_lib.data import build_dataset
from sgpose_lib.engine.evaluate import evaluate_checkpoint
from sgpose_lib.engine.inference import compile_for_set, load_checkpoint_model, predict
from sgpose_lib.engine.train import train
from sgpose_lib.params import load_config

ROOT = Path(__file__).resolve().parents[1]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--profile", default="paper")
    p.add_argument("--track", default="coco", choices=("coco", "mpii"))
    p.add_argument("--limit", type=int, default=0, help="training persons (0: all)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs of the checkpoint")
    p.add_argument("--tf32", choices=("default", "off"), default="default",
                   help="off: no TF32 in cuDNN convolutions (torch's default allows it)")
    p.add_argument("--out", default="reports")
    args = p.parse_args()
    if args.tf32 == "off":
        torch.backends.cudnn.allow_tf32 = False
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    cfg = load_config(args.profile, ROOT / "params.yaml", track=args.track, variant="sg", seed=0)
    cfg.train.epochs, cfg.data.limit_train = args.epochs, args.limit
    run = out / "eval_compile_run"
    t0 = time.perf_counter()
    train(cfg, run, progress=False, restart=True)
    train_s = time.perf_counter() - t0
    ckpt = run / "last.pt"

    fused, cfg, device = load_checkpoint_model(ckpt)
    eager, _, _ = load_checkpoint_model(ckpt, fused=False)
    dataset = build_dataset(cfg, "val")
    cfg.eval.compile = "on"
    compiled, was_compiled = compile_for_set(fused, cfg, len(dataset), flip=True)
    n = min(64, len(dataset))
    images = torch.stack([dataset[i]["image"] for i in range(n)]).to(device)
    with torch.inference_mode():
        h_c, s_c = compiled(images.contiguous(memory_format=torch.channels_last))
        h_e, s_e = eager(images)
    flat_c, flat_e = h_c.flatten(2).float(), h_e.flatten(2).float()   # (N, K, h*w)
    arg_c, arg_e = flat_c.argmax(-1), flat_e.argmax(-1)
    differ = arg_c != arg_e
    margin = flat_e.max(-1).values - flat_e.gather(-1, arg_c[..., None])[..., 0]
    a = predict(compiled, dataset, cfg, device)
    b = predict(eager, dataset, cfg, device)
    equality = {"samples": n, "compiled": was_compiled,
                "heatmap_max_abs_diff": max_diff(h_c, h_e),
                "heatmap_max_abs": h_e.abs().max().item(),
                "seg_max_abs_diff": max(max_diff(x, y) for x, y in zip(s_c, s_e)),
                "argmax_differ": f"{int(differ.sum())} of {differ.numel()}",
                "eager_margin_where_argmax_differs": margin[differ].max().item() if differ.any() else 0.0,
                "keypoint_max_abs_diff_px": float(abs(a["preds"] - b["preds"]).max()),
                "maxval_max_abs_diff": float(abs(a["maxvals"] - b["maxvals"]).max())}

    metric = "AP" if args.track == "coco" else "Mean"   # COCO AP as a fraction, PCKh in %
    timings = []
    for mode in ("off", "on", "on"):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        metrics = evaluate_checkpoint(ckpt, compile=mode)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append({"compile": mode, "seconds": time.perf_counter() - t0,
                        "metric": metric, "value": metrics[metric]})

    settings = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                "torch": torch.__version__, "profile": args.profile, "track": args.track,
                "model": cfg.model.preset, "input_wh": list(cfg.data.input_size),
                "val_samples": len(dataset), "eval_batch": cfg.eval.batch_size,
                "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                "train_seconds": train_s}
    result = {"settings": settings, "equality": equality, "timings": timings}
    name = f"eval_compile_{device.type}" + ("_no_tf32" if args.tf32 == "off" else "")
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    lines = [f"# eval.compile on {settings['device']}: compiled against eager inference", "",
             "Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + ".",
             "Generated by `scripts/gpu_eval_compile.py`.", "",
             f"Equality on {n} validation samples (compiled fused model vs eager model):", ""]
    lines += [f"- {k}: {v:.3g}" if isinstance(v, float) else f"- {k}: {v}"
              for k, v in equality.items()]
    lines += ["", f"| evaluate_checkpoint, flip test | seconds | {metric} |", "|---|---:|---:|"]
    lines += [f"| compile {t['compile']}{' (cold)' if i == 1 else ' (warm cache)' if i == 2 else ''}"
              f" | {t['seconds']:.1f} | {t['value']:.4g} |" for i, t in enumerate(timings)]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
