"""`sgpose` command line: a thin layer over the library. User mistakes print one line and exit 2;
Ctrl-C prints one line and exits 130. Every --out names a folder. Only the configuration (no
torch) is imported here; the rest of the library is imported at the top of each command, so that
`--help` and argument errors answer without loading torch."""
from __future__ import annotations

import argparse

from ..config import EVAL_COMPILE, GT_BOXES, TRACKS
from .arguments import (HelpFormatter, Parser, command, height_width, non_negative_int,
                        positive_int)
from .commands import (DEFAULT_EMBEDDED, DEFAULT_PREPARED, cmd_ablations, cmd_analyze,
                        cmd_attention_stats, cmd_baselines, cmd_bench, cmd_config,
                        cmd_convergence_report, cmd_convergence_train, cmd_evaluate, cmd_info,
                        cmd_predict, cmd_prepare, cmd_report, cmd_robustness_evaluate,
                        cmd_robustness_perturb, cmd_train, cmd_train_pair)


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
    s = command(sub, "prepare", "prepare the embedded data set's two tracks")
    s.add_argument("--embedded", default=DEFAULT_EMBEDDED, help="the embedded data set folder")
    s.add_argument("--out", default=DEFAULT_PREPARED,
                   help="folder for the prepared annotation files of both tracks")
    s.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the MPII-style track's train/validation split (integer >= 0)")
    s.set_defaults(func=cmd_prepare)

    s = command(sub, "info", "parameters and multiply-adds of a model")
    s.add_argument("--model", default="hrnet_w32",
                   help="model preset (width and stage layout, sgpose_lib.model.PRESETS)")
    s.add_argument("--sgm", action="store_true", help="also the SG model (SGM at its 4 sites)")
    s.add_argument("--input", type=height_width, default="256x192",
                   help="network input HEIGHTxWIDTH in pixels, multiples of 32")
    s.add_argument("--joints", type=positive_int, default=17,
                   help="joints (heatmaps): 17 COCO, 16 MPII")
    s.set_defaults(func=cmd_info)


def _add_train(sub) -> None:
    s = command(sub, "train", "train one run", description=(
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
    s.add_argument("--seed", type=non_negative_int, default=None,
                   help="random seed, integer >= 0 (default: the profile's train.seed)")
    s.add_argument("--epochs", type=positive_int, default=None,
                   help="training epochs (default: the profile's train.epochs)")
    s.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE", default=[],
                   help="override config keys (list them with `sgpose config`), values in YAML, "
                        "e.g. train.bf16=true data.workers=8; a size is a list [width, height] "
                        "or HEIGHTxWIDTH as --input of `sgpose info`: data.image_size=[192,256] "
                        "and data.image_size=256x192 are the same")
    s.add_argument("--out", default=None,
                   help="run folder (default: runs/<profile>_<track>_<variant>_s<seed>)")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out (same config; train.epochs may grow)")
    s.add_argument("--restart", action="store_true",
                   help="start over where --out holds a run (its files are deleted, unread: "
                        "a damaged last.pt too)")
    s.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    s.set_defaults(func=cmd_train)

    s = command(sub, "train-pair", "train the two runs of a train_pairs entry side by side",
                description=(
        "Train the two runs of PAIR (an entry of --params `train_pairs`: a and b, runs of `runs`) "
        "side by side, one torch thread each, each by the train notebook into "
        "runs/<run>/train (dvc.yaml's train stage; resumable). Both go on to their end when "
        "one fails; the command then fails naming it."))
    s.add_argument("pair", help="a key of --params `train_pairs` (e.g. mpii_s0), or with "
                   "--ablations of its `ablation_pairs` (e.g. sites_s0)")
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--ablations", default=None, metavar="ABLATION_PARAMS",
                   help="the ablations' parameter file (ablations/params.yaml): PAIR is one of "
                   "its ablation_pairs, each run trained by `sgpose train` into "
                   "ablations/runs/<run>/train (default: none: PAIR is one of --params "
                   "train_pairs)")
    s.add_argument("--profile", default=None,
                   help="profile of --params (default: its top-level `profile` key)")
    s.set_defaults(func=cmd_train_pair)

    s = command(sub, "config", "print every settable config key with its current value",
                 description="Print every key of the configuration (dotted, e.g. data.train_ann) "
                 "with its current value for a profile, track and variant: the keys that "
                 "`sgpose train --set KEY=VALUE` and params.yaml's profiles accept.")
    _add_run_choice(s)
    s.set_defaults(func=cmd_config)


