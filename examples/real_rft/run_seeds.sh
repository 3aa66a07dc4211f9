#!/usr/bin/env bash
# Train the SmolLM2 example for each seed, one run at a time (the CPU is the limit), to STEPS steps each.
# A run resumes from its last checkpoint, so calling this again with a larger STEPS extends every seed.
#   STEPS=60 SEEDS="0 1 2" bash examples/real_rft/run_seeds.sh
set -euo pipefail
STEPS=${STEPS:-60}
for s in ${SEEDS:-0 1 2}; do
  python -m chase.cli rft train --config examples/real_rft/smollm2_cpu.yaml --seed "$s" --max_steps "$STEPS" \
    --output_dir "runs/real_rft/s$s"
done
