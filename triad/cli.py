"""The ``triad`` command line.

Every command prints a rich report, or with ``--json`` exactly one JSON object on stdout (progress
goes to stderr). User errors (a bad spec, an unknown name, an invalid file) print one line on
stderr and exit with status 2.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from triad import experiment as exp
from triad import zoo
from triad.errors import SpecError, TriadError, ValidationError
from triad.mdp import FiniteMDP, load_npy
from triad.progress import Progress
from triad.spec import key_values

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="triad: see the theory of reinforcement learning — contraction, divergence, estimators.")
out = Console()
if not out.is_terminal and "COLUMNS" not in os.environ:
    # Piped or logged output: rich would assume 80 columns and elide table cells; logs can be wide.
    out = Console(width=160)
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")]
SpecArg = Annotated[str, typer.Argument(help="MDP spec, e.g. garnet:S=1000,A=4,b=10,seed=0, chain:n=20, "
                                             "baird, or a path to an .npz file.")]


def emit_json(obj: Any) -> None:
    """Print ``obj`` as a single JSON document on stdout."""
    sys.stdout.write(json.dumps(exp.to_jsonable(obj)) + "\n")


def _mdp_with_gamma(spec: str, gamma: float | None) -> tuple[zoo.Problem, FiniteMDP]:
    problem = zoo.make(spec)
    mdp = problem.mdp if gamma is None else problem.mdp.with_gamma(gamma)
    return problem, mdp


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
        table.add_row("…", f"(min {V.min():.6g}, mean {V.mean():.6g}, max {V.max():.6g} over {mdp.S} states)")
    return table


@app.command()
def solve(
    spec: SpecArg,
    method: Annotated[str, typer.Option(help="vi (value iteration), pi (policy iteration), mpi (modified PI) or lp.")] = "vi",
    gamma: Annotated[float | None, typer.Option(help="Override the MDP's discount factor.")] = None,
    tol: Annotated[float, typer.Option(help="Guaranteed ‖V − V*‖∞ for vi and mpi.")] = 1e-6,
    json_: JsonOpt = False,
) -> None:
    """Solve an MDP for V* and a greedy optimal policy."""
    from triad.solvers import solve as run_solver

    _, mdp = _mdp_with_gamma(spec, gamma)
    with err.status(f"solving {mdp.name or spec} ({mdp.S} states, {mdp.A} actions) with {method}") as status:
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
    out.print(f"[bold]{mdp.name or spec}[/]: {mdp.S} states, {mdp.A} actions, γ = {mdp.gamma:g}")
    out.print(f"{method}: {result.iterations} iterations in {result.seconds:.3g} s, "
              f"‖V − V*‖∞ ≤ {result.error_bound:.3g}")
    out.print(_values_table(mdp, result.V, result.actions))


@app.command()
def evaluate(
    spec: SpecArg,
    policy: Annotated[str, typer.Option(help="uniform, target, behaviour, or a path to an (S, A) .npy array.")] = "uniform",
    gamma: Annotated[float | None, typer.Option(help="Override the MDP's discount factor.")] = None,
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
    out.print(f"[bold]{mdp.name or spec}[/]: V^π for the {policy} policy, γ = {mdp.gamma:g} ({seconds:.3g} s)")
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
    features: Annotated[str, typer.Option(help="tabular, random:K[,seed=N], aggregate:K[,seed=N], baird (the "
                                               "problem's own features; also: problem) or an (S, d) .npy file."
                                          )] = "tabular",
    weighting: Annotated[str, typer.Option(help="State weighting D: visitation (discounted visitation of π from "
                                                "μ; see above), on-policy (stationary law of π), uniform, "
                                                "behaviour (the problem's behaviour policy), behaviour:EPS "
                                                "((1 − EPS)π + EPS·uniform) or an (S,) .npy file.")] = "visitation",
    policy: Annotated[str | None, typer.Option(help="Policy π to evaluate: uniform, target, behaviour or an (S, A) "
                                                       ".npy file; default: the problem's target policy if it has "
                                                       "one, else uniform.")] = None,
    gamma: Annotated[float | None, typer.Option(help="Override the MDP's discount factor.")] = None,
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
    table.add_row("Π_D B^π", "spectral radius", f"{result.spectral_radius:.6g}",
                  "projected VI converges" if result.spectral_radius < 1 else "[red]projected VI diverges[/]")
    table.add_row("TD(0)", "max Re λ(A)", f"{result.A_eigenvalues.real.max():.6g}",
                  "A Hurwitz: stable" if result.hurwitz else "[red]A not Hurwitz: weights diverge[/]")
    out.print(table)
    shown = ", ".join(f"{z.real:.4g}{z.imag:+.4g}i" if z.imag else f"{z.real:.4g}" for z in result.A_eigenvalues)
    out.print(f"eigenvalues of A = ΦᵀD(γP^π − I)Φ: {shown}")


@app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """List the MDP zoo, the experiments and the agents."""
    mdps = [{"name": n, "parameters": p, "summary": s} for n, p, s in zoo.describe()]
    experiments = [{"name": e.name, "summary": e.description, "parameters": dict(e.defaults)}
                   for e in exp.registry().values()]
    agents: list[dict] = []
    if json_:
        emit_json({"mdps": mdps, "experiments": experiments, "agents": agents})
        return
    for title, rows in (("MDP zoo (spec: name:key=value,...)", mdps), ("Experiments (triad run NAME)", experiments)):
        table = Table(title=title, title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("summary")
        table.add_column("parameters")
        for row in rows:
            params = row["parameters"]
            shown = params if isinstance(params, str) else ", ".join(f"{k}={v}" for k, v in params.items())
            table.add_row(row["name"], row["summary"], shown)
        out.print(table)
    out.print("Agents: none yet.")


def _cell(value: Any, digits: int = 4) -> str:
    """A summary value for a table cell: numbers to ``digits`` significant digits, long lists shortened."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        shown = ", ".join(_cell(v, digits) for v in value[:8])
        return f"[{shown}{', …' if len(value) > 8 else ''}]"
    return value if isinstance(value, str) else json.dumps(value)


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 1


