"""The estimator kit: exact truncated moments, the buffer layout, the statistics, the gallery, the CLI."""

import json

import numpy as np
import pytest
from hypothesis import given, settings

from triad import multistep as ms
from triad.analysis import moments as mo
from triad.errors import SpecError, ValidationError
from triad.mdp import FiniteMDP
from triad.testing import assert_unbiased, buffers, check_estimator, draw_statistics, episodic_mdps, gallery, kit


# ------------------------------------------------------------------------------ exact moments
def leaky_state(r=1.0, sigma=2.0, gamma=0.5, p=0.25):
    """State 0 pays r + σε and ends w.p. p (state 1 is terminal), else stays."""
    P = np.zeros((2, 1, 2))
    P[0, 0] = [1 - p, p]
    P[1, 0, 1] = 1.0
    return FiniteMDP(P, [[r], [0.0]], gamma, terminal=[False, True], reward_std=[[sigma], [0.0]])


def test_truncated_moments_by_hand():
    mdp, pi, v_hat = leaky_state(), np.ones((2, 1)), np.array([3.0, 7.0])  # V̂(terminal) is never read
    mean, var = kit.truncated_moments(mdp, pi, "lambda", v_hat, 2, lam=0.5)
    # L = 1: E = r + γ(1−p)c = 1 + .375·3 = 2.125; Var = σ² + γ²c²p(1−p) = 4 + .25·9·.1875 = 4.421875.
    # L = 2: y = (1−λ)c + λE₁ = 2.5625, E = 1 + .375·y = 1.9609375;
    #        Var = σ² + γ²y²p(1−p) + γ²(1−p)λ²Var₁ = 4 + .3078002929... + .2072753906... = 4.51507568359375.
    np.testing.assert_allclose(mean[:, 0, 0], [2.125, 1.9609375])
    np.testing.assert_allclose(var[:, 0, 0], [4.421875, 4.51507568359375])
    # mc (λ = 1): E₂ = r + γ(1−p)E₁ = 1 + .375·2.125; nstep with n = 1 stays at E₁.
    assert kit.truncated_moments(mdp, pi, "mc", v_hat, 2)[0][1, 0, 0] == pytest.approx(1.796875)
    np.testing.assert_allclose(kit.truncated_moments(mdp, pi, "nstep", v_hat, 3, n=1)[0][:, 0, 0], [2.125] * 3)


@settings(max_examples=15)
@given(episodic_mdps(max_states=3, max_actions=2))
def test_long_truncated_moments_are_the_uncut_moments_of_the_moments_module(mdp):
    mdp = mdp.with_gamma(min(mdp.gamma, 0.95))  # keeps the horizon below ~700 steps
    pi = np.full((mdp.S, mdp.A), 1.0 / mdp.A)
    v_hat = np.linspace(-3.0, 5.0, mdp.S)
    for estimator, lam, n in (("mc", 1.0, 1), ("lambda", 0.8, 1), ("nstep", 1.0, 3)):
        horizon = mo.default_horizon(mdp.gamma * lam, tol=1e-14) + n
        mean, var = kit.truncated_moments(mdp, pi, estimator, v_hat, horizon, n=n, lam=lam)
        exact = mo.value_moments(mdp, pi, estimator, v_hat, n=n, lam=lam)
        state_mean = (mean[-1] * pi).sum(axis=1)
        state_var = ((var[-1] + (mean[-1] - state_mean[:, None]) ** 2) * pi).sum(axis=1)
        scale = 1.0 + np.abs(exact.mean).max()
        np.testing.assert_allclose(state_mean, exact.mean, rtol=1e-9, atol=1e-9 * scale)
        np.testing.assert_allclose(state_var, exact.variance, rtol=1e-8, atol=1e-8 * scale**2)
    gae = mo.advantage_moments(mdp, pi, "gae", v_hat, lam=0.8)
    mean, var = kit.truncated_moments(mdp, pi, "gae", v_hat, mo.default_horizon(mdp.gamma * 0.8, 1e-14), lam=0.8)
    np.testing.assert_allclose(mean[-1] - v_hat[:, None], gae.mean, rtol=1e-9, atol=1e-9 * (1 + np.abs(gae.mean).max()))


