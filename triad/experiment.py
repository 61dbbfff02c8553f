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
With ``workers=N`` the uncached runs are computed N at a time as Ray tasks
(:mod:`triad.distributed.sweeps`) and stored by this process as each finishes: the same files, byte
for byte.
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
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triad.errors import SpecError, TriadError, ValidationError
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
        """Defaults, then ``quick`` overrides, then user overrides (strings parsed by the default's type).

        A parameter whose default holds MDP specs (``mdps``, ``problems``) has every spec the user
        gives checked here (:func:`triad.zoo.validate`), so a bad one is refused before any run.
        """
        params = dict(self.defaults)
        if quick:
            params.update(self.quick)
        for key, value in overrides.items():
            if key not in self.defaults:
                raise SpecError(f"experiment {self.name!r} has no parameter {key!r} "
                                f"(parameters: {', '.join(self.defaults)})")
            where = f"{self.name}: {key}"
            params[key] = coerce(value, self.defaults[key], where) if isinstance(value, str) else value
            check_specs(params[key], self.defaults[key], where)
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


def _spec_names(value: Any, with_parameters: bool = False) -> set[str]:
    """The names before ``:`` of the string items of ``value`` (a string or a tuple of them);
    with ``with_parameters`` only of items that have parameters (``chain:n=5``, not ``baird``)."""
    items = (value,) if isinstance(value, str) else value if isinstance(value, tuple) else ()
    return {item.partition(":")[0].strip() for item in items
            if isinstance(item, str) and (":" in item or not with_parameters)}


def check_specs(value: Any, default: Any, where: str) -> None:
    """If ``default`` holds MDP specs of the zoo, check every spec of ``value`` as :func:`triad.zoo.make` would.

    A default holds specs if one of its items is a zoo spec with parameters (``chain:n=10,slip=0.1``;
    a bare word such as ``baird`` may name something else). Items named like a non-zoo item of the
    default (an experiment's own problem, e.g. ``aliased-decision:delay=3``) are left to the
    experiment. The error names ``where``.
    """
    from triad import zoo

    if not _spec_names(default, with_parameters=True) & set(zoo.ZOO):
        return
    own = _spec_names(default) - set(zoo.ZOO)
    for item in (value,) if isinstance(value, str) else value:
        if item.partition(":")[0].strip() in own:
            continue
        try:
            zoo.validate(item)
        except TriadError as exc:
            raise type(exc)(f"{where}: {item!r}: {exc}") from None


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
class OutputError(TriadError, OSError):
    """An output folder or file cannot be written (read-only, missing permission, disk full)."""


def _output_error(path: Path, exc: OSError, what: str = "") -> OutputError:
    reason = exc.strerror or type(exc).__name__
    hint = f" ({what})" if what else ""
    return OutputError(f"cannot write {path}{hint}: {reason}")


def _tmp_name(path: Path) -> Path:
    """``.results.csv.<pid>.<random>.tmp`` beside ``path``: the pid tells a live writer from a killed one."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _open_new(path: Path, binary: bool) -> Any:
    """Create ``path`` exclusively with mode ``0o666`` less the umask (as ``open`` would), for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o666)
    return os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""}))


def make_dirs(directory: Path, what: str = "") -> Path:
    """``mkdir -p directory``; an :class:`OutputError` naming it if that is not allowed."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(directory, exc, what) from None
    return directory


def require_writable(directory: Path, what: str = "") -> Path:
    """Create ``directory`` if needed and check a file can be created in it (by creating one:
    permission bits alone say nothing for root or on a read-only mount).

    Raises:
        OutputError: ``cannot write results/baird (results folder): Permission denied``.
    """
    directory = make_dirs(directory, what)
    probe = _tmp_name(directory / ".write-probe")
    try:
        _open_new(probe, binary=True).close()
    except OSError as exc:
        raise _output_error(directory, exc, what) from None
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return directory


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write through a temporary file in the same directory, then rename: readers never see half a file.

    The file gets the permissions ``open`` would give it (``0o666`` less the umask). The temporary
    file carries the writer's pid, so :func:`remove_stale_tmp` can tell one left by a killed run.

    Raises:
        OutputError: the directory or file cannot be written; the message names the path.
    """
    path = Path(path)
    make_dirs(path.parent)
    tmp = _tmp_name(path)
    try:
        fh = _open_new(tmp, binary="b" in mode)
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        with fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, TriadError):
            raise _output_error(path, exc) from None
        raise
    return path


def write_if_changed(path: Path, text: str) -> bool:
    """:func:`atomic_write` ``text`` unless ``path`` already holds exactly it; whether it wrote."""
    path = Path(path)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if path.read_text(encoding="utf-8") == text:
            return False
    atomic_write(path, lambda fh: fh.write(text))
    return True


