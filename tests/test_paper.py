"""The paper: macro paths and typesetting, the generated files, the checks, and the quick paper itself.

Expected values are written out by hand or recomputed here with plain code (a path walker and a
parser of typeset numbers), never taken from :mod:`triad.paper`.
"""

import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from triad import experiment as exp
from triad import paper

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ plain helpers
def walk(tree, path):
    """The value at ``path`` by plain lookup: keys split at ``|``, ``[i]`` by position, ``[key]`` the key."""
    node, key = tree, None
    for part in path.split("|"):
        if part == "[key]":
            return key
        if part.startswith("[") and part.endswith("]"):
            i = int(part[1:-1])
            if isinstance(node, dict):
                key = list(node)[i]
                node = node[key]
            else:
                key, node = None, node[i]
        else:
            key, node = part, node[part]
    return node


def tex_number(text):
    """The number a typeset value shows: ``\\ensuremath{1{,}230}`` → 1230, ``2.16\\times10^{-30}`` → 2.16e-30."""
    body = text.removesuffix(r"\%")
    assert body.startswith(r"\ensuremath{") and body.endswith("}"), text
    body = body[len(r"\ensuremath{"):-1].replace("{,}", "")
    match = re.fullmatch(r"(-?[\d.]+)(?:\\times10\^\{(-?\d+)\})?", body)
    assert match, f"not a typeset number: {text!r}"
    return float(match.group(1)) * 10.0 ** int(match.group(2) or 0)


def numeric(value):
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    return value


def assert_typeset(text, value, percent=False):
    """``text`` shows ``value`` (×100 for a percentage) to three significant digits."""
    value = numeric(value)
    if isinstance(value, float) and math.isinf(value):
        assert text == "diverged"
    elif isinstance(value, float) and math.isnan(value):
        assert text == "n/a"
    elif value is None:
        assert text == "none"
    elif isinstance(value, bool):
        assert text == ("yes" if value else "no")
    elif isinstance(value, (int, float)):
        target = 100 * value if percent else value
        assert tex_number(text) == pytest.approx(target, rel=5e-3, abs=1e-300), (text, value)
        assert text.endswith(r"\%") == percent
    elif isinstance(value, str):
        assert text.startswith(r"\texttt{") and text.replace(r"\allowbreak{}", "").replace("\\_", "_") \
            == rf"\texttt{{{value}}}"
    else:  # a list: its items, typeset and joined by ", " (a number's own {,} has no space)
        items = text.split(", ")
        assert len(items) == len(value)
        for item, v in zip(items, value):
            assert_typeset(item, v)


DEF = re.compile(r"^\\triaddef\{(res|pct|param)\}\{([^{}]*)\}\{([^{}]*)\}\{(.*)\}% (.*)$")


def generated_lines(folder):
    """(kind, experiment, path) → (typeset text, JSON value) of every line of the generated files."""
    found = {}
    for path in Path(folder).glob("*.tex"):
        for line in path.read_text().splitlines():
            match = DEF.match(line)
            if match:
                kind, name, key, text, raw = match.groups()
                assert (kind, name, key) not in found, f"{kind}/{name}/{key} defined twice"
                found[kind, name, key] = (text, json.loads(raw))
    return found


# ------------------------------------------------------------------------------ typesetting
@pytest.mark.parametrize("value, text", [
    (1.9354645366616536, r"\ensuremath{1.94}"),
    (0.0073785597647344475, r"\ensuremath{0.00738}"),
    (2.156219807604099e-30, r"\ensuremath{2.16\times10^{-30}}"),
    (1e-5, r"\ensuremath{1\times10^{-5}}"),
    (999999.7, r"\ensuremath{1\times10^{6}}"),
    (10_000, r"\ensuremath{10{,}000}"),
    (-1234, r"\ensuremath{-1{,}234}"),
    (2500.0, r"\ensuremath{2{,}500}"),
    (1234.5, r"\ensuremath{1{,}230}"),
    (6928.219999999999, r"\ensuremath{6{,}930}"),
    (-0.8894834413152413, r"\ensuremath{-0.889}"),
    (1.0000000000000013, r"\ensuremath{1}"),
    (0.0, r"\ensuremath{0}"),
    (math.inf, "diverged"), ("inf", "diverged"), ("-inf", "diverged"), ("nan", "n/a"),
    (None, "none"), (True, "yes"), (False, "no"),
    ("chain:n=10,slip=0.1", r"\texttt{chain:n=10,\allowbreak{}slip=0.1}"),
    ("a_b%", r"\texttt{a\_b\%}"),
    ([0.1, 2], r"\ensuremath{0.1}, \ensuremath{2}"),
])
def test_values_are_typeset_to_three_significant_digits(value, text):
    assert paper.render(value) == text


