"""The refinement loop: top-2 selection, validation, failure handling, exclusion, logging and resuming."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.io import read_jsonl
from rewards.refine import (
    POOL_MODES,
    NoPairError,
    Proposer,
    RefineConfig,
    RefineLogError,
    refine,
    select_top2,
    stable_hash,
)
from rewards.rubric import Criterion, Rubric
from rewards.verify import RuleVerifier


class WordProposer:
    """Adds a criterion rewarding the first word that response_a has and response_b lacks (a pure function of
    its inputs, as resumable runs require). Raises when there is none."""

    name = "word"

    def propose(self, prompt, rubric, a, b):
        missing = [w for w in a.split() if w not in b.split()]
        known = {c.text for c in rubric.criteria}
        missing = [w for w in missing if f"mentions {w}" not in known]
        if not missing:
            raise ValueError("cannot separate the pair")
        return rubric.with_criteria(rubric.criteria + (Criterion(f"mentions {missing[0]}", 2, {"any": [missing[0]]}),))


class InterruptingProposer(WordProposer):
    def __init__(self, after):
        self.calls, self.after = 0, after

    def propose(self, prompt, rubric, a, b):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return super().propose(prompt, rubric, a, b)


def world(P=4, M=6, seed=0):
    rng = np.random.default_rng(seed)
    vocab = ["ct", "mri", "mrv", "emergency", "aspirin", "rest", "honey", "xray", "now", "calm"]
    prompts = [f"prompt {p}" for p in range(P)]
    rubrics = [
        Rubric((Criterion("mentions ct", 1, {"any": ["ct"]}), Criterion("urgent", 3, {"any": ["now"]})))
        for _ in range(P)
    ]
    pools = [[" ".join(rng.choice(vocab, size=4, replace=False)) for _ in range(M)] for _ in range(P)]
    return prompts, rubrics, pools


def test_select_top2_basic():
    assert select_top2([0.1, 0.9, 0.5], ["a", "b", "c"]) == (1, 2)
    assert select_top2([float("nan"), 0.2, 0.1], ["a", "b", "c"]) == (1, 2)
    # ties are broken by content hash, not position
    (i, j) = select_top2([1.0, 1.0, 1.0], ["x", "y", "z"])
    by_hash = sorted(["x", "y", "z"], key=stable_hash)
    assert ["x", "y", "z"][i] == by_hash[0] and ["x", "y", "z"][j] == by_hash[1]
    # two copies of the same answer are not a pair
    assert select_top2([1.0, 1.0, 0.5], ["x", "x", "y"]) in ((0, 2), (1, 2))
    with pytest.raises(NoPairError):
        select_top2([1.0, float("nan")], ["a", "b"])
    with pytest.raises(NoPairError):
        select_top2([1.0, 0.5], ["a", "a"])
    with pytest.raises(ValueError):
        select_top2([1.0], ["a", "b"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0, float("nan")]), st.sampled_from("abcdefg")), min_size=2, max_size=10
    ),
    st.randoms(use_true_random=False),
)
def test_top2_invariant_to_pool_order(pool, rnd):
    scores = [s for s, _ in pool]
    responses = [(r, 1) for _, r in pool]  # tuples, like simulated responses
    perm = list(range(len(pool)))
    rnd.shuffle(perm)
    try:
        i, j = select_top2(scores, responses)
    except NoPairError:
        with pytest.raises(NoPairError):
            select_top2([scores[k] for k in perm], [responses[k] for k in perm])
        return
    i2, j2 = select_top2([scores[k] for k in perm], [responses[k] for k in perm])
    assert (responses[perm[i2]], responses[perm[j2]]) == (responses[i], responses[j])
    assert not math.isnan(scores[i]) and not math.isnan(scores[j]) and scores[i] >= scores[j]
    assert responses[i] != responses[j]
    finite = [s for s in scores if not math.isnan(s)]
    assert scores[i] == max(finite)


def test_refine_statuses_and_keeps_rubric_on_failure():
    prompts, rubrics, pools = world()

    class Bad:
        name = "bad"

        def __init__(self):
            self.k = 0

        def propose(self, prompt, rubric, a, b):
            self.k += 1
            if self.k == 1:
                raise RuntimeError("LLM timed out")
            if self.k == 2:
                return Rubric(())  # empty
            if self.k == 3:
                return rubric.with_criteria(rubric.criteria + (Criterion("Mentions CT!", 2),))  # duplicate
            return "not a rubric"

    assert isinstance(WordProposer(), Proposer)
    res = refine(prompts, rubrics, pools, RuleVerifier(), Bad(), RefineConfig(rounds=1))
    assert [it.status for it in res.iterations] == ["proposer_error", "invalid", "invalid", "invalid"]
    assert "LLM timed out" in res.iterations[0].error and "duplicates" in res.iterations[2].error
    assert res.n_failures == 4 and res.rubrics == tuple(rubrics)
    res = refine(prompts, rubrics, pools, RuleVerifier(), WordProposer(), RefineConfig(rounds=2))
    for it in res.iterations:
        assert it.status in ("accepted", "proposer_error")
        if it.status == "accepted":
            assert len(it.diff["added"]) == 1 and it.new_rubric != it.old_rubric
        assert it.chosen_scores[0] >= it.chosen_scores[1]
        assert it.chosen_hashes == (
            stable_hash(pools[it.prompt_index][it.chosen[0]]),
            stable_hash(pools[it.prompt_index][it.chosen[1]]),
        )


def test_weight_range_is_enforced():
    prompts, rubrics, pools = world(P=1)

    class Heavy:
        name = "heavy"

        def propose(self, prompt, rubric, a, b):
            return rubric.with_criteria(rubric.criteria + (Criterion("new", 7),))

    res = refine(prompts, rubrics, pools, RuleVerifier(), Heavy(), RefineConfig())
    assert res.iterations[0].status == "invalid" and "outside" in res.iterations[0].error
    res = refine(prompts, rubrics, pools, RuleVerifier(), Heavy(), RefineConfig(weight_range=(1, 10)))
    assert res.iterations[0].status == "accepted"


def test_exclude_used_offers_each_response_once():
    prompts, rubrics, pools = world(P=2, M=6)
    res = refine(prompts, rubrics, pools, RuleVerifier(), WordProposer(), RefineConfig(rounds=4, exclude_used=True))
    for p in range(2):
        its = [it for it in res.iterations if it.prompt_index == p]
        chosen = [h for it in its if it.chosen_hashes for h in it.chosen_hashes]
        assert len(chosen) == len(set(chosen))
        assert its[3].status == "no_pair" and its[3].pool_indices == ()  # 6 responses = 3 pairs
        assert len(its[1].pool_indices) == 4


def test_unscored_responses_are_never_chosen():
    prompts = ["p"]
    rubrics = [Rubric((Criterion("a", 1, {"any": ["x"]}), Criterion("judge only", 1)))]
    res = refine(prompts, rubrics, [["x", "y", "x y"]], RuleVerifier(), WordProposer(), RefineConfig())
    assert res.iterations[0].status == "no_pair"  # every score is NaN (UNKNOWN), so nothing is chosen
    assert all(math.isnan(s) for s in res.iterations[0].scores)
    res = refine(prompts, rubrics, [["x", "y", "x y"]], RuleVerifier(), WordProposer(), RefineConfig(unknown="skip"))
    assert res.iterations[0].status == "accepted"


def run_full(tmp_path, name, **cfg):
    prompts, rubrics, pools = world(P=5, M=8)
    config = RefineConfig(rounds=3, exclude_used=True, **cfg)
    return refine(prompts, rubrics, pools, RuleVerifier(), WordProposer(), config, log_path=tmp_path / name)


@pytest.mark.parametrize("after", [0, 3, 7, 11])
def test_resume_after_interruption_gives_identical_rubrics(tmp_path, after):
    full = run_full(tmp_path, "full.jsonl")
    prompts, rubrics, pools = world(P=5, M=8)
    config = RefineConfig(rounds=3, exclude_used=True)
    log = tmp_path / "interrupted.jsonl"
    with pytest.raises(KeyboardInterrupt):
        refine(prompts, rubrics, pools, RuleVerifier(), InterruptingProposer(after), config, log_path=log)
    logged = read_jsonl(log)
    assert logged[0]["type"] == "header" and len(logged) - 1 < len(full.iterations)
    resumed = refine(prompts, rubrics, pools, RuleVerifier(), WordProposer(), config, log_path=log)
    assert resumed.rubrics == full.rubrics
    assert [r.content_hash() for r in resumed.rubrics] == [r.content_hash() for r in full.rubrics]
    assert resumed.n_resumed == len(logged) - 1
    assert [it.to_record() for it in resumed.iterations] == [it.to_record() for it in full.iterations]
    assert read_jsonl(log)[1:] == read_jsonl(tmp_path / "full.jsonl")[1:]
    # a finished log replays without calling the proposer at all
    again = refine(prompts, rubrics, pools, RuleVerifier(), InterruptingProposer(0), config, log_path=log)
    assert again.rubrics == full.rubrics and again.n_resumed == len(full.iterations)


def test_resume_after_a_write_cut_off_mid_line(tmp_path):
    full = run_full(tmp_path, "full.jsonl")
    log = tmp_path / "cut.jsonl"
    text = (tmp_path / "full.jsonl").read_text()
    log.write_text(text[: len(text) * 2 // 3])  # ends in the middle of a record
    assert not log.read_text().endswith("\n")
    resumed = run_full(tmp_path, "cut.jsonl")
    assert resumed.rubrics == full.rubrics
    assert read_jsonl(log) == read_jsonl(tmp_path / "full.jsonl")


def test_log_of_another_run_is_refused(tmp_path):
    run_full(tmp_path, "log.jsonl")
    with pytest.raises(RefineLogError, match="different run"):
        run_full(tmp_path, "log.jsonl", weight_range=(1, 5))
    prompts, rubrics, pools = world(P=5, M=8)
    pools[0] = pools[0][::-1][:-1]
    with pytest.raises(RefineLogError, match="fingerprint"):
        refine(
            prompts,
            rubrics,
            pools,
            RuleVerifier(),
            WordProposer(),
            RefineConfig(rounds=3, exclude_used=True),
            log_path=tmp_path / "log.jsonl",
        )
    (tmp_path / "junk.jsonl").write_text(json.dumps({"hello": 1}) + "\n")
    with pytest.raises(RefineLogError, match="header"):
        run_full(tmp_path, "junk.jsonl")


def test_log_records_everything(tmp_path):
    run_full(tmp_path, "log.jsonl")
    rows = read_jsonl(tmp_path / "log.jsonl")
    assert rows[0]["proposer"] == "word" and rows[0]["verifier"] == "rule" and rows[0]["config"]["rounds"] == 3
    it = rows[1]
    for key in (
        "prompt_index",
        "round",
        "pool_hashes",
        "scores",
        "chosen",
        "chosen_hashes",
        "chosen_scores",
        "old_rubric",
        "new_rubric",
        "diff",
        "status",
    ):
        assert key in it
    assert [(r["round"], r["prompt_index"]) for r in rows[1:]] == [(r, p) for r in range(3) for p in range(5)]


def test_pool_modes_and_config():
    assert set(POOL_MODES) == {"1-good-pair", "1-great-pair", "4-great-pairs", "4-great-diverse-pairs"}
    assert POOL_MODES["4-great-diverse-pairs"].rounds == 4 and POOL_MODES["4-great-diverse-pairs"].pool_size == 16
    assert POOL_MODES["1-good-pair"].source == "good" and POOL_MODES["4-great-diverse-pairs"].source == "diverse"
    c = RefineConfig.from_pool_mode("4-great-pairs", unknown="skip")
    assert c.rounds == 4 and c.exclude_used and c.unknown == "skip"
    with pytest.raises(ValueError):
        RefineConfig.from_pool_mode("8-pairs")
    with pytest.raises(ValueError):
        RefineConfig(rounds=-1)
    with pytest.raises(ValueError):
        refine(["a"], [], [[]], RuleVerifier(), WordProposer())
