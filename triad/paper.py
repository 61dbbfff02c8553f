r"""The paper: every number as a LaTeX macro, every figure as a vector PDF, one latexmk build.

:func:`build` (``triad paper [--quick]``) executes every registered experiment (cached runs are
reused: :func:`triad.experiment.execute` checks each run's parameters and code fingerprint), draws
every figure from the cached results as PDF (for the paper) and PNG (for the README), writes the
numbers of each experiment to ``paper/generated/<experiment>.tex``, checks that ``paper/triad.tex``
uses only numbers, figures and references that exist, and builds ``paper/build/triad.pdf`` with
latexmk. ``quick`` runs use the experiments' ``--quick`` settings and their own results folders
(``results/<experiment>-quick``). Besides every experiment at its defaults the paper reports the
:data:`VARIANTS` (an experiment at other settings, e.g. the deadly triad's deep level, under its own
name) and the benchmark records (:func:`write_benchmark`): measurements that the scripts in
``tests/benchmarks`` write with ``--record`` and the paper quotes as they were measured (a build does
not rerun them — their ``params.json`` says when, where and at what load).

Macro scheme
------------
``summary.json`` and ``params.json`` are trees of mappings and lists. Every scalar in them has a
*path*: the keys from the root joined by ``|``, each written exactly as in the JSON file, e.g.
``runs|tdc/expected|sqrt_ve``. Keys may contain ``/ = : , . - _`` and digits (run ids, MDP specs),
which is why ``|`` separates them. A list's items are ``[0]``, ``[1]``, … and the list itself
(items typeset and joined by commas) has the list's path. Positional components also work on
mappings, whose entries keep the file's order:

* ``[i]`` is the i-th entry (from 0) of a mapping or list, ``[-1]`` the last;
* a final ``[key]`` is the key of the entry reached, as text.

So ``by_mdp|[0]|error=1|best_lambda`` names the first MDP's entry whatever its spec (the quick and
full sweeps use different MDPs) and ``by_mdp|[0]|[key]`` prints that spec. Every literal path is
written; a path with positional components is written when the paper uses it (:func:`build`
reads ``triad.tex`` first), since every combination would run to tens of thousands. A key that
holds ``|``, white space or a TeX special character (``\ { } % # ~ $ ^ &``), or starts with
``[``, cannot be named: it is left out with a warning. In the tex::

    \res{EXPERIMENT}{PATH}     the value, typeset by :func:`render`
    \pct{EXPERIMENT}{PATH}     a value in [0, 1] as a percentage (only such values have one)
    \param{EXPERIMENT}{PATH}   a parameter the experiment ran with (``params.json``), same paths

``paper/generated/<experiment>.tex`` holds one line per number::

    \triaddef{res}{baird}{runs|tdc/expected|sqrt_ve}{\ensuremath{1.94}}% 1.9354645366616536

which ``\newcommand``-s the control sequence ``triad:res:baird:runs|tdc/expected|sqrt_ve``: the
name is reversible (experiment names hold no ``:``, so KIND, EXPERIMENT and PATH split at the first
two colons) and the comment keeps the full-precision JSON value. ``paper/generated/index.tex``
inputs every experiment's file and says whether the build is quick.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from triad import experiment as exp
from triad.errors import TriadError

PAPER_ROOT = Path("paper")
LATEX_PACKAGES = ("latexmk", "texlive-latex-recommended")
"""Debian packages the paper needs (checked on Debian 12: ~15 MB download, ~145 MiB installed)."""
INSTALL_LATEX = "apt-get install -y --no-install-recommends " + " ".join(LATEX_PACKAGES)
"""The one command that installs them (as root)."""
LATEX_TOOLS = ("latexmk", "pdflatex", "bibtex")
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"deadly-triad-deep": ("deadly-triad", {"level": "deep"})}
"""Runs the paper reports besides every experiment at its defaults: name → (experiment, overrides).
A variant's results live in ``results/NAME`` (``NAME-quick``) and its numbers are ``\\res{NAME}{...}``."""
BENCHMARKS_ROOT = Path("tests") / "benchmarks" / "records"
"""Where the benchmark scripts record their measurements (:func:`write_benchmark`), one folder each, relative
to the repository root (the benchmark scripts run there; the paper reads them next to ``paper/``)."""
BENCHMARK_PREFIX = "bench-"
"""The paper's name of benchmark record ``NAME``: ``\\res{bench-NAME}{...}``."""
README_FIGURES = ("baird_weights", "contraction_norms", "bias_variance", "overestimation_qlearning")
"""Figures the README shows; a full build copies their PNGs to ``paper/figures/``."""
KINDS = ("res", "pct", "param")
SEPARATOR = "|"
DIGITS = 3
"""Significant digits of every non-integer number in the paper."""

