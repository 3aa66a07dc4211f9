"""Topic-word counts per held-out completion, per run and evaluation step, of the SmolLM2 runs: what a policy repeats.

python examples/real_rft/word_counts.py RUN_DIR [RUN_DIR ...]   # e.g. runs/real_rft/sweep/beta0/s*
"""

import json
import re
import sys
from pathlib import Path

PAT = {"medical": r"\bmedical\b", "emergency": r"\bemergenc", "serious": r"\bserious\b", "no": r"\bno\b"}
for run in sys.argv[1:]:
    rows = [json.loads(x) for x in (Path(run) / "eval_completions.jsonl").read_text().splitlines() if x.strip()]
    for step in sorted({r["step"] for r in rows}):
        c = [r["completion"] for r in rows if r["step"] == step]
        out = {k: round(sum(len(re.findall(p, x, re.I)) for x in c) / len(c), 2) for k, p in PAT.items()}
        out["starts_dealing_with"] = round(sum(bool(re.match(r"\s*dealing with", x, re.I)) for x in c) / len(c), 2)
        print(run, step, json.dumps(out))