@pytest.mark.parametrize("value, text", [
    (0.14814814814814814, r"\ensuremath{14.8}\%"), (1.0, r"\ensuremath{100}\%"), (0.0, r"\ensuremath{0}\%"),
    (0.66, r"\ensuremath{66}\%"), (1, None), (1.5, None), (-0.1, None), ("inf", None), (None, None), (True, None),
])
def test_only_floats_in_the_unit_interval_have_a_percentage(value, text):
    assert paper.render_percent(value) == text


# ---------------------------------------------------------------------------------- paths
TREE = {
    "run": "tdc/expected",
    "runs": {"tdc/expected": {"sqrt_ve": 1.5, "w": [1.0, 2.0]}, "lstd/closed": {"sqrt_ve": 0.0, "w": [0.0, 0.0]}},
    "by_mdp": {"chain:n=10,slip=0.1": {"error=0": {"best": 0.0}, "error=1": {"best": 0.7}}},
    "flag": True,
    "first": None,
}


def test_flatten_names_every_scalar_by_its_literal_keys():
    assert paper.flatten(TREE) == {
        "run": "tdc/expected",
        "runs|tdc/expected|sqrt_ve": 1.5, "runs|tdc/expected|w": [1.0, 2.0],
        "runs|tdc/expected|w|[0]": 1.0, "runs|tdc/expected|w|[1]": 2.0,
        "runs|lstd/closed|sqrt_ve": 0.0, "runs|lstd/closed|w": [0.0, 0.0],
        "runs|lstd/closed|w|[0]": 0.0, "runs|lstd/closed|w|[1]": 0.0,
        "by_mdp|chain:n=10,slip=0.1|error=0|best": 0.0, "by_mdp|chain:n=10,slip=0.1|error=1|best": 0.7,
        "flag": True, "first": None,
    }


def test_keys_that_cannot_be_macro_paths_are_left_out_with_a_warning():
    with pytest.warns(UserWarning, match="4 keys cannot be macro paths"):
        assert paper.flatten({"a b": 1, "x|y": 2, "[0]": 3, "ok": {"50%": 4, "fine": 5}}) == {"ok|fine": 5}


@pytest.mark.parametrize("path, value", [
    ("by_mdp|[0]|[key]", "chain:n=10,slip=0.1"),
    ("by_mdp|[0]|[-1]|best", 0.7),
    ("by_mdp|[-1]|[0]|[key]", "error=0"),
    ("runs|[1]|w|[-1]", 0.0),
    ("runs|[0]|w", [1.0, 2.0]),
    ("runs|tdc/expected|[key]", "tdc/expected"),
])
def test_positional_paths_pick_entries_in_file_order(path, value):
    assert paper.resolve(TREE, path) == value == walk(TREE, path)


@pytest.mark.parametrize("path, message", [
    ("by_mdp|[1]|[key]", r"\[1\] is out of range \(1 entries\)"),
    ("runs|tdc/sampled|sqrt_ve", "no entry 'tdc/sampled'"),
    ("runs|tdc/expected", "leads to a dict"),
    ("flag|[0]", r"no entry '\[0\]'"),
])
def test_paths_that_lead_nowhere_are_refused(path, message):
    with pytest.raises(paper.PaperError, match=message):
        paper.resolve(TREE, path)


