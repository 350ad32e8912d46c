#!/usr/bin/env bash
# The GPU check of the training engine, one script, about 8 minutes on an H200: whole epochs
# through the engine (data included) and the fused eval speed, then the model alone per mode and
# the profiler's top ops. Results: $OUT/bench_cuda_engine.{md,json}, $OUT/bench_cuda_modes.{md,json}
# and the logs; copy the .md files to reports/ with the card's name in them.
#
# The GPU machine has torch, OpenCV, PyYAML and tqdm but not pycocotools; carry its wheel:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_17_x86_64 -d .whl pycocotools==2.0.11
#   (.whl/ is listed in .git/info/exclude), then from the repository root on the GPU machine:
#   OUT=<folder> bash scripts/gpu_check.sh
set -uo pipefail
OUT=${OUT:-reports}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# the compile cache of the cold run serves the warm run of the same setting
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/sgpose-inductor}
if ! python3 -c "import pycocotools" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site" || { echo "pycocotools missing"; exit 2; }
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 -m sgpose_lib.cli prepare > /dev/null || exit 2
timeout 360 python3 scripts/gpu_bench.py --section engine --out "$OUT" 2>&1 | tee "$OUT/engine.log"
timeout 150 python3 scripts/gpu_bench.py --section modes --out "$OUT" 2>&1 | tee "$OUT/modes.log"
ls -l "$OUT"
