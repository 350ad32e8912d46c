"""`sgpose` command line: a thin layer over the library. User mistakes print one line and exit 2;
Ctrl-C prints one line and exits 130. Every --out names a folder. Only the configuration (no
torch) is imported here; the rest of the library is imported at the top of each command, so that
`--help` and argument errors answer without loading torch."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .config import GT_BOXES, TRACKS, apply_overrides, load_config, settable_keys
from .errors import ConfigError, DataError, SgposeError

EXIT_USAGE = 2          # a user mistake (argparse's code too)
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it
DEFAULT_PREPARED = "data/prepared"  # DataConfig.root's default: where `sgpose prepare` writes
DEFAULT_EMBEDDED = "data/embedded"  # the embedded data set shipped with the repository


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `sgpose <cmd>: error: ...` (no usage block), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help ends with its default: '(default: off)' for a flag, '(default: none)'
    for an empty list, '(required)' for a required option; none is added where the default is
    None (the help text then says what leaving the option out means)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required:
            return f"{text} (required)"
        if action.default is None or action.default is argparse.SUPPRESS:
            return text
        if action.nargs == 0 and action.default is False:
            return f"{text} (default: off)"
        if action.default == []:
            return f"{text} (default: none)"
        return super()._get_help_string(action)


def _non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def _positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 must be > 0")
    return value


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
    from .engine.train import train
    cfg = load_config(args.profile, args.params, track=args.track, variant=args.variant,
                      radius=args.radius, seed=args.seed)
    if args.epochs:
        cfg.train.epochs = args.epochs
    if args.set:
        cfg = apply_overrides(cfg, args.set)
    _prepare_if_missing(cfg)
    out = args.out or Path("runs") / f"{cfg.profile}_{cfg.data.track}_{cfg.variant}_s{cfg.train.seed}"
    result = train(cfg, out, resume=args.resume, restart=args.restart, progress=not args.quiet)
    print(json.dumps({"out": str(out), **result}, default=float))


def _prepare_if_missing(cfg) -> None:
    """A fresh clone: the data comes from the prepared files of the embedded data set, which are
    not in git. When the config reads them from the default folder, and that folder is missing
    while the embedded data is there, prepare it (as `sgpose prepare`) and say so on stderr."""
    from .data import resolve_split
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
    from .data.prepare import prepare
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
    from .engine.checkpoint_io import json_safe
    from .engine.evaluate import evaluate_checkpoint
    metrics = evaluate_checkpoint(args.checkpoint, out_dir=args.out, boxes=args.boxes,
                                  flip=not args.no_flip, val_ann=args.val_ann,
                                  image_root=args.image_root, workers=args.workers,
                                  progress=not args.quiet, fused=not args.no_fuse)
    print(json.dumps(json_safe(metrics), indent=2))


def cmd_baselines(args) -> None:
    from .engine.baselines import reference_baselines
    from .engine.checkpoint_io import json_safe
    summary = reference_baselines(load_config(args.profile, args.params), args.out,
                                  fused=not args.no_fuse)
    print(json.dumps(json_safe(summary), indent=2))


def cmd_report(args) -> None:
    from .report.page import build_report
    from .report.readme import update_readme, write_results_section
    summary = build_report(args.params, args.runs, args.out)
    if args.readme:
        update_readme(args.readme, write_results_section(summary, args.params, args.runs, args.out))


def cmd_bench(args) -> None:
    from .bench.run import run_bench
    run_bench(args.model, args.input, args.device, args.batch, args.out, args.repeats,
              scaling=args.scaling, threads=args.threads, compile=not args.no_compile,
              data=not args.no_data, ops=args.ops, shared_load=args.shared_load)


def cmd_robustness_perturb(args) -> None:
    from .analysis.robustness import build_perturbed_sets
    manifest = build_perturbed_sets(Path(args.val_ann), Path(args.image_root), Path(args.out),
                                    seed=args.seed)
    print(json.dumps({k: v for k, v in manifest.items() if k != "images"}, indent=2))


def cmd_robustness_evaluate(args) -> None:
    from .engine.checkpoint_io import folder_lock, json_safe
    from .analysis.robustness import evaluate_conditions
    with folder_lock(args.out) as out:
        summary = evaluate_conditions(Path(args.checkpoint), Path(args.perturbed), out,
                                      flip=not args.no_flip)
    print(json.dumps(json_safe({c: {k: v for k, v in m.items() if k not in ("oks", "ann_ids")}
                                for c, m in summary.items()}), indent=2))


def cmd_attention_stats(args) -> None:
    from .analysis.attention_stats import attention_statistics
    from .engine.checkpoint_io import folder_lock, json_safe
    if args.out is None:
        stats = attention_statistics(Path(args.checkpoint))
    else:
        with folder_lock(args.out) as out:
            stats = attention_statistics(Path(args.checkpoint), out / "attention.json")
    print(json.dumps(json_safe(stats), indent=2))


def cmd_analyze(args) -> None:
    from .engine.checkpoint_io import atomic_write_text, folder_lock
    from .engine.inference import load_checkpoint_model
    loaded = load_checkpoint_model(args.checkpoint, fused=not args.no_fuse)  # once, for both
    with folder_lock(args.out) as out:
        (out / "analysis.json").unlink(missing_ok=True)  # written last: a complete analysis
        done = _analyze(Path(args.checkpoint), Path(args.perturbed), out, loaded)
        atomic_write_text(out / "analysis.json", json.dumps(done, indent=2) + "\n")
    print(json.dumps(done))


def _analyze(checkpoint: Path, perturbed: Path, out: Path, loaded: tuple) -> dict:
    """The analyses that apply to the run (robustness: COCO track; attention: SG models) into
    `out`; returns what was done and why the others were not."""
    from .analysis.attention_stats import attention_statistics
    from .analysis.robustness import evaluate_conditions
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
    from .report.ablations import ablation_table
    summary = ablation_table(args.ablation_params, args.ablation_runs, args.params, args.runs, args.out)
    print(json.dumps({k: (v["mean"] or {}).get("mean") for k, v in summary.items()}, indent=2))


def cmd_convergence_train(args) -> None:
    from .report.convergence import read_params, run_config
    from .engine.train import train
    cfg = run_config(read_params(args.params), args.run, args.study_params)
    result = train(cfg, args.out, resume=True, restart=True, progress=not args.quiet)
    print(json.dumps({"out": str(args.out), **result}, default=float))


def cmd_convergence_report(args) -> None:
    from .report.convergence import build
    summary = build(args.params, args.runs, args.out)
    print(json.dumps({k: v["trend"] for k, v in summary["curves"].items()}, indent=2))


def _command(sub, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose options' help ends with their defaults."""
    return sub.add_parser(name, help=help, description=description or help, formatter_class=_Help)