def test_macro_names_are_reversible():
    for kind, name, path in (("res", "baird", "runs|tdc/expected|sqrt_ve"),
                             ("pct", "bias-variance", "by_mdp|chain:n=10,slip=0.1|error=0|best"),
                             ("param", "w2w", "gamma_step")):
        cs = paper.macro_name(kind, name, path)
        assert cs == f"triad:{kind}:{name}:{path}"
        assert paper.parse_macro_name(cs) == (kind, name, path)
    with pytest.raises(paper.PaperError):
        paper.parse_macro_name("triad:nope:baird:x")


# ------------------------------------------------------------------------------- generated files
def test_generated_numbers_equal_the_summary(tmp_path):
    results = tmp_path / "results" / "toy"
    results.mkdir(parents=True)
    summary = {**TREE, "fraction": 0.125, "blown": "inf", "count": 12_345}
    (results / "summary.json").write_text(json.dumps(summary))
    (results / "params.json").write_text(json.dumps({"steps": 1000, "gamma": 0.99, "errors": [0.0, 0.3]}))
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "gone.tex").write_text("% an experiment that no longer exists\n")
    wanted = [("res", "toy", "by_mdp|[0]|[-1]|best"), ("pct", "toy", "by_mdp|[0]|[-1]|best"),
              ("res", "toy", "by_mdp|[0]|[key]"), ("res", "toy", "by_mdp|[3]|best"), ("res", "other", "x")]
    paper.write_numbers(generated, {"toy": results}, quick=True, wanted=wanted)
    assert sorted(p.name for p in generated.iterdir()) == ["index.tex", "toy.tex"]
    assert (generated / "index.tex").read_text().splitlines()[1:] == [r"\triadquicktrue", r"\input{generated/toy}"]
    lines = generated_lines(generated)
    params = json.loads((results / "params.json").read_text())
    for (kind, name, path), (text, raw) in lines.items():
        assert name == "toy"
        tree = params if kind == "param" else summary
        assert raw == walk(tree, path), path
        assert_typeset(text, raw, percent=kind == "pct")
    # Every literal scalar of both trees is there; of the positional paths, those that resolve.
    assert ("res", "toy", "runs|tdc/expected|w|[1]") in lines and ("param", "toy", "errors") in lines
    assert lines["res", "toy", "by_mdp|[0]|[-1]|best"][0] == r"\ensuremath{0.7}"
    assert lines["pct", "toy", "by_mdp|[0]|[-1]|best"][0] == r"\ensuremath{70}\%"
    assert lines["res", "toy", "by_mdp|[0]|[key]"][0] == r"\texttt{chain:n=10,\allowbreak{}slip=0.1}"
    assert ("res", "toy", "by_mdp|[3]|best") not in lines
    assert lines["res", "toy", "blown"][0] == "diverged" and ("pct", "toy", "blown") not in lines
    assert lines["res", "toy", "count"][0] == r"\ensuremath{12{,}345}" and ("pct", "toy", "fraction") in lines


def test_check_names_every_missing_number_figure_and_citation(tmp_path):
    generated, figures = tmp_path / "generated", tmp_path / "figures"
    generated.mkdir()
    figures.mkdir()
    (generated / "toy.tex").write_text("\\triaddef{res}{toy}{mean}{\\ensuremath{1}}% 1.0\n")
    (figures / "here.pdf").write_bytes(b"%PDF-1.4\n")
    (tmp_path / "refs.bib").write_text("@book{known2020,\n  title = {A}}\n@article{ other1999 , title={B}}\n")
    tex = tmp_path / "paper.tex"
    tex.write_text(
        "Mean \\res{toy}{mean}, missing \\pct{toy}{mean}.\n"                          # 1: pct never defined
        "% \\res{toy}{commented} is not used\n"                                        # 2
        "\\includegraphics[width=\\linewidth]{here} \\includegraphics{gone}\n"          # 3
        "\\citep[see][\\S2]{known2020, nobody} \\citet{other1999} 50\\% \\res{other}{x}\n")  # 4
    assert paper.check(tex, generated, figures, tmp_path / "refs.bib") == [
        f"{tex}:1: \\pct{{toy}}{{mean}} is not in {generated}",
        f"{tex}:4: \\res{{other}}{{x}} is not in {generated}",
        f"{tex}:3: figure 'gone' has no {figures / 'gone'}.pdf",
        f"{tex}:4: citation 'nobody' is not in {tmp_path / 'refs.bib'}",
    ]


