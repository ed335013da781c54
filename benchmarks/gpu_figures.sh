#!/usr/bin/env bash
# Every GPU figure of BENCHMARKS.md in one go: eot_speed at batch 64, 640 px on yolov8n (results/eot_speed_cuda.json);
# both rows of attack_person_gpu (results/attack_person_gpu.json), trained side by side because YOLOv5n at batch 16
# leaves most of a GPU idle (so each row's wall_clock_s is an upper bound); and the tests that need CUDA.
#
#   bash benchmarks/gpu_figures.sh [LOGS]     (logs in LOGS, default runs/gpu_figures)
#
# PY: the Python with patchgen and ART (default python3; .venv-art/bin/python after benchmarks/art_env.sh).
# SPEED_S, ATTACK_S, TESTS_S: time limits in seconds for each part (default 0, none) where a GPU is lent for a while;
# an attack stopped by its limit resumes from its checkpoint on the next call.
# SMOKE=1: the same sequence tiny and on the CPU, to check this script before GPU time is spent on it.
set -u
cd "$(dirname "$0")/.."
logs=${1:-runs/gpu_figures}
mkdir -p "$logs"
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
start=$(date +%s)
say() { echo "[$(($(date +%s) - start)) s] $*"; }

speed=(--batch 64 --imgsz 640 --device cuda)
attack=()
runs=runs
speed_result=eot_speed_cuda
attack_result=attack_person_gpu
if [ -n "${SMOKE:-}" ]; then  # its figures go to *_smoke.json, removed at the end: the committed ones stay
  speed=(--batch 2 --imgsz 128 --repeats 1 --sweep-batches 2 --sweep-sizes 160 --sweep-repeats 1 --device cpu)
  attack=(--set train.steps=3 --set imgsz=160 --set artifact.size=40 --set train.batch=2 --set train.device=cpu)
  runs=runs/gpu_figures_smoke
  speed_result=eot_speed_smoke
  attack_result=attack_person_smoke
fi
versions="print('torch', torch.__version__, 'kornia', kornia.__version__, 'ultralytics', ultralytics.__version__,
'ART', art.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
"$PY" -c "import torch, kornia, ultralytics, art; $versions" || exit 2

say "eot_speed"
timeout "${SPEED_S:-0}" "$PY" benchmarks/eot_speed.py "${speed[@]}" --model yolov8n.yaml \
  --result "$speed_result" >"$logs/speed.log" 2>&1
say "eot_speed: exit $?"

for row in gpu gpu_pseudo; do  # attack_person.py locks the shared JSON: each row lands in it, the other kept
  timeout "${ATTACK_S:-0}" "$PY" benchmarks/attack_person.py --config "benchmarks/configs/attack_person_$row.yaml" \
    "${attack[@]}" --out "$runs/attack_person_$row" --result "$attack_result" >"$logs/attack_$row.log" 2>&1 &
done
if [ -z "${SMOKE:-}" ]; then
  timeout "${TESTS_S:-0}" "$PY" -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_capture_live.py \
    -k "bf16 or compiled or gpu" >"$logs/tests.log" 2>&1 &
fi
wait
say "attack rows and tests done"
if [ -n "${SMOKE:-}" ]; then  # both rows must be in the one file
  "$PY" -c "import json, sys; print('rows:', 'top level' if 'adv_ap50' in (r := json.load(open(sys.argv[1]))) else
      'no labels row', '+ pseudo_labels' if 'pseudo_labels' in r else '(no pseudo_labels)')" \
    "benchmarks/results/$attack_result.json"
  rm -rf "benchmarks/results/$speed_result.json" "benchmarks/results/$attack_result.json" \
    "benchmarks/results/$attack_result"
fi
tail -n 12 "$logs"/*.log
say "end"
