"""Experiments as folders: a sweep of runs, tidy results on disk, a derived summary, figures.

An experiment lives in ``experiments/<name>/`` (installed as ``triad.experiments.<name>``) and its
``__init__.py`` defines ``EXPERIMENT``, an :class:`Experiment` (usually ``Experiment.from_folder``):

* ``sweep(params) -> list[Run]``: the grid, each run with a readable id (``baird/algorithm=tdc``);
* ``run(run, progress) -> DataFrame``: one run to tidy rows with at least the columns
  ``step``, ``quantity``, ``value``; no plotting;
* ``summarise(results, params) -> dict``: the numbers ``--json`` prints, derived from the rows;
* ``figures``: names of modules in ``figures/`` (``triad.figures.<name>``), each with
  ``plot(results_dir, out_dir) -> list[Path]`` reading only the cached results.

Columns of the tidy rows mean the same in every experiment: ``step`` is a step, sweep, iteration
or episode (0 for results that have none, such as exact certificates); ``stream`` is the index of
an independent sampled stream (:func:`tidy` writes both); any other axis — the number of
estimates ``m``, a grid cell, an MDP instance, a critic draw — has a column of its own. Analyses
and figure scripts check the columns they read with :func:`require_columns`.

:func:`execute` runs a sweep with a progress bar, writes every run's rows atomically to
``results/<name>/runs/`` and skips runs whose stored parameters and code fingerprint match (so an
interrupted sweep resumes, and a change to the code a run imports recomputes it: see
:func:`code_fingerprint`), then writes ``results.csv`` (the current sweep's rows) and ``summary.json``.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import json
import math
import os
import pkgutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triad.errors import SpecError, ValidationError
from triad.progress import Progress
from triad.spec import coerce

RESULTS_ROOT = Path("results")
FIGURES_ROOT = Path("figures")
STREAM_DOCS = {
    "streams": "independent sampled streams, run side by side in one vectorised call",
    "seed": "base seed: stream i draws from Generator([seed, i]), whatever the number of streams",
}
"""DOCS of ``streams`` and ``seed`` for experiments whose sampled runs use :class:`triad.sampling.StreamRNG`."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One cell of a sweep: an id such as ``baird/algorithm=tdc/seed=3`` and its parameters."""

    id: str
    params: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """An experiment: defaults, the sweep, the runner, the analysis and its figures.

    Attributes:
        name: the name ``triad run NAME`` takes.
        description: one line for ``triad list``.
        defaults: parameter defaults; their types define how ``--set key=value`` is parsed
            (a tuple default takes a list separated by ``;``, or by ``,`` if there is no ``;``).
        sweep: ``params -> list[Run]``.
        run: ``(Run, Progress) -> DataFrame`` of tidy rows (``step``, ``quantity``, ``value``...).
        summarise: ``(results, params) -> dict`` with JSON-serialisable values.
        figures: module names under ``triad.figures`` that plot the cached results.
        quick: parameter overrides for ``--quick`` (a smoke-test sized run).
        docs: one line per parameter, shown by ``triad list``.
    """

    name: str
    description: str
    defaults: Mapping[str, Any]
    sweep: Callable[[Mapping[str, Any]], list[Run]]
    run: Callable[[Run, Progress], pd.DataFrame]
    summarise: Callable[[pd.DataFrame, Mapping[str, Any]], dict]
    figures: tuple[str, ...] = ()
    quick: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    docs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_folder(cls, package: str, name: str, description: str, figures: tuple[str, ...] = ()) -> Experiment:
        """The experiment laid out by convention in ``package``: ``sweep.py`` defines ``DEFAULTS``,
        ``QUICK``, ``DOCS`` and ``sweep``; ``run.py`` defines ``run``; ``analysis.py`` ``summarise``."""
        sweep = importlib.import_module(f"{package}.sweep")
        return cls(name=name, description=description, defaults=sweep.DEFAULTS, sweep=sweep.sweep,
                   run=importlib.import_module(f"{package}.run").run,
                   summarise=importlib.import_module(f"{package}.analysis").summarise,
                   figures=figures, quick=sweep.QUICK, docs=sweep.DOCS)

    def resolve(self, overrides: Mapping[str, str | Any], quick: bool = False) -> dict[str, Any]:
        """Defaults, then ``quick`` overrides, then user overrides (strings parsed by the default's type)."""
        params = dict(self.defaults)
        if quick:
            params.update(self.quick)
        for key, value in overrides.items():
            if key not in self.defaults:
                raise SpecError(f"experiment {self.name!r} has no parameter {key!r} "
                                f"(parameters: {', '.join(self.defaults)})")
            params[key] = coerce(value, self.defaults[key], f"{self.name}: {key}") if isinstance(value, str) else value
        return params


