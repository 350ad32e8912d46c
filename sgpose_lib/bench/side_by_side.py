"""The side-by-side bench: the study's pair of runs (baseline and SG of one seed) trained one after
the other with the profile's threads, against the same two side by side with one thread each
(what `sgpose train-pair` does in dvc.yaml's train stage).

Each run trains the `cpu` profile's run of one track for `epochs` epochs without validation
through `engine.train` (data loader with the profile's workers, augmentation, targets, the train
step and the epoch's checkpoint) in a fresh process (`train_settings.measure`), and reads its own
`timing.jsonl`; steady img/s = the median of the epochs after the first.
- one after the other: baseline, then SG, `train.threads` of the profile; the pair's rate is the
  harmonic combination 2 / (1/baseline + 1/SG): images per second while the pair trains;
- side by side: both at once, `train.threads=1`; the pair's rate is baseline + SG.
ratio = side by side over one after the other, in the same round; `wall` compares the whole
processes' wall seconds (start-up included): (baseline + SG) over the longer of the two.
A round measures both ways on each track, the profile's own first.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .train_settings import TRACKS, run_config
from .timing import load_average, ratio_summary, settings
from .workers import run_worker, run_workers_together

WORKER = "sgpose_lib.bench.train_settings"
PAIR = ("baseline", "sg")
SIDE_THREADS = 1


def _pair_jobs(track: str, threads: list[str], epochs: int, limit_train: int, profile: str,
               prepared: Path | None) -> list[dict]:
    return [{"config": run_config(track, threads, limit_train, profile, prepared,
                                  variant).to_dict(), "epochs": epochs} for variant in PAIR]


def bench_side_by_side(rounds: int, epochs: int = 3, log: Callable[[str], None] = print,
                       tracks: tuple[str, ...] = TRACKS, limit_train: int = 0,
                       profile: str = "cpu", prepared: Path | None = None) -> dict:
    """Per track and round: each run's steady img/s one after the other and side by side, the
    pair's rates, and their ratio (see the module's docstring)."""
    if epochs < 2:
        raise ValueError("epochs must be >= 2: the first epoch holds the start-up")
    first = run_config(tracks[0], [], limit_train, profile, prepared)
    res: dict = {"settings": settings("cpu", profile=profile, model=first.model.preset,
                                      batch=first.train.batch_size, threads=first.train.threads,
                                      side_threads=SIDE_THREADS, workers=first.data.workers,
                                      epochs=epochs, rounds=rounds, limit_train=limit_train),
                 "tracks": {t: {"rounds": []} for t in tracks}}
    for r in range(rounds):
        for track in tracks:
            after = [run_worker(WORKER, job) for job in
                     _pair_jobs(track, [], epochs, limit_train, profile, prepared)]
            side = run_workers_together(WORKER, _pair_jobs(
                track, [f"train.threads={SIDE_THREADS}"], epochs, limit_train, profile, prepared))
            row = {"one_after_the_other": dict(zip(PAIR, after)),
                   "side_by_side": dict(zip(PAIR, side))}
            if all("steady_img_s" in m for m in after + side):
                a, s = [m["steady_img_s"] for m in after], [m["steady_img_s"] for m in side]
                row["pair_img_s"] = {"one_after_the_other": 2 / sum(1 / v for v in a),
                                     "side_by_side": sum(s)}
                rates = row["pair_img_s"]
                row["ratio"] = rates["side_by_side"] / rates["one_after_the_other"]
                row["wall_ratio"] = sum(m["wall_s"] for m in after) / max(m["wall_s"] for m in side)
                log(f"round {r + 1}, {track}: one after the other {a[0]:.1f} + {a[1]:.1f} img/s, "
                    f"side by side {s[0]:.1f} + {s[1]:.1f}: {row['ratio']:.2f}x "
                    f"(wall {row['wall_ratio']:.2f}x)")
            else:
                log(f"round {r + 1}, {track}: failed: "
                    + "; ".join(m["error"] for m in after + side if "error" in m))
            res["tracks"][track]["rounds"].append(row)
    for t in res["tracks"].values():
        for key in ("ratio", "wall_ratio"):
            t[key] = ratio_summary([row[key] for row in t["rounds"] if key in row])
    res["settings"]["load_end"] = load_average()
    return res
