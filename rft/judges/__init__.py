"""LLM judges that verify rubric criteria: an OpenAI-compatible HTTP judge and a local transformers judge.

Both follow :class:`rewards.verify.Verifier` (one call per response covers all its criteria), share ONE judge
prompt (:mod:`rft.judges.prompt`) and ONE reply parser (:mod:`rft.judges.parse`), and can share a
:class:`rft.cache.VerdictCache` (:mod:`rft.judges.base`), so repeated scoring and resumed runs cost no calls.
Nothing a server or a model does can crash a run or turn into a silent NO: a criterion the judge could not
score is UNKNOWN (-1). Every count is exposed in :class:`JudgeStats` (``judge.stats``) and logged per batch.

Modules: ``prompt`` (the judge prompt, responses wrapped as data), ``parse`` (reply parsing, bounded JSON
repair), ``client`` (the OpenAI-compatible chat client on the ``openai`` SDK, our retry policy, stats),
``base`` (cache planning and assembly), ``http`` (:class:`OpenAICompatibleJudge`), ``local``
(:class:`TransformersJudge`), ``local_model`` (:class:`LocalChatModel`).
"""

from rft.judges.client import ChatClient, ChatConfig, ChatOutcome, JudgeStats, parse_retry_after, run_coroutine_sync
from rft.judges.http import JudgeConfig, OpenAICompatibleJudge
from rft.judges.local import TransformersJudge
from rft.judges.local_model import LocalChatModel
from rft.judges.parse import MAX_REPLY_CHARS, ParsedVerdicts, extract_json, parse_verdicts
from rft.judges.prompt import (
    JUDGE_SYSTEM_PROMPT,
    PROMPT_TAG,
    PROMPT_VERSION,
    RESPONSE_TAG,
    build_judge_messages,
    escape_data,
    render_text,
)

__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "MAX_REPLY_CHARS",
    "PROMPT_TAG",
    "PROMPT_VERSION",
    "RESPONSE_TAG",
    "ChatClient",
    "ChatConfig",
    "ChatOutcome",
    "JudgeConfig",
    "JudgeStats",
    "LocalChatModel",
    "OpenAICompatibleJudge",
    "ParsedVerdicts",
    "TransformersJudge",
    "build_judge_messages",
    "escape_data",
    "extract_json",
    "parse_retry_after",
    "parse_verdicts",
    "render_text",
    "run_coroutine_sync",
]
