"""The one cached-run policy: a run directory stores its config and a hash of it.

- A rerun with the same config finds the run finished and skips it (the caller loads the results).
- A different config in the same directory is a clear error (:class:`RunConfigMismatch`) that names the keys
  that differ, unless ``overwrite=True``, which discards the old run's finished mark and recomputes.
- ``run.json`` is written last (atomically), so a killed run is never mistaken for a finished one.

Files: ``DIR/config.json`` (the config as given) and ``DIR/run.json`` (``{"config_hash", "status", ...}``).
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

__all__ = ["RunConfigMismatch", "RunDir", "cached", "config_hash", "open_run"]


class RunConfigMismatch(ValueError):
    """A run directory (or result file) holds results of a different config."""


def _canonical(config: Mapping[str, Any]) -> Any:
    return json.loads(to_json(config, sort_keys=True))


def config_hash(config: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the config's canonical JSON (sorted keys; numpy values as plain ones)."""
    return hashlib.sha256(to_json(config, sort_keys=True).encode()).hexdigest()[:16]


def _differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differing_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(root)"]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunConfigMismatch(f"{path}: cannot read the {what} ({e}); use another folder or overwrite") from None


@dataclass(frozen=True)
class RunDir:
    """An opened run directory. ``config_hash`` identifies the config; ``finished`` is True when an earlier run
    with the same config completed (the caller then loads its results instead of recomputing)."""

    path: Path
    config: dict[str, Any]
    config_hash: str
    finished: bool

    def finish(self, **info: Any) -> None:
        """Mark the run finished (atomic; written after every result file)."""
        write_json(self.path / "run.json", {"config_hash": self.config_hash, "status": "finished", **info})

    def run_info(self) -> dict[str, Any]:
        """The finished run's ``run.json`` (``{}`` if the run has not finished)."""
        p = self.path / "run.json"
        return _read_json(p, "run record") if p.exists() else {}


def open_run(path: str | os.PathLike, config: Mapping[str, Any], overwrite: bool = False) -> RunDir:
    """Open ``path`` for a run of ``config`` (a JSON-able mapping), applying the cached-run policy.

    Raises :class:`RunConfigMismatch` when ``path`` holds a run of another config (and ``overwrite`` is False),
    or when ``path`` is not a folder.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunConfigMismatch(f"{path}: exists and is not a folder")
    config = _canonical(config)
    h = config_hash(config)
    cfg_file, run_file = path / "config.json", path / "run.json"
    if cfg_file.exists() and not overwrite:
        old = _read_json(cfg_file, "stored config")
        if config_hash(old) != h:
            keys = ", ".join(_differing_keys(old, config)[:8])
            raise RunConfigMismatch(
                f"{path} holds a run with another config (differs in: {keys}); "
                "choose another output folder or pass --overwrite to replace it"
            )
    finished = False
    if run_file.exists() and not overwrite:
        finished = _read_json(run_file, "run record").get("config_hash") == h
    if not finished:
        if run_file.exists():
            run_file.unlink()  # stale or overwritten: never let an old finished mark describe new results
        write_json(cfg_file, config)
    return RunDir(path, config, h, finished)


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
        keys = ", ".join(_differing_keys(old.get("config"), config)[:8])
        raise RunConfigMismatch(
            f"{path} holds a result of another config (differs in: {keys}); pass --overwrite to recompute it"
        )
    result = compute()
    write_json(path, {"config_hash": h, "config": config, "result": result})
    # as a later call will read it back: JSON values, keys in the order given (a report lists them in that order)
    return json.loads(to_json(result))