def _add_run_choice(s: argparse.ArgumentParser) -> None:
    """--params, --profile, --track, --variant: which configuration of params.yaml."""
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--profile", default=None,
                   help="profile of --params (default: its top-level `profile` key)")
    s.add_argument("--track", choices=TRACKS, default=None,
                   help="data track: mpii (PCKh) or coco (OKS AP) (default: the profile's "
                        "data.track in --params)")
    s.add_argument("--variant", default="baseline",
                   help="entry of --params `variants` (baseline: plain HRNet; sg: SGM at 4 sites)")


def _add_no_fuse(s: argparse.ArgumentParser) -> None:
    """--no-fuse: the eager model instead of the BN-folded inference path."""
    s.add_argument("--no-fuse", action="store_true", help="the plain eager model instead of the "
                   "inference path (BN folded into the convs, channels_last; same outputs up to "
                   "float rounding, faster)")


def _add_data_commands(sub) -> None:
    s = _command(sub, "prepare", "prepare the embedded data set's two tracks")
    s.add_argument("--embedded", default=DEFAULT_EMBEDDED, help="the embedded data set folder")
    s.add_argument("--out", default=DEFAULT_PREPARED,
                   help="folder for the prepared annotation files of both tracks")
    s.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seed of the MPII-style track's train/validation split (integer >= 0)")
    s.set_defaults(func=cmd_prepare)

    s = _command(sub, "info", "parameters and multiply-adds of a model")
    s.add_argument("--model", default="hrnet_w32",
                   help="model preset (width and stage layout, sgpose_lib.model.PRESETS)")
    s.add_argument("--sgm", action="store_true", help="also the SG model (SGM at its 4 sites)")
    s.add_argument("--input", type=_hw, default="256x192",
                   help="network input HEIGHTxWIDTH in pixels, multiples of 32")
    s.add_argument("--joints", type=_positive_int, default=17,
                   help="joints (heatmaps): 17 COCO, 16 MPII")
    s.set_defaults(func=cmd_info)