# ------------------------------------------------------------------------------------ buffers
@settings(max_examples=25)
@given(buffers(steps=12, streams=6))
def test_buffers_have_the_layout_of_a_vectorised_environment(buf):
    case, T = buf.case, buf.r_t.shape[0]
    v_hat, limit = case.v_hat, case.limit
    done = buf.terminated_t | buf.truncated_t
    assert not (buf.terminated_t & buf.truncated_t).any()
    np.testing.assert_array_equal(buf.terminated_t, case.mdp.terminal[buf.next_s_t])
    np.testing.assert_array_equal(buf.discount_t, case.mdp.gamma * (1.0 - buf.terminated_t))
    np.testing.assert_array_equal(buf.v_t, v_hat[buf.next_s_t])
    np.testing.assert_array_equal(buf.bootstrap_t, v_hat[buf.next_s_t])
    np.testing.assert_array_equal(buf.values[:T], v_hat[buf.s_t])
    # Within an episode the state carries on and the steps to the cut count down by one.
    same = ~done[:-1]
    np.testing.assert_array_equal(buf.s_t[1:][same], buf.next_s_t[:-1][same])
    np.testing.assert_array_equal(buf.room_t[:-1][same], buf.room_t[1:][same] + 1)
    np.testing.assert_array_equal(buf.values[T][~done[-1]], v_hat[buf.next_s_t[-1]][~done[-1]])
    # A new episode has min(steps left, limit) steps of room; a truncation is one step from its cut.
    fresh = done[:-1]
    left = (T - np.arange(1, T))[:, None] + np.zeros_like(buf.room_t[1:])
    np.testing.assert_array_equal(buf.room_t[1:][fresh], np.minimum(left, limit)[fresh])
    assert (buf.room_t[buf.truncated_t] == 1).all() and buf.cut_by_limit_t[buf.truncated_t].all()
    assert (buf.room_t[-1] == 1).all() and (buf.room_t <= limit).all()
    assert not buf.cut_by_limit_t[-1][~done[-1]].any()  # the last step did not reach the limit


@settings(max_examples=25)
@given(buffers(steps=10, streams=4))
def test_gallery_bugs_are_exactly_the_described_mistakes(buf):
    r, d, v, trunc = buf.r_t, buf.discount_t, buf.v_t, buf.truncated_t
    np.testing.assert_allclose(gallery.return_truncation_as_termination(r, d, v, trunc),
                               ms.discounted_returns(r, np.where(trunc, 0.0, d), v, truncated_t=trunc))
    np.testing.assert_allclose(gallery.n_step_across_episode_end(r, d, v, trunc, n=3), ms.n_step_returns(r, d, v, 3))
    dropped = buf.values.copy()
    dropped[-1] = 0.0
    np.testing.assert_allclose(gallery.gae_no_bootstrap_at_end(r, d, buf.values, 0.9, trunc, buf.bootstrap_t),
                               ms.gae(r, d, dropped, 0.9, truncated_t=trunc, bootstrap_t=buf.bootstrap_t))
    np.testing.assert_allclose(gallery.lambda_return_swapped_weights(r, d, v, 0.3, trunc),
                               ms.lambda_returns(r, d, v, 0.7, truncated_t=trunc))


