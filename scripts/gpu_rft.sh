#!/usr/bin/env bash
# Real RFT on one GPU, one command: build the triage task, pretrain a tiny Qwen2 LM on the base-model corpus,
# run TRL GRPO with the INITIAL and a REFINED (4 great & diverse pairs) rubric, and write metrics + a figure.
#
#   bash scripts/gpu_rft.sh            # the GPU run (budget: well under 10 minutes on one H100/H200)
#   bash scripts/gpu_rft.sh --tiny     # the same pipeline, tiny and on CPU (a few minutes here): an end-to-end check
#
# Needs torch, transformers, accelerate, jax (CPU is enough), matplotlib/seaborn, and trl + datasets (+ dill,
# multiprocess): where those are missing, carry them as wheels in .whl/ and this script installs them into
# /tmp/site. Writes into $OUT (default runs/rft/gpu_out): rft_gpu_metrics.json, rft_gpu_metrics.csv,
# rft_gpu_curves.{png,pdf,json}, rft_gpu_log.txt. Work files (task, model, checkpoints) go to $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
TINY=0
if [ "${1:-}" = "--tiny" ]; then TINY=1; fi
OUT=${OUT:-runs/rft/gpu_out}
WORK=${WORK:-/tmp/rft_gpu$([ $TINY = 1 ] && echo _tiny || true)}  # "|| true": under set -e a failed $(...) in an assignment exits
# a task built beforehand (chase rft build-task --out runs/rft/gpu/task --corpus-per-case 400
# --refine-modes 4-great-diverse-pairs) and carried along saves ~1 minute of device time
TASK=${TASK:-$([ $TINY = 1 ] && echo "$WORK/task" || echo runs/rft/gpu/task)}
mkdir -p "$OUT" "$WORK"
LOG="$OUT/rft_gpu_log.txt"
: > "$LOG"

if ! python3 -c "import trl, datasets" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "trl/datasets missing and no .whl/ to install them from" | tee -a "$LOG"; exit 2
  fi
fi
# the repo itself, without installing it; jax stays on the CPU (it only draws the rubric world, and on a
# GPU it would grab most of the device memory at start-up)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 JAX_PLATFORMS=cpu TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
chase() { python3 -m chase.cli "$@"; }
stamp() { echo "[$(date +%T)] $*" | tee -a "$LOG"; }

if [ $TINY = 1 ]; then
  TASK_ARGS=(--n-prompts 16 --n-eval 4 --corpus-per-case 48 --refine-modes 4-great-diverse-pairs)
  PRE_ARGS=(--size nano --epochs 3 --device cpu)
  TRAIN_ARGS=(--max_steps 6 --eval_every 3 --eval_prompts 4 --eval_samples 4 --per_device_train_batch_size 8
              --num_generations 4 --use_cpu true --tf32 false --save_steps 3 --logging_steps 1)
else
  TASK_ARGS=(--n-prompts 64 --n-eval 16 --corpus-per-case 400 --refine-modes 4-great-diverse-pairs)
  PRE_ARGS=(--size small --epochs 3 --batch-size 64 --lr 2e-3 --device auto)
  TRAIN_ARGS=(--max_train_minutes 2.5)   # a guard: 200 steps should take ~2 minutes on one H100
fi

stamp "environment"
python3 - <<'EOF' 2>&1 | tee -a "$LOG"
import torch, transformers, trl, datasets, accelerate
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
print("transformers", transformers.__version__, "trl", trl.__version__, "datasets", datasets.__version__,
      "accelerate", accelerate.__version__)
EOF

stamp "build task"
if [ -f "$TASK/task.json" ]; then echo "using the task in $TASK" | tee -a "$LOG"
else chase rft build-task --out "$TASK" "${TASK_ARGS[@]}" 2>>"$LOG" | tail -c 400 | tee -a "$LOG"; fi
echo | tee -a "$LOG"
stamp "pretrain"
[ -f "$WORK/tinylm/config.json" ] || chase rft pretrain --task "$TASK" --out "$WORK/tinylm" "${PRE_ARGS[@]}" \
  --no-progress 2>>"$LOG" | tee -a "$LOG"
for proxy in initial refined; do
  stamp "GRPO proxy=$proxy"
  chase rft train --config rft/configs/gpu.yaml --prepare false --model_name_or_path "$WORK/tinylm" \
    --task_dir "$TASK" --output_dir "$WORK/grpo-$proxy" --proxy "$proxy" "${TRAIN_ARGS[@]}" \
    >>"$LOG" 2>&1 || { stamp "GRPO proxy=$proxy FAILED (see log)"; tail -n 40 "$LOG"; exit 1; }
  tail -n 1 "$LOG"
done
stamp "collect + plot"
chase rft collect --run initial="$WORK/grpo-initial" --run refined="$WORK/grpo-refined" --model "$WORK/tinylm" \
  --out "$OUT" --stem rft_gpu --title "GRPO on the triage task ($([ $TINY = 1 ] && echo 'tiny, CPU' || echo GPU))" \
  | tee -a "$LOG"
stamp "done"