def _add_train(sub) -> None:
    s = _command(sub, "train", "train one run", description=(
        "Train one run of a profile of --params into the run folder --out (resumable). "
        "`sgpose config` prints every settable key (dotted, e.g. data.train_ann) with its current "
        "value: the keys for --set and for params.yaml, e.g. data.train_ann, data.val_ann and "
        "data.image_root to train on your own data. On a fresh clone data/prepared is made from "
        "data/embedded first (as `sgpose prepare`)."))
    _add_run_choice(s)
    s.add_argument("--radius", type=float, default=None,
                   help="disc radius r of the SGM target (Eq. 2), in pixels of the paper's "
                        "64-pixel-high heatmap, scaled with the heatmap height for other input "
                        "sizes (default: the profile's data.radius)")
    s.add_argument("--seed", type=_non_negative_int, default=None,
                   help="random seed, integer >= 0 (default: the profile's train.seed)")
    s.add_argument("--epochs", type=_positive_int, default=None,
                   help="training epochs (default: the profile's train.epochs)")
    s.add_argument("--set", nargs="+", metavar="KEY=VALUE", default=[],
                   help="override config keys (list them with `sgpose config`), values in YAML, "
                        "e.g. train.bf16=true data.workers=8")
    s.add_argument("--out", default=None,
                   help="run folder (default: runs/<profile>_<track>_<variant>_s<seed>)")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out (same config; train.epochs may grow)")
    s.add_argument("--restart", action="store_true",
                   help="start over where --out holds a run (its files are deleted)")
    s.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    s.set_defaults(func=cmd_train)

    s = _command(sub, "config", "print every settable config key with its current value",
                 description="Print every key of the configuration (dotted, e.g. data.train_ann) "
                 "with its current value for a profile, track and variant: the keys that "
                 "`sgpose train --set KEY=VALUE` and params.yaml's profiles accept.")
    _add_run_choice(s)
    s.set_defaults(func=cmd_config)


def _add_evaluate(sub) -> None:
    s = _command(sub, "evaluate", "evaluate a checkpoint (flip test by default)", description=(
        "Evaluate a training checkpoint: PCKh@0.5 in percent (MPII track) or COCO AP/AR as "
        "fractions in [0, 1] (COCO track). metrics.json also records the units and the settings "
        "it was made with."))
    s.add_argument("--checkpoint", required=True, help="training checkpoint (a run's last.pt)")
    s.add_argument("--boxes", default=GT_BOXES, help=f"person boxes: '{GT_BOXES}' (annotated) or a "
                   "COCO detector-results JSON (COCO track only)")
    s.add_argument("--no-flip", action="store_true",
                   help="no flip test (by default the heatmaps are averaged with the mirrored "
                        "image's)")
    s.add_argument("--val-ann", default=None,
                   help="annotation file to evaluate, whole (default: the run's validation "
                        "split, limited to the run's data.limit_val samples if set)")
    s.add_argument("--image-root", default=None, help="folder the annotation file's image paths "
                   "are relative to (default: the run's data.image_root)")
    s.add_argument("--workers", type=_non_negative_int, default=None,
                   help="DataLoader worker processes, integer >= 0 (default: the run's "
                        "data.workers)")
    s.add_argument("--out", default=None, help="folder for metrics.json and (COCO track) "
                   "keypoints_results.json (default: none, the metrics are printed only)")
    _add_no_fuse(s)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_evaluate)

    s = _command(sub, "baselines", "untrained-model and mean-pose reference metrics")
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--profile", default=None,
                   help="profile of --params (default: its top-level `profile` key)")
    s.add_argument("--out", default="runs/baselines", help="folder for mpii.json and coco.json")
    _add_no_fuse(s)
    s.set_defaults(func=cmd_baselines)


def _add_report_commands(sub) -> None:
    s = _command(sub, "report", "build the tables and figures of reports/")
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--runs", default="runs", help="folder of the run folders")
    s.add_argument("--out", default="reports", help="folder for tables/, figures/ and README.md")
    s.add_argument("--readme", default=None,
                   help="also rewrite this README file's Results section (default: none)")
    s.set_defaults(func=cmd_report)

    s = _command(sub, "ablations", "the ablation table (reports/ablations/) from "
                 "`dvc repro ablations/dvc.yaml`")
    s.add_argument("--ablation-params", default="ablations/params.yaml",
                   help="the ablation matrix")
    s.add_argument("--ablation-runs", default="ablations/runs",
                   help="folder of the ablation run folders")
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--runs", default="runs", help="folder of the study's run folders")
    s.add_argument("--out", default="reports/ablations", help="folder for the ablation table")
    s.set_defaults(func=cmd_ablations)


def _add_bench(sub) -> None:
    s = _command(sub, "bench", "cost of the SGM and throughput, baseline vs SG")
    s.add_argument("--model", default="hrnet_w32",
                   help="model preset (width and stage layout, sgpose_lib.model.PRESETS)")
    s.add_argument("--input", type=_hw, default="256x192",
                   help="network input HEIGHTxWIDTH in pixels, multiples of 32")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to time")
    s.add_argument("--batch", type=_positive_int, default=8, help="images per timed call")
    s.add_argument("--repeats", type=_positive_int, default=5, help="timed calls per measurement")
    s.add_argument("--threads", type=_non_negative_int, default=0,
                   help="torch.set_num_threads (0: torch's default)")
    s.add_argument("--scaling", action="store_true",
                   help="only the scaling study (widths x input sizes), added to the report")
    s.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    s.add_argument("--no-data", action="store_true", help="skip the data pipeline section")
    s.add_argument("--ops", action="store_true",
                   help="only the torch.profiler top ops of an SG train step, added to the report")
    s.add_argument("--shared-load", action="store_true",
                   help="only the shared-load case, added to the report: the cpu profile's train step "
                   "alone and beside a busy process, under OpenMP wait settings (--repeats steps each; "
                   "--model, --input, --batch do not apply)")
    s.add_argument("--out", default="reports",
                   help="folder for bench_<device>.md and .json (and figures/)")
    s.set_defaults(func=cmd_bench)


