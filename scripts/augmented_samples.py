"""Write reports/figures/augmented_samples.png: augmented training samples of both tracks.

    python scripts/augmented_samples.py [--profile cpu] [--params params.yaml] [--out PNG] [--n 8]

Needs the prepared annotation files (`sgpose prepare`). Without a params.yaml
the default Config is used with a 96x128 (width x height) input, the `cpu` profile's size.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sgpose_lib.config import Config

from sgpose_lib.params import load_config
from sgpose_lib.report.samples import plot_augmented_samples


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="params.yaml profile (default: its own)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="reports/figures/augmented_samples.png")
    ap.add_argument("--n", type=int, default=8, help="samples per track")
    args = ap.parse_args(argv)
    if Path(args.params).is_file():
        cfg = load_config(args.profile, args.params)
    else:
        cfg = Config(profile="defaults, 96x128 input")
        cfg.data.image_size = (96, 128)
        cfg.data.mpii_image_size = (96, 128)
    print(plot_augmented_samples(cfg, args.out, n=args.n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