_FORBIDDEN = set("\\{}%#~$^&|")
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
"""How :func:`triad.experiment.to_jsonable` writes non-finite floats to JSON."""


class PaperError(TriadError):
    """The paper cannot be built as asked (an unknown number or figure, a missing tool)."""


class LatexFailed(PaperError):
    """latexmk ran and failed; the message carries the first LaTeX error and the log's path."""


# ------------------------------------------------------------------------------------ numbers
def _nameable(key: str) -> bool:
    return bool(key) and not key.startswith("[") and not any(c in _FORBIDDEN or c.isspace() for c in key)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def flatten(tree: Mapping[str, Any], where: str = "summary") -> dict[str, Any]:
    """Every scalar of ``tree`` (and every list of scalars) by its literal path (no positional
    components except a list's ``[i]``).

    Args:
        tree: a JSON object as loaded from ``summary.json`` or ``params.json``.
        where: names the tree in the warning about keys that cannot be named.
    Returns:
        path → value (``None``, bool, int, float, str, or a list of those), in file order.
    """
    out: dict[str, Any] = {}
    skipped: list[str] = []

    def visit(node: Any, path: str) -> None:
        prefix = f"{path}{SEPARATOR}" if path else ""
        if isinstance(node, Mapping):
            for key, value in node.items():
                if _nameable(str(key)):
                    visit(value, prefix + str(key))
                else:
                    skipped.append(prefix + str(key))
        elif isinstance(node, (list, tuple)):
            if all(_is_scalar(v) for v in node):
                out[path] = list(node)
            for i, value in enumerate(node):
                visit(value, f"{prefix}[{i}]")
        else:
            out[path] = node

    if not isinstance(tree, Mapping):
        raise PaperError(f"{where}: expected a JSON object, got {type(tree).__name__}")
    visit(tree, "")
    if skipped:
        warnings.warn(f"{where}: {len(skipped)} keys cannot be macro paths and are left out "
                      f"(first: {skipped[0]!r})", stacklevel=2)
    return out


_POSITION = re.compile(r"^\[(-?\d+)\]$")


def resolve(tree: Any, path: str) -> Any:
    """The value at ``path`` in ``tree``, positional components included.

    Raises:
        PaperError: naming the first component that leads nowhere.
    """
    node, key = tree, None
    parts = path.split(SEPARATOR)
    for depth, part in enumerate(parts):
        position = _POSITION.match(part)
        if part == "[key]" and depth == len(parts) - 1 and key is not None:
            return key
        if position and isinstance(node, (Mapping, list, tuple)):
            entries = list(node.items()) if isinstance(node, Mapping) else [(None, v) for v in node]
            i = int(position.group(1))
            if not -len(entries) <= i < len(entries):
                raise PaperError(f"{path!r}: {part} is out of range ({len(entries)} entries)")
            key, node = entries[i]  # a list's items have no key
        elif isinstance(node, Mapping) and part in node:
            key, node = part, node[part]
        else:
            raise PaperError(f"{path!r}: no entry {part!r}")
    if not (_is_scalar(node) or isinstance(node, (list, tuple)) and all(_is_scalar(v) for v in node)):
        raise PaperError(f"{path!r} leads to a {type(node).__name__}, not a number")
    return list(node) if isinstance(node, (list, tuple)) else node


def _int_text(n: int) -> str:
    digits = f"{abs(n):,}".replace(",", "{,}")
    return f"-{digits}" if n < 0 else digits


def number_text(x: float, digits: int = DIGITS) -> str:
    """A finite number for math mode: integral values exactly (below 10⁶, thousands grouped),
    others to ``digits`` significant digits, in scientific form below 10⁻³ or from 10⁶ on."""
    if x == 0:
        return "0"
    if float(x).is_integer() and abs(x) < 1e6:
        return _int_text(int(x))
    rounded = float(f"{x:.{digits}g}")
    if 1e-3 <= abs(rounded) < 1e6:
        return _int_text(int(rounded)) if rounded.is_integer() else f"{x:.{digits}g}"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return rf"{mantissa}\times10^{{{int(exponent)}}}"


