"""The ``triad`` command line.

Every command prints a rich report, or with ``--json`` exactly one JSON object on stdout (progress
goes to stderr). User errors (a bad spec, an unknown name, an invalid file, a folder that cannot be
written) print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import inspect
import json
import math
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console, Group
from rich.table import Table
from typer.core import TyperCommand

from triad import experiment as exp
from triad import zoo
from triad.errors import SpecError, TriadError, ValidationError
from triad.mdp import FiniteMDP, load_npy
from triad.progress import Progress
from triad.spec import key_values

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="triad: see the theory of reinforcement learning — contraction, divergence, estimators.")
out = Console()
if not out.is_terminal and "COLUMNS" not in os.environ:
    # Piped or logged output: rich would assume 80 columns and elide table cells; logs can be wide.
    out = Console(width=160)
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")]
SpecArg = Annotated[str, typer.Argument(metavar="SPEC", help="MDP spec, e.g. garnet:S=1000,A=4,b=10,seed=0, "
                                                             "chain:n=20, baird, or a path to an .npz file.")]
GammaOpt = Annotated[float | None, typer.Option(metavar="G", help="Override the MDP's discount factor.")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", metavar="N", help="Compute N runs at once as Ray tasks (needs the distributed extra: pip install "
                                   "'triad[distributed]'); a killed sweep rerun with the same command computes only "
                                   "the runs it had not finished. Default: one after another in this process.")]
AddressOpt = Annotated[str | None, typer.Option(
    "--address", metavar="ADDR", help="With --workers: join the Ray cluster whose head is at ADDR (host:port, or "
                                      "auto for the one `ray start` began on this machine) instead of starting a "
                                      "local Ray instance.")]
PolicyOpt = Annotated[str, typer.Option(metavar="uniform|target|behaviour|PATH.npy",
                                        help="The policy: uniform, the problem's target or behaviour policy, or a "
                                             "path to an (S, A) .npy array.")]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import triad

    try:
        return version("triad")
    except PackageNotFoundError:
        return triad.__version__


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"triad {_version()}\n")
        raise typer.Exit()


@app.callback()
def _triad(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_show_version,
                                                  help="Print triad's version and exit.")] = False) -> None:
    """triad: see the theory of reinforcement learning — contraction, divergence, estimators."""


class TriadCommand(TyperCommand):
    """Plain help: arguments shown by their metavar (``SPEC``), flags without a type, values with theirs."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                note = "" if param.required else " (optional)"
                arguments.append((param.metavar or param.name.upper(), (param.help or "") + note))
            else:
                record = param.get_help_record(ctx)
                if record is not None:
                    options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "state") -> "1 state"``, ``plural(3, "run") -> "3 runs"``."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def gamma_text(gamma: float) -> str:
    """γ with every digit it has (up to 12 significant): 0.999999999 is not 1."""
    return f"{gamma:.12g}"


def emit_json(obj: Any) -> None:
    """Print ``obj`` as a single JSON document on stdout."""
    sys.stdout.write(json.dumps(exp.to_jsonable(obj)) + "\n")


def check_workers(workers: int | None, address: str | None) -> None:
    """``--workers N [--address ADDR]``: N ≥ 1, ``--address`` only with ``--workers``, and Ray installed.

    Raises:
        SpecError: a bad combination; RayMissing: ``--workers needs Ray: pip install 'triad[distributed]'``;
        DistributedError: nothing listens at ``address``.
    """
    if address is not None and workers is None:
        raise SpecError("--address needs --workers N (how many runs to compute at once on the cluster)")
    if workers is None:
        return
    if workers < 1:
        raise SpecError(f"--workers must be at least 1, got {workers}")
    from triad.distributed import check_address, require_ray

    require_ray("--workers", address)
    if address is not None:
        check_address(address)


def _mdp_with_gamma(spec: str, gamma: float | None) -> tuple[zoo.Problem, FiniteMDP]:
    problem = zoo.make(spec)
    mdp = problem.mdp if gamma is None else problem.mdp.with_gamma(gamma)
    return problem, mdp


def _shape_text(mdp: FiniteMDP) -> str:
    return f"{plural(mdp.S, 'state')}, {plural(mdp.A, 'action')}, γ = {gamma_text(mdp.gamma)}"


def _values_table(mdp: FiniteMDP, V: np.ndarray, actions: np.ndarray | None = None, limit: int = 12) -> Table:
    table = Table("state", "value", *(["greedy action"] if actions is not None else []), box=None)
    shown = range(min(mdp.S, limit))
    for s in shown:
        name = mdp.state_names[s] if mdp.state_names else str(s)
        row = [name, f"{V[s]:.6g}"]
        if actions is not None:
            row.append(mdp.action_names[actions[s]] if mdp.action_names else str(int(actions[s])))
        table.add_row(*row)
    if mdp.S > limit:
        table.add_row("…", f"(min {V.min():.6g}, mean {V.mean():.6g}, max {V.max():.6g} over {plural(mdp.S, 'state')})")
    return table


@app.command()
def solve(
    spec: SpecArg,
    method: Annotated[str, typer.Option(metavar="vi|pi|mpi|lp", help="vi (value iteration), pi (policy iteration), "
                                                                      "mpi (modified PI) or lp.")] = "vi",
    gamma: GammaOpt = None,
    tol: Annotated[float, typer.Option(metavar="T", help="Guaranteed ‖V − V*‖∞ for vi and mpi.")] = 1e-6,
    json_: JsonOpt = False,
) -> None:
    """Solve an MDP for V* and a greedy optimal policy."""
    from triad.solvers import solve as run_solver

    _, mdp = _mdp_with_gamma(spec, gamma)
    with err.status(f"solving {mdp.name or spec} ({plural(mdp.S, 'state')}, {plural(mdp.A, 'action')}) "
                    f"with {method}") as status:
        iterations = [0]

        def update(n: float, total: float | None, info: dict) -> None:
            iterations[0] += int(n)
            if "bound" in info:
                status.update(f"{method}: iteration {iterations[0]}, error bound {info['bound']:.3g}")

        result = run_solver(mdp, method=method, tol=tol, progress=Progress(update))
    payload = {"values": result.V, "policy": result.actions, "iterations": result.iterations,
               "seconds": result.seconds, "method": method, "error_bound": result.error_bound,
               "converged": result.converged, "S": mdp.S, "A": mdp.A, "gamma": mdp.gamma}
    if json_:
        emit_json(payload)
        return
    out.print(f"[bold]{mdp.name or spec}[/]: {_shape_text(mdp)}", soft_wrap=True)
    out.print(f"{method}: {plural(result.iterations, 'iteration')} in {result.seconds:.3g} s, "
              f"‖V − V*‖∞ ≤ {result.error_bound:.3g}", soft_wrap=True)
    out.print(_values_table(mdp, result.V, result.actions))


