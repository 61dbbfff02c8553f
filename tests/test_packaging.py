"""Packaging: torch stays lazy, and every experiment folder is installed."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_tabular_core_does_not_import_torch():
    code = ("import sys, triad, triad.mdp, triad.operators, triad.solvers, triad.zoo, triad.sampling, triad.cli;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_experiment_and_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = config["package-dir"]
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join([package, *rel.parts]) if rel.parts else package
            assert name in listed, f"{name} ({init.parent}) is missing from [tool.setuptools] packages"


def test_torch_is_pinned():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in deps if d.startswith("torch")] == ["torch==2.13.0"]


def test_ci_runs_exactly_the_readme_test_command():
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    test_command = next(line for line in readme_lines[:6] if "pytest" in line)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