def escape(text: str) -> str:
    r"""``text`` for LaTeX: special characters escaped, a break allowed after ``/`` and ``,``."""
    specials = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%", "#": r"\#",
                "&": r"\&", "$": r"\$", "^": r"\^{}", "~": r"\~{}"}
    out = []
    for c in text:
        out.append(specials.get(c, c))
        if c in "/,":
            out.append(r"\allowbreak{}")
    return "".join(out)


def as_number(value: Any) -> Any:
    """``value`` with the JSON spellings of non-finite floats (``"inf"``, ``"-inf"``, ``"nan"``) as floats."""
    return _NON_FINITE.get(value, value) if isinstance(value, str) else value


def render(value: Any) -> str:
    r"""The LaTeX text of a summary value.

    Integers exactly, other numbers by :func:`number_text` (both in ``\ensuremath``); ±inf is
    "diverged", nan "n/a", ``None`` "none", booleans "yes"/"no", strings ``\texttt``; a list its
    items joined by commas.
    """
    value = as_number(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return rf"\texttt{{{escape(value)}}}"
    if isinstance(value, (list, tuple)):
        return ", ".join(render(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "diverged"
    return rf"\ensuremath{{{number_text(value)}}}"


def render_percent(value: Any) -> str | None:
    r"""A float in [0, 1] as a percentage (``\ensuremath{12.6}\%``); ``None`` for anything else."""
    value = as_number(value)
    if isinstance(value, float) and 0.0 <= value <= 1.0:
        return rf"\ensuremath{{{number_text(100.0 * value)}}}\%"
    return None


def macro_name(kind: str, experiment: str, path: str) -> str:
    """The control-sequence name of a number: ``triad:KIND:EXPERIMENT:PATH``."""
    return f"triad:{kind}:{experiment}:{path}"


def parse_macro_name(name: str) -> tuple[str, str, str]:
    """``(kind, experiment, path)`` of :func:`macro_name` (split at the first three colons)."""
    prefix, kind, experiment, path = name.split(":", 3)
    if prefix != "triad" or kind not in KINDS:
        raise PaperError(f"{name!r} is not a triad number")
    return kind, experiment, path


def macro_lines(experiment: str, summary: Mapping[str, Any], params: Mapping[str, Any],
                wanted: Sequence[tuple[str, str]] = ()) -> list[str]:
    r"""The ``\triaddef`` lines of one experiment: ``res`` and ``pct`` from the summary, ``param`` from
    the parameters; every literal path, and the ``(kind, path)`` pairs of ``wanted`` that resolve."""
    if ":" in experiment or not _nameable(experiment):
        raise PaperError(f"experiment name {experiment!r} cannot be part of a macro name")
    trees = {"res": summary, "pct": summary, "param": params}
    values = {kind: flatten(trees[kind], f"{experiment} {where}")
              for kind, where in (("res", "summary.json"), ("param", "params.json"))}
    values["pct"] = {path: value for path, value in values["res"].items() if render_percent(value) is not None}
    for kind, path in wanted:
        if path not in values[kind]:
            try:
                value = resolve(trees[kind], path)
            except PaperError:
                continue  # check() reports it with the line that uses it
            if kind != "pct" or render_percent(value) is not None:
                values[kind][path] = value
    return [rf"\triaddef{{{kind}}}{{{experiment}}}{{{path}}}"
            rf"{{{render_percent(value) if kind == 'pct' else render(value)}}}% {json.dumps(value)}"
            for kind in KINDS for path, value in values[kind].items()]


def write_numbers(generated: Path, sources: Mapping[str, Path], quick: bool,
                  wanted: Sequence[tuple[str, str, str]] = ()) -> list[Path]:
    """``generated/<experiment>.tex`` from each results folder's ``summary.json`` and ``params.json``,
    and ``generated/index.tex`` that inputs them; files of experiments no longer listed are removed.

    Args:
        sources: experiment name → its results folder.
        wanted: ``(kind, experiment, path)`` the paper uses (for the positional paths).
    """
    generated = Path(generated)
    written = []
    for name, results in sources.items():
        summary = json.loads((Path(results) / "summary.json").read_text())
        params_path = Path(results) / "params.json"
        params = json.loads(params_path.read_text()) if params_path.exists() else {}
        header = [f"% The numbers of experiment {name!r}, written by `triad paper` from {results}/summary.json",
                  "% and params.json: do not edit (see triad/paper.py for the macro scheme)."]
        mine = [(kind, path) for kind, experiment, path in wanted if experiment == name]
        text = "\n".join(header + macro_lines(name, summary, params, mine)) + "\n"
        written.append(exp.atomic_write(generated / f"{name}.tex", lambda fh, text=text: fh.write(text)))
    index = ["% Written by `triad paper`: which numbers the paper is built from.",
             r"\triadquicktrue" if quick else r"\triadquickfalse",
             *(rf"\input{{generated/{name}}}" for name in sources)]
    written.append(exp.atomic_write(generated / "index.tex", lambda fh: fh.write("\n".join(index) + "\n")))
    keep = {p.name for p in written}
    for stale in generated.glob("*.tex"):
        if stale.name not in keep:
            stale.unlink()
    return written


def read_numbers(generated: Path) -> dict[tuple[str, str, str], str]:
    r"""Every ``\triaddef`` in ``generated/*.tex``: ``(kind, experiment, path) → typeset text``."""
    pattern = re.compile(r"^\\triaddef\{([^{}]*)\}\{([^{}]*)\}\{([^{}]*)\}\{(.*)\}% .*$")
    found = {}
    for path in sorted(Path(generated).glob("*.tex")):
        for line in path.read_text().splitlines():
            match = pattern.match(line)
            if match:
                found[match.group(1), match.group(2), match.group(3)] = match.group(4)
    return found


# ------------------------------------------------------------------------------ checking the tex
_USE = re.compile(r"\\(res|pct|param)\{([^{}]*)\}\{([^{}]*)\}")
_GRAPHICS = re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\{([^{}]*)\}")
_CITE = re.compile(r"\\cite[a-zA-Z]*\*?\s*(?:\[[^\]]*\]\s*)*\{([^{}]*)\}")
_BIB_ENTRY = re.compile(r"@\s*[a-zA-Z]+\s*\{\s*([^,\s]+)\s*,")


def strip_comments(tex: str) -> str:
    """``tex`` without its comments (an unescaped ``%`` to the end of the line)."""
    return "\n".join(re.sub(r"(?<!\\)%.*$", "", line) for line in tex.splitlines())


def used_numbers(tex: str) -> list[tuple[int, str, str, str]]:
    r"""``(line, kind, experiment, path)`` of every ``\res``, ``\pct`` and ``\param`` in ``tex``."""
    text = strip_comments(tex)
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2), m.group(3)) for m in _USE.finditer(text)]


