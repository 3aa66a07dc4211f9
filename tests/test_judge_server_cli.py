"""`chase judge serve` with a bad option: one line on stderr (`chase judge serve: error: ...`), exit 2, no
traceback, and nothing served. Each run is a real subprocess with a timeout."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chase.cli import main

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "chase judge serve: error: "


def _serve(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "chase.cli", "judge", "serve", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def _assert_one_line_error(p: subprocess.CompletedProcess, expected: str) -> None:
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""  # never printed its base_url: nothing was served
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX) and expected in lines[0], p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--port", "70000"], "--port must be in 0..65535"),
        (["--port", "-1"], "--port must be in 0..65535"),
        (["--latency-ms", "-5"], "--latency-ms must be a finite number >= 0"),
        (["--latency-ms", "nan"], "--latency-ms must be a finite number >= 0"),
        (["--latency-ms", "inf"], "--latency-ms"),
        (["--batch-wait-ms", "nan"], "--batch-wait-ms"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
        (["--max-body-bytes", "0"], "--max-body-bytes must be >= 1"),
        (["--request-timeout-s", "0"], "--request-timeout-s"),
        (["--idle-timeout-s", "-1"], "--idle-timeout-s"),
        (["--max-connections", "0"], "--max-connections must be >= 1"),
        (["--host", "no-such-host.invalid"], "cannot resolve host 'no-such-host.invalid'"),
        (["--gguf-file", "m.gguf"], "--gguf-file: needs --model"),
    ],
)
def test_bad_option_is_one_line_exit_2(args, expected):
    _assert_one_line_error(_serve("--oracle", "--port", "0", *args), expected)


def test_missing_model_folder_or_gguf_file(tmp_path):
    _assert_one_line_error(_serve("--model", str(tmp_path / "nope")), "--model: no such folder")
    _assert_one_line_error(_serve("--model", str(tmp_path), "--gguf-file", "m.gguf"), "--gguf-file: no such file")


def test_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        _assert_one_line_error(_serve("--oracle", "--port", str(port)), f"port {port} on 127.0.0.1 is already in use")


def test_folder_that_is_no_model_is_one_line(tmp_path, capsys):
    pytest.importorskip("transformers")
    (tmp_path / "config.json").write_text("{not json")
    assert main(["judge", "serve", "--model", str(tmp_path), "--port", "0"]) == 2  # in process: one import
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(PREFIX + f"cannot load the model in {tmp_path}: ")
