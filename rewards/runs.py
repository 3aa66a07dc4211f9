"""The one cached-run policy: a run directory stores its config and a hash of it.

- A rerun with the same config finds the run finished and skips it (the caller loads the results).
- A different config in the same directory is a clear error (:class:`RunConfigMismatch`) that names the keys
  that differ, unless ``overwrite=True``, which discards the old run's finished mark and recomputes.
- ``run.json`` is written last (atomically), so a killed run is never mistaken for a finished one.

Files: ``DIR/config.json`` (the config as given) and ``DIR/run.json`` (``{"kind", "format", "config_hash",
"status", ...}``), written first. A folder without our ``run.json`` (or of another kind) is never written to.
:func:`cached` applies the same policy to one result file (a section of a report, a variant of a sweep).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewards.io import to_json, write_json

__all__ = ["RunConfigMismatch", "RunDir", "cached", "config_hash", "differing_keys", "open_run"]


class RunConfigMismatch(ValueError):
    """A run directory (or result file) holds results of a different config."""


def _canonical(config: Mapping[str, Any]) -> Any:
    return json.loads(to_json(config, sort_keys=True))


def config_hash(config: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the config's canonical JSON (sorted keys; numpy values as plain ones)."""
    return hashlib.sha256(to_json(config, sort_keys=True).encode()).hexdigest()[:16]


def differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON-like configs differ (``["train.lr"]``); used in every config-mismatch error."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differing_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(root)"]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunConfigMismatch(f"{path}: cannot read the {what} ({e}); use another folder or overwrite") from None


RUN_FORMAT = 1  # the layout of run.json; bump when it changes


@dataclass(frozen=True)
class RunDir:
    """An opened run directory. ``config_hash`` identifies the config; ``finished`` is True when an earlier run
    with the same config completed (the caller then loads its results instead of recomputing)."""

    path: Path
    config: dict[str, Any]
    config_hash: str
    finished: bool
    kind: str = "run"

    def _record(self, status: str, **info: Any) -> None:
        header = {"kind": self.kind, "format": RUN_FORMAT, "config_hash": self.config_hash, "status": status}
        write_json(self.path / "run.json", {**header, **info})

    def finish(self, **info: Any) -> None:
        """Mark the run finished (atomic; written after every result file)."""
        self._record("finished", **info)

    def run_info(self) -> dict[str, Any]:
        """The run's ``run.json`` (its header, and what :meth:`finish` recorded)."""
        p = self.path / "run.json"
        return _read_json(p, "run record") if p.exists() else {}


def _check_ours(path: Path, record: Any, kind: str, cfg_exists: bool) -> None:
    """Refuse a folder that is not a run of this kind, so that nothing of someone else's is overwritten."""
    if record is None:
        if cfg_exists:  # every folder we write has run.json beside its config.json
            raise RunConfigMismatch(
                f"{path}: holds a config.json but no run.json, so it is not a chasing-tail run folder; "
                "choose another output folder"
            )
        return
    if not isinstance(record, dict) or record.get("kind") != kind:
        other = record.get("kind") if isinstance(record, dict) else None
        raise RunConfigMismatch(f"{path}: holds a {other!r} run, not a {kind!r} run; choose another output folder")


def open_run(path: str | os.PathLike, config: Mapping[str, Any], overwrite: bool = False, kind: str = "run") -> RunDir:
    """Open ``path`` for a run of ``config`` (a JSON-able mapping) of ``kind`` (e.g. ``"sim-train"``), applying
    the cached-run policy; ``run.json`` (kind, format, config hash, status) is written before anything else.

    Raises :class:`RunConfigMismatch` when ``path`` is not a folder, is not a run folder of this kind (never
    overwritten, even with ``overwrite``), or holds a run of another config (unless ``overwrite``).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunConfigMismatch(f"{path}: exists and is not a folder")
    config = _canonical(config)
    h = config_hash(config)
    cfg_file, run_file = path / "config.json", path / "run.json"
    record = _read_json(run_file, "run record") if run_file.exists() else None
    _check_ours(path, record, kind, cfg_file.exists())
    if record is not None and not overwrite and record.get("config_hash") != h:
        old = _read_json(cfg_file, "stored config") if cfg_file.exists() else {}
        keys = ", ".join(differing_keys(old, config)[:8])
        raise RunConfigMismatch(
            f"{path} holds a run with another config (differs in: {keys}); "
            "choose another output folder or pass --overwrite to replace it"
        )
    finished = record is not None and not overwrite and record.get("status") == "finished"
    run = RunDir(path, config, h, finished, kind)
    if not finished:
        run._record("running")  # first: a killed run is never mistaken for a finished one, nor for a foreign folder
        write_json(cfg_file, config)
    return run


def cached(
    path: str | os.PathLike, config: Mapping[str, Any], compute: Callable[[], Any], overwrite: bool = False
) -> Any:
    """The cached-run policy for one result file: ``{"config_hash", "config", "result"}``.

    Returns the stored ``result`` when the file holds the same config; otherwise calls ``compute()``, stores and
    returns its (JSON-able) result. A file of another config is a :class:`RunConfigMismatch` unless
    ``overwrite``.
    """
    path = Path(path)
    config = _canonical(config)
    h = config_hash(config)
    if path.exists() and not overwrite:
        old = _read_json(path, "cached result")
        if not isinstance(old, dict) or "config_hash" not in old:
            raise RunConfigMismatch(f"{path}: not a cached result file; move it away or overwrite")
        if old["config_hash"] == h:
            return old["result"]
        keys = ", ".join(differing_keys(old.get("config"), config)[:8])
        raise RunConfigMismatch(
            f"{path} holds a result of another config (differs in: {keys}); pass --overwrite to recompute it"
        )
    result = compute()
    write_json(path, {"config_hash": h, "config": config, "result": result})
    # as a later call will read it back: JSON values, keys in the order given (a report lists them in that order)
    return json.loads(to_json(result))