_STALE_AFTER = 60.0
"""Seconds after which a temporary file without a writer pid (older triad) counts as abandoned."""


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def remove_stale_tmp(*directories: Path) -> list[Path]:
    """Delete temporary files (``.NAME.*.tmp``) a killed run left in ``directories``; the removed paths.

    A file whose writer pid is still running is kept (a concurrent run is writing it); one
    without a pid is removed once it is older than a minute. Unremovable files are left alone.
    """
    removed = []
    now = time.time()
    for directory in directories:
        try:
            candidates = list(Path(directory).glob(".*.tmp"))
        except OSError:
            continue
        for tmp in candidates:
            parts = tmp.name.split(".")
            pid = int(parts[-3]) if len(parts) >= 5 and parts[-3].isdigit() else None
            try:
                if pid is not None:
                    if pid != os.getpid() and _writer_alive(pid):
                        continue
                elif now - tmp.stat().st_mtime < _STALE_AFTER:
                    continue
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                continue
    return removed


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


def json_text(obj: Any) -> str:
    """``obj`` as the indented JSON text :func:`write_json` writes."""
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n"


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as the CSV text :func:`write_csv` writes (full float precision)."""
    return frame.to_csv(index=False, float_format="%.17g", lineterminator="\n")


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json_text(obj)
    return atomic_write(path, lambda fh: fh.write(text))


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write a table as CSV, atomically, with full float precision."""
    text = csv_text(frame)
    return atomic_write(path, lambda fh: fh.write(text))


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
    retried: tuple[str, ...] = ()
    """Runs whose Ray worker died and that Ray computed again (``workers`` only)."""


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


def default_dirs(experiment: Experiment | str, quick: bool = False, results_root: Path | None = None,
                 figures_root: Path | None = None) -> tuple[Path, Path]:
    """Where ``triad run`` puts results and figures: ``results/NAME`` and ``figures/``, or for
    ``--quick`` runs ``results/NAME-quick`` and ``figures/quick/`` (so a smoke test never replaces
    the full run's results and figures)."""
    name = experiment if isinstance(experiment, str) else experiment.name
    results_root = Path(results_root) if results_root is not None else RESULTS_ROOT
    figures_root = Path(figures_root) if figures_root is not None else FIGURES_ROOT
    if quick:
        return results_root / f"{name}-quick", figures_root / "quick"
    return results_root / name, figures_root


def execute(experiment: Experiment, params: Mapping[str, Any], out: Path | None = None,
            figures_dir: Path | None = None, fresh: bool = False, show_progress: bool = True,
            make_figures: bool = True, quick: bool = False, workers: int | None = None,
            address: str | None = None) -> Outcome:
    """Run (or resume) ``experiment`` with ``params``; write results, summary and figures.

    Nothing is rewritten that would not change: a fully cached sweep whose ``results.csv``,
    ``summary.json`` and figures are current is shown from a read-only folder. Before the first
    run is computed, the results and figure folders are checked to be writable; temporary files a
    killed run left behind are removed.

    Args:
        out: results directory (default :func:`default_dirs`: ``results/<name>``, or
            ``results/<name>-quick`` with ``quick``).
        figures_dir: where figures go (default ``figures/``, or ``figures/quick/`` with ``quick``).
        fresh: ignore stored runs and recompute everything.
        quick: only chooses the default folders (``params`` already holds the quick settings).
        workers: compute the uncached runs as Ray tasks, this many at once (needs the
            ``distributed`` extra; see :mod:`triad.distributed.sweeps`); ``None`` runs them one
            after another in this process. Either way each finished run is stored as it finishes,
            and the files written are the same.
        address: with ``workers``, join the Ray cluster there (``host:port`` or ``auto``) instead
            of starting a local instance.

    Raises:
        OutputError: a folder or file that must be written cannot be (the message names it).
        RayMissing: ``workers`` given but Ray is not installed (checked before anything runs).
    """
    if address is not None and workers is None:
        raise ValidationError("address is only used with workers (how many runs to compute at once)")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValidationError(f"workers must be a positive integer, got {workers!r}")
        from triad.distributed import require_ray

        require_ray(f"workers={workers}", address)
    default_out, default_figures = default_dirs(experiment, quick)
    out = Path(out) if out is not None else default_out
    figures_dir = Path(figures_dir) if figures_dir is not None else default_figures
    runs = experiment.sweep(params)
    if not runs:
        raise ValidationError(f"experiment {experiment.name!r}: the sweep is empty for these parameters")
    ids = [r.id for r in runs]
    if len(set(ids)) != len(ids):
        raise ValidationError(f"experiment {experiment.name!r}: duplicate run ids in the sweep")
    runs_dir = out / "runs"
    remove_stale_tmp(out, runs_dir, figures_dir)
    code = code_fingerprint(experiment)
    cached = {}
    for run in runs:
        csv_path, json_path = runs_dir / f"{slug(run.id)}.csv", runs_dir / f"{slug(run.id)}.json"
        cached[run.id] = not fresh and csv_path.exists() and _is_cached(json_path, _run_record(run.params, code))
    if not all(cached.values()):
        require_writable(runs_dir, "results folder")
        if make_figures and experiment.figures:
            require_writable(figures_dir, "figures folder")
    frames = []
    reused = ran = 0
    retried: tuple[str, ...] = ()
    with _progress_bar(show_progress) as bar:
        overall = bar.add_task(f"{experiment.name}", total=len(runs))
        if workers is not None:
            frames, reused, ran, retried = _compute_on_ray(experiment, runs, cached, runs_dir, code, workers, address,
                                                           bar, overall)
        else:
            for run in runs:
                csv_path = runs_dir / f"{slug(run.id)}.csv"
                if cached[run.id]:
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

                frames.append(_store_run(run, experiment.run(run, Progress(update)), runs_dir, code))
                ran += 1
                bar.remove_task(task)
                bar.advance(overall)
    results = pd.concat(frames, ignore_index=True)
    results_text = csv_text(results)
    write_if_changed(out / "results.csv", results_text)
    write_if_changed(out / "params.json", json_text(params))
    summary = experiment.summarise(results, params)
    write_if_changed(out / "summary.json", json_text(summary))
    made = _current_figures(experiment, out, figures_dir, results_text, params) if make_figures else []
    return Outcome(summary=to_jsonable(summary), results_dir=out, figures=made, reused=reused, ran=ran,
                   retried=retried)