def test_log_problems_finds_undefined_references_and_overfull_boxes():
    log = ("LaTeX Warning: Reference `fig:x' on page 3 undefined on input line 12.\n"
           "Package natbib Warning: Citation `nobody' on page 4 undefined on input line 20.\n"
           "Overfull \\hbox (5.9pt too wide) in paragraph at lines 228--251\n"
           "Overfull \\vbox (1.0pt too high) has occurred while \\output is active\n"
           "Underfull \\hbox (badness 10000) in paragraph at lines 1--2\n")
    undefined, overfull = paper.log_problems(log)
    assert undefined == ["LaTeX Warning: Reference `fig:x' on page 3 undefined",
                         "Package natbib Warning: Citation `nobody' on page 4 undefined"]
    assert overfull == 2


# ------------------------------------------------------------------------------ the command
def _toy_run(run, progress):
    return pd.DataFrame({"step": [0, 1], "quantity": "x", "value": [run.params["scale"], 2 * run.params["scale"]]})


TOY = exp.Experiment(name="toy", description="a toy", defaults={"scale": 1.0},
                     sweep=lambda p: [exp.Run("toy/scale", {"scale": p["scale"]})], run=_toy_run,
                     summarise=lambda rows, p: {"mean": float(rows["value"].mean())}, quick={"scale": 0.5})


