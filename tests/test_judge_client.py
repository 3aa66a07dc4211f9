"""The chat client on the openai SDK against a REAL local server: our retry policy on top of the SDK (its own
retries off), Retry-After read from the SDK's error, the API key kept out of headers, reprs and stats, the
seeded jitter, and the client's I/O thread released by close() or garbage collection."""

import gc
import json
import pickle
import random
import threading

from rewards.rubric import UNKNOWN, Criterion, Rubric
from rft.judge_server import Fault, JudgeServer, OracleBackend
from rft.judges import ChatClient, ChatConfig, JudgeConfig, OpenAICompatibleJudge
from rft.proposer import OpenAICompatibleProposer, ProposerConfig

RUBRIC = Rubric((Criterion("criterion one holds"), Criterion("criterion two holds")))


def config(srv: JudgeServer, **kw) -> JudgeConfig:
    base = dict(base_url=srv.base_url, model="oracle", timeout_s=2.0, backoff_base_s=0.01, api_key_env=None)
    return JudgeConfig(**{**base, **kw})


def io_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "judge-http"}


def wait_until_gone(threads: set[threading.Thread]) -> bool:
    for t in threads:
        t.join(timeout=5)
    return not any(t.is_alive() for t in threads)


def test_sdk_retries_are_off_every_request_is_ours():
    with JudgeServer(OracleBackend(), fault_fn=lambda i, b: Fault(status=503)) as srv:
        judge = OpenAICompatibleJudge(config(srv, max_attempts=2))
        assert judge.verify("p", "r", RUBRIC).tolist() == [UNKNOWN] * 2
        assert srv.n_requests == 2 == judge.stats.requests  # the SDK would have added 2 retries per attempt
    assert judge.stats.errors == {"http_503": 2} and judge.stats.retries == 1 and judge.stats.failed_calls == 1


def test_no_key_sends_no_authorization_header_even_with_openai_api_key_set(monkeypatch):
    secret = "sk-test-ambient-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)  # the SDK would read it by itself; api_key_env=None must win
    with JudgeServer(OracleBackend()) as srv:
        judge = OpenAICompatibleJudge(config(srv, api_key_env=None))
        judge.verify("p", "r", RUBRIC)
        monkeypatch.setenv("CHASE_TEST_UNSET_KEY", "")
        OpenAICompatibleJudge(config(srv, api_key_env="CHASE_TEST_UNSET_KEY")).verify("p", "s", RUBRIC)
        assert srv.n_requests == 2
        assert all(r.authorization is None for r in srv.requests)  # neither a key nor the placeholder


def test_key_never_in_repr_stats_or_pickle(monkeypatch):
    secret = "sk-test-SECRET-repr-987654"
    monkeypatch.setenv("CHASE_TEST_JUDGE_KEY", secret)
    with JudgeServer(OracleBackend()) as srv:
        judge = OpenAICompatibleJudge(config(srv, api_key_env="CHASE_TEST_JUDGE_KEY"))
        judge.verify("p", "r", RUBRIC)  # the SDK client (which holds the key) now exists
        assert srv.requests[0].authorization == srv.fingerprint(f"Bearer {secret}")
        for text in (repr(judge.client), repr(judge.config), repr(judge.stats), json.dumps(judge.stats.as_dict())):
            assert secret not in text
        assert secret not in pickle.dumps(judge.client).decode("latin-1")
        clone = pickle.loads(pickle.dumps(judge))
        assert clone.verify("p", "other", RUBRIC).tolist() != [UNKNOWN] * 2  # rebuilt from the config
        assert srv.requests[1].authorization == srv.fingerprint(f"Bearer {secret}")
        judge.close()
        clone.close()


def test_jitter_is_seeded_and_ignores_the_global_rng():
    cfg = ChatConfig(backoff_base_s=1.0, backoff_max_s=8.0, seed=7)
    a, b = ChatClient(cfg), ChatClient(cfg)
    random.seed(1)
    da = [a._delay(k, None) for k in range(1, 6)]
    random.seed(2)
    db = [b._delay(k, None) for k in range(1, 6)]
    assert da == db
    assert all(0.0 <= d <= min(8.0, 2 ** (k - 1)) for k, d in enumerate(da, 1))  # full jitter, capped
    assert [ChatClient(ChatConfig(seed=8))._delay(k, None) for k in range(1, 6)] != da
    # Retry-After: at least the server's wait (capped at retry_after_max_s), plus at most backoff_base_s
    assert 2.0 <= a._delay(1, 2.0) <= 3.0 and 60.0 <= a._delay(1, 600.0) <= 61.0


def test_close_and_garbage_collection_release_the_io_thread():
    before = io_threads()
    with JudgeServer(OracleBackend()) as srv:
        judge = OpenAICompatibleJudge(config(srv))
        judge.verify("p", "r", RUBRIC)
        first = io_threads() - before
        assert len(first) == 1  # one I/O loop per client ...
        judge.verify_many([("p", f"r{k}", RUBRIC) for k in range(5)])
        assert io_threads() - before == first  # ... shared by every call
        judge.close()
        assert wait_until_gone(first)
        assert judge.verify("p", "again", RUBRIC).tolist() != [UNKNOWN] * 2  # a closed client reopens
        second = io_threads() - before - first
        assert len(second) == 1
        del judge  # dropped without close(): the finalizer stops its loop
        gc.collect()
        assert wait_until_gone(second)


def test_proposer_uses_the_same_client():
    prop = OpenAICompatibleProposer(ProposerConfig(api_key_env=None))
    assert type(prop.client) is ChatClient and prop.client.stats is prop.stats
