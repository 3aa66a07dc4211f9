"""The dependency rules of docs/ARCHITECTURE.md, checked in fresh interpreters."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["rewards", "theory", "sim"])
def test_core_packages_import_without_torch_or_trl(package):
    code = (
        f"import importlib, pkgutil, sys; import {package} as p\n"
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(k for k in ('torch', 'trl', 'transformers') if k in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sim_never_imports_theory():
    code = (
        "import importlib, pkgutil, sys, sim\n"
        "for m in pkgutil.walk_packages(sim.__path__, 'sim.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'theory' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rewards_imports_nothing_of_ours():
    code = (
        "import importlib, pkgutil, sys, rewards\n"
        "for m in pkgutil.walk_packages(rewards.__path__, 'rewards.'):\n"
        "    importlib.import_module(m.name)\n"
        "ours = {'theory', 'sim', 'rft', 'figures', 'paper_repro', 'chase'}\n"
        "assert not ours & set(sys.modules), ours & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_chase_command_and_repro_target_resolves(capsys):
    """`chase --help` lists only commands that exist (one once pointed at a module that did not)."""
    import importlib

    from chase import cli, repro_cli

    for mod, _help in list(cli.COMMANDS.values()) + list(repro_cli.TARGETS.values()):
        assert callable(importlib.import_module(mod).main), mod
    assert cli.main(["repro", "--help"]) == 0
    assert "rubric-world-sensitivity" in capsys.readouterr().out
    assert cli.main(["repro", "no-such-target"]) == 2


def _imported_modules(path) -> set[str]:
    import ast

    tree = ast.parse(open(path, encoding="utf-8").read())
    out = set()
    for node in ast.walk(tree):  # module level and lazy (in-function) imports alike
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_rubric_and_verify_do_not_import_each_other():
    # rubric (the data model) imports neither verify nor the file formats; formats imports both
    import rewards.rubric
    import rewards.verify

    assert not {"rewards.verify", "rewards.formats"} & _imported_modules(rewards.rubric.__file__)
    assert "rewards.formats" not in _imported_modules(rewards.verify.__file__)
