#!/usr/bin/env bash
# Continue the committed training run on a GPU machine lent by the device tool, and hand its files back.
# Runs ON the device machine (its python3 has torch+CUDA, numpy, OpenCV, safetensors, tqdm, PyYAML);
# nothing is installed: the package runs from the working tree. docs/training.md, "On a GPU machine".
#
# Here, first (the CPU run stopped, its newest resume file in training/):
#   cp runs/main/resume.safetensors training/           # if the local copy is further along
#   .venv/bin/attendseg-pack-camvid --data ../shared/camvid --out build/camvid-webp   # once; 29 MiB
# Then one device call:
#   run(command="bash scripts/gpu_train.sh", carry=["build/camvid-webp"], timeout_s=590)
# and back here, from the reply's files_at:
#   cp FILES_AT/resume.safetensors training/ && cp FILES_AT/{ema.safetensors,ema.json,history.json} runs/main/
#
# Environment: MINUTES of training before it stops, evaluates and saves (7.5: the whole call stays
# under 10 min with the start, the last evaluation and the copy), DATA (build/camvid-webp),
# RESUME (training/resume.safetensors), OUT (set by the device tool).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${OUT:?OUT is not set: run this through the device tool, which brings back what lands in \$OUT}"
MINUTES="${MINUTES:-7.5}"
DATA="${DATA:-build/camvid-webp}"
RESUME="${RESUME:-training/resume.safetensors}"
RUN_DIR="runs/gpu"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

test -d "$DATA/train" || { echo "no $DATA/train: pack CamVid here and carry it (see the top of $0)" >&2; exit 1; }
test -f "$RESUME" || { echo "no resume file $RESUME" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

# The trainer stops itself at the time limit (finishing the step, evaluating the EMA, saving);
# a second call on the same warm machine continues from runs/gpu, which is further along.
status=0
python3 -m attendseg_ros.cli.train --data "$DATA" --out "$RUN_DIR" --resume "$RESUME" \
    --time-limit-min "$MINUTES" --log-every 250 2>&1 | tee "$OUT/train.log" || status=$?

for name in resume.safetensors ema.safetensors ema.json history.json final.safetensors final.json; do
    if [ -f "$RUN_DIR/$name" ]; then cp "$RUN_DIR/$name" "$OUT/"; fi
done
ls -l "$OUT"
exit "$status"