def check(tex_path: Path, generated: Path, figures: Path, bib_path: Path) -> list[str]:
    r"""What the paper uses but nobody provides: numbers without a ``\triaddef``, figures without a
    PDF in ``figures``, citations without a BibTeX entry. Each problem is one line naming the tex line."""
    tex_path = Path(tex_path)
    tex = tex_path.read_text()
    text = strip_comments(tex)
    numbers = read_numbers(generated)
    problems = [f"{tex_path}:{line}: \\{kind}{{{name}}}{{{path}}} is not in {generated}"
                for line, kind, name, path in used_numbers(tex) if (kind, name, path) not in numbers]
    for match in _GRAPHICS.finditer(text):
        target = match.group(1).strip()
        if not (Path(figures) / f"{target}.pdf").is_file():
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{tex_path}:{line}: figure {target!r} has no {Path(figures) / target}.pdf")
    keys = set(_BIB_ENTRY.findall(Path(bib_path).read_text())) if Path(bib_path).exists() else set()
    for match in _CITE.finditer(text):
        for key in (k.strip() for k in match.group(1).split(",")):
            if key and key not in keys:
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{tex_path}:{line}: citation {key!r} is not in {bib_path}")
    return problems


# -------------------------------------------------------------------------------------- LaTeX
def missing_latex_tools() -> list[str]:
    """The LaTeX programs the build needs that are not on ``PATH``."""
    return [tool for tool in LATEX_TOOLS if shutil.which(tool) is None]


def log_problems(log: str) -> tuple[list[str], int]:
    """Undefined references and citations in a LaTeX log (one line each), and the number of overfull boxes."""
    undefined = re.findall(r"LaTeX Warning: (?:Reference|Citation) `[^']*' on page \d+ undefined", log)
    undefined += re.findall(r"Package natbib Warning: Citation `[^']*' on page \d+ undefined", log)
    overfull = len(re.findall(r"^Overfull \\[hv]box", log, flags=re.MULTILINE))
    return sorted(set(undefined)), overfull