def _add_evaluate(sub) -> None:
    s = command(sub, "evaluate", "evaluate a checkpoint (flip test by default)", description=(
        "Evaluate a training checkpoint: PCKh@0.5 in percent (MPII track) or COCO AP/AR as "
        "fractions in [0, 1] (COCO track). metrics.json also records the units and the settings "
        "it was made with. The heatmaps are decoded twice: by the standard decoder (argmax and a "
        "quarter-pixel step; the printed metrics and the files in --out) and by DARK (Zhang et "
        "al., CVPR 2020; the same files in --out/dark/)."))
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
    s.add_argument("--workers", type=non_negative_int, default=None,
                   help="DataLoader worker processes, integer >= 0 (default: the run's "
                        "data.workers)")
    s.add_argument("--out", default=None, help="folder for metrics.json and (COCO track) "
                   "keypoints_results.json, and dark/ for the DARK decoder's (default: none, "
                   "the standard decoder's metrics are printed only)")
    _add_no_fuse(s)
    s.add_argument("--compile", choices=EVAL_COMPILE, default=None, help="torch.compile of the "
                   "inference path (frozen weights; same outputs up to float rounding): 'auto' "
                   "where the set's forward work repays the compilation, 'on', 'off' (default: "
                   "the run's eval.compile)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_evaluate)

    s = command(sub, "baselines", "untrained-model and mean-pose reference metrics")
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--profile", default=None,
                   help="profile of --params (default: its top-level `profile` key)")
    s.add_argument("--out", default="runs/baselines", help="folder for mpii.json and coco.json")
    _add_no_fuse(s)
    s.set_defaults(func=cmd_baselines)


def _add_predict(sub) -> None:
    s = command(sub, "predict", "keypoints and SGM maps of image files", description=(
        "Run a training checkpoint on image files, one person box per image (default: the whole "
        "image), with the checkpoint's own joint layout, input size and flip test. Writes "
        "--out/keypoints.json (COCO keypoint results: image_id = file name, keypoints [x, y, "
        "score] x K in image pixels) and --out/<file stem>.png: the skeleton and, for SG "
        "checkpoints, the four SGM maps (stage2, stage3, stage4, final)."))
    s.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, ...)")
    s.add_argument("--checkpoint", required=True, help="training checkpoint (a run's last.pt)")
    s.add_argument("--box", default=None, metavar="X,Y,W,H",
                   help="person box in image pixels: top-left corner, width, height, the same "
                        "for every image (a negative X: --box=-5,10,200,300) (default: the whole "
                        "image)")
    s.add_argument("--kpt-thr", type=float, default=0.3,
                   help="joints scoring below this (heatmap peak, 0-1) are not drawn; "
                        "keypoints.json holds them all")
    s.add_argument("--out", required=True, help="folder for keypoints.json and the PNGs")
    _add_no_fuse(s)
    s.set_defaults(func=cmd_predict)


def _add_exclude_damaged(s: argparse.ArgumentParser) -> None:
    """--exclude-damaged: a report leaves out a run with a damaged file instead of stopping."""
    s.add_argument("--exclude-damaged", action="store_true",
                   help="leave out each run with a damaged file (cut JSON or CSV, NaN, a "
                        "non-numeric value, missing epochs) and name it with the reason in the "
                        "report, instead of stopping with an error naming the file; the report "
                        "is written whole or not at all either way")


def _add_report_commands(sub) -> None:
    s = command(sub, "report", "build the tables and figures of reports/")
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--runs", default="runs", help="folder of the run folders")
    s.add_argument("--out", default="reports", help="folder for tables/, figures/ and README.md")
    s.add_argument("--readme", default=None,
                   help="also rewrite this README file's Results section (default: none)")
    _add_exclude_damaged(s)
    s.set_defaults(func=cmd_report)

    s = command(sub, "ablations", "the ablation table (reports/ablations/) from "
                 "`dvc repro ablations/dvc.yaml`")
    s.add_argument("--ablation-params", default="ablations/params.yaml",
                   help="the ablation matrix")
    s.add_argument("--ablation-runs", default="ablations/runs",
                   help="folder of the ablation run folders")
    s.add_argument("--params", default="params.yaml", help="the study's parameter file")
    s.add_argument("--runs", default="runs", help="folder of the study's run folders")
    s.add_argument("--out", default="reports/ablations", help="folder for the ablation table")
    _add_exclude_damaged(s)
    s.set_defaults(func=cmd_ablations)


