"""The sections of the bench report beside the main comparison, and the shared formatting.

`data_lines` (data pipeline vs training throughput), `scaling_lines` (train step time vs width and
input size), `shared_load_lines` (the train step beside a busy process), `train_settings_lines`
(whole training epochs per setting), `ops_lines` (torch.profiler top ops), `roofline_lines`
(the eval paths against the matrix-multiply rate); each takes its section
of the bench JSON and returns Markdown lines. `settings_line` is the settings line every section
starts with; `ms` formats ms per image (1 decimal from 10 ms, else 3 significant digits).
"""
from __future__ import annotations

import statistics

from .models import VARIANT_TITLES, VARIANTS
from .roofline import NEAR_GEMM


def ms(x: float) -> str:
    return f"{x:.1f}" if x >= 10 else f"{x:.3g}"


def settings_line(s: dict) -> str:
    dev = f"GPU {s['gpu']}, " if "gpu" in s else ""
    return (f"Settings: {s['date']}, device {s['device']}, {dev}CPU {s['cpu']} ({s['logical_cpus']} logical "
            f"CPUs), torch {s['torch']}, torch.get_num_threads() = {s['threads']}, "
            f"python {s['python']}" + _dispatch_text(s)
            + (f", repeats {s['repeats']}" if "repeats" in s else "") +
            f"; 1-minute load average {s.get('load_start')} at the start, {s.get('load_end')} at the end"
            + _share_text(s) + ".")


def _dispatch_text(s: dict) -> str:
    """torch's CPU kernel level, and whether numerics.py limited it (older results: nothing)."""
    if "cpu_capability" not in s:
        return ""
    limited = sorted(k for k, v in (s.get("cpu_dispatch") or {}).items() if v)
    how = f"limited by {', '.join(limited)}" if limited else "native dispatch"
    return f", CPU kernels {s['cpu_capability']} ({how})"


def _share_text(s: dict) -> str:
    """The CPU share of the timed calls (see timing.seconds): how much other processes interfered."""
    if s.get("device") != "cpu":
        return ""
    parts = [f"{phase} {s[k]:.2f}" for phase, k in (("eval", "cpu_share_eval"), ("train", "cpu_share_train"))
             if s.get(k) is not None]
    if not parts:
        return ""
    low = min(s[k] for k in ("cpu_share_eval", "cpu_share_train") if s.get(k) is not None) < 0.9
    return ("; CPU share of the timed calls (process CPU time / (wall time x threads), median) "
            + ", ".join(parts) + (" — below 0.9: other processes took CPU time, so the times are "
                                  "inflated and noisy" if low else " (the cores were this process')"))


def _workers(n: int) -> str:
    return f"{n} worker" + ("" if n == 1 else "s")


def data_lines(data: dict) -> list[str]:
    lines = [f"Profile `{data['profile']}`, each track's training set; loader rates over the batches after "
             "the first (decode + affine warp + targets + collate, shuffled), start-up = time to the first "
             "batch; the train step as in the main table, with the profile's memory format; 'fed by the "
             "loader' = the real loop, the loader with the profile's worker count feeding the train step.", ""]
    for track, d in data["tracks"].items():
        if not d.get("available"):
            lines += [f"### {track} track", "", f"data pipeline not available ({d.get('reason')})", ""]
            continue
        h, w = d["input_hw"]
        workers = d["profile_workers"]
        lines += [f"### {track} track: {d['preset']}, input {h}x{w} (height x width), batch {d['batch']}"
                  f"{', channels_last' if d['channels_last'] else ''}, {d['samples']} samples", "",
                  "| DataLoader workers | samples/s | start-up (s) |", "|---:|---:|---:|"]
        lines += [f"| {k} | {e['samples_per_s']:.0f} | {e['first_batch_s']:.2f} |" for k, e in d["loader"].items()]
        lines += ["", f"| model | train step alone, img/s | fed by the loader ({_workers(workers)}), img/s |",
                  "|---|---:|---:|"]
        lines += [f"| {VARIANT_TITLES[v]} | {d['train'][v]['samples_per_s']:.0f} | "
                  f"{d['end_to_end'][v]['samples_per_s']:.0f} |" for v in VARIANTS]
        supply = d["loader"][str(workers) if str(workers) in d["loader"] else workers]["samples_per_s"]
        need = max(d["train"][v]["samples_per_s"] for v in VARIANTS)
        kept = [100 * d["end_to_end"][v]["samples_per_s"] / d["train"][v]["samples_per_s"] for v in VARIANTS]
        verdict = ("not data-bound: the loader alone delivers more samples/s than the model trains"
                   if supply > need else "data-bound: the model trains faster than the loader delivers")
        lines += ["", f"Verdict: {verdict} ({supply:.0f} samples/s with {_workers(workers)} vs {need:.0f} img/s); "
                  f"fed by the loader the loop keeps {kept[0]:.0f} % (baseline) and {kept[1]:.0f} % (SG) of "
                  "the train step's rate (the workers and the model's threads share the cores).", ""]
    return lines