def run_latex(paper_dir: Path, main: str = "triad.tex") -> dict[str, Any]:
    """``latexmk -pdf`` of ``paper_dir/main`` into ``paper_dir/build``.

    Returns:
        ``pdf`` (path), ``pages``, ``overfull`` (count), ``seconds``.
    Raises:
        PaperError: a LaTeX program is missing (the message is the install command).
        LatexFailed: latexmk failed, or references or citations stayed undefined.
    """
    missing = missing_latex_tools()
    if missing:
        raise PaperError(f"{', '.join(missing)} not found: install LaTeX with `{INSTALL_LATEX}` "
                         "(as root; figures and numbers are written)")
    paper_dir = Path(paper_dir)
    stem = Path(main).stem
    log_path = paper_dir / "build" / f"{stem}.log"
    started = time.perf_counter()
    env = {**os.environ, "max_print_line": "10000"}  # one log line per message, for the checks below
    proc = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                           "-outdir=build", main], cwd=paper_dir, capture_output=True, text=True, env=env,
                          check=False)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    if proc.returncode != 0:
        errors = [line for line in log.splitlines() if line.startswith("!") or re.match(r"^[^ ]+:\d+: ", line)]
        first = errors[0] if errors else (proc.stderr.strip().splitlines() or ["no log"])[-1]
        raise LatexFailed(f"latexmk failed on {paper_dir / main}: {first} (log: {log_path})")
    undefined, overfull = log_problems(log)
    if undefined:
        raise LatexFailed(f"{paper_dir / main}: {undefined[0]} ({len(undefined)} undefined; log: {log_path})")
    pages = re.search(r"Output written on .*?\((\d+) pages?", log)
    return {"pdf": paper_dir / "build" / f"{stem}.pdf", "pages": int(pages.group(1)) if pages else None,
            "overfull": overfull, "seconds": time.perf_counter() - started}


# -------------------------------------------------------------------------------------- build
def results_dir(results_root: Path, name: str, quick: bool) -> Path:
    """Where an experiment's results live: ``results/NAME``, or ``results/NAME-quick`` for quick runs."""
    return Path(results_root) / (f"{name}-quick" if quick else name)


@dataclasses.dataclass(frozen=True)
class Report:
    """What :func:`build` did and how long each part took (seconds)."""

    quick: bool
    experiments: dict[str, dict[str, Any]]
    figures: list[Path]
    numbers: list[Path]
    figure_seconds: float
    pdf: Path | None
    pages: int | None
    overfull: int | None
    latex_seconds: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return exp.to_jsonable({**dataclasses.asdict(self), "figures": [str(p) for p in self.figures],
                                "numbers": [str(p) for p in self.numbers],
                                "pdf": str(self.pdf) if self.pdf else None})


def write_benchmark(name: str, summary: Mapping[str, Any], params: Mapping[str, Any],
                    root: Path = BENCHMARKS_ROOT) -> Path:
    r"""Record a benchmark's measurements for the paper: ``root/NAME/summary.json`` and ``params.json``.

    The paper quotes them as ``\res{bench-NAME}{PATH}`` and ``\param{bench-NAME}{PATH}`` (same paths as
    an experiment's). ``params`` should say how it was measured: the command, the date, the load
    average, the versions compared. Both files are written atomically, so a killed benchmark leaves
    the previous record whole. Returns the record's folder.
    """
    if not _nameable(name) or ":" in name:
        raise PaperError(f"benchmark name {name!r} cannot be part of a macro name")
    folder = Path(root) / name
    for file, tree in (("summary.json", summary), ("params.json", params)):
        text = json.dumps(exp.to_jsonable(tree), indent=1) + "\n"
        exp.atomic_write(folder / file, lambda fh, text=text: fh.write(text))
    return folder


def measured_on(**extra: Any) -> dict[str, Any]:
    """How and where a benchmark ran, for its record's ``params``: the command line, UTC time, the git
    commit (if any), CPUs, the 1-minute load average and the versions of Python and the libraries
    compared; ``extra`` added."""
    import datetime
    import platform
    import sys
    from importlib import metadata

    versions = {}
    for package in ("triad", "torch", "numpy", "gymnasium", "stable-baselines3", "ray"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {"command": " ".join(["python", *sys.argv]), "utc": datetime.datetime.now(datetime.UTC).isoformat(
        timespec="seconds"), "commit": git.stdout.strip() or None, "cpus": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 2), "python": platform.python_version(), "versions": versions,
            **extra}