def _compute_on_ray(experiment: Experiment, runs: list[Run], cached: Mapping[str, bool], runs_dir: Path, code: str,
                    workers: int, address: str | None, bar: Any,
                    overall: Any) -> tuple[list[pd.DataFrame], int, int, tuple[str, ...]]:
    """The parallel half of :func:`execute`: cached runs read, the others computed as Ray tasks and
    stored as each finishes; the frames in sweep order, how many were reused, computed and retried."""
    from triad.distributed.sweeps import run_cells

    done = {run.id: pd.read_csv(runs_dir / f"{slug(run.id)}.csv") for run in runs if cached[run.id]}
    bar.advance(overall, len(done))
    todo = [run for run in runs if not cached[run.id]]
    shown: dict[str, Any] = {}
    retried = []

    def started(run: Run) -> None:
        shown[run.id] = bar.add_task(f"  {run.id}", total=None)

    if todo:
        with contextlib.closing(run_cells(experiment, todo, code, workers, address, started)) as finished:
            for run, rows, attempt in finished:  # in the order they finish
                done[run.id] = _store_run(run, rows, runs_dir, code)
                retried += [run.id] if attempt else []
                bar.remove_task(shown.pop(run.id))
                bar.advance(overall)
    return [done[run.id] for run in runs], len(runs) - len(todo), len(todo), tuple(retried)


def _store_run(run: Run, rows: pd.DataFrame, runs_dir: Path, code: str) -> pd.DataFrame:
    """Check a run's tidy rows, prefix its id and write them and its record atomically to ``runs_dir``."""
    missing = {"step", "quantity", "value"} - set(rows.columns)
    if missing:
        raise RuntimeError(f"run {run.id} returned rows without columns {sorted(missing)}")
    rows.insert(0, "id", run.id)
    write_csv(runs_dir / f"{slug(run.id)}.csv", rows)
    write_json(runs_dir / f"{slug(run.id)}.json", _run_record(run.params, code))
    return rows


_FIGURES_RECORD = "figures.json"
"""In a results folder: which figures were drawn from exactly these results, and where."""


def _figures_key(experiment: Experiment, figures_dir: Path, results_text: str, params: Mapping[str, Any]) -> str:
    """A hash of what the figures are drawn from: the rows, the parameters, the figure scripts, the folder."""
    digest = hashlib.sha256()
    for part in (results_text, json_text(params), str(Path(figures_dir).resolve())):
        digest.update(part.encode())
    for name in experiment.figures:
        source = getattr(importlib.import_module(f"triad.figures.{name}"), "__file__", None)
        if source:
            digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:16]


def _current_figures(experiment: Experiment, results_dir: Path, figures_dir: Path, results_text: str,
                     params: Mapping[str, Any]) -> list[Path]:
    """The experiment's figures, redrawn only if the results, scripts or folder changed since they were drawn."""
    if not experiment.figures:
        return []
    key = _figures_key(experiment, figures_dir, results_text, params)
    record_path = Path(results_dir) / _FIGURES_RECORD
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        record = json.loads(record_path.read_text())
        paths = [Path(p) for p in record["figures"]]
        if record["key"] == key and all(p.exists() for p in paths):
            return paths
    made = plot_figures(experiment, results_dir, figures_dir)
    with contextlib.suppress(OutputError):  # only a cache: a read-only results folder redraws next time
        write_if_changed(record_path, json_text({"key": key, "figures": [str(p) for p in made]}))
    return made


def plot_figures(experiment: Experiment, results_dir: Path, figures_dir: Path | None = None) -> list[Path]:
    """Draw every figure of ``experiment`` from the cached results in ``results_dir``.

    Raises:
        ValidationError: no cached results in ``results_dir``.
        OutputError: ``figures_dir`` cannot be written (checked before drawing).
    """
    if not (Path(results_dir) / "results.csv").exists():
        raise ValidationError(f"no cached results for {experiment.name!r} in {results_dir} "
                              f"(run `triad run {experiment.name}` first)")
    figures_dir = Path(figures_dir) if figures_dir is not None else FIGURES_ROOT
    if not experiment.figures:
        return []
    require_writable(figures_dir, "figures folder")
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
