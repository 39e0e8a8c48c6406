#!/usr/bin/env bash
# Train AttendSeg with the shipped model's recipe on a CUDA machine, then export and score the INT8 model.
# The trainer picks the GPU itself (bf16 autocast on CUDA); the recipe is the one docs/training.md
# describes, the same as on a CPU, only faster.
#
#   bash scripts/gpu_train.sh                       # a whole run: 30,000 steps, then export
#   RESUME=runs/gpu/resume.safetensors bash scripts/gpu_train.sh   # continue a stopped run
#   MINUTES=60 bash scripts/gpu_train.sh            # stop (and save) after an hour; run again to go on
#
# Needs: python3 with torch (CUDA build), numpy, opencv, safetensors, tqdm, PyYAML, onnx, onnxruntime
# (the package runs from this working tree; nothing is installed), and CamVid in SegNet's layout.
# Environment (defaults in brackets):
#   DATA     CamVid folder [../shared/camvid]      OUT      run folder [runs/gpu]
#   STEPS    optimiser steps of a new run [30000]  RESUME   resume file to continue from [none]
#   MINUTES  stop after this long, saving the resume file; 0 = run to the end [0]
#   EXPORT   1 = export INT8 and score it on val when the schedule is complete [1]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATA="${DATA:-../shared/camvid}"
OUT="${OUT:-runs/gpu}"
STEPS="${STEPS:-30000}"
RESUME="${RESUME:-}"
MINUTES="${MINUTES:-0}"
EXPORT="${EXPORT:-1}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

test -d "$DATA/train" || { echo "gpu_train.sh: no CamVid at $DATA (set DATA to a folder with train/ and val/)" >&2; exit 1; }
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python3 - <<'EOF'
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "available:", torch.cuda.is_available())
if not torch.cuda.is_available():
    print("gpu_train.sh: warning: no CUDA device; training runs on the CPU (the same recipe, much slower)")
EOF

if [ -n "$RESUME" ]; then
    test -f "$RESUME" || { echo "gpu_train.sh: no resume file $RESUME" >&2; exit 1; }
    python3 -m attendseg_ros.cli.train --data "$DATA" --out "$OUT" --resume "$RESUME" \
        --time-limit-min "$MINUTES" --log-every 250
else
    python3 -m attendseg_ros.cli.train --data "$DATA" --out "$OUT" --steps "$STEPS" \
        --eval-sets val train:0006R0 --time-limit-min "$MINUTES" --log-every 250
fi

# The trainer writes final.safetensors when the schedule is complete (resume.safetensors while it is not).
if [ "$EXPORT" = 1 ] && [ -f "$OUT/final.safetensors" ]; then
    python3 -m attendseg_ros.cli.export --model "$OUT/final.safetensors" --data "$DATA" --out "$OUT/export" \
        --evaluate val
    echo "gpu_train.sh: INT8 model in $OUT/export/ (val is training data of this run: it shows fit)"
elif [ -f "$OUT/resume.safetensors" ]; then
    echo "gpu_train.sh: stopped before the end; continue with RESUME=$OUT/resume.safetensors bash $0"
fi