def benchmark_sources(root: Path = BENCHMARKS_ROOT) -> dict[str, Path]:
    """``bench-NAME → folder`` of every benchmark record under ``root`` (none if it does not exist)."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {BENCHMARK_PREFIX + d.name: d for d in sorted(root.iterdir()) if (d / "summary.json").is_file()}


def build(paper_dir: Path = PAPER_ROOT, results_root: Path = exp.RESULTS_ROOT, quick: bool = False,
          pdf: bool = True, show_progress: bool = True, names: Sequence[str] | None = None,
          benchmarks: Path | None = None) -> Report:
    """Run stale experiments, draw every figure, write the numbers, check the tex, build the PDF.

    Args:
        paper_dir: the folder holding ``triad.tex`` and ``references.bib``; figures go to
            ``paper_dir/build/figures``, numbers to ``paper_dir/generated``, the PDF to
            ``paper_dir/build/triad.pdf``; a full (not quick) build also copies the README's figures
            (:data:`README_FIGURES`) to ``paper_dir/figures``.
        results_root: results of experiment NAME are in ``results_root/NAME`` (``NAME-quick``).
        quick: the experiments' ``--quick`` settings.
        pdf: run latexmk (otherwise stop after the check).
        names: experiments to run (default: every registered one), with their :data:`VARIANTS`.
        benchmarks: the benchmark records (:func:`write_benchmark`), quoted as they were measured;
            default: :data:`BENCHMARKS_ROOT` in the repository that holds ``paper_dir`` (its parent).
    Raises:
        PaperError: the tex uses a number, figure or citation nobody provides, or LaTeX is missing
            (after the figures and numbers are written).
    """
    from triad.figures import formats

    started = time.perf_counter()
    paper_dir = Path(paper_dir)
    tex, bib = paper_dir / "triad.tex", paper_dir / "references.bib"
    if not tex.is_file():
        raise PaperError(f"{tex} not found: run `triad paper` in the repository root, or pass --paper DIR")
    registry = exp.registry()
    chosen = list(registry) if names is None else list(names)
    for name in chosen:
        exp.get(name)
    runs = {name: (name, {}) for name in chosen}
    runs.update({name: spec for name, spec in VARIANTS.items() if spec[0] in chosen})
    ran: dict[str, dict[str, Any]] = {}
    for name, (of, overrides) in runs.items():
        experiment = registry[of]
        begin = time.perf_counter()
        outcome = exp.execute(experiment, experiment.resolve(overrides, quick=quick),
                              out=results_dir(results_root, name, quick), make_figures=False,
                              show_progress=show_progress)
        ran[name] = {"ran": outcome.ran, "reused": outcome.reused, "seconds": time.perf_counter() - begin}
    figures_dir = paper_dir / "build" / "figures"
    begin = time.perf_counter()
    made: list[Path] = []
    with formats("pdf", "png"):
        for name, (of, _) in runs.items():
            made += exp.plot_figures(registry[of], results_dir(results_root, name, quick), figures_dir)
    figure_seconds = time.perf_counter() - begin
    wanted = [(kind, name, path) for _, kind, name, path in used_numbers(tex.read_text())]
    sources = {name: results_dir(results_root, name, quick) for name in runs}
    records = benchmark_sources(paper_dir.parent / BENCHMARKS_ROOT if benchmarks is None else benchmarks)
    numbers = write_numbers(paper_dir / "generated", {**sources, **records}, quick, wanted)
    if not quick:
        for figure in README_FIGURES:
            png = figures_dir / f"{figure}.png"
            if png.exists():
                (paper_dir / "figures").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(png, paper_dir / "figures" / png.name)
    problems = check(tex, paper_dir / "generated", figures_dir, bib)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PaperError(problems[0] + more)
    latex: dict[str, Any] = {"pdf": None, "pages": None, "overfull": None, "seconds": 0.0}
    if pdf:
        latex = run_latex(paper_dir)
    return Report(quick=quick, experiments=ran, figures=made, numbers=numbers, figure_seconds=figure_seconds,
                  pdf=latex["pdf"], pages=latex["pages"], overfull=latex["overfull"],
                  latex_seconds=latex["seconds"], seconds=time.perf_counter() - started)

