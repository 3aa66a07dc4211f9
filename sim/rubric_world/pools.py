"""Candidate pools for rubric refinement: one sampler per pool mode (``rewards.refine.POOL_MODES``).

Every caller that refines rubric-world rubrics (``sim.rubric_experiments``, ``chase rubric sim-export``, the
triage task in ``rft/tasks/triage.py``) draws its pools here, so one mode means one pool everywhere.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from rewards.refine import POOL_MODES
from sim.rubric_world.world import RubricWorld

__all__ = ["pool_lists", "sample_pool"]


def sample_pool(world: RubricWorld, mode: str, key: jax.Array, n_models: int | None = None) -> np.ndarray:
    """Candidate pools ``(P, pool_size, M)`` int8 for one of ``rewards.refine.POOL_MODES``, a pure function of
    ``key``.

    ``good`` / ``great`` sources draw ``pool_size`` responses of that model per prompt. The ``diverse`` source
    draws one response from each diverse model; when the world has fewer diverse models than ``pool_size`` the
    pool is topped up with further rounds (round ``r`` uses ``jax.random.fold_in(key, r)``, from ``r = 0``), so
    a pool always holds exactly ``pool_size`` responses (a smaller pool would silently change the condition).
    ``n_models`` (diverse source only): draw from the first that many diverse models (the pool's diversity).
    """
    if mode not in POOL_MODES:
        raise ValueError(f"unknown pool mode {mode!r}; expected one of {tuple(POOL_MODES)}")
    m = POOL_MODES[mode]
    if m.source != "diverse":
        return world.sample(m.source, key, m.pool_size)
    if n_models is not None and not 1 <= n_models <= len(world.diverse_names):
        raise ValueError(f"n_models={n_models}: the world has {len(world.diverse_names)} diverse models")
    x = world.sample_diverse(key, n_models)
    if x.shape[1] < m.pool_size:
        # the first round is redrawn under fold_in(key, 0): this is how the experiments have always topped up,
        # and keeping it keeps their numbers
        reps = math.ceil(m.pool_size / x.shape[1])
        x = np.concatenate([world.sample_diverse(jax.random.fold_in(key, r), n_models) for r in range(reps)], axis=1)
    return x[:, : m.pool_size]


def pool_lists(pools: np.ndarray) -> list[list[tuple[int, ...]]]:
    """Pools ``(P, n, M)`` as P lists of response tuples: the hashable form ``rewards.refine.refine`` takes."""
    return [[tuple(int(v) for v in r) for r in pool] for pool in np.asarray(pools)]
