"""Atomic, crash-safe result files shared by every package (``rewards`` imports nothing of ours)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def to_json(obj: Any, **kw) -> str:
    """JSON text; numpy scalars/arrays become plain numbers/lists, NaN stays NaN (Python's json)."""
    return json.dumps(obj, default=_default, **kw)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc), since setting it to
    read it back races with files other threads create meanwhile."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync and ``os.replace``: readers see the
    old file or the new one, never half of it, even if the process is killed mid-write. The file gets the mode
    a plain ``open(path, "w")`` would give it (0o666 less the umask; ``mkstemp`` alone would make it 0o600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.chmod(tmp, 0o666 & ~_umask())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, to_json(obj, indent=2) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    return atomic_write_text(path, "".join(to_json(r) + "\n" for r in rows))


def append_jsonl(path: str | os.PathLike, row: Any) -> None:
    """Append one record and fsync. A crash can leave at most one partial last line, which
    :func:`read_jsonl` drops (``tolerate_partial_tail``) so a resumed run loses nothing complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(to_json(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike, tolerate_partial_tail: bool = True) -> list[Any]:
    path = Path(path)
    if not path.exists():
        return []
    # Split on "\n" only: str.splitlines() would also split inside records on U+2028, U+0085, ...
    lines = path.read_text(encoding="utf-8").split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if tolerate_partial_tail and i == len(lines) - 1 and not line.endswith("\n"):
                break  # a write cut off by a kill; everything before it is intact
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
    return out


def emit(obj: Any) -> None:
    """Print one JSON object on stdout (the CLI contract: one object per call)."""
    print(to_json(obj))