# ---------------------------------------------------------------------------------- statistics
def test_a_shifted_output_shifts_every_bias_and_nothing_else():
    case = kit._probe_case(truncations=True)
    plain = draw_statistics(np.random.default_rng(5), ms.lambda_returns, case, "lambda-return:0.5",
                            kwargs={"lam": 0.5}, streams=1024)
    shifted = draw_statistics(np.random.default_rng(5), lambda r, d, v, truncated_t: ms.lambda_returns(
        r, d, v, 0.5, truncated_t=truncated_t) + 0.25, case, "lambda-return:0.5", streams=1024)
    assert plain.labels == shifted.labels and len(plain.labels) >= 4
    np.testing.assert_allclose(shifted.bias, plain.bias + 0.25)
    np.testing.assert_allclose(shifted.se, plain.se)
    assert not plain.biased and shifted.biased


def test_the_exact_variance_matches_the_sample_variance_of_a_correct_estimator():
    case = kit._probe_case(truncations=True)
    draw = draw_statistics(np.random.default_rng(1), ms.lambda_returns, case, "lambda-return:0.9",
                           kwargs={"lam": 0.9}, streams=4096)
    ratio = draw.sample_variance / draw.exact_variance
    assert draw.exact_variance.min() > 0
    np.testing.assert_allclose(ratio, 1.0, atol=0.15)


# ------------------------------------------------------------------------------------ gallery
@pytest.mark.parametrize("name", sorted(gallery.GALLERY))
def test_the_kit_flags_every_gallery_bug_with_a_small_counterexample(name):
    fn, target = gallery.GALLERY[name]
    report = check_estimator(fn, target)
    assert not report.passed and report.counterexample["confirmed"]
    cx = report.counterexample
    assert cx["S"] <= 4 and cx["A"] <= 2  # shrunk: at most three ordinary states
    significant = [r for r in report.rows if r["significant"]]
    assert significant and all(not r["ci"][0] <= 0.0 <= r["ci"][1] for r in significant)
    text = str(report)
    assert text.startswith("BIASED") and "counterexample" in text and "trajectory" in text
    if name != "lambda_return_swapped_weights":  # the others misread an episode end: near a cut
        assert all("to a time limit" in r["start"] or "buffer end" in r["start"] for r in significant)


@pytest.mark.parametrize("fn, target, kwargs, critic", [
    (lambda r, d, v, truncated_t: ms.discounted_returns(r, d, v, truncated_t=truncated_t), "v_pi", {}, None),
    (lambda r, d, v: ms.discounted_returns(r, d, v[-1]), "v_pi", {}, None),
    (ms.n_step_returns, "v_pi", {"n": 3}, None),
    (ms.lambda_returns, "q_pi", {"lam": 0.5}, None),
    (ms.gae, "advantage", {"lam": 0.95}, None),
    (lambda r, d, v, truncated_t: ms.discounted_returns(r, d, v, truncated_t=truncated_t), "mc", {}, None),
    (ms.n_step_returns, "nstep:3", {"n": 3}, None),
    (ms.lambda_returns, "lambda-return:0.9", {"lam": 0.9}, None),
    (ms.lambda_returns, "lambda-return:0.9", {"lam": 0.9}, "zeros"),
    (ms.gae, "gae:0.95", {"lam": 0.95}, None),
    (gallery.lambda_return_swapped_weights, "v_pi", {}, None),  # every λ-return is unbiased from V^π
])
def test_the_kit_passes_triads_estimators(fn, target, kwargs, critic):
    report = assert_unbiased(fn, target, kwargs=kwargs, critic=critic, examples=10)
    assert report.passed and report.examples == 10 and report.tests > 80 and report.counterexample is None


def test_the_kit_passes_gae_with_the_default_search():
    report = assert_unbiased(ms.gae, "advantage", kwargs={"lam": 0.95})
    assert report.examples == 20 and report.tests > 200
    assert str(report).startswith("PASSED: triad.multistep.gae against target advantage, critic exact")


def test_assert_unbiased_shows_the_counterexample():
    with pytest.raises(AssertionError, match=r"(?s)BIASED.*counterexample.*P\(·\|s, a\).*trajectory"):
        assert_unbiased(gallery.lambda_return_swapped_weights, "lambda-return:0.9", examples=8, shrink_budget=5)