def _add_bench(sub) -> None:
    s = command(sub, "bench", "cost of the SGM and throughput, baseline vs SG")
    s.add_argument("--model", default="hrnet_w32",
                   help="model preset (width and stage layout, sgpose_lib.model.PRESETS)")
    s.add_argument("--input", type=height_width, default="256x192",
                   help="network input HEIGHTxWIDTH in pixels, multiples of 32")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to time")
    s.add_argument("--batch", type=positive_int, default=8, help="images per timed call")
    s.add_argument("--repeats", type=positive_int, default=5, help="timed calls per measurement")
    s.add_argument("--threads", type=non_negative_int, default=0,
                   help="torch.set_num_threads (0: torch's default)")
    s.add_argument("--scaling", action="store_true",
                   help="only the scaling study (widths x input sizes), added to the report")
    s.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    s.add_argument("--no-data", action="store_true", help="skip the data pipeline section")
    s.add_argument("--ops", action="store_true",
                   help="only the torch.profiler top ops of an SG train step, added to the report")
    s.add_argument("--roofline", action="store_true",
                   help="only the roofline, added to the report: the eval paths (official, ours eager, "
                   "ours compiled) timed beside an fp32 GEMM, their GFLOP/s and what 0.6x the official "
                   "time would need")
    s.add_argument("--shared-load", action="store_true",
                   help="only the shared-load case, added to the report: the cpu profile's train step "
                   "alone and beside a busy process, under OpenMP wait settings, and two one-thread "
                   "steps side by side as the study's pairs train (--repeats steps each; "
                   "--model, --input, --batch do not apply)")
    s.add_argument("--train-settings", action="store_true",
                   help="only the training settings, added to the report: whole epochs of the cpu "
                   "profile's SG runs on both tracks under each setting against the profile's own, "
                   "in --repeats alternating rounds (--model, --input, --batch do not apply)")
    s.add_argument("--side-by-side", action="store_true",
                   help="only the side-by-side case, added to the report: the cpu profile's baseline "
                   "and SG run trained one after the other (its threads) against side by side (one "
                   "thread each, as `sgpose train-pair`), whole epochs on both tracks, in --repeats "
                   "alternating rounds (--model, --input, --batch do not apply)")
    s.add_argument("--limit-train", type=non_negative_int, default=0,
                   help="--train-settings and --side-by-side: train on the first N samples of each "
                   "track (0: all)")
    s.add_argument("--out", default="reports",
                   help="folder for bench_<device>.md and .json (and figures/)")
    s.set_defaults(func=cmd_bench)


def _add_convergence(sub) -> None:
    s = command(sub, "convergence", "the convergence study (convergence/dvc.yaml)")
    csub = s.add_subparsers(dest="convergence_command", required=True)
    c = command(csub, "train", "train one run of the matrix, for its epochs or until its "
                 "plateau (continues its run in --out, starts over where the config changed)")
    c.add_argument("--params", default="convergence/params.yaml", help="the setting and matrix")
    c.add_argument("--study-params", default="params.yaml", help="profiles and variants")
    c.add_argument("--run", required=True, help="a key of `runs` in --params")
    c.add_argument("--out", required=True, help="the run folder")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_convergence_train)
    c = command(csub, "report", "curves, SG − baseline at matched budgets, plateaus, verdict")
    c.add_argument("--params", default="convergence/params.yaml", help="the setting and matrix")
    c.add_argument("--runs", default="convergence/runs", help="folder of the run folders")
    c.add_argument("--out", default="reports/convergence", help="folder for the tables and figure")
    _add_exclude_damaged(c)
    c.set_defaults(func=cmd_convergence_report)


def _add_analysis_commands(sub) -> None:
    s = command(sub, "robustness", "background-swap robustness (COCO track)")
    rsub = s.add_subparsers(dest="robustness_command", required=True)
    r = command(rsub, "perturb", "write the images with swapped backgrounds")
    r.add_argument("--val-ann", default=f"{DEFAULT_PREPARED}/coco_val.json",
                   help="COCO-format annotation file whose images are perturbed")
    r.add_argument("--image-root", default=DEFAULT_EMBEDDED,
                   help="folder the annotation file's image paths are relative to")
    r.add_argument("--out", default="data/perturbed",
                   help="folder for the <condition>/ images and manifest.json")
    r.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the clutter backgrounds (integer >= 0)")
    r.set_defaults(func=cmd_robustness_perturb)
    r = command(rsub, "evaluate", "metrics and per-person OKS of a checkpoint per condition")
    r.add_argument("--checkpoint", required=True, help="training checkpoint of a COCO-track run")
    r.add_argument("--perturbed", default="data/perturbed",
                   help="folder written by `sgpose robustness perturb`")
    r.add_argument("--no-flip", action="store_true", help="no flip test")
    r.add_argument("--out", required=True,
                   help="folder for robustness.json and <condition>/metrics.json")
    r.set_defaults(func=cmd_robustness_evaluate)

    s = command(sub, "analyze", "what applies to a run: background-swap robustness "
                 "(COCO track) and attention statistics (SG models)")
    s.add_argument("--checkpoint", required=True, help="training checkpoint (a run's last.pt)")
    s.add_argument("--perturbed", default="data/perturbed",
                   help="folder written by `sgpose robustness perturb`")
    s.add_argument("--out", required=True,
                   help="folder for robustness/, attention.json and analysis.json")
    _add_no_fuse(s)
    s.set_defaults(func=cmd_analyze)

    s = command(sub, "attention-stats", "SGM maps vs disc targets and person masks")
    s.add_argument("--checkpoint", required=True, help="training checkpoint of an SG run")
    s.add_argument("--out", default=None,
                   help="folder for attention.json (default: none, the statistics are "
                        "printed only)")
    s.set_defaults(func=cmd_attention_stats)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="sgpose", description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_report_commands(sub)
    _add_bench(sub)
    _add_analysis_commands(sub)
    _add_convergence(sub)
    return p
