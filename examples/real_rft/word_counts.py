"""Topic-word counts per held-out completion (per seed and step) of the SmolLM2 runs: what the policy repeats.

python examples/real_rft/word_counts.py [RUN_ROOT]   # default runs/real_rft/lr2e-3 (seeds s0 s1 s2)
"""

import json
import re
import sys

PAT = {"medical": r"\bmedical\b", "emergency": r"\bemergenc", "serious": r"\bserious\b", "no": r"\bno\b"}
ROOT = sys.argv[1] if len(sys.argv) > 1 else "runs/real_rft/lr2e-3"
for s in (0, 1, 2):
    rows = [json.loads(x) for x in open(f"{ROOT}/s{s}/eval_completions.jsonl")]
    for step in (0, 20, 30):
        c = [r["completion"] for r in rows if r["step"] == step]
        out = {k: round(sum(len(re.findall(p, x, re.I)) for x in c) / len(c), 2) for k, p in PAT.items()}
        out["starts_dealing_with"] = round(sum(bool(re.match(r"\s*dealing with", x, re.I)) for x in c) / len(c), 2)
        print(s, step, out)
