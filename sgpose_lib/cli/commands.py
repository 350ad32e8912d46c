"""What each `sgpose` command does: one handler per command, each a few library calls.

The library is imported at the top of each handler, so that `sgpose --help` and argument errors
answer without loading torch. Handlers print their result as JSON on stdout.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..params import apply_overrides, load_config, settable_keys
from ..errors import ConfigError, DataError

DEFAULT_PREPARED = "data/prepared"  # DataConfig.root's default: where `sgpose prepare` writes
DEFAULT_EMBEDDED = "data/embedded"  # the embedded data set shipped with the repository


def cmd_prepare(args) -> None:
    from ..data.prepare import prepare
    summary = prepare(args.embedded, args.out, seed=args.seed)
    print(json.dumps(summary["counts"] if "counts" in summary else summary, indent=2))


def cmd_info(args) -> None:
    from ..model.complexity import info_text
    w, h = args.input
    if w % 32 or h % 32:
        raise ConfigError(f"--input: {h}x{w} must be multiples of 32")
    print(info_text(args.model, args.sgm, (w, h), num_joints=args.joints))


def cmd_train(args) -> None:
    from ..engine.train import train
    cfg = load_config(args.profile, args.params, track=args.track, variant=args.variant,
                      radius=args.radius, seed=args.seed)
    if args.epochs:
        cfg.train.epochs = args.epochs
    if args.set:
        cfg = apply_overrides(cfg, args.set)
    _prepare_if_missing(cfg)
    out = args.out or Path("runs") / f"{cfg.profile}_{cfg.data.track}_{cfg.variant}_s{cfg.train.seed}"
    result = train(cfg, out, resume=args.resume, restart=args.restart, progress=not args.quiet)
    _print_train_result(out, result)


def cmd_train_pair(args) -> None:
    from ..engine.train_pair import train_pair
    print(json.dumps(train_pair(args.pair, args.profile, args.params, args.ablations)))


def _print_train_result(out, result: dict) -> None:
    """The result of `train` as one line of strict JSON (no best yet, as without validation: null)."""
    from ..engine.checkpoint_io import json_safe
    print(json.dumps(json_safe({"out": str(out), **result}), default=float))


def _prepare_if_missing(cfg) -> None:
    """A fresh clone: the data comes from the prepared files of the embedded data set, which are
    not in git. When the config reads them from the default folder, and that folder is missing
    while the embedded data is there, prepare it (as `sgpose prepare`) and say so on stderr."""
    from ..data import resolve_split
    d = cfg.data
    if (d.root != DEFAULT_PREPARED or d.image_root != DEFAULT_EMBEDDED or Path(d.root).exists()
            or not Path(DEFAULT_EMBEDDED).is_dir()):
        return
    try:
        resolve_split(cfg, "train")
        resolve_split(cfg, "val")
        return  # explicit annotation files or a full data-set folder: data.root is not read
    except DataError:
        pass
    print(f"sgpose train: {DEFAULT_PREPARED} not found; preparing it from {DEFAULT_EMBEDDED} "
          "(as `sgpose prepare`)", file=sys.stderr, flush=True)
    _prepare_atomically(Path(DEFAULT_EMBEDDED), Path(DEFAULT_PREPARED))


def _prepare_atomically(embedded: Path, out: Path) -> None:
    """`prepare` into a temporary folder beside `out`, renamed to `out` when complete: an
    interrupted preparation leaves no half-written `out` (which would not be prepared again)."""
    from ..data.prepare import prepare
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        prepare(embedded, tmp, seed=0)
        os.replace(tmp, out)
    except OSError as e:
        if not out.is_dir():  # else another process (a torchrun rank) prepared it meanwhile
            raise DataError(f"{out}: could not prepare the embedded data there "
                            f"({e.strerror or e})") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def cmd_config(args) -> None:
    cfg = load_config(args.profile, args.params, track=args.track, variant=args.variant)
    rows = [(f"{key} = {json.dumps(value)}", doc) for key, value, doc in settable_keys(cfg)]
    width = max(len(line) for line, _ in rows)
    print(f"# {args.params}: profile {cfg.profile}, track {cfg.data.track}, variant {cfg.variant}")
    print(f"# set a key with `sgpose train --set KEY=VALUE` or in {args.params} under "
          f"profiles.{cfg.profile}.<section>")
    for line, doc in rows:
        print(f"{line:<{width}}  # {doc}" if doc else line)


def cmd_evaluate(args) -> None:
    from ..engine.checkpoint_io import json_safe
    from ..engine.evaluate import evaluate_checkpoint
    metrics = evaluate_checkpoint(args.checkpoint, out_dir=args.out, boxes=args.boxes,
                                  flip=not args.no_flip, val_ann=args.val_ann,
                                  image_root=args.image_root, workers=args.workers,
                                  progress=not args.quiet, fused=not args.no_fuse,
                                  compile=args.compile)
    print(json.dumps(json_safe(metrics), indent=2))


def cmd_predict(args) -> None:
    from ..report.image_attention import predict_to_folder
    print(json.dumps(predict_to_folder(args.images, args.checkpoint, args.out, box=args.box,
                                       kpt_thr=args.kpt_thr, fused=not args.no_fuse), indent=2))


def cmd_baselines(args) -> None:
    from ..engine.baselines import reference_baselines
    from ..engine.checkpoint_io import json_safe
    summary = reference_baselines(load_config(args.profile, args.params), args.out,
                                  fused=not args.no_fuse)
    print(json.dumps(json_safe(summary), indent=2))


def cmd_report(args) -> None:
    from ..report.page import build_report
    from ..report.readme import update_readme, write_results_section
    summary = build_report(args.params, args.runs, args.out,
                           exclude_damaged=args.exclude_damaged)
    _note_excluded("sgpose report", summary.get("runs_excluded"))
    if args.readme:
        update_readme(args.readme, write_results_section(summary, args.params, args.runs, args.out))


def _note_excluded(command: str, excluded: dict | None) -> None:
    """One line on stderr per run that --exclude-damaged left out of a report, with the reason."""
    for name, why in (excluded or {}).items():
        print(f"{command}: run {name} excluded (damaged file {why})", file=sys.stderr)


def cmd_bench(args) -> None:
    from ..bench.run import run_bench
    run_bench(args.model, args.input, args.device, args.batch, args.out, args.repeats,
              scaling=args.scaling, threads=args.threads, compile=not args.no_compile,
              data=not args.no_data, ops=args.ops, shared_load=args.shared_load,
              train_settings=args.train_settings, roofline=args.roofline,
              side_by_side=args.side_by_side, limit_train=args.limit_train)


def cmd_robustness_perturb(args) -> None:
    from ..analysis.robustness import build_perturbed_sets
    manifest = build_perturbed_sets(Path(args.val_ann), Path(args.image_root), Path(args.out),
                                    seed=args.seed)
    print(json.dumps({k: v for k, v in manifest.items() if k != "images"}, indent=2))


def cmd_robustness_evaluate(args) -> None:
    from ..engine.checkpoint_io import folder_lock, json_safe
    from ..analysis.robustness import evaluate_conditions
    with folder_lock(args.out) as out:
        summary = evaluate_conditions(Path(args.checkpoint), Path(args.perturbed), out,
                                      flip=not args.no_flip)
    print(json.dumps(json_safe({c: {k: v for k, v in m.items() if k not in ("oks", "ann_ids")}
                                for c, m in summary.items()}), indent=2))


def cmd_attention_stats(args) -> None:
    from ..analysis.attention_stats import attention_statistics
    from ..engine.checkpoint_io import folder_lock, json_safe
    if args.out is None:
        stats = attention_statistics(Path(args.checkpoint))
    else:
        with folder_lock(args.out) as out:
            stats = attention_statistics(Path(args.checkpoint), out / "attention.json")
    print(json.dumps(json_safe(stats), indent=2))


def cmd_analyze(args) -> None:
    from ..engine.checkpoint_io import atomic_write_text, folder_lock
    from ..engine.inference import load_checkpoint_model
    loaded = load_checkpoint_model(args.checkpoint, fused=not args.no_fuse)  # once, for both
    with folder_lock(args.out) as out:
        (out / "analysis.json").unlink(missing_ok=True)  # written last: a complete analysis
        done = _analyze(Path(args.checkpoint), Path(args.perturbed), out, loaded)
        atomic_write_text(out / "analysis.json", json.dumps(done, indent=2) + "\n")
    print(json.dumps(done))


def _analyze(checkpoint: Path, perturbed: Path, out: Path, loaded: tuple) -> dict:
    """The analyses that apply to the run (robustness: COCO track; attention: SG models) into
    `out`; returns what was done and why the others were not."""
    from ..analysis.attention_stats import attention_statistics
    from ..analysis.robustness import evaluate_conditions
    cfg = loaded[1]
    done = {"track": cfg.data.track, "sgm_sites": list(cfg.model.sgm_sites)}
    if cfg.data.track == "coco":
        evaluate_conditions(checkpoint, perturbed, out / "robustness", loaded=loaded)
    done["robustness"] = cfg.data.track == "coco" or "MPII-style track: no person masks"
    if cfg.model.sgm_sites:
        attention_statistics(checkpoint, out / "attention.json", loaded=loaded)
    done["attention"] = bool(cfg.model.sgm_sites) or "baseline: no SGM maps"
    return done


def cmd_ablations(args) -> None:
    from ..report.ablations import ablation_table
    summary = ablation_table(args.ablation_params, args.ablation_runs, args.params, args.runs,
                             args.out, exclude_damaged=args.exclude_damaged)
    print(json.dumps({k: (v["mean"] or {}).get("mean") for k, v in summary.items()}, indent=2))


def cmd_convergence_train(args) -> None:
    from ..engine.convergence_runs import read_params, run_config
    from ..engine.until_plateau import train_convergence_run
    params = read_params(args.params)
    cfg = run_config(params, args.run, args.study_params)
    result = train_convergence_run(params, cfg, args.out, progress=not args.quiet)
    _print_train_result(args.out, result)


def cmd_convergence_report(args) -> None:
    from ..report.convergence import build
    summary = build(args.params, args.runs, args.out, exclude_damaged=args.exclude_damaged)
    _note_excluded("sgpose convergence report", summary.get("excluded"))
    print(json.dumps({k: v["trend"] for k, v in summary["curves"].items()}, indent=2))
