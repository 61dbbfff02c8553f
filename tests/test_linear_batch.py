"""The compiled batch kernel equals `triad.linear.sampled` bit for bit, cell by cell, on the same streams."""

import numpy as np
import pytest

from triad import ValidationError, linear, zoo
from triad.linear_batch import draw_count, draws, einsum_order_holds, sampled_batch
from triad.mdp import FiniteMDP
from triad.projections import mixture_policy
from triad.sampling import StreamRNG

BAIRD = zoo.baird()

RULES = [
    linear.Rule("semi-gradient-td", alpha=0.01),
    linear.Rule("semi-gradient-td", alpha=0.01, n=3),
    linear.Rule("semi-gradient-td", alpha=0.01, lam=0.8),
    linear.Rule("semi-gradient-td", alpha=0.002, lam=1.0),
    linear.Rule("tdc", alpha=0.005, beta=0.05),
    linear.Rule("gtd2", alpha=0.005, beta=0.05),
    linear.Rule("etd", alpha=0.003, interest=0.5),
    linear.Rule("target-network", alpha=0.01, target_period=7),
    linear.Rule("target-network", alpha=0.01, tau=0.1),
]


def _identical(reference, curve) -> bool:
    """Steps, weights and divergence steps equal bit for bit (NaN == NaN: diverged streams carry on)."""
    return all(np.array_equal(getattr(curve, k), getattr(reference, k), equal_nan=k != "steps")
               for k in ("steps", "w", "diverged_at"))


def test_numpy_adds_in_the_order_the_kernel_repeats():
    # The precondition of bit-identity: einsum's two-lane order and np.sum's pairwise order (see the kernel).
    assert einsum_order_holds(np.random.default_rng(1), trials=300)
    from triad._linear_batch_kernels import _pairwise_squares

    rng = np.random.default_rng(2)
    for d in (1, 7, 8, 9, 127, 128, 129, 300, 1031):  # every branch of numpy's pairwise sum, recursion included
        w = rng.standard_normal(d) * 10.0 ** rng.uniform(-8, 8, d)
        assert (w * w)[None].sum(axis=1)[0] == 0.0 + _pairwise_squares(w, 0, d)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.algorithm}-n{r.n}-lam{r.lam:g}-tau{r.tau:g}")
@pytest.mark.parametrize("source", ["streams", "generator"])
def test_baird_bit_for_bit(rule, source):
    # 300 steps: three chunks of sampled's rollout (128, 128, 44); threshold 100: most TD streams diverge mid-run.
    make = (lambda: StreamRNG(5, key=3)) if source == "streams" else (lambda: np.random.default_rng(3))
    reference = linear.sampled(make(), rule, BAIRD, 300, streams=5, threshold=100.0)
    batch = sampled_batch(make(), rule, BAIRD, 300, streams=5, threshold=100.0, record_every=1)
    assert _identical(reference, batch.curve(0))


def _random_cell(i, rng):
    """A random problem: Garnet (dense or sparse), sometimes a terminal state and reward noise, random Φ, π, μ."""
    S, A = int(rng.integers(3, 12)), int(rng.integers(2, 4))
    mdp = zoo.garnet(S=S, A=A, b=int(rng.integers(1, S + 1)), seed=i, gamma=0.95, sparse=bool(i % 2)).mdp
    if i % 3 == 0:  # state 0 terminal, episodes restart elsewhere; every other such cell has reward noise
        P, R = mdp.to_dense().P.copy(), mdp.R.copy()
        P[0], R[0] = 0.0, 0.0
        P[0, :, 0] = 1.0
        mdp = FiniteMDP(P, R, 0.95, terminal=np.arange(S) == 0, mu=np.r_[0.0, np.full(S - 1, 1 / (S - 1))],
                        reward_std=np.full((S, A), 0.5) if i % 2 else None)
    K = int(rng.integers(1, S + 1))
    Phi = rng.standard_normal((S, K)) / np.sqrt(K)
    if mdp.terminal is not None:
        Phi[mdp.terminal] = 0.0
    pi = rng.dirichlet(np.ones(A), size=S)
    return zoo.Problem(mdp, features=Phi, target=pi, behaviour=mixture_policy(pi, np.full((S, A), 1 / A), 0.5))


