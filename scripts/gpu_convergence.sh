#!/usr/bin/env bash
# The convergence pipeline's `gpu` setting on a GPU machine, run the way the study runs:
# `dvc repro convergence/dvc.yaml`, each run trained through notebooks/train.ipynb by papermill,
# then the convergence report. It trains on the embedded data unless params.yaml's paper profile
# names data.coco_dir / data.mpii_dir.
#
# Run it in a scratch copy of the project: it sets `setting: $SETTING` in convergence/params.yaml,
# so the runs in convergence/runs/ are replaced by the GPU runs (as `dvc repro` does after that
# switch). EPOCHS=N shortens both tracks to N epochs (the lr drops keep the paper's fractions) and
# VAL_EVERY=K validates every K epochs, to fit a time budget; REPRO_TIMEOUT=S stops `dvc repro`
# after S seconds and still packs what the finished epochs wrote.
# Results: $OUT/convergence_gpu.tgz (per-run config, curves, timings, environment, executed
# notebooks, and reports/convergence/), $OUT/repro.log, $OUT/gpu.txt.
#
# A GPU machine without dvc, papermill, ipykernel or pycocotools takes them as wheels in .whl/
# (scripts/gpu_wheels.txt lists them and says how to download them).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-convergence}
SETTING=${SETTING:-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DVC_NO_ANALYTICS=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/sgpose-site .whl/*.whl || exit 2
    export PYTHONPATH="$PYTHONPATH:/tmp/sgpose-site" PATH="/tmp/sgpose-site/bin:$PATH"
fi
if ! command -v sgpose > /dev/null; then   # the project is importable from here, not installed
    mkdir -p /tmp/sgpose-bin
    printf '#!/bin/sh\nexec python3 -m sgpose_lib.cli "$@"\n' > /tmp/sgpose-bin/sgpose
    chmod +x /tmp/sgpose-bin/sgpose
    export PATH="/tmp/sgpose-bin:$PATH"
fi
for tool in dvc papermill sgpose; do
    command -v "$tool" > /dev/null || { echo "$tool is missing"; exit 2; }
done
nvidia-smi --query-gpu=name,memory.total --format=csv 2>&1 | tee "$OUT/gpu.txt"
# DVC's git integration needs pygit2 (left out of the wheels) and a git work tree: without
# either, DVC tracks the pipeline without git
if ! python3 -c "import pygit2" 2> /dev/null || ! git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    dvc config --local core.no_scm true
fi
python3 - "$SETTING" "${EPOCHS:-}" "${VAL_EVERY:-}" <<'EOF' || exit 2
import sys, yaml
setting, epochs, val_every = sys.argv[1:]
path = "convergence/params.yaml"
params = yaml.safe_load(open(path))
if setting not in params["settings"]:
    sys.exit(f"{path}: no setting {setting!r} (has {sorted(params['settings'])})")
params["setting"] = setting
spec = params["settings"][setting]
if epochs:
    spec["epochs"] = {track: int(epochs) for track in spec["epochs"]}
if val_every:
    spec["val_every"] = int(val_every)
yaml.safe_dump(params, open(path, "w"), sort_keys=False)
print(f"{path}: setting {setting}: {spec}")
EOF
start=$(date +%s)
timeout "${REPRO_TIMEOUT:-0}" dvc repro convergence/dvc.yaml 2>&1 | tee "$OUT/repro.log"
rc=${PIPESTATUS[0]}
echo "dvc repro: exit $rc after $(( $(date +%s) - start )) s" | tee -a "$OUT/repro.log"
tar czf "$OUT/convergence_gpu.tgz" convergence/params.yaml convergence/dvc.lock reports/convergence \
    $(ls convergence/runs/*/train/{config.json,epochs.csv,timing.jsonl,environment.json,log.jsonl,train.ipynb} 2>/dev/null)
exit "$rc"