def test_the_same_arguments_give_the_same_report_and_the_seed_changes_it():
    one = check_estimator(ms.lambda_returns, "lambda-return:0.9", kwargs={"lam": 0.9}, examples=3, streams=256,
                          min_columns=50).to_dict()
    two = check_estimator(ms.lambda_returns, "lambda-return:0.9", kwargs={"lam": 0.9}, examples=3, streams=256,
                          min_columns=50).to_dict()
    other = check_estimator(ms.lambda_returns, "lambda-return:0.9", kwargs={"lam": 0.9}, examples=3, streams=256,
                            min_columns=50, seed=1).to_dict()
    for d in (one, two, other):
        d.pop("seconds")
    assert json.dumps(one, default=str) == json.dumps(two, default=str)
    assert other["rows"] != one["rows"]


def test_progress_announces_the_draws_and_reports_each():
    from triad.progress import Progress

    seen = []
    check_estimator(ms.lambda_returns, "v_pi", kwargs={"lam": 0.9}, examples=3, streams=256, min_columns=50,
                    progress=Progress(lambda n, total, status: seen.append((n, total, sorted(status)))))
    assert seen[0] == (0.0, 3.0, []) and seen[1:] == [(1.0, None, ["draw", "largest_z"])] * 3


def test_torch_tensors_in_and_out():
    torch = pytest.importorskip("torch")

    def td_target(r_t, discount_t, v_t, truncated_t):
        assert all(isinstance(x, torch.Tensor) for x in (r_t, discount_t, v_t, truncated_t))
        return r_t + discount_t * v_t

    assert check_estimator(td_target, "v_pi", torch=True, examples=5).passed
    single = check_estimator(lambda r, d, v: ms.lambda_returns(r, d, v, 0.9).to(torch.float32),
                             "lambda-return:0.9", torch=True, examples=5)
    assert single.passed  # rounding to float32 is not a bias