@app.command()
def evaluate(
    spec: SpecArg,
    policy: PolicyOpt = "uniform",
    gamma: GammaOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Evaluate a policy exactly: V^π = (I − γP^π)⁻¹ r^π."""
    import time

    from triad.solvers import evaluate_policy

    problem, mdp = _mdp_with_gamma(spec, gamma)
    pi = problem.policy(policy)
    start = time.perf_counter()
    V = evaluate_policy(mdp, pi)
    seconds = time.perf_counter() - start
    if json_:
        emit_json({"values": V, "seconds": seconds, "S": mdp.S, "A": mdp.A, "gamma": mdp.gamma})
        return
    out.print(f"[bold]{mdp.name or spec}[/]: V^π for the {policy} policy, {_shape_text(mdp)} ({seconds:.3g} s)",
              soft_wrap=True)
    out.print(_values_table(mdp, V))


@app.command(help=(
    "Is Π_D B^π a contraction? Exact ‖·‖∞ and ‖·‖_D norms, spectral radius, and TD(0)'s A matrix.\n\n"
    "π is the policy evaluated: the problem's target policy if it has one (Baird, w→2w), else uniform.\n\n"
    "The default weighting D is 'visitation', the discounted visitation d^π_μ = (1 − γ) Σ_t γ^t μᵀ(P^π)^t of π "
    "from the MDP's initial distribution μ. On every MDP it is positive on every state π reaches from μ (the "
    "states whose values matter from μ) and zero on the others, which π never enters; and since "
    "d^π_μ P^π ≤ d^π_μ / γ, B^π and Π_D B^π are √γ-contractions in ‖·‖_D for it. 'on-policy' is the stationary law of π (Tsitsiklis & Van Roy's weighting, under which "
    "‖γΠ_D P^π‖_D ≤ γ), even when the problem also defines a behaviour policy, whose law is '--weighting "
    "behaviour'. On episodic problems the stationary law sits on the terminal states.\n\n"
    "Where D is zero on some states and π never leads from the weighted states to them (true of 'visitation' "
    "and 'on-policy'), the certificate is that of Π_D B^π on the weighted states, where ‖·‖_D is a norm; the "
    "report says how many states that is. Otherwise the weighting is refused. For Baird the behaviour law is "
    "uniform, so `triad contraction baird --features baird --weighting uniform` is Baird's off-policy "
    "setting.\n\n"
    "JSON keys: B_inf, B_D, PiB_inf, PiB_D, spectral_radius, hurwitz, A_eigenvalues (each eigenvalue a "
    "two-element list: real part, imaginary part; sorted by decreasing real part), gamma, S, d, rank, "
    "Pi_is_identity, policy, weighting (D on every state), states (those with D > 0, which the certificate "
    "is on; features that are zero on all of them are left out of A)."))
def contraction(
    spec: SpecArg,
    features: Annotated[str, typer.Option(metavar="FEATURES", help="tabular, random:K[,seed=N], aggregate:K[,seed=N], baird (the "
                                               "problem's own features; also: problem) or an (S, d) .npy file."
                                          )] = "tabular",
    weighting: Annotated[str, typer.Option(metavar="WEIGHTING", help="State weighting D: visitation (discounted visitation of π from "
                                                "μ; see above), on-policy (stationary law of π), uniform, "
                                                "behaviour (the problem's behaviour policy), behaviour:EPS "
                                                "((1 − EPS)π + EPS·uniform) or an (S,) .npy file.")] = "visitation",
    policy: Annotated[str | None, typer.Option(metavar="POLICY", help="Policy π to evaluate: uniform, target, behaviour or an (S, A) "
                                                       ".npy file; default: the problem's target policy if it has "
                                                       "one, else uniform.")] = None,
    gamma: Annotated[float | None, typer.Option(metavar="G", help="Override the MDP's discount factor.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Is Π_D B^π a contraction? Exact ‖·‖∞ and ‖·‖_D norms, spectral radius, and TD(0)'s A matrix."""
    from triad.analysis.contraction import certify, restrict_to_support
    from triad.projections import ProjectedBellman, features_from_spec, weighted_least_squares, weighting_from_spec

    problem, mdp = _mdp_with_gamma(spec, gamma)
    policy = policy or ("target" if problem.target is not None else "uniform")
    pi = problem.policy(policy)
    Phi = features_from_spec(features, mdp, problem.features)
    d = weighting_from_spec(weighting, mdp, pi, problem.behaviour)
    fix = ("use --weighting uniform" if weighting == "visitation" else
           "use --weighting visitation (the default: positive on every state π reaches from μ) or --weighting uniform")
    try:
        support = restrict_to_support(mdp, pi, d)
    except ValidationError as exc:
        raise ValidationError(f"--weighting {weighting}: {exc}; {fix}") from None
    k = support.states.size
    Phi_k = support.restrict(Phi)
    # Features that vanish on every weighted state are invisible there: their weights never move.
    seen = np.any(Phi_k != 0, axis=0) if k < mdp.S else np.ones(Phi.shape[1], bool)
    if not seen.any():
        raise ValidationError(f"--features {features} are zero on every state --weighting {weighting} weights; {fix}")
    try:
        proj = weighted_least_squares(Phi_k[:, seen], support.weighting)
    except ValidationError as exc:
        raise ValidationError(f"--weighting {weighting} with --features {features}: {exc}; {fix}") from None
    result = certify(ProjectedBellman(support.mdp, proj, support.policy))
    identity = bool(np.allclose(proj.matrix, np.eye(k), atol=1e-9))
    rank = int(np.linalg.matrix_rank(Phi_k))
    payload = {**result.to_json(), "S": mdp.S, "d": Phi.shape[1], "rank": rank, "Pi_is_identity": identity,
               "policy": policy, "weighting": d, "states": support.states}
    if json_:
        emit_json(payload)
        return

    def verdict(x: float) -> str:
        return "[green]contraction[/]" if x < 1 else "[red]not a contraction[/]"

    where = "" if k == mdp.S else f", on the {k} of {mdp.S} states where D > 0 (π never leaves them)"
    unseen = int((~seen).sum())
    where += f"; {unseen} feature(s) zero on all of them left out" if unseen else ""
    out.print(f"[bold]{mdp.name or spec}[/]: π = {policy}, features {features} (d = {Phi.shape[1]}, rank "
              f"{rank}{', Π = I' if identity else ''}), D = {weighting}{where}, γ = {mdp.gamma:g}")
    table = Table("operator", "quantity", "value", "", box=None)
    table.add_row("B^π", "‖γP^π‖∞", f"{result.B_inf:.6g}", verdict(result.B_inf))
    table.add_row("B^π", "‖γP^π‖_D", f"{result.B_D:.6g}", verdict(result.B_D))
    table.add_row("Π_D B^π", "‖γΠP^π‖∞", f"{result.PiB_inf:.6g}", verdict(result.PiB_inf))
    table.add_row("Π_D B^π", "‖γΠP^π‖_D", f"{result.PiB_D:.6g}", verdict(result.PiB_D))
    # Exactly 1 (or 0) is marginal, not divergent: e.g. the value of a terminal state at γ = 1 never moves.
    rho, abscissa, marginal = result.spectral_radius, float(result.A_eigenvalues.real.max()), 1e-9
    table.add_row("Π_D B^π", "spectral radius", f"{rho:.6g}",
                  "projected VI converges" if rho < 1 else
                  "[yellow]ρ = 1: projected VI need not converge[/]" if rho <= 1 + marginal else
                  "[red]projected VI diverges[/]")
    table.add_row("TD(0)", "max Re λ(A)", f"{abscissa:.6g}",
                  "A Hurwitz: stable" if result.hurwitz else
                  "[yellow]max Re λ = 0: not Hurwitz, marginal[/]" if abs(abscissa) <= marginal else
                  "[red]A not Hurwitz: weights diverge[/]")
    out.print(table)
    shown = ", ".join(f"{z.real:.4g}{z.imag:+.4g}i" if z.imag else f"{z.real:.4g}" for z in result.A_eigenvalues)
    out.print(f"eigenvalues of A = ΦᵀD(γP^π − I)Φ: {shown}")


def _agents() -> list[dict] | None:
    """Rows for the agents section of ``triad list``: ``triad.agents.registry()`` if that exists, else ``None``.

    The registry maps a name to an agent (anything with a ``description`` or a docstring, and
    optionally ``envs``: the environment families it runs on).
    """
    try:
        module = importlib.import_module("triad.agents")
    except ModuleNotFoundError as exc:
        if exc.name in ("triad.agents", "triad"):
            return None
        raise
    registry = getattr(module, "registry", None)
    if not callable(registry):
        return None
    rows = []
    for name, agent in dict(registry()).items():
        summary = getattr(agent, "description", None) or (inspect.getdoc(agent) or "").partition("\n")[0]
        envs = getattr(agent, "envs", None)
        rows.append({"name": str(name), "summary": str(summary),
                     "envs": ", ".join(map(str, envs)) if isinstance(envs, (list, tuple)) else str(envs or "")})
    return rows


def _parameter_rows(experiment: exp.Experiment) -> list[dict]:
    """Each parameter of ``experiment``: its option, its (quick) default and its one-line doc."""
    return [{"name": key, "option": f"--{key.replace('_', '-')}", "default": exp.to_jsonable(default),
             "quick": exp.to_jsonable(experiment.quick[key]) if key in experiment.quick else None,
             "doc": experiment.docs.get(key, "")}
            for key, default in experiment.defaults.items()]


def _default_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value)) if any("," in str(v) for v in value) else ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parameters_table(experiment: exp.Experiment) -> Table:
    table = Table(title=f"{experiment.name}: {experiment.description}", title_justify="left", box=None)
    table.add_column("parameter", style="bold", no_wrap=True)
    table.add_column("default", overflow="fold")
    table.add_column("--quick", overflow="fold")
    table.add_column("meaning")
    for row in _parameter_rows(experiment):
        quick = "" if row["quick"] is None else _default_text(row["quick"])
        table.add_row(row["option"], _default_text(row["default"]), quick, row["doc"])
    return table


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Argument(metavar="EXPERIMENT", help="Show this experiment's parameters.")] = None,
    json_: JsonOpt = False,
) -> None:
    """List the MDP zoo, the experiments and the agents; with EXPERIMENT, its parameters."""
    if name is not None:
        experiment = exp.get(name)
        if json_:
            emit_json({"name": experiment.name, "summary": experiment.description,
                       "parameters": _parameter_rows(experiment)})
            return
        out.print(_parameters_table(experiment))
        out.print(f"Set any of them with --PARAM VALUE or --set PARAM=VALUE: `triad run {experiment.name} "
                  f"{_parameter_rows(experiment)[0]['option']} …`. Lists take ',' (or ';' between MDP specs).",
                  soft_wrap=True)
        return
    mdps = [{"name": n, "parameters": p, "summary": s} for n, p, s in zoo.describe()]
    experiments = [{"name": e.name, "summary": e.description, "parameters": dict(e.defaults)}
                   for e in exp.registry().values()]
    agents = _agents()
    if json_:
        emit_json({"mdps": mdps, "experiments": experiments, "agents": agents or []})
        return
    sections = [("MDP zoo (spec: name:key=value,...)", mdps),
                ("Experiments (triad run NAME; triad list NAME for its parameters)", experiments)]
    if agents:
        sections.append(("Agents", agents))
    for title, rows in sections:
        table = Table(title=title, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("summary")
        table.add_column("parameters" if "parameters" in rows[0] else "environments")
        for row in rows:
            params = row.get("parameters", row.get("envs", ""))
            shown = params if isinstance(params, str) else ", ".join(f"{k}={_default_text(v)}"
                                                                     for k, v in params.items())
            table.add_row(row["name"], row["summary"], shown)
        out.print(table)


def _cell(value: Any, digits: int = 4, diverged: bool = False) -> str:
    """A summary value for a table cell: numbers to ``digits`` significant digits, long lists shortened,
    infinities as ∞ — or ``diverged`` where the row says its run diverged."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value in ("inf", "-inf"):
        return "diverged" if diverged else ("∞" if value == "inf" else "−∞")
    if isinstance(value, float):
        if math.isinf(value):
            return _cell("inf" if value > 0 else "-inf", digits, diverged)
        return f"{value:.{digits}g}"
    if isinstance(value, list):
        shown = ", ".join(_cell(v, digits, diverged) for v in value[:8])
        return f"[{shown}{', …' if len(value) > 8 else ''}]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v, digits, diverged)}" for k, v in value.items()) or "—"
    return str(value)


def _flatten(value: dict, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to one level with dotted keys: ``{"a": {"b": 1}} -> {"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict) and item:
            flat.update(_flatten(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def _is_label(key: str) -> bool:
    """Keys like ``error=0``, ``2`` or ``chain:n=5`` name rows; identifiers (``best_n``) name columns."""
    return not key.replace("_", "a").isidentifier()


def _expand_rows(records: dict[str, dict]) -> dict[str, dict]:
    """Descend into levels keyed by labels (``{"chain": {"error=0": {...}}}`` -> rows ``chain · error=0``)."""
    while all(isinstance(r, dict) and r and all(isinstance(v, dict) and v and _is_label(str(k)) for k, v in r.items())
              for r in records.values()):
        inner = {f"{key} · {sub}": value for key, record in records.items() for sub, value in record.items()}
        if len({tuple(_flatten(v)) for v in inner.values()}) != 1:
            break
        records = inner
    return records


def _is_diverged(row: dict) -> bool:
    return any("diverged" in key and isinstance(v, (int, float)) and v > 0 for key, v in row.items())


def _header(column: str) -> str:
    """Headers break at dots, and at the underscores of long names (``diverged_fraction``); values never wrap."""
    return "\n".join(part.replace("_", "\n") if len(part) > 8 else part for part in column.split("."))


def _records_table(records: dict[str, dict], title: str, scalars: Table, top: bool) -> list[Table]:
    """Sibling records with the same fields as a table (a row per record), constant fields as scalars.

    Wide tables of few records are transposed (a column per record); vector-valued fields (e.g.
    final weights) go to a second table, so the first fits a terminal.
    """
    rows = {key: _flatten(value) for key, value in _expand_rows(records).items()}
    columns = list(next(iter(rows.values())))
    first = next(iter(rows.values()))
    same = [c for c in columns if len(rows) > 1 and all(r[c] == first[c] for r in rows.values())]
    for column in same:
        scalars.add_row(f"{column} (every run)" if top else f"{title}.{column} (every row)", _cell(first[column]))
    varying = [c for c in columns if c not in same]
    if not varying:
        return []
    diverged = {key: _is_diverged(row) for key, row in rows.items()}
    if len(varying) > 8 and len(varying) > len(rows):
        table = Table(title=title or None, title_justify="left", box=None, pad_edge=False)
        table.add_column("quantity", style="bold", no_wrap=True)
        for key in rows:
            table.add_column(key, no_wrap=True)
        for column in varying:
            table.add_row(column, *(_cell(rows[k][column], 4, diverged[k]) for k in rows))
        return [table]
    vectors = [c for c in varying if any(isinstance(r[c], list) and len(r[c]) > 1 for r in rows.values())]
    tables = []
    for shown in ([c for c in varying if c not in vectors], vectors):
        if not shown:
            continue
        table = Table(title=(title or None) if not tables else None, title_justify="left", box=None, pad_edge=False)
        table.add_column("run" if top else "", no_wrap=True, style="bold", min_width=max(map(len, rows)))
        for column in shown:
            table.add_column(_header(column), no_wrap=True)
        for key, row in rows.items():
            table.add_row(key, *(_cell(row[c], 3, diverged[key]) for c in shown))
        tables.append(table)
    return tables


def _render(mapping: dict, path: str, scalars: Table, tables: list, top: bool) -> None:
    """Scalars become ``path.key`` rows; sibling dicts with the same fields a table; other dicts recurse."""
    groups: dict[tuple, list[str]] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            groups.setdefault(tuple(_flatten(value)), []).append(key)
    for key, value in mapping.items():
        if not (isinstance(value, dict) and value):
            scalars.add_row(f"{path}{key}", _cell(value))
            continue
        siblings = groups[tuple(_flatten(value))]
        if len(siblings) > 1:
            if key == siblings[0]:
                tables += _records_table({k: mapping[k] for k in siblings}, path.rstrip("."), scalars, top)
            continue
        _render(value, f"{path}{key}.", scalars, tables, False)


def _summary_table(summary: dict) -> Group:
    """A summary as tables: runs (dicts with the same keys) a row each, nested records as sub-tables,
    everything else as ``quantity  value`` rows — never raw JSON.

    A ``runs`` entry (every run's summary, the first repeated at the top level) is shown alone.
    """
    runs = summary.get("runs")
    if isinstance(runs, dict):
        summary = runs if len(runs) > 1 else {k: v for k, v in summary.items() if k != "runs"}
    tables: list[Table] = []
    scalars = Table("quantity", "value", box=None)
    _render(summary, "", scalars, tables, True)
    return Group(*tables, *([scalars] if scalars.row_count else []))


def parameter_options(experiment: exp.Experiment, args: list[str]) -> dict[str, str]:
    """Experiment parameters given as options: ``["--steps", "5", "--double-sample"] -> {"steps": "5",
    "double_sample": "true"}``. Dashes and underscores are the same; a boolean parameter alone means
    true and ``--no-NAME`` false; ``--NAME=VALUE`` works for every parameter.

    Raises:
        SpecError: an option that is no parameter of the experiment (listing its parameters), a
            missing value, a stray argument, or a parameter given twice.
    """
    defaults = experiment.defaults
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise SpecError(f"unexpected argument {token!r}: experiment parameters are given as --PARAM VALUE "
                            f"(see `triad run {experiment.name} --help`)")
        option, eq, value = token[2:].partition("=")
        key = option.replace("-", "_")
        if key not in defaults and key.startswith("no_") and isinstance(defaults.get(key[3:]), bool) and not eq:
            key, value, eq = key[3:], "false", "="
        if key not in defaults:
            raise SpecError(f"experiment {experiment.name!r} has no parameter {key!r} (from --{option}); its "
                            f"parameters: {', '.join(defaults)}")
        if not eq:
            if isinstance(defaults[key], bool) and (i + 1 == len(args) or args[i + 1].startswith("--")):
                value = "true"
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                raise SpecError(f"--{option} needs a value")
        if key in found:
            raise SpecError(f"--{option} is given twice")
        found[key] = value
        i += 1
    return found


class RunCommand(TriadCommand):
    """``triad run NAME --help`` also lists NAME's parameters with their defaults."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if any(a in ctx.help_option_names for a in args):
            names = set(exp.registry())
            ctx.meta["triad.experiment"] = next((a for a in args if a in names), None)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        name = ctx.meta.get("triad.experiment")
        if name is None:
            formatter.write_paragraph()
            formatter.write_text("Every experiment parameter is an option --PARAM VALUE (or --set PARAM=VALUE); "
                                 "`triad run EXPERIMENT --help` or `triad list EXPERIMENT` lists them.")
            return
        experiment = exp.get(name)
        rows = []
        for row in _parameter_rows(experiment):
            default = experiment.defaults[row["name"]]
            metavar = ("" if isinstance(default, bool) else " N" if isinstance(default, int) else " X"
                       if isinstance(default, float) else " A,B,..." if isinstance(default, tuple) else " TEXT")
            quick = "" if row["quick"] is None else f", --quick: {_default_text(row['quick'])}"
            rows.append((row["option"] + metavar,
                         f"{row['doc']}  [default: {_default_text(row['default'])}{quick}]"))
        with formatter.section(f"Parameters of {name} (--PARAM VALUE or --set PARAM=VALUE)"):
            formatter.write_dl(rows)


@app.command(cls=RunCommand, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="EXPERIMENT", help="Experiment name (see `triad list`).")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", metavar="PARAM=VALUE",
        help="Set a parameter (repeatable). Lists are separated by ',' — or by ';', which MDP specs need only when "
             "one holds a ';': mdps=chain:n=5,slip=0.1,garnet:S=10,A=2 is two specs, since a piece of the form "
             "key=value belongs to the spec before it.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Results directory (default "
                                                 "results/NAME, or results/NAME-quick with --quick).")] = None,
    figures_dir: Annotated[Path | None, typer.Option("--figures", metavar="DIR", help="Figure directory (default "
                                                     "figures/, or figures/quick/ with --quick).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A small, fast version of the sweep, kept apart from "
                                                        "the full run's results and figures.")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Recompute runs even if cached results match.")] = False,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip drawing figures.")] = False,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run an experiment: results to results/NAME/, figures to figures/, summary to stdout.

    Any parameter of the experiment is an option: `triad run baird --algorithm tdc --steps 500`.
    """
    if name.startswith("-"):
        raise SpecError(f"expected the experiment first, got {name!r}: triad run EXPERIMENT [--PARAM VALUE ...]")
    check_workers(workers, address)
    experiment = exp.get(name)
    options = parameter_options(experiment, list(ctx.args))
    given = key_values(set_ or [], "--set")
    twice = sorted(options.keys() & given.keys())
    if twice:
        key = twice[0]
        raise SpecError(f"{key} is given twice: --{key.replace('_', '-')} {options[key]} and --set "
                        f"{key}={given[key]}; keep one")
    params = experiment.resolve({**given, **options}, quick=quick)
    default_out, default_figures = exp.default_dirs(experiment, quick)
    outcome = exp.execute(experiment, params, out=out_dir or default_out, figures_dir=figures_dir or default_figures,
                          fresh=fresh, make_figures=not no_figures, workers=workers, address=address)
    if json_:
        emit_json(outcome.summary)
        return
    label = f"{name} (quick)" if quick else name
    where = "" if workers is None else f" on {plural(workers, 'Ray worker')}"
    retried = f" ({len(outcome.retried)} run again after its worker died)" if outcome.retried else ""
    out.print(f"[bold]{label}[/]: {plural(outcome.ran, 'run')} computed{where}{retried}, {outcome.reused} reused; "
              f"results in {outcome.results_dir}/", soft_wrap=True)
    out.print(_summary_table(outcome.summary))
    for path in outcome.figures:
        out.print(f"figure: {path}", soft_wrap=True)


@app.command()
def figures(
    names: Annotated[list[str] | None, typer.Argument(metavar="EXPERIMENT...", help="Experiments to plot (default: "
                                                      "all with cached results).")] = None,
    results_root: Annotated[Path, typer.Option("--results", metavar="DIR", help="Root of cached results (NAME/ "
                                               "below it, or NAME-quick/ with --quick).")] = exp.RESULTS_ROOT,
    figures_dir: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Figure directory (default "
                                                     "figures/, or figures/quick/ with --quick).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Plot the --quick runs' results.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Redraw figures from cached results (never re-runs an experiment)."""
    experiments = exp.registry()
    chosen = [exp.get(n) for n in names] if names else [
        e for e in experiments.values() if (exp.default_dirs(e, quick, results_root)[0] / "results.csv").exists()]
    made = []
    for e in chosen:
        results_dir, default_figures = exp.default_dirs(e, quick, results_root)
        made.extend(exp.plot_figures(e, results_dir, figures_dir or default_figures))
    if json_:
        emit_json({"figures": [str(p) for p in made]})
        return
    for path in made:
        out.print(f"figure: {path}", soft_wrap=True)
    if not made:
        out.print(f"no cached results to plot in {results_root}/: run an experiment first (`triad run NAME"
                  f"{' --quick' if quick else ''}`).", soft_wrap=True)