def _add_convergence(sub) -> None:
    s = _command(sub, "convergence", "the convergence study (convergence/dvc.yaml)")
    csub = s.add_subparsers(dest="convergence_command", required=True)
    c = _command(csub, "train", "train one run of the convergence matrix (continues a run of the "
                 "same config in --out, starts over where the config changed)")
    c.add_argument("--params", default="convergence/params.yaml", help="the setting and matrix")
    c.add_argument("--study-params", default="params.yaml", help="profiles and variants")
    c.add_argument("--run", required=True, help="a key of `runs` in --params")
    c.add_argument("--out", required=True, help="the run folder")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_convergence_train)
    c = _command(csub, "report", "curves, SG − baseline at matched budgets, plateaus, verdict")
    c.add_argument("--params", default="convergence/params.yaml", help="the setting and matrix")
    c.add_argument("--runs", default="convergence/runs", help="folder of the run folders")
    c.add_argument("--out", default="reports/convergence", help="folder for the tables and figure")
    c.set_defaults(func=cmd_convergence_report)


def _add_analysis_commands(sub) -> None:
    s = _command(sub, "robustness", "background-swap robustness (COCO track)")
    rsub = s.add_subparsers(dest="robustness_command", required=True)
    r = _command(rsub, "perturb", "write the images with swapped backgrounds")
    r.add_argument("--val-ann", default=f"{DEFAULT_PREPARED}/coco_val.json",
                   help="COCO-format annotation file whose images are perturbed")
    r.add_argument("--image-root", default=DEFAULT_EMBEDDED,
                   help="folder the annotation file's image paths are relative to")
    r.add_argument("--out", default="data/perturbed",
                   help="folder for the <condition>/ images and manifest.json")
    r.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seed of the clutter backgrounds (integer >= 0)")
    r.set_defaults(func=cmd_robustness_perturb)
    r = _command(rsub, "evaluate", "metrics and per-person OKS of a checkpoint per condition")
    r.add_argument("--checkpoint", required=True, help="training checkpoint of a COCO-track run")
    r.add_argument("--perturbed", default="data/perturbed",
                   help="folder written by `sgpose robustness perturb`")
    r.add_argument("--no-flip", action="store_true", help="no flip test")
    r.add_argument("--out", required=True,
                   help="folder for robustness.json and <condition>/metrics.json")
    r.set_defaults(func=cmd_robustness_evaluate)

    s = _command(sub, "analyze", "what applies to a run: background-swap robustness "
                 "(COCO track) and attention statistics (SG models)")
    s.add_argument("--checkpoint", required=True, help="training checkpoint (a run's last.pt)")
    s.add_argument("--perturbed", default="data/perturbed",
                   help="folder written by `sgpose robustness perturb`")
    s.add_argument("--out", required=True,
                   help="folder for robustness/, attention.json and analysis.json")
    _add_no_fuse(s)
    s.set_defaults(func=cmd_analyze)

    s = _command(sub, "attention-stats", "SGM maps vs disc targets and person masks")
    s.add_argument("--checkpoint", required=True, help="training checkpoint of an SG run")
    s.add_argument("--out", default=None,
                   help="folder for attention.json (default: none, the statistics are "
                        "printed only)")
    s.set_defaults(func=cmd_attention_stats)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sgpose", description=__doc__, formatter_class=_Help)
    sub = p.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_report_commands(sub)
    _add_bench(sub)
    _add_analysis_commands(sub)
    _add_convergence(sub)
    return p


def _command_name(args: argparse.Namespace) -> str:
    """'sgpose <command>' (with the robustness subcommand) for messages."""
    sub = getattr(args, "robustness_command", None)
    return f"sgpose {args.command}" + (f" {sub}" if sub else "")


def _check_out_is_folder(args: argparse.Namespace) -> None:
    """ConfigError when --out names an existing file: every command's --out is a folder."""
    out = getattr(args, "out", None)
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out {out}: is a file; --out names a folder (the command writes "
                          "its files into it)")


def main(argv: list[str] | None = None) -> int:
    """Run `sgpose`; returns the exit status: 0, 2 (a user mistake, one line on stderr) or 130
    (interrupted with Ctrl-C, one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        _check_out_is_folder(args)
        args.func(args)
    except SgposeError as e:
        print(f"{_command_name(args)}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{_command_name(args)}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