def scaling_lines(sc: dict) -> list[str]:
    """The scaling table (ms/img and GMACs/img per preset and input size) and its figure."""
    s = sc["settings"]
    sizes = sorted({tuple(r["input_hw"]) for r in sc["rows"]})
    lines = ["## Scaling: train step time vs width and input size", "", settings_line(s), "",
             f"Baseline model, batch {s['batch']}, median of {s['repeats']} steps after one warm-up; "
             "ms/img (GMACs/img).", "",
             "| preset | " + " | ".join(f"{hh}x{ww}" for hh, ww in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for preset in dict.fromkeys(r["preset"] for r in sc["rows"]):
        cells = {tuple(r["input_hw"]): r for r in sc["rows"] if r["preset"] == preset}
        lines.append(f"| {preset} | " + " | ".join(
            f"{ms(cells[k]['train_ms_per_img'])} ({cells[k]['macs'] / 1e9:.2f})" if k in cells else ""
            for k in sizes) + " |")
    return lines + ["", "![train step time vs input size and width](figures/bench_scaling.png)", ""]


def shared_load_lines(sl: dict) -> list[str]:
    """The shared-load table: img/s alone and beside a busy process per OpenMP wait setting (of
    one process, or of `together` processes at once: a side-by-side pair)."""
    s = sl["settings"]
    h, w = s["input_hw"]
    together = s.get("together", 1)
    what = ("the `cpu` profile's train step" if together == 1 else
            f"{together} train steps side by side (as `sgpose train-pair` trains the study)")
    lines = [f"## Shared load: {what} beside another process, {s['model']} "
             f"({s['variant']}), input {h}x{w} (height x width), batch {s['batch']}", "",
             settings_line(s), "",
             f"The train step of training ({s['threads']} torch thread{'s' if s['threads'] != 1 else ''}"
             f"{', channels_last' if s.get('channels_last') else ''}; the median of {s['steps']} steps after "
             f"{s['warmup_steps']} warm-up steps) timed alone and while one other CPU-bound process (a "
             "busy loop the bench starts and stops) runs, under OpenMP wait settings; each measurement in a "
             "fresh process, since the OpenMP runtime reads them when torch loads it. Share = img/s over the "
             "default setting's img/s alone; CPU share as in the settings line."
             + ("" if together == 1 else
                f" {together} identical processes run at once: img/s is their sum, CPU share their "
                "mean."), "",
             "| OpenMP setting | alone, img/s | share | CPU share | beside a busy process, img/s | share | "
             "CPU share |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, runs in sl["runs"].items():
        cells = []
        for load in ("alone", "busy"):
            r = runs.get(load, {})
            if "img_per_s" in r:
                share = r.get("share_of_idle_default")
                cells += [f"{r['img_per_s']:.1f}", f"{100 * share:.0f} %" if share else "",
                          f"{r['cpu_share']:.2f}"]
            else:
                cells += ["failed: " + r.get("error", "not run"), "", ""]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def train_settings_lines(ts: dict) -> list[str]:
    """The training-settings table: per track, each setting's steady img/s per round and its
    ratio to the profile's own setting (median and range over the rounds)."""
    s = ts["settings"]
    limit = f", the first {s['limit_train']} training samples" if s.get("limit_train") else ""
    lines = [f"## Training settings: whole epochs of the `{s['profile']}` profile's SG runs", "",
             settings_line(s), "",
             f"Each setting trains the profile's SG run ({s['model']}, batch {s['batch']}, "
             f"{s['threads']} torch threads, {_workers(s['workers'])}{limit}) for {s['epochs']} "
             "epochs without validation through `engine.train` (data loading, augmentation, "
             "targets, the train step and the epoch's checkpoint included), each in a fresh "
             "process; steady = the median img/s of the epochs after the first (which holds the "
             "start-up and any compilation). The settings alternate within each of the "
             f"{s['rounds']} rounds; ratio = steady img/s over the profile's own in the same round: "
             "median (range). Generated by `sgpose bench --train-settings` "
             "(`sgpose_lib.bench.train_settings`).", ""]
    for track, rows in ts["tracks"].items():
        lines += [f"### {track} track", "", "| setting | steady img/s per round | ratio |",
                  "|---|---|---:|"]
        for name, row in rows.items():
            cells = ", ".join(f"{r['steady_img_s']:.1f}" if "steady_img_s" in r else
                              f"failed: {r.get('error', '')}" for r in row["rounds"])
            q = row.get("ratio")
            ratio = f"{q['median']:.2f}x ({q['min']:.2f}-{q['max']:.2f})" if q else ""
            lines.append(f"| {name} | {cells} | {ratio} |")
        lines.append("")
    return lines


def side_by_side_lines(sb: dict) -> list[str]:
    """The side-by-side table: per track and round, each run's steady img/s one after the other
    and side by side, the pair's rates and their ratio; the median (range) over the rounds."""
    s = sb["settings"]
    limit = f", the first {s['limit_train']} training samples" if s.get("limit_train") else ""
    lines = [f"## Side by side: the `{s['profile']}` profile's pair of runs, two threads one after "
             f"the other vs one thread each at once", "", settings_line(s), "",
             f"A pair is the profile's baseline and SG run ({s['model']}, batch {s['batch']}, "
             f"{_workers(s['workers'])}{limit}), each trained for {s['epochs']} epochs without "
             "validation through `engine.train` (data loading, augmentation, targets, the train "
             "step and the epoch's checkpoint included) in a fresh process; steady = the median "
             "img/s of the epochs after the first. One after the other: baseline, then SG, with "
             f"{s['threads']} torch threads each; the pair's rate is 2 / (1/baseline + 1/SG). Side "
             f"by side (`sgpose train-pair`, dvc.yaml's train stage): both at once, "
             f"{s['side_threads']} torch thread each; the pair's rate is baseline + SG. ratio = "
             "side by side over one after the other in the same round; wall = the two processes' "
             "wall seconds one after the other over the longer of the two side by side (start-up "
             f"included). {s['rounds']} rounds, the tracks alternating. Generated by "
             "`sgpose bench --side-by-side` (`sgpose_lib.bench.side_by_side`).", ""]
    for track, t in sb["tracks"].items():
        lines += [f"### {track} track", "",
                  "| round | one after the other: baseline, SG img/s (pair) | side by side: "
                  "baseline, SG img/s (pair) | ratio | wall |", "|---:|---|---|---:|---:|"]
        for i, row in enumerate(t["rounds"], 1):
            if "ratio" not in row:
                errors = [m.get("error", "") for way in ("one_after_the_other", "side_by_side")
                          for m in row[way].values() if "error" in m]
                lines.append(f"| {i} | failed: {'; '.join(errors)} | | | |")
                continue
            cells = [", ".join(f"{m['steady_img_s']:.1f}" for m in row[way].values())
                     + f" ({row['pair_img_s'][way]:.1f})"
                     for way in ("one_after_the_other", "side_by_side")]
            lines.append(f"| {i} | {cells[0]} | {cells[1]} | {row['ratio']:.2f}x | "
                         f"{row['wall_ratio']:.2f}x |")
        q, w = t.get("ratio"), t.get("wall_ratio")
        if q:
            lines.append(f"| median (range) | | | {q['median']:.2f}x ({q['min']:.2f}-{q['max']:.2f}) "
                         f"| {w['median']:.2f}x ({w['min']:.2f}-{w['max']:.2f}) |")
        lines.append("")
    return lines


def ops_lines(ops: dict) -> list[str]:
    """The profiler section (a `bench_ops` result) as Markdown lines."""
    s = ops["settings"]
    h, w = s["input_hw"]
    kind = "GPU kernel" if s["device"] == "cuda" else "CPU"
    lines = [f"## Where the time goes: torch.profiler, SG train step, {s['model']} {h}x{w}, batch {s['batch']}",
             "", f"Device {s['device']}, torch {s['torch']}, {s['threads']} threads"
             f"{', channels_last' if s['channels_last'] else ''}{', bf16 autocast' if s['bf16'] else ''}; "
             f"{s['steps']} profiled steps after 2 warm-up steps; ops by {kind} self time "
             f"({ops['total_ms_per_step']:.1f} ms per step in all).", "",
             "| op | self ms / step | share | calls / step |", "|---|---:|---:|---:|"]
    lines += [f"| `{o['op']}` | {ms(o['self_ms_per_step'])} | {100 * o['share']:.1f} % | "
              f"{o['calls_per_step']:.0f} |" for o in ops["ops"]]
    return lines + [""]


def roofline_lines(rf: dict) -> list[str]:
    """The roofline table: per variant, each eval path's ms/img, its convolutions' GFLOP/s and
    share of the GEMM rate measured in the same rounds, and what the target time would need."""
    s = rf["settings"]
    h, w = s["input_hw"]
    gemm = statistics.median(r["gemm_gflops"] for r in rf["variants"].values())
    lines = ["## Roofline: the eval paths against this machine's matrix-multiply rate", "",
             settings_line(s), "",
             f"{s['model']}, input {h}x{w}, batch {s['batch']}. Each round times one fp32 GEMM "
             f"({s['gemm_n']}x{s['gemm_n']} by {s['gemm_n']}x{s['gemm_n']}, torch.mm) and one eval "
             f"forward of each path, round-robin; the GEMM ran at {gemm:.0f} GFLOP/s (median). A "
             "path's GFLOP/s counts its convolutions' multiply-adds only (x 2; BN, activations, "
             "upsampling and additions come on top); shares and ratios are medians of per-round "
             "values. Generated by `sgpose bench --roofline` (`sgpose_lib.bench.roofline`).", "",
             "| path | " + " | ".join(f"{VARIANT_TITLES[v]}: ms/img, GFLOP/s, share of GEMM, "
                                      "x official" for v in VARIANTS) + " |",
             "|---|" + "---:|" * len(VARIANTS)]
    names = list(rf["variants"][VARIANTS[0]]["paths"])
    for name in names:
        cells = [(lambda p: f"{ms(p['ms_per_img'])}, {p['gflops']:.0f}, {p['share_of_gemm']:.2f}, "
                  f"{p['vs_official']:.2f}")(rf["variants"][v]["paths"][name]) for v in VARIANTS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    t = {v: rf["variants"][v]["target"] for v in VARIANTS}
    ratio = t[VARIANTS[0]]["ratio"]
    lines.append(f"| target: {ratio} x official | " + " | ".join(
        f"{ms(t[v]['ms_per_img'])}, {t[v]['gflops']:.0f}, {t[v]['share_of_gemm']:.2f}, {ratio}"
        for v in VARIANTS) + " |")
    share = max(t[v]["share_of_gemm"] for v in VARIANTS)
    lines += ["", f"Verdict: {ratio} x the official time needs the convolutions alone to run at "
              f"{share:.2f} x the GEMM rate measured beside them (the larger of the two variants): "
              + ("at or beyond what a dense GEMM reaches on this machine, so it needs fewer "
                 "multiply-adds (e.g. Winograd convolution), not faster kernels." if share >= NEAR_GEMM
                 else "below the GEMM rate, so kernels doing the same work could in principle "
                 "reach it."), ""]
    return lines
