"""Per-experiment code fingerprints: a cached run stays valid until code it imports changes.

The tests edit copies of the sources in a temporary folder, never the real tree.
"""

import shutil
import textwrap
from pathlib import Path

import pytest

import triad
import triad.experiments
import triad.figures
from triad import experiment as exp

REAL = {"triad": Path(triad.__path__[0]), "triad.experiments": Path(triad.experiments.__path__[0]),
        "triad.figures": Path(triad.figures.__path__[0])}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_static_imports_are_followed_transitively_including_lazy_and_relative_ones(tmp_path):
    _write(tmp_path / "pkg", {
        "__init__.py": "",
        "a.py": '''
            """Mentions import pkg.unrelated in a docstring only."""
            import numpy as np
            from .c import thing

            def later():
                from . import b
                return b
        ''',
        "b.py": "import pkg.d\n",
        "c.py": "thing = 1\n",
        "d.py": "",
        "unrelated.py": "",
        "sub/__init__.py": "",
        "sub/e.py": "from .. import c\nfrom pkg.sub import f, not_a_module\n",
        "sub/f.py": "",
    })
    packages = {"pkg": tmp_path / "pkg"}

    def names(root):
        file = tmp_path / (root.replace(".", "/") + ".py")
        return set(exp.imported_modules({root: file}, packages))

    # By hand: a → c (relative), b (lazy, relative) → d (absolute); the package pkg above them all.
    assert names("pkg.a") == {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"}
    # e → c (two dots), f (a module named in `from pkg.sub import`); pkg and pkg.sub run first.
    assert names("pkg.sub.e") == {"pkg", "pkg.sub", "pkg.sub.e", "pkg.c", "pkg.sub.f"}
    assert exp.imported_modules({"pkg.a": tmp_path / "pkg/a.py"}, packages)["pkg.c"] == tmp_path / "pkg/c.py"


@pytest.fixture
def tree(tmp_path):
    """A copy of triad's sources (the package and its experiment and figure folders)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    copy = {name: shutil.copytree(path, tmp_path / "src" / name.replace(".", "_"), ignore=ignore)
            for name, path in REAL.items()}
    return {name: Path(path) for name, path in copy.items()}


def _append(path: Path) -> None:
    path.write_text(path.read_text() + "\n# edited\n")


def test_fingerprint_follows_what_the_runner_imports(tree):
    rg = exp.get("residual-gradient")
    before = exp.code_fingerprint(rg, tree)
    assert before == exp.code_fingerprint(rg)  # the same sources hash alike wherever they are
    modules = exp.imported_modules({rg.run.__module__: tree["triad.experiments"] / "residual_gradient" / "run.py"},
                                   tree)
    # Imported by residual_gradient/run.py: linear directly, multistep through linear, its own sweep.
    assert {"triad.linear", "triad.multistep", "triad.zoo", "triad.experiments.residual_gradient.sweep"} <= set(modules)
    assert not {"triad.cli", "triad.analysis.symbolic", "triad.experiments.residual_gradient.analysis",
                "triad.experiments.baird.run"} & set(modules)
    for unrelated in (tree["triad"] / "cli.py", tree["triad"] / "analysis" / "symbolic.py",
                      tree["triad.experiments"] / "residual_gradient" / "analysis.py",
                      tree["triad.experiments"] / "baird" / "run.py", tree["triad.figures"] / "baird_weights.py"):
        _append(unrelated)
        assert exp.code_fingerprint(rg, tree) == before, unrelated
    seen = {before}
    for imported in (tree["triad"] / "linear.py", tree["triad"] / "multistep.py",
                     tree["triad.experiments"] / "residual_gradient" / "sweep.py"):
        _append(imported)
        after = exp.code_fingerprint(rg, tree)
        assert after not in seen, imported
        seen.add(after)


def test_cached_runs_survive_unrelated_edits_and_not_imported_ones(tree, tmp_path, monkeypatch):
    # The toy experiment's runner lives in test_experiment.py, which imports triad.experiment (and so
    # triad.progress and triad.spec) but not triad.linear.
    from test_experiment import CALLS, TOY

    monkeypatch.setattr(exp, "source_packages", lambda: dict(tree))
    params = TOY.resolve({})
    CALLS.clear()
    assert exp.execute(TOY, params, out=tmp_path / "toy", show_progress=False).ran == 3
    _append(tree["triad"] / "linear.py")
    kept = exp.execute(TOY, params, out=tmp_path / "toy", show_progress=False)
    assert (kept.ran, kept.reused, len(CALLS)) == (0, 3, 3)
    _append(tree["triad"] / "progress.py")  # imported through triad.experiment
    redone = exp.execute(TOY, params, out=tmp_path / "toy", show_progress=False)
    assert (redone.ran, redone.reused, len(CALLS)) == (3, 0, 6)
    _append(tree["triad"] / "spec.py")  # imported directly
    assert exp.execute(TOY, params, out=tmp_path / "toy", show_progress=False).ran == 3
