"""The rubric world (docs/ARCHITECTURE.md, world 2): responses as sets of properties, a hidden gold rubric, generator
models of different skill and style, a simulated rubric writer, verifier and proposer.

A *response* is a tuple of 0/1 ints over :data:`PROPERTIES` (length M = 13): which facts it states, which
tail facts (what separates a great answer from a good one), which penalties it commits, which quality-
neutral style artifacts it carries and whether it is long. Everything that describes the properties is
data (:class:`Property`, :data:`WRITER_CRITERIA`) so that a renderer (rft/tasks/triage.py) can turn the same
world into text.

Gold. Each prompt p has gold importances ``gold_weights[p, k]`` (0 for style and length). The gold rubric
is a :class:`rewards.Rubric` with one criterion per fact/tail fact (``check={"property": k}``) and one
"avoids ..." criterion per penalty (``check={"property": k, "negate": True}``); the gold reward of a
response is that rubric's weighted mean under perfect verification (:meth:`RubricWorld.gold`).

Check specs used by the simulated verifier (a contract for renderers):

``{"property": k}``                 YES iff the response has property k
``{"property": k, "negate": True}`` YES iff it does NOT have property k ("avoids ...")
``{"any_of": [k1, k2, ...]}``       YES iff it has at least one of them (a *coarse* criterion, e.g. "considers
                                    alternative diagnoses" is met by naming the dangerous differential OR by
                                    hedging; "thorough" is met by a long answer OR by padding)

The initial rubric (:func:`write_initial_rubric`, the simulated rubric writer) covers what the prompt makes
obvious: most common facts with noisy weights, the obvious safety penalty, and -- this is where top-tail
errors come from -- coarse criteria that pay for hedging and padding and a criterion paying for a style
artifact. It almost never names a tail fact.

Generators (:data:`BASE_PROFILES`, :func:`diverse_profiles`) are per-property inclusion probabilities per
prompt; sampled properties are independent given (model, prompt). The "great" model has a signature style
(markdown headers + a signature closing phrase) and a blind spot (one tail fact it rarely states); the
diverse strong models differ in which tail facts they know and in style.

:class:`SimVerifier` checks criteria with per-criterion false-positive / false-negative rates; its noise is
a deterministic function of (seed, prompt, response, criterion) through a counter-based hash, so one
response always gets the same verdicts (as a cached LLM judge would) and refinement runs resume exactly.
:class:`SimProposer` is a :class:`rewards.refine.Proposer`: it compares the two responses' properties, can
only notice properties in which they DIFFER, and edits the rubric (add, split/tighten, reweight, remove);
with a small probability it misjudges which response is better. It plugs into :func:`rewards.refine.refine`.

Modules: :mod:`~sim.rubric_world.properties` (what a response may have), :mod:`~sim.rubric_world.world` (the
world, generators, rubric writer), :mod:`~sim.rubric_world.verifier` (criteria as arrays, hashing, halo,
verifier), :mod:`~sim.rubric_world.proposer` (the proposer), :mod:`~sim.rubric_world.pools` (refinement pools),
:mod:`~sim.rubric_world.exact` (the exact KL-regularized optimum over all 2^M responses).
Every public name is re-exported here.
"""

from __future__ import annotations

from sim.rubric_world.exact import (
    TiltCurve,
    all_responses,
    beta_grid,
    exact_tilt,
    factorized_logprobs,
    proxy_scores,
    tilt_arrays,
)
from sim.rubric_world.pools import pool_lists, sample_pool
from sim.rubric_world.properties import (
    KINDS,
    PROPERTIES,
    PROPERTY_INDEX,
    SIGN,
    WRITER_CRITERIA,
    M,
    Property,
    WriterCriterion,
)
from sim.rubric_world.proposer import ProposerConfig, SimProposer
from sim.rubric_world.verifier import (
    CriteriaArrays,
    Halo,
    SimVerifier,
    VerifierConfig,
    criteria_arrays,
    criterion_props,
    response_codes,
)
from sim.rubric_world.world import (
    BASE_PROFILES,
    ModelProfile,
    RubricWorld,
    WorldConfig,
    diverse_profiles,
    gold_rubric,
    key_rng,
    make_world,
    precise_criterion,
    write_initial_rubric,
)

__all__ = [
    "KINDS",
    "PROPERTIES",
    "PROPERTY_INDEX",
    "M",
    "SIGN",
    "WRITER_CRITERIA",
    "BASE_PROFILES",
    "Property",
    "WriterCriterion",
    "ModelProfile",
    "WorldConfig",
    "RubricWorld",
    "Halo",
    "VerifierConfig",
    "SimVerifier",
    "ProposerConfig",
    "SimProposer",
    "CriteriaArrays",
    "criterion_props",
    "criteria_arrays",
    "diverse_profiles",
    "make_world",
    "write_initial_rubric",
    "gold_rubric",
    "precise_criterion",
    "response_codes",
    "key_rng",
    "sample_pool",
    "pool_lists",
    "TiltCurve",
    "all_responses",
    "beta_grid",
    "exact_tilt",
    "factorized_logprobs",
    "proxy_scores",
    "tilt_arrays",
]
