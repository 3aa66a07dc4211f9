#!/usr/bin/env bash
# The SmolLM2 beta sweep: train examples/real_rft/smollm2_cpu.yaml for every (beta, seed) in BETAS x SEEDS, to STEPS
# steps, LANES runs at a time (each run uses one torch thread; chase rft sets CHASE_RFT_THREADS=1 by default),
# into OUT/beta<b>/s<seed> with its log in OUT/beta<b>_s<seed>.log. A run resumes from its last checkpoint, so
# calling this again continues a killed sweep (or extends it with a larger STEPS).
#   STEPS=60 BETAS="0 0.1 1" SEEDS="0 1 2" LANES=2 OUT=runs/real_rft/sweep bash examples/real_rft/run_sweep.sh
set -euo pipefail
export STEPS=${STEPS:-60} OUT=${OUT:-runs/real_rft/sweep}
mkdir -p "$OUT"
for s in ${SEEDS:-0 1 2}; do for b in ${BETAS:-0 0.1 1}; do echo "$b $s"; done; done |
  xargs -P "${LANES:-2}" -L 1 sh -c 'python -m chase.cli rft train --config examples/real_rft/smollm2_cpu.yaml \
    --beta "$0" --seed "$1" --max_steps "$STEPS" --output_dir "$OUT/beta$0/s$1" > "$OUT/beta$0_s$1.log" 2>&1 \
    && echo "done beta=$0 seed=$1" || echo "FAILED beta=$0 seed=$1 (see $OUT/beta$0_s$1.log)"'