R = linear.Rule
MIXED = [R("semi-gradient-td", alpha=0.3), R("semi-gradient-td", alpha=0.2, n=3),
         R("semi-gradient-td", alpha=0.1, n=40),  # ≥ 32 steps: the compiled n-step return path
         R("semi-gradient-td", alpha=0.2, lam=1.0), R("semi-gradient-td", alpha=0.2, lam=0.5),
         R("tdc", alpha=0.2, beta=0.5), R("gtd2", alpha=0.2, beta=0.5), R("etd", alpha=0.05),
         R("target-network", alpha=0.3, target_period=13), R("target-network", alpha=0.3, tau=0.05)]


def test_a_mixed_batch_of_random_cells_is_bit_for_bit_each_cells_own_run():
    rng = np.random.default_rng(0)
    # and Baird from huge weights with a huge step: it overflows to inf and NaN (diverged at step 0) and carries on
    huge = zoo.Problem(BAIRD.mdp, features=BAIRD.features, target=BAIRD.target, behaviour=BAIRD.behaviour,
                       w0=1e200 * BAIRD.w0)
    problems = [_random_cell(i, rng) for i in range(20)] + [huge]
    rules = [MIXED[i % len(MIXED)] for i in range(20)] + [linear.Rule("semi-gradient-td", alpha=1e3)]
    batch = sampled_batch([StreamRNG(4, key=i) for i in range(21)], rules, problems, 300, streams=4, threshold=1e3,
                          record_every=1)
    assert sorted(set(batch.dims)) != [batch.dims[0]]  # cells of different widths share the batch
    for i in range(21):
        with np.errstate(over="ignore", invalid="ignore"):  # the huge cell's first norm overflows in sampled too
            reference = linear.sampled(StreamRNG(4, key=i), rules[i], problems[i], 300, streams=4, threshold=1e3)
        assert _identical(reference, batch.curve(i))
    assert batch.diverged.any() and not batch.diverged.all()
    assert not np.isfinite(batch.final).all()  # some streams overflowed and carried on, as in sampled


@pytest.mark.parametrize("noisy", [False, True])
def test_draws_leave_the_generator_where_sampled_does(noisy):
    problem = _random_cell(3, np.random.default_rng(5)) if noisy else BAIRD
    assert (problem.mdp.reward_std is not None) == noisy
    rule = linear.Rule("semi-gradient-td", alpha=0.01)
    for make in (lambda: np.random.default_rng(9), lambda: StreamRNG(3, key=9)):
        a, b = make(), make()
        linear.sampled(a, rule, problem, 200, streams=3)
        uniforms, normals = draws(b, 3, 200, noisy)
        assert uniforms.shape == (3, draw_count(200)) == (3, 1 + 3 * 200 + 2)
        assert (normals is not None) == noisy
        np.testing.assert_array_equal(a.random((3,)), b.random((3,)))
        # and on a Generator with noise the call-by-call replay equals the run: checked cell by cell above
        curve = sampled_batch(make(), rule, problem, 200, streams=3, record_every=50).curve(0)
        assert _identical(linear.sampled(make(), rule, problem, 200, streams=3, record_every=50), curve)


def test_bad_batches_get_one_clear_error():
    rule = linear.Rule("semi-gradient-td", alpha=0.01)
    with pytest.raises(ValidationError, match="residual-gradient runs in triad.linear.sampled"):
        sampled_batch(StreamRNG(2), linear.Rule("residual-gradient", alpha=0.01), BAIRD, 10, streams=2)
    with pytest.raises(ValidationError, match="one random source for 2 problems"):
        sampled_batch(StreamRNG(2), rule, [BAIRD, BAIRD], 10, streams=2)
    with pytest.raises(ValidationError, match="StreamRNG of 3 streams cannot drive 2"):
        sampled_batch(StreamRNG(3), rule, BAIRD, 10, streams=2)
    with pytest.raises(ValidationError, match="2 rules for 3 problems"):
        sampled_batch([StreamRNG(2)] * 3, [rule, rule], [BAIRD] * 3, 10, streams=2)
    with pytest.raises(ValidationError, match="steps = 0 must be a positive integer"):
        sampled_batch(StreamRNG(2), rule, BAIRD, 0, streams=2)
