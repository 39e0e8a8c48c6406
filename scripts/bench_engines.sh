#!/usr/bin/env bash
# The CPU engine comparison in one go: onnxruntime and OpenVINO at FP32 and INT8 on the shipped
# model (its input size from its sidecar), the backend `auto` would choose, and the label agreement
# between the engines on every CamVid val frame. A few minutes on 2 AVX2 cores.
# Run it on an IDLE CPU (no training, no tests): the timings mean nothing otherwise.
#
#   scripts/bench_engines.sh [OUT_DIR]   results (*.txt, *.json) in OUT_DIR, default $TMPDIR/attendseg_bench_engines
#
# Environment: VENV (.venv, made by `make venv`, which installs openvino with the [test] extra),
# THREADS (2), ITERS (100 timed iterations per engine), CAMVID_DIR (../shared/camvid),
# W8_MODEL (optional: an INT8 model with full 8-bit weights, added to the table and the agreement;
# make one with `attendseg-export --model attendseg_ros/weights/attendseg_camvid11.safetensors
# --data ../shared/camvid --out w8 --weight-bits 8`, ~2 min, then W8_MODEL=w8/attendseg_camvid11.int8.onnx).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
THREADS="${THREADS:-2}"
ITERS="${ITERS:-100}"
CAMVID_DIR="${CAMVID_DIR:-$(cd .. && pwd)/shared/camvid}"
OUT="${1:-${TMPDIR:-/tmp}/attendseg_bench_engines}"
BENCH="$VENV/bin/attendseg-bench"
export AMENT_PREFIX_PATH="${AMENT_PREFIX_PATH:-$(cd "$VENV" && pwd)}"

test -x "$BENCH" || { echo "no $BENCH: run 'make venv' first" >&2; exit 1; }
"$VENV/bin/python" -c "import openvino" 2>/dev/null \
    || { echo "openvino is not installed in $VENV: $VENV/bin/pip install openvino" >&2; exit 1; }
test -d "$CAMVID_DIR/val" || { echo "no CamVid at $CAMVID_DIR (set CAMVID_DIR)" >&2; exit 1; }
mkdir -p "$OUT"

read -r load1 _ < /proc/loadavg
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
    echo "WARNING: load average $load1: the CPU is not idle, the timings will be off" | tee "$OUT/warning.txt" >&2
fi
{ date -u +%FT%TZ; echo "load average: $(cat /proc/loadavg)"; echo "threads $THREADS, iters $ITERS"; } > "$OUT/run.txt"

specs=(onnxruntime:fp32 onnxruntime:int8 openvino:fp32 openvino:int8)
int8_agreement=(onnxruntime:int8 openvino:int8)
if [[ -n "${W8_MODEL:-}" ]]; then
    test -f "$W8_MODEL" || { echo "W8_MODEL=$W8_MODEL not found" >&2; exit 1; }
    specs+=("onnxruntime:int8@$W8_MODEL" "openvino:int8@$W8_MODEL")
    int8_agreement+=("onnxruntime:int8@$W8_MODEL" "openvino:int8@$W8_MODEL")
fi

echo "== 1/4 latency: both engines, FP32 and INT8 (batch 1, 360x480 frames, $THREADS threads)"
"$BENCH" --compare "${specs[@]}" --threads "$THREADS" --iters "$ITERS" --warmup 10 \
    --json "$OUT/compare.json" | tee "$OUT/compare.txt"

echo "== 2/4 what 'backend: auto' would choose here"
"$VENV/bin/python" - "$THREADS" <<'PY' | tee "$OUT/auto.txt"
import json, sys
from attendseg_ros.engines import choose_cpu_backend
choice = choose_cpu_backend(threads=int(sys.argv[1]), trials=5)
print(f"auto -> {choice.backend}: {choice.reason}")
print(json.dumps(choice.timings_ms))
PY

echo "== 3/4 label agreement, INT8 (reference: onnxruntime, the shipped file), all val frames"
"$BENCH" --agreement "${int8_agreement[@]}" --data "$CAMVID_DIR" --frames 0 --threads "$THREADS" \
    --json "$OUT/agreement_int8.json" | tee "$OUT/agreement_int8.txt"

echo "== 4/4 label agreement, FP32 (reference: onnxruntime), all val frames"
"$BENCH" --agreement onnxruntime:fp32 openvino:fp32 --data "$CAMVID_DIR" --frames 0 --threads "$THREADS" \
    --json "$OUT/agreement_fp32.json" | tee "$OUT/agreement_fp32.txt"

echo "results in $OUT/ (${SECONDS}s)"