# ---------------------------------------------------------------------------------- tidy rows
def tidy(steps: Any, quantities: Mapping[str, Any], axis: str = "stream", **labels: Any) -> pd.DataFrame:
    """Tidy rows from arrays recorded over steps (and streams): one row per step × stream × quantity.

    Args:
        steps: ``(K,)`` the step (sweep, iteration, episode) at which each of the ``K`` entries
            was recorded.
        quantities: name → array, all of one shape: ``(K,)`` for one deterministic run (no
            stream column), or ``(K, B)`` for ``B`` independent streams (column ``axis`` holding
            ``0 … B − 1``). Values are stored as floats.
        axis: the column of the second axis: ``stream``, or another name where the ``B`` entries
            are not sampled streams (``cell`` for the cells of a grid run side by side).
        labels: extra columns, in order, before the others: scalars (one value for every row) or,
            with ``(K, B)`` quantities, ``(B,)`` arrays (one value per stream or cell).
    Returns:
        Columns ``*labels, step, [axis,] quantity, value``; the rows of each quantity in turn,
        step-major within it.

    Raises:
        ValidationError: no quantity, quantities of different shapes, shapes that do not match
            ``steps`` or the labels, or a label named like a column tidy writes.
    """
    steps = np.asarray(steps)
    if not quantities:
        raise ValidationError("tidy: no quantities given")
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in quantities.items()}
    shapes = {a.shape for a in arrays.values()}
    shape = next(iter(shapes))
    if len(shapes) > 1 or len(shape) not in (1, 2) or steps.shape != shape[:1]:
        raise ValidationError(f"tidy: quantities have shapes {sorted(shapes)}, expected one shape (K,) or (K, B) "
                              f"with K = {steps.size} recorded steps")
    K, B = shape[0], (shape[1] if len(shape) == 2 else None)
    n, q = K * (B or 1), len(arrays)
    reserved = {"step", axis, "quantity", "value"} & set(labels)
    if reserved:
        raise ValidationError(f"tidy: label {min(reserved)!r} would overwrite a column tidy writes")
    columns: dict[str, Any] = {}
    for key, value in labels.items():
        if np.ndim(value) == 0:
            columns[key] = np.full(n * q, value, dtype=object if isinstance(value, str) else None)
        elif B is not None and np.shape(value) == (B,):
            columns[key] = np.tile(np.asarray(value), K * q)
        else:
            raise ValidationError(f"tidy: label {key!r} has shape {np.shape(value)}, expected a scalar"
                                  + (f" or ({B},), one per {axis}" if B is not None else ""))
    columns["step"] = np.tile(np.repeat(steps, B or 1), q)
    if B is not None:
        columns[axis] = np.tile(np.arange(B), K * q)
    columns["quantity"] = np.repeat(np.array(list(arrays), dtype=object), n)
    columns["value"] = np.concatenate([values.ravel() for values in arrays.values()])
    return pd.DataFrame(columns)


def require_columns(rows: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Check that the tidy ``rows`` have every column ``where`` (an analysis, a figure) reads.

    Raises:
        ValidationError: naming the missing columns and the ones present, e.g. ``baird analysis:
            the results lack the column stream (they have id, step, seed, quantity, value)``.
    """
    missing = [c for c in dict.fromkeys(columns) if c not in rows.columns]
    if missing:
        raise ValidationError(f"{where}: the results lack the column{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)} (they have {', '.join(map(str, rows.columns))}); "
                              f"results written by another version of triad must be computed again")


# ------------------------------------------------------------------------------------ registry
def registry() -> dict[str, Experiment]:
    """Every experiment found in ``triad.experiments``, by name."""
    import triad.experiments as pkg

    found = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.ispkg:
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            exp = getattr(module, "EXPERIMENT", None)
            if isinstance(exp, Experiment):
                found[exp.name] = exp
    return dict(sorted(found.items()))


def get(name: str) -> Experiment:
    """The experiment called ``name``; a :class:`SpecError` listing the choices otherwise."""
    experiments = registry()
    if name not in experiments:
        raise SpecError(f"unknown experiment {name!r} (available: {', '.join(experiments) or 'none'})")
    return experiments[name]


# ------------------------------------------------------------------------------------- storage
def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write through a temporary file in the same directory, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def to_jsonable(x: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to JSON types; non-finite floats become strings."""
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    return x


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False)
    return atomic_write(path, lambda fh: fh.write(text + "\n"))


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write a table as CSV, atomically, with full float precision."""
    return atomic_write(path, lambda fh: frame.to_csv(fh, index=False, float_format="%.17g"))


def slug(run_id: str) -> str:
    """A file name for a run id: ``baird/algorithm=tdc`` -> ``baird__algorithm=tdc``."""
    safe = "".join(c if c.isalnum() or c in "=-_.+" else "_" for c in run_id.replace("/", "__"))
    return safe[:200]


SOURCE_PACKAGES = ("triad", "triad.experiments", "triad.figures")
"""triad's package and the two installed inside it from folders of their own (``pyproject.toml``)."""