# ------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("fn, options, message", [
    (lambda r, d: r, {}, "three positional arrays"),
    (ms.n_step_returns, {}, "needs 'n': pass it in kwargs"),
    (ms.n_step_returns, {"kwargs": {"n": 2, "m": 1}}, "has no parameter 'm'"),
    (ms.lambda_returns, {"kwargs": {"lam": 0.5, "truncated_t": None}}, "filled in by the kit"),
    (lambda r, d, values, truncated_t=None: r, {}, "takes truncated_t but not bootstrap_t"),
    (ms.lambda_returns, {"target": "advantage", "kwargs": {"lam": 0.5}}, "only the values layout"),
    (lambda r, d, v: r[0], {}, "returned shape (3,); expected (16, 3)"),
    (lambda r, d, v: np.full_like(r, np.inf), {}, "returned inf at step 0, column 0"),
    (lambda r, d, v: 1 / 0, {}, "raised ZeroDivisionError"),
    (ms.lambda_returns, {"critic": "zeros", "kwargs": {"lam": 0.5}}, "use critic='exact'"),
    (ms.lambda_returns, {"critic": "perfect", "target": "mc"}, "critic = 'perfect'"),
    (ms.lambda_returns, {"examples": 0}, "examples = 0 must be an integer ≥ 1"),
])
def test_a_mismatch_is_one_clear_validation_error(fn, options, message):
    options = {"target": "v_pi", **options}
    with pytest.raises(ValidationError, match=None) as info:
        check_estimator(fn, **options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_failure_on_some_draw_is_one_error_too():
    def fragile(r_t, discount_t, v_t):
        if r_t.std() > 3.0:  # fails on the first noisy draw only
            raise RuntimeError("variance too large")
        return ms.lambda_returns(r_t, discount_t, v_t, 0.5)

    with pytest.raises(ValidationError, match=r"raised RuntimeError on a \(16, 2048\) buffer: variance too large"):
        check_estimator(fragile, "v_pi", examples=20)


@pytest.mark.parametrize("target, message", [
    ("v", "unknown target 'v'"), ("nstep:0", "N = 0 must be ≥ 1"), ("gae:1.5", "outside [0, 1]"),
    ("lambda-return:x", "expected lambda-return:LAM"), ("v_pi:3", "takes no parameter"),
])
def test_bad_targets(target, message):
    with pytest.raises(SpecError, match=None) as info:
        kit.parse_target(target)
    assert message in str(info.value)


# ---------------------------------------------------------------------------------------- CLI
def test_cli_flags_a_gallery_bug_with_exit_status_1(triad_cli):
    code, out, _ = triad_cli("check-estimator", "triad.testing.gallery:return_truncation_as_termination",
                             "--target", "v_pi", "--examples", "6")
    assert code == 1 and out.startswith("BIASED") and "trajectory" in out


def test_cli_json_on_a_pass(triad_cli):
    code, out, _ = triad_cli("check-estimator", "triad.multistep:gae", "--target", "gae:0.8", "--set", "lam=0.8",
                             "--examples", "4", "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["correction"] == "bonferroni" and report["examples"] == 4
    assert report["rows"] and {"start", "bias", "ci", "exact_variance"} <= set(report["rows"][0])


def test_cli_runs_a_file(triad_cli, tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("def td(r_t, discount_t, v_t, truncated_t):\n    return r_t + discount_t * v_t\n")
    code, out, _ = triad_cli("check-estimator", f"{path}:td", "--target", "v_pi", "--examples", "3")
    assert code == 0 and out.startswith("PASSED")


@pytest.mark.parametrize("args, message", [
    (("nosuch_module_xyz:f",), "cannot import nosuch_module_xyz: ModuleNotFoundError"),
    (("triad.multistep",), "expected MODULE:FUNCTION"),
    (("triad.multistep:nothing",), "triad.multistep has no attribute 'nothing'"),
    (("triad.multistep:NUMBA_MIN_STEPS",), "is not a function"),
    (("missing.py:f",), "no file missing.py"),
    (("triad.multistep:n_step_returns",), "needs 'n'"),
    (("triad.multistep:gae", "--set", "lam=0.5", "--set", "lam=0.6"), "lam is given twice"),
])
def test_cli_errors_are_one_line_with_exit_status_2(triad_cli, args, message):
    function, *rest = args
    code, out, err = triad_cli("check-estimator", function, "--target", "v_pi", *rest)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


# --------------------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_the_intervals_have_their_stated_coverage():
    """Per-test intervals at 90% and 99%, and simultaneous (Bonferroni) ones at 90%, on a known-unbiased
    estimator, over 24 fixed MDPs × 25 fresh samples each (measured: see the assertion tolerances)."""
    from hypothesis import HealthCheck, Phase, seed
    from scipy import special

    drawn = []

    @seed(11)
    @settings(max_examples=24, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(kit.cases("random", True, 16, 4, 2))
    def collect(case):
        drawn.append(case)

    collect()
    covered = {0.1: [], 0.01: []}
    families = []
    for i, case in enumerate(drawn):
        for rep in range(25):
            draw = draw_statistics(np.random.default_rng([i, rep]), ms.gae, case, "gae:0.9", kwargs={"lam": 0.9},
                                   alpha=0.1, streams=1024)
            for level, hits in covered.items():
                q = -special.stdtrit(1023, level / 2)
                hits.extend(np.abs(draw.bias) <= q * draw.se + draw.tolerance)
            families.append(not draw.biased)
    for level, hits in covered.items():
        assert len(hits) > 5000
        assert abs(np.mean(hits) - (1 - level)) < 3 * np.sqrt(level * (1 - level) / len(hits)) + 0.005
    assert np.mean(families) >= 0.9 - 3 * np.sqrt(0.09 / len(families))
