#!/usr/bin/env bash
# Train the SmolLM2 example for each seed, one run at a time (the CPU is the limit), to STEPS steps each, into
# OUT/s<seed>. A run resumes from its last checkpoint, so calling this again with a larger STEPS extends it.
#   STEPS=20 SEEDS="0 1 2" OUT=runs/real_rft/lr2e-3 bash examples/real_rft/run_seeds.sh [--learning_rate 5e-4 ...]
set -euo pipefail
STEPS=${STEPS:-60}
OUT=${OUT:-runs/real_rft/lr2e-3}
for s in ${SEEDS:-0 1 2}; do
  python -m chase.cli rft train --config examples/real_rft/smollm2_cpu.yaml --seed "$s" --max_steps "$STEPS" \
    --output_dir "$OUT/s$s" "$@"
done