def source_packages() -> dict[str, Path]:
    """The folder of each package in :data:`SOURCE_PACKAGES` (located without running them)."""
    return {name: Path(importlib.util.find_spec(name).submodule_search_locations[0]) for name in SOURCE_PACKAGES}


def _module_file(name: str, packages: Mapping[str, Path]) -> Path | None:
    """The source file of module ``name`` under the innermost of ``packages`` that contains it, if any."""
    owner = max((p for p in packages if name == p or name.startswith(p + ".")), key=len, default=None)
    if owner is None:
        return None
    base = packages[owner].joinpath(*name[len(owner):].split(".")[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _statements(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every statement in ``nodes`` and, recursively, in their bodies (functions, classes, if/try/with/match)."""
    for node in nodes:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(node, field, None) or ())


@functools.lru_cache(maxsize=1024)
def _imports_in(path: Path, module: str, stamp: tuple[int, int]) -> frozenset[str]:
    """:func:`_imported_names` for one version of a file (``stamp``: its modification time and size)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _statements(ast.parse(path.read_bytes(), filename=str(path)).body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    continue  # beyond the top-level package: not importable
                parts = parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else [])
                prefix = ".".join(parts)
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names if alias.name != "*")
    return frozenset(names)


def _imported_names(path: Path, module: str) -> set[str]:
    """Every module name the source of ``module`` (at ``path``) may import, wherever the import stands.

    Top-level and lazy (in-function) imports alike: ``import a.b``, ``from a import b`` (``a`` and,
    if it is a module, ``a.b``) and relative imports, resolved against the module's package.
    Imports spelled at run time (``importlib.import_module(name)``) are not seen. Each version of a
    file is parsed once per process.
    """
    info = path.stat()
    return set(_imports_in(path, module, (info.st_mtime_ns, info.st_size)))


def imported_modules(roots: Mapping[str, Path], packages: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """The source files of ``roots`` and of every module of ``packages`` they import, transitively.

    A static analysis (nothing is imported): each file's ``import`` statements are read with
    :mod:`ast`; a module brings in the packages above it (their ``__init__.py`` runs first) and
    the modules it imports that live under ``packages`` (default :func:`source_packages`);
    anything else (numpy, the standard library) is left out.

    Args:
        roots: module name → source file of the modules to start from.
    Returns:
        module name → source file, sorted by name.
    """
    packages = source_packages() if packages is None else dict(packages)
    found: dict[str, Path] = {}
    todo = list(roots.items())
    while todo:
        name, path = todo.pop()
        if name in found:
            continue
        found[name] = path
        wanted = _imported_names(path, name)
        wanted |= {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}  # parent packages
        for other in sorted(wanted - set(found)):
            file = _module_file(other, packages)
            if file is not None:
                todo.append((other, file))
    return dict(sorted(found.items()))


def code_fingerprint(experiment: Experiment, packages: Mapping[str, Path] | None = None) -> str:
    """A hash of the code an experiment's runs execute: cached runs of other code are stale.

    The code is the module defining ``experiment.run`` and every module of triad (including the
    experiment folders) it imports, directly or through others, found by
    :func:`imported_modules`; each enters the hash as its module name and its source, so editing
    a module no run imports keeps the cached runs, and copies of the same sources in another
    folder hash alike. The analysis and figures are not part of it: they are redone from the rows
    on every :func:`execute`.

    Args:
        packages: where triad's packages live (default :func:`source_packages`).
    """
    packages = source_packages() if packages is None else dict(packages)
    run = getattr(experiment.run, "func", experiment.run)  # a functools.partial runs its func's module
    module = run.__module__
    path = _module_file(module, packages)
    if path is None:  # a runner outside triad (a test's, a user's): its own file
        path = Path(importlib.import_module(module).__file__)
    digest = hashlib.sha256()
    for name, source in imported_modules({module: path}, packages).items():
        digest.update(name.encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _run_record(params: Mapping[str, Any], code: str) -> dict:
    return {"params": to_jsonable(dict(params)), "code": code}


def _is_cached(stored: Path, record: dict) -> bool:
    try:
        return json.loads(stored.read_text()) == record
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------------------------- running
@dataclasses.dataclass(frozen=True)
class Outcome:
    """What :func:`execute` produced."""

    summary: dict
    results_dir: Path
    figures: list[Path]
    reused: int
    ran: int


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    console = Console(stderr=True)
    bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TimeRemainingColumn(), console=console, disable=not enabled, transient=False)
    with bar:
        yield bar


def execute(experiment: Experiment, params: Mapping[str, Any], out: Path | None = None,
            figures_dir: Path | None = None, fresh: bool = False, show_progress: bool = True,
            make_figures: bool = True) -> Outcome:
    """Run (or resume) ``experiment`` with ``params``; write results, summary and figures.

    Args:
        out: results directory (default ``results/<name>``).
        figures_dir: where figures go (default ``figures/``).
        fresh: ignore stored runs and recompute everything.
    """
    out = Path(out) if out is not None else RESULTS_ROOT / experiment.name
    runs = experiment.sweep(params)
    if not runs:
        raise ValidationError(f"experiment {experiment.name!r}: the sweep is empty for these parameters")
    ids = [r.id for r in runs]
    if len(set(ids)) != len(ids):
        raise ValidationError(f"experiment {experiment.name!r}: duplicate run ids in the sweep")
    runs_dir = out / "runs"
    code = code_fingerprint(experiment)
    frames = []
    reused = ran = 0
    with _progress_bar(show_progress) as bar:
        overall = bar.add_task(f"{experiment.name}", total=len(runs))
        for run in runs:
            csv_path = runs_dir / f"{slug(run.id)}.csv"
            json_path = runs_dir / f"{slug(run.id)}.json"
            record = _run_record(run.params, code)
            if not fresh and csv_path.exists() and _is_cached(json_path, record):
                frames.append(pd.read_csv(csv_path))
                reused += 1
                bar.advance(overall)
                continue
            task = bar.add_task(f"  {run.id}", total=None)

            def update(n: float, total: float | None, status: dict, task: Any = task) -> None:
                if total is not None:
                    bar.update(task, total=total)
                else:
                    bar.advance(task, n)

            rows = experiment.run(run, Progress(update))
            missing = {"step", "quantity", "value"} - set(rows.columns)
            if missing:
                raise RuntimeError(f"run {run.id} returned rows without columns {sorted(missing)}")
            rows.insert(0, "id", run.id)
            write_csv(csv_path, rows)
            write_json(json_path, record)
            frames.append(rows)
            ran += 1
            bar.remove_task(task)
            bar.advance(overall)
    results = pd.concat(frames, ignore_index=True)
    write_csv(out / "results.csv", results)
    write_json(out / "params.json", params)
    summary = experiment.summarise(results, params)
    write_json(out / "summary.json", summary)
    made = plot_figures(experiment, out, figures_dir) if make_figures else []
    return Outcome(summary=to_jsonable(summary), results_dir=out, figures=made, reused=reused, ran=ran)


def plot_figures(experiment: Experiment, results_dir: Path, figures_dir: Path | None = None) -> list[Path]:
    """Draw every figure of ``experiment`` from the cached results in ``results_dir``."""
    if not (Path(results_dir) / "results.csv").exists():
        raise ValidationError(f"no cached results for {experiment.name!r} in {results_dir} "
                              f"(run `triad run {experiment.name}` first)")
    figures_dir = Path(figures_dir) if figures_dir is not None else FIGURES_ROOT
    figures_dir.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    for name in experiment.figures:
        module = importlib.import_module(f"triad.figures.{name}")
        made.extend(module.plot(Path(results_dir), figures_dir))
    return made


def load_results(results_dir: Path) -> tuple[pd.DataFrame, dict]:
    """The cached rows and the parameters they were run with (for figure scripts)."""
    results_dir = Path(results_dir)
    path = results_dir / "results.csv"
    if not path.exists():
        raise ValidationError(f"no cached results in {results_dir}")
    params = json.loads((results_dir / "params.json").read_text()) if (results_dir / "params.json").exists() else {}
    return pd.read_csv(path), params


def main_figure(plot: Callable[[Path, Path], list[Path]], experiment: str, argv: Sequence[str] | None = None) -> None:
    """``python -m triad.figures.<name> [RESULTS_DIR] [OUT_DIR]`` for a figure script."""
    args = list(sys.argv[1:] if argv is None else argv)
    results_dir = Path(args[0]) if args else RESULTS_ROOT / experiment
    out_dir = Path(args[1]) if len(args) > 1 else FIGURES_ROOT
    for path in plot(results_dir, out_dir):
        print(path)