def _summary_table(summary: dict) -> Any:
    """Key/value rows; entries that are dicts with the same keys (one per run) become one table, a row each.

    Vector-valued columns (e.g. final weights) go to a second table, so the first fits a terminal.
    A ``runs`` entry (every run's summary, the first repeated at the top level) is shown alone.
    """
    from rich.console import Group

    runs = summary.get("runs")
    if isinstance(runs, dict):
        summary = runs if len(runs) > 1 else {k: v for k, v in summary.items() if k != "runs"}

    groups: dict[tuple, list[str]] = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            groups.setdefault(tuple(value), []).append(key)
    tables = []
    scalars = Table("quantity", "value", box=None)
    for key, value in summary.items():
        if not isinstance(value, dict):
            scalars.add_row(key, _cell(value))
        elif len(groups[tuple(value)]) == 1:
            for sub, item in value.items():
                scalars.add_row(f"{key}.{sub}", _cell(item))
    for columns, keys in groups.items():
        if len(keys) < 2:
            continue
        same = [c for c in columns if all(summary[k][c] == summary[keys[0]][c] for k in keys)]
        for column in same:
            scalars.add_row(f"{column} (every run)", _cell(summary[keys[0]][column]))
        varying = [c for c in columns if c not in same]
        vectors = [c for c in varying if any(_is_vector(summary[k][c]) for k in keys)]
        for shown, digits in (([c for c in varying if c not in vectors], 3), (vectors, 3)):
            if not shown:
                continue
            table = Table(box=None, pad_edge=False)
            table.add_column("run", no_wrap=True, style="bold", min_width=max(map(len, keys)))
            for column in shown:
                # Headers break at their underscores; values never wrap.
                table.add_column(column.replace("_", "\n"), no_wrap=True)
            for key in keys:
                table.add_row(key, *(_cell(summary[key][c], digits) for c in shown))
            tables.append(table)
    return Group(*tables, *([scalars] if scalars.row_count else []))


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="Experiment name (see `triad list`).")],
    algorithm: Annotated[str | None, typer.Option(help="Sets the experiment's `algorithm` parameter.")] = None,
    sweeps: Annotated[int | None, typer.Option(help="Sets `sweeps` (expected updates).")] = None,
    steps: Annotated[int | None, typer.Option(help="Sets `steps` (sampled updates).")] = None,
    streams: Annotated[int | None, typer.Option(help="Sets `streams` (independent sampled streams).")] = None,
    gamma: Annotated[float | None, typer.Option(help="Sets `gamma`.")] = None,
    epsilon: Annotated[float | None, typer.Option(help="Sets `epsilon`.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Any parameter, key=value (repeatable).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Results directory (default results/NAME).")] = None,
    figures_dir: Annotated[Path | None, typer.Option("--figures", help="Figure directory (default figures/).")] = None,
    quick: Annotated[bool, typer.Option(help="A small, fast version of the sweep.")] = False,
    fresh: Annotated[bool, typer.Option(help="Recompute runs even if cached results match.")] = False,
    no_figures: Annotated[bool, typer.Option("--no-figures", help="Skip drawing figures.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Run an experiment: results to results/NAME/, figures to figures/, summary to stdout."""
    experiment = exp.get(name)
    overrides: dict[str, Any] = key_values(set_ or [], "--set")
    for key, value in (("algorithm", algorithm), ("sweeps", sweeps), ("steps", steps), ("streams", streams),
                       ("gamma", gamma), ("epsilon", epsilon)):
        if value is not None:
            overrides[key] = str(value)
    params = experiment.resolve(overrides, quick=quick)
    outcome = exp.execute(experiment, params, out=out_dir, figures_dir=figures_dir, fresh=fresh,
                          make_figures=not no_figures)
    if json_:
        emit_json(outcome.summary)
        return
    out.print(f"[bold]{name}[/]: {outcome.ran} runs computed, {outcome.reused} reused from {outcome.results_dir}")
    out.print(_summary_table(outcome.summary))
    for path in outcome.figures:
        out.print(f"figure: {path}")


@app.command()
def figures(
    names: Annotated[list[str] | None, typer.Argument(help="Experiments to plot (default: all with cached results).")] = None,
    results_root: Annotated[Path, typer.Option("--results", help="Root of cached results.")] = exp.RESULTS_ROOT,
    figures_dir: Annotated[Path, typer.Option("--out", help="Figure directory.")] = exp.FIGURES_ROOT,
    json_: JsonOpt = False,
) -> None:
    """Redraw figures from cached results (never re-runs an experiment)."""
    experiments = exp.registry()
    chosen = [exp.get(n) for n in names] if names else [
        e for e in experiments.values() if (results_root / e.name / "results.csv").exists()]
    made = []
    for e in chosen:
        made.extend(exp.plot_figures(e, results_root / e.name, figures_dir))
    if json_:
        emit_json({"figures": [str(p) for p in made]})
        return
    for path in made:
        out.print(f"figure: {path}")
    if not made:
        out.print("no cached results to plot: run an experiment first (`triad run NAME`).")


@app.command()
def reproduce(
    quick: Annotated[bool, typer.Option(help="The small, fast version of every sweep.")] = False,
    results_root: Annotated[Path, typer.Option("--results", help="Root of results.")] = exp.RESULTS_ROOT,
    figures_dir: Annotated[Path, typer.Option("--figures", help="Figure directory.")] = exp.FIGURES_ROOT,
    json_: JsonOpt = False,
) -> None:
    """Run every experiment with its defaults (resuming cached runs) and draw every figure."""
    made: dict[str, Any] = {}
    for name, experiment in exp.registry().items():
        err.print(f"[bold]{name}[/]")
        outcome = exp.execute(experiment, experiment.resolve({}, quick=quick), out=results_root / name,
                              figures_dir=figures_dir)
        made[name] = {"ran": outcome.ran, "reused": outcome.reused, "summary": str(outcome.results_dir / "summary.json"),
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
    estimator: Annotated[str, typer.Option(help="mc, nstep or lambda (estimators of V^π(s)); gae (of A^π(s, a)).")],
    policy: Annotated[str, typer.Option(help="uniform, target, behaviour, or a path to an (S, A) .npy array.")] = "uniform",
    n: Annotated[int, typer.Option("--n", help="Steps of the n-step return.")] = 3,
    lam: Annotated[float, typer.Option("--lam", help="λ of the λ-return and of GAE.")] = 0.95,
    v_hat: Annotated[str, typer.Option("--v-hat", help="The value estimate bootstrapped from: zeros, true (V^π) "
                                                       "or a path to an (S,) .npy array.")] = "zeros",
    gamma: Annotated[float | None, typer.Option(help="Override the MDP's discount factor.")] = None,
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
              f"V̂ = {v_hat}, γ = {mdp.gamma:g}")
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
    target: Annotated[str, typer.Option(help="v_pi, q_pi, advantage, mc, nstep:N, lambda-return:LAM or gae:LAM.")],
    examples: Annotated[int, typer.Option(help="Random MDPs to search.")] = 20,
    critic: Annotated[str | None, typer.Option(help="exact, zeros or random (default: exact for v_pi, q_pi and "
                                                    "advantage, random for the named estimators).")] = None,
    streams: Annotated[int, typer.Option(help="Buffer columns (independent streams).")] = 2048,
    steps: Annotated[int, typer.Option(help="Buffer length T.")] = 16,
    seed: Annotated[int, typer.Option(help="Seeds the search and the sampling.")] = 0,
    alpha: Annotated[float, typer.Option(help="Family-wise error rate over all tests (Bonferroni).")] = 1e-3,
    set_: Annotated[list[str] | None, typer.Option("--set", help="A keyword argument of FUNCTION, key=value "
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
    features: Annotated[str | None, typer.Option(help="tabular, random:K[,seed=N], aggregate:K[,seed=N], problem "
                                                      "(the problem's own; the default when it has them) or an "
                                                      "(S, d) .npy file.")] = None,
    target: Annotated[str | None, typer.Option(help="Target policy π: uniform, target, behaviour or an (S, A) .npy "
                                                    "file (default: the problem's target).")] = None,
    behaviour: Annotated[str | None, typer.Option(help="Behaviour policy μ, same forms (default: the problem's "
                                                       "behaviour, else π: on-policy).")] = None,
    n: Annotated[str | None, typer.Option("--n", help="n-step TD: an integer ≥ 1, or inf (Monte-Carlo).")] = None,
    lam: Annotated[float | None, typer.Option("--lam", help="TD(λ) with importance-sampled traces.")] = None,
    algorithm: Annotated[str, typer.Option(help="semi-gradient-td, tdc, gtd2, etd or target-network.")
                         ] = "semi-gradient-td",
    alpha: Annotated[float, typer.Option(help="Step size α.")] = 0.01,
    beta: Annotated[float | None, typer.Option(help="TDC/GTD2 step size of h (default 10α).")] = None,
    period: Annotated[int, typer.Option(help="Target-network period.")] = 100,
    gamma: Annotated[float | None, typer.Option(help="Override the MDP's discount factor.")] = None,
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


def _warning_line(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    sys.stderr.write(f"triad: warning: {' '.join(str(message).split())}\n")


def main() -> None:
    """Console entry point: user errors — triad's and the command line's — become one line on
    stderr and exit status 2, never a traceback or a box. Warnings (e.g. a solver that stopped
    short of ``--tol``) are one line on stderr too."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            code = app(prog_name="triad", standalone_mode=False)
    except TriadError as exc:
        sys.stderr.write(f"triad: error: {exc}\n")
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