@app.command()
def reproduce(
    quick: Annotated[bool, typer.Option("--quick", help="The small, fast version of every sweep (results in "
                                                        "NAME-quick/, figures in figures/quick/).")] = False,
    results_root: Annotated[Path, typer.Option("--results", metavar="DIR",
                                               help="Root of results.")] = exp.RESULTS_ROOT,
    figures_dir: Annotated[Path | None, typer.Option("--figures", metavar="DIR", help="Figure directory (default "
                                                     "figures/, or figures/quick/ with --quick).")] = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run every experiment with its defaults (resuming cached runs) and draw every figure.

    With --workers, one Ray instance (or the cluster at --address) serves every experiment.
    """
    import contextlib

    check_workers(workers, address)
    made: dict[str, Any] = {}
    if workers is not None:
        from triad.distributed import session
    with session(workers, address) if workers is not None else contextlib.nullcontext():
        for name, experiment in exp.registry().items():
            err.print(f"[bold]{name}[/]")
            results_dir, default_figures = exp.default_dirs(experiment, quick, results_root)
            outcome = exp.execute(experiment, experiment.resolve({}, quick=quick), out=results_dir,
                                  figures_dir=figures_dir or default_figures, workers=workers, address=address)
            made[name] = {"ran": outcome.ran, "reused": outcome.reused,
                          "summary": str(outcome.results_dir / "summary.json"),
                          "figures": [str(p) for p in outcome.figures]}
    if json_:
        emit_json(made)
        return
    table = Table("experiment", "runs computed", "reused", "figures", box=None)
    for name, row in made.items():
        table.add_row(name, str(row["ran"]), str(row["reused"]), ", ".join(row["figures"]))
    out.print(table)


def load_value_estimate(choice: str, mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """``zeros``, ``true`` (V^π of ``pi``) or a path to an ``(S,)`` ``.npy`` array."""
    if choice == "zeros":
        return np.zeros(mdp.S)
    if choice == "true":
        from triad.solvers import evaluate_policy

        return evaluate_policy(mdp, pi)
    if not choice.endswith(".npy") and not Path(choice).is_file():
        raise ValidationError(f"--v-hat {choice!r} is neither zeros/true nor an .npy file")
    return load_npy(choice, "value estimate")


@app.command()
def moments(
    spec: SpecArg,
    estimator: Annotated[str, typer.Option(metavar="mc|nstep|lambda|gae", help="mc, nstep or lambda (estimators "
                                                                                "of V^π(s)); gae (of A^π(s, a)).")],
    policy: PolicyOpt = "uniform",
    n: Annotated[int, typer.Option("--n", metavar="N", help="Steps of the n-step return.")] = 3,
    lam: Annotated[float, typer.Option("--lam", metavar="L", help="λ of the λ-return and of GAE.")] = 0.95,
    v_hat: Annotated[str, typer.Option("--v-hat", metavar="zeros|true|PATH.npy",
                                       help="The value estimate bootstrapped from: zeros, true (V^π) "
                                            "or a path to an (S,) .npy array.")] = "zeros",
    gamma: GammaOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Exact bias and variance of a return or advantage estimator, from every state (or pair)."""
    from triad.analysis.moments import VALUE_ESTIMATORS, advantage_moments, value_moments

    if estimator not in (*VALUE_ESTIMATORS, "gae"):
        raise ValidationError(f"unknown estimator {estimator!r} (choose from {', '.join(VALUE_ESTIMATORS)}, gae)")
    problem, mdp = _mdp_with_gamma(spec, gamma)
    pi = problem.policy(policy)
    estimate = load_value_estimate(v_hat, mdp, pi)
    if estimator == "gae":
        result = advantage_moments(mdp, pi, "gae", estimate, lam=lam)
    else:
        result = value_moments(mdp, pi, estimator, estimate, n=n, lam=lam)
    payload = {"estimator": estimator, "bias": result.bias, "variance": result.variance, "mse": result.mse,
               "mean": result.mean, "target": result.target, "n": n, "lam": lam, "v_hat": v_hat,
               "S": mdp.S, "A": mdp.A, "gamma": mdp.gamma}
    if json_:
        emit_json(payload)
        return
    what = "A^π(s, a)" if estimator == "gae" else "V^π(s)"
    setting = {"nstep": f"n = {n}", "lambda": f"λ = {lam:g}", "gae": f"λ = {lam:g}"}.get(estimator, "")
    out.print(f"[bold]{mdp.name or spec}[/]: {estimator} {setting} estimating {what} for the {policy} policy, "
              f"V̂ = {v_hat}, γ = {gamma_text(mdp.gamma)}", soft_wrap=True)
    table = Table("state" if estimator != "gae" else "state, action", "target", "mean", "bias", "variance", "mse",
                  box=None)
    cells = list(np.ndindex(result.mean.shape))
    for idx in cells[:12]:
        table.add_row(", ".join(map(str, idx)), *(f"{x[idx]:.6g}" for x in
                                                   (result.target, result.mean, result.bias, result.variance, result.mse)))
    if len(cells) > 12:
        table.add_row("…", "", "", f"mean bias² {np.mean(result.bias ** 2):.4g}",
                      f"mean {np.mean(result.variance):.4g}", f"mean {np.mean(result.mse):.4g}")
    out.print(table)


# ------------------------------------------------------------------------------ agents (issue 12)
def _agent_rows() -> list[dict]:
    from triad import agents

    return agents.describe()


def _agents_table() -> Table:
    table = Table(title="Agents (triad train ALGO --env ID)", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("summary")
    table.add_column("actions")
    table.add_column("env families")
    for row in _agent_rows():
        table.add_row(row["name"], row["summary"], ", ".join(row["spaces"]), ", ".join(row["families"]))
    return table


def _config_table(algorithm: str, env: str | None) -> Table:
    from triad import agents
    from triad.agents import config as agent_config

    algo = agents.get(algorithm)
    config = algo.resolve(env) if env else algo.config()
    title = f"{algorithm} config" + (f" for {env} (preset applied)" if env and env in algo.presets else "")
    table = Table(title=f"{title}; change with --set key=value", title_justify="left", box=None)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_column("meaning")
    for name, value, doc in agent_config.describe(config):
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        table.add_row(name, shown, doc)
    return table


def _explain(algorithm: str, env: str | None, overrides: dict[str, Any], as_json: bool) -> None:
    """``triad train ALGO --explain``: the process rates of the resolved config (words, or numbers with --json)."""
    from triad import agents

    algo = agents.get(algorithm)
    config = algo.resolve(env, overrides) if env else algo.resolve("", overrides)
    if not hasattr(config, "rates"):
        raise ValidationError(f"--explain describes the three processes of the off-policy agents; {algorithm} is "
                              f"on-policy (see --help-config)")
    if as_json:
        emit_json({"algorithm": algorithm, "env": env, "rates": config.rates(), "regression": config.regression()})
        return
    typer.echo(config.explain(algorithm))


@contextlib.contextmanager
def _training_bar() -> Iterator[Progress]:
    """A rich bar on stderr (recent return, steps/s), drawn from the first progress report on."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    bar = RichProgress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[ret]}"),
                       TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=err)
    task = bar.add_task("training", total=None, ret="", speed="")
    started = [False]

    def update(n: float, total: float | None, status: dict) -> None:
        if not started[0]:
            bar.start()
            started[0] = True
        if total is not None:
            bar.update(task, total=total)
            return
        ret, speed = status.get("recent_return"), status.get("steps_per_second")
        bar.update(task, advance=n, ret="" if ret is None else f"return {ret:.4g}",
                   speed="" if speed is None else f"{speed:,.0f} steps/s")

    try:
        yield Progress(update)
    finally:
        if started[0]:
            bar.stop()


def _distributed(algorithm: str | None) -> str:
    """``--distributed``: the registry's ``ALGO-distributed`` (``qtopt`` → ``qtopt-distributed``)."""
    from triad import agents

    if algorithm is None:
        raise ValidationError("--distributed needs ALGO (a resumed run keeps its own algorithm)")
    variants = sorted(name.removesuffix("-distributed") for name in agents.REGISTRY if name.endswith("-distributed"))
    if f"{algorithm}-distributed" not in agents.REGISTRY:
        raise SpecError(f"--distributed: {algorithm} has no distributed variant (available: {', '.join(variants)}; "
                        "apex is distributed already)")
    return f"{algorithm}-distributed"


@app.command(help=(
    "Train an agent: `triad train ALGO --env ID`. ID is a zoo spec or .npz path (a tabular twin: the "
    "truth probes J, critic_error, cos_true, cos_dropped are logged) or a gymnasium id (CartPole-v1, "
    "Pendulum-v1, ...). Writes config.json, log.csv (tidy step,quantity,value, as it goes), checkpoint.pt and "
    "summary.json to --out (default runs/ALGO/ENV/seed=S/). --json prints the summary: algorithm, env, steps, "
    "seed, final_return (mean of the last 10 training episodes), eval_return (mean of --eval-episodes "
    "deterministic episodes on a separately seeded env), seconds, steps_per_second. A NaN/inf loss or parameter "
    "stops the run with exit status 1, keeping the last good checkpoint."))
def train(
    algorithm: Annotated[str | None, typer.Argument(help="Algorithm (see `triad train --list`).")] = None,
    env: Annotated[str | None, typer.Option("--env", metavar="ID", help="Zoo spec / .npz path (tabular twin) or gymnasium id.")] = None,
    steps: Annotated[int | None, typer.Option(metavar="N", help="Env steps, summed over parallel envs (default 100000; "
                                                   "with --resume: the run's own).")] = None,
    seed: Annotated[int, typer.Option(metavar="S", help="Seed of everything random in the run.")] = 0,
    envs: Annotated[int | None, typer.Option("--envs", metavar="K", help="Parallel environments (sets the config's envs).")] = None,
    discount_weighting: Annotated[int | None, typer.Option(metavar="1|2", help="1: no γ^t in front of ∇log π (seed option 1); 2: "
                                                                "keep it (option 2). Sets discount_weighting.")] = None,
    critic: Annotated[str | None, typer.Option(metavar="separate|shared", help="separate (actor and critic networks) or shared (one trunk). "
                                                    "Sets critic.")] = None,
    explore: Annotated[str | None, typer.Option(metavar="epsilon|boltzmann", help="Value-based agents: epsilon (ε-greedy) or boltzmann "
                                                     "exploration, scheduled by explore_initial/final/fraction. "
                                                     "Sets explore.")] = None,
    correction: Annotated[str | None, typer.Option(metavar="NAME", help="n-step Q targets: ignore, cut, importance-sampling, "
                                                        "tree-backup or retrace. Sets correction.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="Config field, key=value (repeatable; see "
                                                                 "--help-config).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Run directory (default runs/ALGO/ENV/seed=S).")] = None,
    checkpoint_every: Annotated[int, typer.Option(metavar="N", help="Env steps between checkpoints (0: only at the end).")] = 0,
    resume: Annotated[Path | None, typer.Option("--resume", metavar="DIR", help="Continue the run in this directory from its "
                                                                 "last checkpoint.")] = None,
    eval_episodes: Annotated[int, typer.Option(metavar="N", help="Deterministic evaluation episodes at the end.")] = 10,
    eval_every: Annotated[int, typer.Option(metavar="N", help="Also log eval_return every this many env steps (0: off).")] = 0,
    tensorboard: Annotated[Path | None, typer.Option(metavar="DIR", help="Also write TensorBoard scalars here (tensorboard "
                                                          "extra).")] = None,
    obs: Annotated[str | None, typer.Option(metavar="onehot|features|state", help="Tabular twins: onehot, features or state observations.")] = None,
    max_episode_steps: Annotated[int | None, typer.Option(metavar="N", help="Time limit of an episode (truncation).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the algorithms and exit.")] = False,
    help_config: Annotated[bool, typer.Option("--help-config", help="List ALGO's config fields (with --env: "
                                                                    "after its preset) and exit.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Off-policy agents: print the rates of the three "
                                                            "processes (data collection, target update, regression) "
                                                            "the config implies (after --env's preset and --set), "
                                                            "and exit; with --json, the rates as numbers.")] = False,
    distributed: Annotated[bool, typer.Option("--distributed", help="Run ALGO's distributed variant on Ray (qtopt: "
                                                                    "collectors, Bellman updaters and a trainer as "
                                                                    "separate processes; --set collectors=N, "
                                                                    "updaters=M, address=HOST:PORT; needs the "
                                                                    "distributed extra).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Train an agent (see `triad train --help`)."""
    from triad import agents

    if list_:
        if json_:
            emit_json({"agents": _agent_rows()})
        else:
            out.print(_agents_table())
        return
    if resume is None and algorithm is None:
        raise ValidationError("train needs ALGO (see `triad train --list`) or --resume DIR")
    if distributed:
        algorithm = _distributed(algorithm)
    if help_config:
        if algorithm is None:
            raise ValidationError("--help-config needs ALGO")
        out.print(_config_table(algorithm, env))
        return
    from triad.agents import loop

    overrides: dict[str, Any] = key_values(set_ or [], "--set")
    for key, value in (("envs", envs), ("discount_weighting", discount_weighting), ("critic", critic),
                       ("explore", explore), ("correction", correction)):
        if value is not None:
            overrides[key] = str(value)
    if explain:
        if algorithm is None:
            raise ValidationError("--explain needs ALGO")
        _explain(algorithm, env, overrides, json_)
        return
    if resume is not None and overrides:
        raise ValidationError("--resume continues a run with its stored config; --set, --envs, --discount-weighting, "
                              "--critic, --explore and --correction cannot change it")
    if resume is None:
        agents.get(algorithm)
        if env is None:
            raise ValidationError(f"train {algorithm} needs --env ID (a zoo spec, .npz path or gymnasium id)")
    try:
        with _training_bar() as progress:
            if resume is not None:
                summary = loop.resume(resume, steps=steps, tensorboard=tensorboard, progress=progress)
            else:
                summary = loop.train(algorithm, env, 100_000 if steps is None else steps, seed=seed,
                                     overrides=overrides, out=out_dir, eval_episodes=eval_episodes,
                                     eval_every=eval_every, checkpoint_every=checkpoint_every, obs=obs,
                                     max_episode_steps=max_episode_steps, tensorboard=tensorboard, progress=progress)
    except loop.Diverged as exc:
        sys.stderr.write(f"triad: {exc}\n")
        raise typer.Exit(1) from None
    if json_:
        emit_json(summary)
        return
    table = Table("quantity", "value", box=None)
    for key, value in summary.items():
        table.add_row(key, _cell(value))
    out.print(table)


# ------------------------------------------------------------------ check-estimator (triad.testing.kit)
def load_function(ref: str) -> Any:
    """``package.module:function`` or ``path/to/file.py:function`` → the function (the working directory is
    importable, as with ``python -m``). Every failure is one :class:`SpecError` line."""
    import importlib
    import importlib.util

    where, _, name = ref.rpartition(":")
    if not where or not name:
        raise SpecError(f"{ref!r}: expected MODULE:FUNCTION, e.g. triad.multistep:lambda_returns or mine.py:returns")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise SpecError(f"{ref!r}: no file {where}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(where)
    except SpecError:
        raise
    except Exception as exc:  # ImportError, or whatever the user's module raised while importing
        raise SpecError(f"cannot import {where}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"{where} has no attribute {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecError(f"{ref} is not a function")
    return obj


@app.command("check-estimator", help=(
    "Check an estimator for bias against exact expectations on random MDPs.\n\n"
    "FUNCTION is called as fn(r_t, discount_t, v_t[, truncated_t=]) or, if its third parameter is named "
    "values, fn(r_t, discount_t, values[, truncated_t=, bootstrap_t=]) on (T, B) buffers with terminations and "
    "time-limit truncations (only if it takes truncated_t), and must return the (T, B) estimates. Targets: v_pi, "
    "q_pi, advantage (critic V^π), or a triad estimator's exact mean: mc, nstep:N, lambda-return:LAM, gae:LAM. "
    "Exit status 0: no significant bias; 1: biased (the report shows a shrunk counterexample); 2: bad input, "
    "e.g. the module does not import or the function does not fit.\n\n"
    "JSON keys: passed, estimator, target, critic, signature, truncations, examples, tests, alpha, correction, "
    "seed, steps, streams, rows (per start: start, visits, columns, target, mean, bias, ci, z, p, significant, "
    "sample_variance, exact_variance), level, largest_z, counterexample, seconds."))
def check_estimator_command(
    function: Annotated[str, typer.Argument(help="MODULE:FUNCTION or FILE.py:FUNCTION.")],
    target: Annotated[str, typer.Option(metavar="TARGET", help="v_pi, q_pi, advantage, mc, nstep:N, lambda-return:LAM or gae:LAM.")],
    examples: Annotated[int, typer.Option(metavar="N", help="Random MDPs to search.")] = 20,
    critic: Annotated[str | None, typer.Option(metavar="exact|zeros|random", help="exact, zeros or random (default: exact for v_pi, q_pi and "
                                                    "advantage, random for the named estimators).")] = None,
    streams: Annotated[int, typer.Option(metavar="B", help="Buffer columns (independent streams).")] = 2048,
    steps: Annotated[int, typer.Option(metavar="T", help="Buffer length T.")] = 16,
    seed: Annotated[int, typer.Option(metavar="S", help="Seeds the search and the sampling.")] = 0,
    alpha: Annotated[float, typer.Option(metavar="A", help="Family-wise error rate over all tests (Bonferroni).")] = 1e-3,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="A keyword argument of FUNCTION, key=value "
                                                                 "(repeatable), e.g. --set lam=0.9.")] = None,
    torch: Annotated[bool, typer.Option("--torch", help="Pass float64 torch tensors instead of numpy arrays.")] = False,
    json_: JsonOpt = False,
) -> None:
    import ast

    from triad.testing.kit import check_estimator

    fn = load_function(function)
    kwargs: dict[str, Any] = {}
    for key, text in key_values(set_ or [], "--set").items():
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key] = text
    with err.status(f"checking {function} against {target}") as status:
        draws = [0]

        def update(n: float, total: float | None, info: dict) -> None:
            draws[0] += int(n)
            if "largest_z" in info:
                status.update(f"checking {function} against {target}: MDP {draws[0]} of {examples}, "
                              f"largest |z| {info['largest_z']:.3g}")

        report = check_estimator(fn, target, critic=critic, examples=examples, steps=steps, streams=streams,
                                 seed=seed, alpha=alpha, kwargs=kwargs, torch=torch, progress=Progress(update))
    if json_:
        emit_json(report.to_dict())
    else:
        sys.stdout.write(str(report) + "\n")
    if not report.passed:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------- triad paper
@app.command("paper")
def paper_command(
    quick: Annotated[bool, typer.Option("--quick", help="The experiments' quick settings (results in results/NAME-quick).")] = False,
    results_root: Annotated[Path, typer.Option("--results", metavar="DIR", help="Root of the results folders.")] = exp.RESULTS_ROOT,
    paper_dir: Annotated[Path, typer.Option("--paper", metavar="DIR", help="Folder of triad.tex and references.bib.")] = Path("paper"),
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write figures and numbers, check the tex, skip LaTeX.")] = False,
    benchmarks: Annotated[Path | None, typer.Option("--benchmarks", metavar="DIR", help="Benchmark records the paper "
                                                    "quotes (default: tests/benchmarks/records beside the paper folder).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Regenerate every number and figure of the paper and build paper/build/triad.pdf with latexmk.

    Runs each experiment whose cached results are missing or stale, draws every figure (PDF and
    PNG) into paper/build/figures, writes the numbers to paper/generated/NAME.tex and builds the PDF.
    """
    from triad import paper

    try:
        report = paper.build(paper_dir, results_root, quick=quick, pdf=not no_pdf,
                             show_progress=not json_ and err.is_terminal, benchmarks=benchmarks)
    except paper.LatexFailed as exc:
        sys.stderr.write(f"triad: error: {exc}\n")
        raise typer.Exit(1) from None
    if json_:
        emit_json(report.to_json())
        return
    table = Table("experiment", "runs computed", "reused", "seconds", box=None)
    for name, row in report.experiments.items():
        table.add_row(name, str(row["ran"]), str(row["reused"]), f"{row['seconds']:.1f}")
    out.print(table)
    out.print(f"{len(report.figures)} figure files in {report.figure_seconds:.1f} s; numbers in "
              f"{paper_dir / 'generated'}")
    if report.pdf is not None:
        out.print(f"[bold]{report.pdf}[/]: {report.pages} pages, {report.overfull} overfull boxes, LaTeX "
                  f"{report.latex_seconds:.1f} s")
    out.print(f"{'quick' if quick else 'full'} paper in {report.seconds:.1f} s")


# ------------------------------------------------------------------ diagnose (triad.analysis.deadly_triad)
@app.command(help=(
    "Which deadly-triad ingredients a linear learning problem has, and does it diverge? The exact certificate of "
    "the expected update, the verdict, and the smallest change among the cell's neighbours that makes it "
    "stable.\n\n"
    "Verdicts (at the given step sizes): 'diverges in expectation' — the expected iteration's spectral radius "
    "exceeds 1, so E[w] grows without bound (for every step size when G is not Hurwitz); 'can diverge' — E[w] "
    "converges but the importance-weighted trace has infinite variance (κ ≥ 1), or the iteration is marginal; "
    "'stable' — the expected iteration contracts and the updates have finite variance.\n\n"
    "Neighbours, tried in this order: smaller step sizes, data moved toward π (¼, ½, ¾, on-policy), deeper "
    "bootstrapping (n = 3, 10 or larger λ, then n = ∞), TDC, GTD2, emphatic TD, a target network, tabular "
    "features; the fix is the first stable one.\n\n"
    "JSON keys: spec, features, target, behaviour, rule (algorithm, alpha, beta, n, lam, target_period, tau), "
    "gamma, ingredients (function_approximation, rank, states, bootstrapping, off_policy, policy_distance, "
    "weighting_distance), certificate (rule, depth, abscissa, hurwitz, radius, alpha_max, PiM_D, kappa, "
    "is_moment, verdict, reason, eigenvalues as [re, im] pairs), verdict, fix (change, kind, certificate; null "
    "if stable or none found), neighbours (change, kind, verdict, radius, abscissa, kappa)."))
def diagnose(
    spec: SpecArg,
    features: Annotated[str | None, typer.Option(metavar="FEATURES", help="tabular, random:K[,seed=N], aggregate:K[,seed=N], problem "
                                                      "(the problem's own; the default when it has them) or an "
                                                      "(S, d) .npy file.")] = None,
    target: Annotated[str | None, typer.Option(metavar="PI", help="Target policy π: uniform, target, behaviour or an (S, A) .npy "
                                                    "file (default: the problem's target).")] = None,
    behaviour: Annotated[str | None, typer.Option(metavar="MU", help="Behaviour policy μ, same forms (default: the problem's "
                                                       "behaviour, else π: on-policy).")] = None,
    n: Annotated[str | None, typer.Option("--n", metavar="N|inf", help="n-step TD: an integer ≥ 1, or inf (Monte-Carlo).")] = None,
    lam: Annotated[float | None, typer.Option("--lam", metavar="L", help="TD(λ) with importance-sampled traces.")] = None,
    algorithm: Annotated[str, typer.Option(metavar="RULE", help="semi-gradient-td, tdc, gtd2, etd or target-network.")
                         ] = "semi-gradient-td",
    alpha: Annotated[float, typer.Option(metavar="A", help="Step size α.")] = 0.01,
    beta: Annotated[float | None, typer.Option(metavar="B", help="TDC/GTD2 step size of h (default 10α).")] = None,
    period: Annotated[int, typer.Option(metavar="P", help="Target-network period.")] = 100,
    gamma: Annotated[float | None, typer.Option(metavar="G", help="Override the MDP's discount factor.")] = None,
    json_: JsonOpt = False,
) -> None:
    from rich.markup import escape

    from triad.analysis import deadly_triad as dt

    rule = dt.rule_from_options(algorithm, alpha, beta, n, lam, period)
    problem, chosen = dt.problem_from_specs(spec, features, target, behaviour, gamma)
    result = dt.diagnose(problem, rule)
    mdp, ing, c = problem.mdp, result.ingredients, result.certificate
    if json_:
        emit_json({"spec": spec, **chosen, "rule": {k: getattr(rule, k) for k in
                                                    ("algorithm", "alpha", "beta", "n", "lam", "target_period", "tau")},
                   "gamma": mdp.gamma, **result.to_json()})
        return
    depth = {"n=inf": "n = ∞ (λ = 1)"}.get(c.depth, c.depth.replace("=", " = ").replace("lam", "λ"))
    out.print(f"[bold]{mdp.name or spec}[/]: {rule.algorithm} ({depth}), α = {rule.alpha:g}"
              f"{f', β = {rule.beta:g}' if rule.algorithm in ('tdc', 'gtd2') else ''}, γ = {mdp.gamma:g}; "
              f"features {escape({'problem': 'of the problem'}.get(chosen['features'], chosen['features']))} "
              f"(d = {problem.features.shape[1]}), π = {escape(chosen['target'])}, "
              f"μ = {escape(chosen['behaviour'])}")

    def yes(flag: bool) -> str:
        return "[red]yes[/]" if flag else "[green]no[/]"

    table = Table(f"ingredients ({ing.count} of 3 present)", "", "", box=None)
    table.add_row("function approximation", yes(ing.function_approximation),
                  f"{'features generalise across states' if ing.function_approximation else 'no two visited states share a feature direction'}"
                  f" (rank {ing.rank} on {ing.states} visited state{'s' if ing.states > 1 else ''})")
    table.add_row("bootstrapping", yes(ing.bootstrapping), "n = ∞: Monte-Carlo targets" if not ing.bootstrapping
                  else f"the target bootstraps ({depth})")
    table.add_row("off-policy", yes(ing.off_policy), f"max_s TV(π, μ) = {ing.policy_distance:.3g}, "
                  f"TV(d_μ, d_π) = {ing.weighting_distance:.3g}")
    out.print(table)
    numbers = Table("certificate", "value", "meaning", box=None)
    numbers.add_row("max Re λ(G)", f"{c.abscissa:.6g}", "< 0: G is Hurwitz, the expected update's ODE is stable")
    numbers.add_row("radius", dt.format_radius(c.radius), "spectral radius of the expected iteration at these step "
                    "sizes, per step: < 1 converges")
    numbers.add_row("α_max", "—" if np.isnan(c.alpha_max) else f"{c.alpha_max:.4g}",
                    "largest α whose expected iteration converges (0: none)")
    numbers.add_row("‖Π_D M‖_D", f"{c.PiM_D:.4g}", "< 1 certifies stability for every feature scaling (Tsitsiklis & "
                    "Van Roy)")
    numbers.add_row("κ", "—" if np.isnan(c.kappa) else f"{c.kappa:.4g}", "second-moment growth of the importance-"
                    "weighted trace: ≥ 1 is infinite variance")
    numbers.add_row("E[ρ²]", f"{c.is_moment:.4g}", "second moment of one update's importance weight")
    out.print(numbers)
    colour = {"stable": "green", "can diverge": "yellow"}.get(c.verdict, "red")
    out.print(f"verdict: [bold {colour}]{c.verdict}[/] — {escape(c.reason)}")
    fix = result.fix
    if c.verdict != "stable":
        out.print(f"smallest change that makes it stable: [bold]{escape(fix.change)}[/] (radius "
                  f"{dt.format_radius(fix.certificate.radius)})" if fix else
                  "no neighbour is stable: change more than one thing")
    near = Table("neighbour", "verdict", "radius", box=None)
    for item in result.neighbours:
        near.add_row(escape(item.change), item.certificate.verdict, dt.format_radius(item.certificate.radius))
    out.print(near)


def _is_usage_error(exc: BaseException) -> bool:
    """A command-line usage error (missing option, value of the wrong type, unknown command).

    Matched by class name: typer ≥ 0.25 raises its vendored copy of click's ``UsageError``.
    """
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


_ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}
"""OS errors the user's environment causes (permissions, read-only or full disks): one line, not a traceback."""


def _warning_line(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    sys.stderr.write(f"triad: warning: {' '.join(str(message).split())}\n")


for _info in app.registered_commands:  # every command's help in the plain TriadCommand layout
    if not (isinstance(_info.cls, type) and issubclass(_info.cls, TriadCommand)):
        _info.cls = TriadCommand


def main() -> None:
    """Console entry point: user errors — triad's and the command line's — become one line on
    stderr and exit status 2, never a traceback or a box. Warnings (e.g. a solver that stopped
    short of ``--tol``) are one line on stderr too."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            code = app(prog_name="triad", standalone_mode=False)
    except TriadError as exc:
        sys.stderr.write(f"triad: error: {' '.join(str(exc).split())}\n")
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"triad: error: cannot write{where}: {exc.strerror}\n")
        sys.exit(2)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `triad`: the help is the answer
            out.print(exc.ctx.get_help())
            sys.exit(2)
        message = " ".join(exc.format_message().split())
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        sys.stderr.write(f"triad: error: {message}{hint}\n")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
