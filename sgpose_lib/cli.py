"""`sgpose` command line: a thin layer over the library. User mistakes print one line and exit 2."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import ConfigError, SgposeError


def _hw(text: str) -> tuple[int, int]:
    """'256x192' (height x width, the field's convention) -> (width, height)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH, e.g. 256x192") from None
    return (w, h)


def cmd_prepare(args) -> None:
    from .data.prepare import prepare
    summary = prepare(args.embedded, args.out, seed=args.seed)
    print(json.dumps(summary["counts"] if "counts" in summary else summary, indent=2))


def cmd_info(args) -> None:
    from .model.complexity import info_text
    w, h = args.input
    if w % 32 or h % 32:
        raise ConfigError(f"--input: {h}x{w} must be multiples of 32")
    print(info_text(args.model, args.sgm, (w, h), num_joints=args.joints))


def cmd_train(args) -> None:
    from .config import apply_overrides, load_config
    from .train import train
    cfg = load_config(args.profile, args.params, track=args.track, variant=args.variant,
                      radius=args.radius, seed=args.seed)
    if args.epochs:
        cfg.train.epochs = args.epochs
    if args.set:
        cfg = apply_overrides(cfg, args.set)
    out = args.out or Path("runs") / f"{cfg.profile}_{cfg.data.track}_{cfg.variant}_s{cfg.train.seed}"
    result = train(cfg, out, resume=args.resume, restart=args.restart, progress=not args.quiet)
    print(json.dumps({"out": str(out), **result}, default=float))


def cmd_evaluate(args) -> None:
    from .evaluate import evaluate_checkpoint
    metrics = evaluate_checkpoint(args.checkpoint, out_dir=args.out, boxes=args.boxes,
                                  flip=not args.no_flip, val_ann=args.val_ann,
                                  image_root=args.image_root, workers=args.workers)
    print(json.dumps(metrics, indent=2))


def cmd_baselines(args) -> None:
    from .config import load_config
    from .evaluate import reference_baselines
    summary = reference_baselines(load_config(args.profile, args.params), args.out)
    print(json.dumps(summary, indent=2))


def cmd_report(args) -> None:
    from .report import build_report, update_readme, write_results_section
    summary = build_report(args.params, args.runs, args.out)
    if args.readme:
        update_readme(args.readme, write_results_section(summary, args.params, args.runs, args.out))


def cmd_bench(args) -> None:
    from .bench import run_bench
    run_bench(args.model, args.input, args.device, args.batch, args.out, args.repeats,
              scaling=args.scaling, threads=args.threads, compile=not args.no_compile,
              data=not args.no_data, ops=args.ops)


def cmd_robustness_perturb(args) -> None:
    from .robustness import build_perturbed_sets
    manifest = build_perturbed_sets(Path(args.val_ann), Path(args.image_root), Path(args.out),
                                    seed=args.seed)
    print(json.dumps({k: v for k, v in manifest.items() if k != "images"}, indent=2))


def cmd_robustness_evaluate(args) -> None:
    from .robustness import evaluate_conditions
    summary = evaluate_conditions(Path(args.checkpoint), Path(args.perturbed), Path(args.out),
                                  flip=not args.no_flip)
    print(json.dumps({c: {k: v for k, v in m.items() if k not in ("oks", "ann_ids")}
                      for c, m in summary.items()}, indent=2))


def cmd_attention_stats(args) -> None:
    from .attention_stats import attention_statistics
    stats = attention_statistics(Path(args.checkpoint), Path(args.out) if args.out else None)
    print(json.dumps(stats, indent=2))


def cmd_analyze(args) -> None:
    from .attention_stats import attention_statistics
    from .evaluate import load_checkpoint_model
    from .robustness import evaluate_conditions
    loaded = load_checkpoint_model(args.checkpoint)  # once, for both analyses
    cfg = loaded[1]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done = {"track": cfg.data.track, "sgm_sites": list(cfg.model.sgm_sites)}
    if cfg.data.track == "coco":
        evaluate_conditions(Path(args.checkpoint), Path(args.perturbed), out / "robustness",
                            loaded=loaded)
    done["robustness"] = cfg.data.track == "coco" or "MPII-style track: no person masks"
    if cfg.model.sgm_sites:
        attention_statistics(Path(args.checkpoint), out / "attention.json", loaded=loaded)
    done["attention"] = bool(cfg.model.sgm_sites) or "baseline: no SGM maps"
    (out / "analysis.json").write_text(json.dumps(done, indent=2) + "\n")
    print(json.dumps(done))


def cmd_ablations(args) -> None:
    from .findings import ablation_table
    summary = ablation_table(args.ablation_params, args.ablation_runs, args.params, args.runs, args.out)
    print(json.dumps({k: (v["mean"] or {}).get("mean") for k, v in summary.items()}, indent=2))


def cmd_convergence_train(args) -> None:
    from .convergence import read_params, run_config
    from .train import train
    cfg = run_config(read_params(args.params), args.run, args.study_params)
    result = train(cfg, args.out, resume=True, restart=True, progress=not args.quiet)
    print(json.dumps({"out": str(args.out), **result}, default=float))


def cmd_convergence_report(args) -> None:
    from .convergence import build
    summary = build(args.params, args.runs, args.out)
    print(json.dumps({k: v["trend"] for k, v in summary["curves"].items()}, indent=2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sgpose", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("prepare", help="prepare the embedded data set's two tracks")
    s.add_argument("--embedded", default="data/embedded")
    s.add_argument("--out", default="data/prepared")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("info", help="parameters and multiply-adds of a model")
    s.add_argument("--model", default="hrnet_w32")
    s.add_argument("--sgm", action="store_true", help="also the SG model (4 sites)")
    s.add_argument("--input", type=_hw, default=(192, 256), help="HEIGHTxWIDTH, e.g. 256x192")
    s.add_argument("--joints", type=int, default=17)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train one run")
    s.add_argument("--params", default="params.yaml")
    s.add_argument("--profile", default=None, help="default: params.yaml's `profile`")
    s.add_argument("--track", choices=["mpii", "coco"], default=None)
    s.add_argument("--variant", default="baseline")
    s.add_argument("--radius", type=float, default=None)
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    s.add_argument("--set", nargs="+", metavar="KEY=VALUE", default=[],
                   help="override config values, e.g. train.bf16=true data.workers=8")
    s.add_argument("--out", default=None)
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out (same config; train.epochs may grow)")
    s.add_argument("--restart", action="store_true",
                   help="start over where --out holds a run (its files are deleted)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="evaluate a checkpoint (flip test by default)")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--boxes", default="gt", help="'gt' or a COCO detector-results JSON")
    s.add_argument("--no-flip", action="store_true")
    s.add_argument("--val-ann", default=None, help="annotation file (default: the run's)")
    s.add_argument("--image-root", default=None)
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--out", default=None, help="folder for metrics.json and results")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("baselines", help="untrained-model and mean-pose reference metrics")
    s.add_argument("--params", default="params.yaml")
    s.add_argument("--profile", default=None)
    s.add_argument("--out", default="runs/baselines")
    s.set_defaults(func=cmd_baselines)

    s = sub.add_parser("report", help="build the tables and figures of reports/")
    s.add_argument("--params", default="params.yaml")
    s.add_argument("--runs", default="runs")
    s.add_argument("--out", default="reports")
    s.add_argument("--readme", default=None, help="also rewrite this README's Results section")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("bench", help="cost of the SGM and throughput, baseline vs SG")
    s.add_argument("--model", default="hrnet_w32")
    s.add_argument("--input", type=_hw, default=(192, 256), help="HEIGHTxWIDTH")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    s.add_argument("--scaling", action="store_true",
                   help="only the scaling study (widths x input sizes), added to the report")
    s.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    s.add_argument("--no-data", action="store_true", help="skip the data pipeline section")
    s.add_argument("--ops", action="store_true",
                   help="only the torch.profiler top ops of an SG train step, added to the report")
    s.add_argument("--out", default="reports")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("convergence", help="the convergence study (convergence/dvc.yaml)")
    csub = s.add_subparsers(dest="convergence_command", required=True)
    c = csub.add_parser("train", help="train one run of convergence/params.yaml (continues a run "
                        "of the same config in --out, starts over where the config changed)")
    c.add_argument("--params", default="convergence/params.yaml", help="the matrix and setting")
    c.add_argument("--study-params", default="params.yaml", help="profiles and variants")
    c.add_argument("--run", required=True, help="a key of `runs` in --params")
    c.add_argument("--out", required=True, help="the run folder")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_convergence_train)
    c = csub.add_parser("report", help="curves, SG − baseline at matched budgets, plateaus, verdict")
    c.add_argument("--params", default="convergence/params.yaml")
    c.add_argument("--runs", default="convergence/runs")
    c.add_argument("--out", default="reports/convergence")
    c.set_defaults(func=cmd_convergence_report)

    s = sub.add_parser("robustness", help="background-swap robustness (COCO track)")
    rsub = s.add_subparsers(dest="robustness_command", required=True)
    r = rsub.add_parser("perturb", help="write the images with swapped backgrounds")
    r.add_argument("--val-ann", default="data/prepared/coco_val.json")
    r.add_argument("--image-root", default="data/embedded")
    r.add_argument("--out", default="data/perturbed")
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(func=cmd_robustness_perturb)
    r = rsub.add_parser("evaluate", help="metrics and per-person OKS of a checkpoint per condition")
    r.add_argument("--checkpoint", required=True)
    r.add_argument("--perturbed", default="data/perturbed")
    r.add_argument("--no-flip", action="store_true")
    r.add_argument("--out", required=True, help="folder for robustness.json")
    r.set_defaults(func=cmd_robustness_evaluate)

    s = sub.add_parser("analyze", help="what applies to a run: background-swap robustness "
                       "(COCO track) and attention statistics (SG models)")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--perturbed", default="data/perturbed")
    s.add_argument("--out", required=True, help="folder: robustness/, attention.json, analysis.json")
    s.set_defaults(func=cmd_analyze)

    s = sub.add_parser("ablations", help="the ablation table (reports/ablations/) from "
                       "`dvc repro ablations/dvc.yaml`")
    s.add_argument("--ablation-params", default="ablations/params.yaml")
    s.add_argument("--ablation-runs", default="ablations/runs")
    s.add_argument("--params", default="params.yaml")
    s.add_argument("--runs", default="runs")
    s.add_argument("--out", default="reports/ablations")
    s.set_defaults(func=cmd_ablations)

    s = sub.add_parser("attention-stats", help="SGM maps vs disc targets and person masks")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--out", default=None, help="JSON file for the statistics")
    s.set_defaults(func=cmd_attention_stats)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SgposeError as e:
        print(f"sgpose {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