def test_paper_without_latex_writes_the_numbers_and_says_what_to_install(tmp_path, monkeypatch, triad_cli):
    monkeypatch.setattr(exp, "registry", lambda: {"toy": TOY})
    monkeypatch.setattr(paper.shutil, "which", lambda tool: None)
    folder = tmp_path / "paper"
    folder.mkdir()
    (folder / "triad.tex").write_text(r"The mean is \res{toy}{mean} at scale \param{toy}{scale}." "\n")
    (folder / "references.bib").write_text("")
    code, out, err = triad_cli("paper", "--quick", "--paper", str(folder), "--results", str(tmp_path / "results"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and paper.INSTALL_LATEX in err and "latexmk" in err
    lines = generated_lines(folder / "generated")
    assert lines["res", "toy", "mean"] == (r"\ensuremath{0.75}", 0.75)  # quick: scale 0.5, rows 0.5 and 1
    assert lines["param", "toy", "scale"] == (r"\ensuremath{0.5}", 0.5)
    assert (tmp_path / "results" / "toy-quick" / "summary.json").exists()
    # Without LaTeX on purpose: the cached run is reused and the report is one JSON object.
    code, out, err = triad_cli("paper", "--quick", "--no-pdf", "--json", "--paper", str(folder),
                               "--results", str(tmp_path / "results"))
    report = json.loads(out)
    assert code == 0 and err == ""
    assert report["experiments"]["toy"]["ran"] == 0 and report["experiments"]["toy"]["reused"] == 1
    assert report["quick"] is True and report["pdf"] is None and len(report["numbers"]) == 2


def test_the_install_command_is_the_one_the_readme_and_ci_use():
    assert paper.INSTALL_LATEX in (ROOT / "README.md").read_text()
    assert paper.INSTALL_LATEX in (ROOT / ".ci" / "install-tex").read_text()


def test_benchmark_records_are_written_whole_and_quoted_under_their_paper_name(tmp_path):
    root = tmp_path / "records"
    summary = {"sac": {"median": {"triad_eval": -140.25, "speed_ratio": 1.6}}, "met": True}
    params = {"command": "python bench.py run", "load_average": 1.5}
    folder = paper.write_benchmark("offpolicy", summary, params, root=root)
    assert json.loads((folder / "summary.json").read_text()) == summary
    assert json.loads((folder / "params.json").read_text()) == params
    assert sorted(p.name for p in folder.iterdir()) == ["params.json", "summary.json"]  # no temporary left
    (root / "half").mkdir()  # a folder without a summary is not a record
    assert paper.benchmark_sources(root) == {"bench-offpolicy": folder}
    assert paper.benchmark_sources(tmp_path / "none") == {}
    paper.write_numbers(tmp_path / "generated", paper.benchmark_sources(root), quick=True)
    lines = generated_lines(tmp_path / "generated")
    assert lines["res", "bench-offpolicy", "sac|median|triad_eval"] == (r"\ensuremath{-140}", -140.25)
    assert lines["param", "bench-offpolicy", "load_average"] == (r"\ensuremath{1.5}", 1.5)
    with pytest.raises(paper.PaperError, match="cannot be part of a macro name"):
        paper.write_benchmark("two words", summary, params, root=root)


def test_measured_on_says_when_where_and_at_what_load():
    record = paper.measured_on(seeds=[0, 1])
    assert record["cpus"] >= 1 and record["load_average"] >= 0 and record["seeds"] == [0, 1]
    assert record["versions"]["torch"] and record["utc"].endswith("+00:00") and record["command"].startswith("python")


# ------------------------------------------------------------------------------ the real paper
USE = re.compile(r"\\(res|pct|param)\{([^{}]*)\}\{([^{}]*)\}")


def test_the_quick_paper_uses_only_numbers_figures_and_references_that_exist(tmp_path):
    """Every experiment at its quick settings, every figure as PDF and PNG, the numbers of
    paper/triad.tex against each summary.json and params.json, its figures and citations."""
    folder = tmp_path / "paper"
    folder.mkdir()
    for name in ("triad.tex", "references.bib"):
        shutil.copyfile(ROOT / "paper" / name, folder / name)
    results = tmp_path / "results"
    records = ROOT / "tests" / "benchmarks" / "records"
    report = paper.build(folder, results, quick=True, pdf=False, show_progress=False, benchmarks=records)
    registry = exp.registry()
    assert set(report.experiments) == set(registry) | set(paper.VARIANTS)
    # Each figure script ran on the small cached results and wrote a PDF and a PNG (the deep level's
    # figure from the deadly triad's deep variant).
    for experiment in registry.values():
        for figure in experiment.figures:
            for suffix, magic in ((".pdf", b"%PDF"), (".png", b"\x89PNG")):
                path = folder / "build" / "figures" / f"{figure}{suffix}"
                assert path.read_bytes()[:4] == magic, path
    # Every number the tex uses exists and shows the value in the experiment's summary or parameters.
    tex = "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in (folder / "triad.tex").read_text().splitlines())
    used = set(USE.findall(tex))
    assert len(used) > 100
    lines = generated_lines(folder / "generated")
    for kind, name, path in sorted(used):
        assert (kind, name, path) in lines, f"\\{kind}{{{name}}}{{{path}}} is not generated"
        folder_of = (records / name.removeprefix(paper.BENCHMARK_PREFIX) if name.startswith(paper.BENCHMARK_PREFIX)
                     else results / f"{name}-quick")
        source = folder_of / ("params.json" if kind == "param" else "summary.json")
        value = walk(json.loads(source.read_text()), path)
        text, raw = lines[kind, name, path]
        assert raw == value
        assert_typeset(text, value, percent=kind == "pct")
    # Every figure exists as PDF; every citation has an entry and every entry is cited.
    for target in re.findall(r"\\includegraphics(?:\[[^\]]*\])?\{([^{}]*)\}", tex):
        assert (folder / "build" / "figures" / f"{target}.pdf").is_file(), target
    cited = {key.strip() for group in re.findall(r"\\cite[a-zA-Z]*(?:\[[^\]]*\])*\{([^{}]*)\}", tex)
             for key in group.split(",")}
    entries = set(re.findall(r"^@\w+\{([^,]+),", (folder / "references.bib").read_text(), flags=re.MULTILINE))
    assert cited == entries
