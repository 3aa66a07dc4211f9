"""Input files and output paths of ``chase rubric`` (responses and pools JSONL; ``--out``/``--log`` checks).

Responses JSONL: one record per response, ``{"prompt": text-or-chat-list | "prompt_index": int, "response": ...}``
(an optional ``"id"`` is copied to the output). Pools JSONL: ``{"prompt" | "prompt_index", "responses": [...]}``;
or the paper code's scored-responses file, ``{"results": [{"id", "prompt", "scored_responses": [{"response",
"score"}]}]}`` (also nested under ``"scored_responses"``), whose results become pools (prompt by text, else by
the rubric record's ``id``).
A JSON-array response (a simulated response: a tuple of property bits) is read as a tuple.

The output checks run before any work, so a bad path costs nothing and leaves no partial file; each raises
:class:`OutputPathError` saying which flag, what is wrong and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rewards.formats import RubricRecord, read_json_records, render_prompt, unwrap_records
from rewards.rubric import RubricFormatError

__all__ = ["OutputPathError", "check_out_dir", "check_out_file", "read_pools", "read_responses"]


class OutputPathError(ValueError):
    """An output path that cannot be written (missing folder, a folder where a file is wanted, ...)."""


def _writable_folder(folder: Path, flag: str, path: Path) -> None:
    if not folder.exists():
        raise OutputPathError(f"{flag} {path}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise OutputPathError(f"{flag} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{flag} {path}: folder {folder} is not writable; choose another path")


def check_out_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` can be written as a file: its folder exists and is writable, and it is not a folder."""
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{flag} {p}: is a folder; give a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputPathError(f"{flag} {p}: the file is not writable; choose another path")
    _writable_folder(p.parent, flag, p)
    return p


def check_out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` is a writable folder, or can be made one (its parent exists and is writable)."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise OutputPathError(f"{flag} {p}: is a file, a folder is wanted; choose another path")
        _writable_folder(p, flag, p)
    else:
        _writable_folder(p.parent, flag, p)
    return p


def _as_response(x: Any) -> Any:
    return tuple(_as_response(y) for y in x) if isinstance(x, list) else x


def _prompt_lookup(records: list[RubricRecord]) -> dict[str, int | None]:
    index: dict[str, int | None] = {}
    for i, rec in enumerate(records):
        index[rec.prompt] = None if rec.prompt in index else i  # None: ambiguous (two records share the prompt)
    return index


def _locate(rec: dict, k: int, path: str, records: list[RubricRecord], lookup: dict[str, int | None]) -> int:
    if "prompt_index" in rec:
        p = rec["prompt_index"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < len(records):
            raise RubricFormatError(f"must be an integer in [0, {len(records)}), got {p!r}", path, k, "prompt_index")
        return p
    if "prompt" not in rec:
        raise RubricFormatError("missing (give 'prompt' or 'prompt_index')", path, k, "prompt")
    prompt = rec["prompt"]
    if not isinstance(prompt, str | list):
        raise RubricFormatError("must be a string or a chat list", path, k, "prompt")
    try:
        text = render_prompt(prompt)
    except (KeyError, TypeError, AttributeError):
        raise RubricFormatError("chat messages need 'role' and 'content'", path, k, "prompt") from None
    if text not in lookup:
        raise RubricFormatError("does not match any prompt of the rubric file", path, k, "prompt")
    if lookup[text] is None:
        raise RubricFormatError("matches several rubric records; use prompt_index", path, k, "prompt")
    return lookup[text]  # type: ignore[return-value]


def _read_records(path: str, what: str) -> list[dict]:
    records, _lines = read_json_records(path)
    if not isinstance(records, list):
        raise RubricFormatError(f"expected JSONL or a JSON list of {what} records", path)
    if not records:
        raise RubricFormatError(f"no {what} records (the file is empty)", path)
    for k, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise RubricFormatError(f"a record must be a JSON object, got {type(rec).__name__}", path, k)
    return records


def read_responses(path: str, records: list[RubricRecord]) -> list[tuple[int, Any, Any]]:
    """(prompt index, response, id or None) per record of a responses JSONL."""
    lookup = _prompt_lookup(records)
    out = []
    for k, rec in enumerate(_read_records(path, "response")):
        p = _locate(rec, k, path, records, lookup)
        if "response" not in rec:
            raise RubricFormatError("missing", path, k, "response")
        out.append((p, _as_response(rec["response"]), rec.get("id")))
    return out


def _scored_results(path: str) -> list[dict] | None:
    """The ``results`` of a paper-code scored-responses file (``{"results": [...]}``, or that object under
    ``"scored_responses"`` as its iteration files save it); None for a pools JSONL / JSON list."""
    value, _lines = read_json_records(path)
    if not isinstance(value, dict):
        return None
    inner = value.get("scored_responses", value)
    results = unwrap_records(inner if isinstance(inner, dict) else value, "results", path)
    for k, rec in enumerate(results):
        if not isinstance(rec, dict):
            raise RubricFormatError(f"a result must be a JSON object, got {type(rec).__name__}", path, k)
    return results


def _scored_pool(rec: dict, k: int, path: str) -> list[str]:
    """The responses of one paper-code result: ``scored_responses[j].response`` (a string) with its ``score``
    (a number, or null when the judge did not score it: the loop rescores pools with its own verifier)."""
    items = rec.get("scored_responses")
    if not isinstance(items, list):
        raise RubricFormatError("must be a list of {response, score}", path, k, "scored_responses")
    out = []
    for j, it in enumerate(items):
        where = f"scored_responses[{j}]"
        if not isinstance(it, dict) or not isinstance(it.get("response"), str):
            raise RubricFormatError("needs a string 'response'", path, k, where)
        score = it.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise RubricFormatError(f"must be a number or null, got {score!r}", path, k, f"{where}.score")
        out.append(it["response"])
    return out


def _locate_result(rec: dict, k: int, path: str, records: list[RubricRecord], lookup) -> int:
    """A paper-code result names its prompt by text, or only by ``id`` (the rubric record's ``id``)."""
    if "prompt" in rec or "prompt_index" in rec or "id" not in rec:
        return _locate(rec, k, path, records, lookup)
    ids = [i for i, r in enumerate(records) if r.meta.get("extra", {}).get("id") == rec["id"]]
    if len(ids) != 1:
        raise RubricFormatError(f"matches {len(ids)} rubric records by id; give 'prompt'", path, k, "id")
    return ids[0]


def read_pools(path: str, records: list[RubricRecord]) -> list[list[Any]]:
    """One pool (list of responses) per rubric record; prompts without a pool record get an empty pool.
    Reads a pools JSONL (``{prompt | prompt_index, responses}``) or a paper-code scored-responses file."""
    lookup = _prompt_lookup(records)
    pools: list[list[Any] | None] = [None] * len(records)
    results = _scored_results(path)
    for k, rec in enumerate(results if results is not None else _read_records(path, "pool")):
        if results is not None:
            p, resp = _locate_result(rec, k, path, records, lookup), _scored_pool(rec, k, path)
        else:
            p, resp = _locate(rec, k, path, records, lookup), rec.get("responses")
            if not isinstance(resp, list):
                raise RubricFormatError("must be a list of responses", path, k, "responses")
        if pools[p] is not None:
            raise RubricFormatError(f"a second pool for prompt {p}", path, k, "prompt")
        pools[p] = [_as_response(r) for r in resp]
    return [p if p is not None else [] for p in pools]
