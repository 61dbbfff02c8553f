"""The ``triad`` command line.

Every command prints a rich report, or with ``--json`` exactly one JSON object on stdout (progress
goes to stderr). User errors (a bad spec, an unknown name, an invalid file) print one line on
stderr and exit with status 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from triad import experiment as exp
from triad import zoo
from triad.errors import TriadError, ValidationError
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
    "π is the policy evaluated: the problem's target policy if it has one (Baird, w→2w). 'on-policy' always "
    "means the stationary law of that π, even when the problem also defines a behaviour policy; the behaviour "
    "policy's law is '--weighting behaviour'. For Baird that law is uniform, so `triad contraction baird "
    "--features baird --weighting uniform` is Baird's off-policy setting; Baird's on-policy law sits on the "
    "lower state alone and is refused.\n\n"
    "JSON keys: B_inf, B_D, PiB_inf, PiB_D, spectral_radius, hurwitz, A_eigenvalues (each eigenvalue a "
    "two-element list: real part, imaginary part; sorted by decreasing real part), gamma, S, d, rank, "
    "Pi_is_identity, policy, weighting."))
def contraction(
    spec: SpecArg,
    features: Annotated[str, typer.Option(help="tabular, random:K[,seed=N], aggregate:K[,seed=N], baird (the "
                                               "problem's own features; also: problem) or an (S, d) .npy file."
                                          )] = "tabular",
    weighting: Annotated[str, typer.Option(help="State weighting D: on-policy (stationary law of --policy), uniform, "
                                                "behaviour (the problem's behaviour policy), behaviour:EPS "
                                                "((1 − EPS)π + EPS·uniform) or an (S,) .npy file.")] = "on-policy",
    policy: Annotated[str | None, typer.Option(help="Policy π to evaluate: uniform, target, behaviour or an (S, A) "
                                                       ".npy file; default: the problem's target policy if it has "
                                                       "one, else uniform.")] = None,
    gamma: Annotated[float | None, typer.Option(help="Override the MDP's discount factor.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Is Π_D B^π a contraction? Exact ‖·‖∞ and ‖·‖_D norms, spectral radius, and TD(0)'s A matrix."""
    from triad.analysis.contraction import certify
    from triad.projections import ProjectedBellman, features_from_spec, weighted_least_squares, weighting_from_spec

    problem, mdp = _mdp_with_gamma(spec, gamma)
    policy = policy or ("target" if problem.target is not None else "uniform")
    pi = problem.policy(policy)
    Phi = features_from_spec(features, mdp, problem.features)
    d = weighting_from_spec(weighting, mdp, pi, problem.behaviour)
    try:
        proj = weighted_least_squares(Phi, d)
    except ValidationError as exc:
        raise ValidationError(f"--weighting {weighting} with --features {features}: {exc}") from None
    result = certify(ProjectedBellman(mdp, proj, pi))
    identity = bool(np.allclose(proj.matrix, np.eye(mdp.S), atol=1e-9))
    payload = {**result.to_json(), "S": mdp.S, "d": Phi.shape[1], "rank": int(np.linalg.matrix_rank(Phi)),
               "Pi_is_identity": identity, "policy": policy, "weighting": d}
    if json_:
        emit_json(payload)
        return

    def verdict(x: float) -> str:
        return "[green]contraction[/]" if x < 1 else "[red]not a contraction[/]"

    out.print(f"[bold]{mdp.name or spec}[/]: π = {policy}, features {features} (d = {Phi.shape[1]}, rank "
              f"{payload['rank']}{', Π = I' if identity else ''}), D = {weighting}, γ = {mdp.gamma:g}")
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
    agents = _agent_rows()
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
    out.print(_agents_table())


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
    env: Annotated[str | None, typer.Option("--env", help="Zoo spec / .npz path (tabular twin) or gymnasium id.")] = None,
    steps: Annotated[int | None, typer.Option(help="Env steps, summed over parallel envs (default 100000; "
                                                   "with --resume: the run's own).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of everything random in the run.")] = 0,
    envs: Annotated[int | None, typer.Option("--envs", help="Parallel environments (sets the config's envs).")] = None,
    discount_weighting: Annotated[int | None, typer.Option(help="1: no γ^t in front of ∇log π (seed option 1); 2: "
                                                                "keep it (option 2). Sets discount_weighting.")] = None,
    critic: Annotated[str | None, typer.Option(help="separate (actor and critic networks) or shared (one trunk). "
                                                    "Sets critic.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config field, key=value (repeatable; see "
                                                                 "--help-config).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/ALGO/ENV/seed=S).")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Env steps between checkpoints (0: only at the end).")] = 0,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this directory from its "
                                                                 "last checkpoint.")] = None,
    eval_episodes: Annotated[int, typer.Option(help="Deterministic evaluation episodes at the end.")] = 10,
    eval_every: Annotated[int, typer.Option(help="Also log eval_return every this many env steps (0: off).")] = 0,
    tensorboard: Annotated[Path | None, typer.Option(help="Also write TensorBoard scalars here (tensorboard "
                                                          "extra).")] = None,
    obs: Annotated[str | None, typer.Option(help="Tabular twins: onehot, features or state observations.")] = None,
    max_episode_steps: Annotated[int | None, typer.Option(help="Time limit of an episode (truncation).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the algorithms and exit.")] = False,
    help_config: Annotated[bool, typer.Option("--help-config", help="List ALGO's config fields (with --env: "
                                                                    "after its preset) and exit.")] = False,
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
    if help_config:
        if algorithm is None:
            raise ValidationError("--help-config needs ALGO")
        out.print(_config_table(algorithm, env))
        return
    from triad.agents import loop

    overrides: dict[str, Any] = key_values(set_ or [], "--set")
    for key, value in (("envs", envs), ("discount_weighting", discount_weighting), ("critic", critic)):
        if value is not None:
            overrides[key] = str(value)
    if resume is not None and overrides:
        raise ValidationError("--resume continues a run with its stored config; --set, --envs, --discount-weighting "
                              "and --critic cannot change it")
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
