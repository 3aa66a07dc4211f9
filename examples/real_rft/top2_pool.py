"""Which pair would the refinement loop hand its proposer on this data? The verifier side of the loop, offline.

    python examples/real_rft/top2_pool.py RUN_DIR [RUN_DIR ...]     # e.g. runs/real_rft/sweep/beta0/s{0,1,2}

Per held-out prompt, the pool is the base policy's completions (step 0 of the first run) and every run's
completions at its last evaluation. The pool is scored by the proxy (the initial rubric under the embedding
verifier, as in training) and the gold (rule checks); ``rewards.refine.select_top2`` picks the two best by the
proxy, as the loop does (ties broken by content hash, never by position). Printed per prompt: how many responses
tie at the top proxy score, where the chosen two come from, their gold, and the best gold in the pool.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from rewards.io import read_jsonl
from rewards.refine import select_top2
from rft.data import DataSpec, load_rubric_dataset
from rft.embedding import EmbeddingVerifier
from rft.reward import RubricReward
from rft.winrate import gold_scorer

runs = [Path(r) for r in sys.argv[1:]]
a = json.loads((runs[0] / "run_config.json").read_text())["rft"]
spec = DataSpec(a["dataset"], a["dataset_format"], a["gold_rubrics"], None, a["eval_fraction"], a["split_seed"])
held = load_rubric_dataset(spec).eval[: a["eval_prompts"]]
pools: dict[int, list[tuple[str, str]]] = defaultdict(list)  # prompt index -> [(source, completion)]
for k, run in enumerate(runs):
    rows = read_jsonl(run / "eval_completions.jsonl")
    last = max(r["step"] for r in rows)
    for r in rows:
        if r["step"] == last or (k == 0 and r["step"] == 0):
            pools[r["prompt_index"]].append((f"{run.name}@{r['step']}", r["completion"]))
proxy, gold = RubricReward(EmbeddingVerifier(), "rubric"), gold_scorer(held)
summary = defaultdict(int)
for i, pool in sorted(pools.items()):
    texts = [t for _, t in pool]
    p = proxy.score([held[i]["prompt"]] * len(texts), [[{"role": "assistant", "content": t}] for t in texts],
                    [held[i]["rubric"]] * len(texts))  # fmt: skip
    g = gold([i] * len(texts), texts)
    b1, b2 = select_top2(p, texts)
    tied = int(np.sum(p == p[b1]))
    pair = [pool[b1][0], pool[b2][0]]
    summary["pairs_from_base"] += sum(s.endswith("@0") for s in pair)
    summary["prompts_with_a_tie_at_the_top"] += tied > 1
    summary["prompts"] += 1
    print(
        f"prompt {i}: {tied} of {len(texts)} tie at proxy {p[b1]:.2f}; pair {pair}, gold {g[b1]:.2f} / {g[b2]:.2f};"
        f" best gold in pool {g.max():.2f} ({pool[int(np.argmax(g))][0]})"
    )
print(json.dumps(dict(summary)))
