"""Sum-tree: totals against numpy sums, prefix search against cumsum + searchsorted, sampling
frequencies against the priorities (chi-square with fixed seeds), zero leaves never drawn."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from triad.agents.sumtree import SumTree
from triad.errors import ValidationError

# Priority vectors with zeros, tiny and large entries (each entry: 0, or 10^k·m for k in [-300, 300]).
entry = st.one_of(st.just(0.0), st.floats(1e-300, 1e300), st.floats(0.0, 10.0))
priority_vectors = st.lists(entry, min_size=1, max_size=40)
positive_vectors = st.lists(st.one_of(st.just(0.0), st.floats(0.01, 100.0)), min_size=2, max_size=12).filter(
    lambda p: sum(x > 0 for x in p) >= 2)


def filled(p) -> SumTree:
    tree = SumTree(len(p))
    tree.update(np.arange(len(p)), np.asarray(p, float))
    return tree


def internal_nodes_are_sums(tree: SumTree) -> bool:
    """Every internal node equals left + right, checked node by node from the array itself."""
    t = tree.tree
    return all(t[j] == t[2 * j] + t[2 * j + 1] for j in range(1, tree.leaves))


@given(priority_vectors)
def test_total_and_leaves_after_fill(p):
    tree = filled(p)
    np.testing.assert_array_equal(tree.priorities(), np.asarray(p))
    assert tree.total == pytest.approx(float(np.sum(p)), rel=1e-12)
    assert internal_nodes_are_sums(tree)


def test_total_stays_exact_after_many_batch_updates():
    """20,000 random batch updates (repeated indices, zeros): the root matches numpy's sum of the
    leaves kept by a plain array, and every internal node is still the sum of its children."""
    rng = np.random.default_rng(7)
    capacity = 1000
    tree, reference = SumTree(capacity), np.zeros(capacity)
    for _ in range(20_000):
        idx = rng.integers(0, capacity, 8)
        p = rng.random(8) * 10.0 ** rng.integers(-3, 4, 8)
        p[rng.random(8) < 0.2] = 0.0
        tree.update(idx, p)
        for i, v in zip(idx, p, strict=True):  # the last of repeated indices wins
            reference[i] = v
    np.testing.assert_array_equal(tree.priorities(), reference)
    assert tree.total == pytest.approx(reference.sum(), rel=1e-12)
    assert internal_nodes_are_sums(tree)


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40).filter(lambda p: sum(p) > 0), st.data())
def test_find_agrees_with_cumsum_and_searchsorted(p, data):
    """Integer priorities make every prefix sum exact, so for any u in [0, total) — interval
    boundaries included — the leaf is the first i with Σ_{k≤i} p_k > u (numpy's searchsorted)."""
    p = np.asarray(p, float)
    tree = filled(p)
    total = int(p.sum())
    u = np.array(data.draw(st.lists(st.integers(0, total - 1), min_size=1, max_size=20)), float)
    u = np.concatenate([u, u + 0.5, np.cumsum(p)[:-1]])
    u = u[u < total]
    np.testing.assert_array_equal(tree.find(u), np.searchsorted(np.cumsum(p), u, side="right"))


@given(priority_vectors.filter(lambda p: sum(p) > 0), st.lists(st.floats(-1.0, 2.0), min_size=1, max_size=20))
def test_zero_priority_leaves_are_never_found(p, fractions):
    """Any u (negative, at boundaries, at or beyond the total) lands on a positive leaf."""
    tree = filled(p)
    c = np.cumsum(p)
    u = np.concatenate([np.asarray(fractions) * tree.total, c, [tree.total, np.nextafter(tree.total, np.inf), 0.0]])
    assert np.all(np.asarray(p)[tree.find(u)] > 0)


@given(priority_vectors.filter(lambda p: sum(p) > 0), st.integers(0, 2**32 - 1))
def test_stratified_sample_never_draws_zero_leaves(p, seed):
    tree = filled(p)
    idx = tree.sample(np.random.default_rng(seed), 64)
    assert np.all(np.asarray(p)[idx] > 0)


def chi_square_pvalue(tree: SumTree, p: np.ndarray, seed: int, batches: int, batch_size: int) -> float:
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(p))
    for _ in range(batches):
        np.add.at(counts, tree.sample(rng, batch_size), 1)
    positive = p > 0
    assert counts[~positive].sum() == 0
    expected = counts.sum() * p[positive] / p.sum()
    return stats.chisquare(counts[positive], expected).pvalue


@given(positive_vectors)
def test_sampling_frequencies_match_priorities(p):
    """Counts over 400 stratified batches of 32 against n·p_i/Σp: the chi-square test does not reject
    at level 1e-6 (a fixed seed: deterministic; segment sampling only lowers the variance)."""
    p = np.asarray(p)
    assert chi_square_pvalue(filled(p), p, seed=12345, batches=400, batch_size=32) > 1e-6


def test_sampling_frequencies_on_a_fixed_vector():
    """100 leaves with priorities spanning four decades, 200,000 draws: chi-square p-value > 0.01, and
    every leaf's frequency within 5 binomial standard errors of p_i/Σp."""
    rng = np.random.default_rng(0)
    p = 10.0 ** rng.uniform(-2, 2, 100)
    p[::10] = 0.0
    tree = filled(p)
    assert chi_square_pvalue(tree, p, seed=3, batches=800, batch_size=250) > 0.01
    draws = np.random.default_rng(4)
    counts = np.bincount(np.concatenate([tree.sample(draws, 250) for _ in range(800)]), minlength=100)
    n, q = counts.sum(), p / p.sum()
    assert np.all(np.abs(counts - n * q) <= 5 * np.sqrt(n * q * (1 - q)) + 1e-9)


def test_segment_sampling_draws_one_leaf_per_segment():
    """Equal priorities over 8 leaves, batch of 8: segment j covers exactly leaf j."""
    tree = filled(np.ones(8))
    np.testing.assert_array_equal(tree.sample(np.random.default_rng(1), 8), np.arange(8))


def test_non_power_of_two_and_single_leaf():
    tree = filled([0.0, 2.0, 0.0, 1.0, 0.0])
    assert tree.leaves == 8 and tree.total == 3.0
    np.testing.assert_array_equal(tree.find([0.0, 1.99, 2.0, 2.999, 3.0, 5.0]), [1, 1, 3, 3, 3, 3])
    one = filled([0.5])
    assert one.total == 0.5
    np.testing.assert_array_equal(one.sample(np.random.default_rng(0), 3), [0, 0, 0])


def test_repeated_indices_last_wins():
    tree = SumTree(4)
    tree.update([1, 2, 1, 1], [5.0, 1.0, 0.0, 3.0])
    np.testing.assert_array_equal(tree.priorities(), [0.0, 3.0, 1.0, 0.0])
    assert tree.total == 4.0


def test_same_seed_same_draws_and_state_round_trip():
    rng = np.random.default_rng(5)
    tree = filled(rng.random(37))
    copy = SumTree(37)
    copy.load_state_dict(tree.state_dict())
    np.testing.assert_array_equal(copy.tree, tree.tree)
    a = tree.sample(np.random.default_rng(9), 16)
    b = copy.sample(np.random.default_rng(9), 16)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, message", [
    (lambda t: t.update([4], [1.0]), "index 4 outside"),
    (lambda t: t.update([-1], [1.0]), "index -1 outside"),
    (lambda t: t.update([0], [-1.0]), "priority -1.0"),
    (lambda t: t.update([0], [np.nan]), "priority nan"),
    (lambda t: t.update([0, 1], [1.0]), "1 priorities for 2 indices"),
    (lambda t: t.find([0.5]), "every priority is 0"),
    (lambda t: t.sample(np.random.default_rng(0), 0), "batch_size"),
    (lambda t: t.load_state_dict({"capacity": 5, "priorities": np.zeros(5)}), "capacity 5"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValidationError, match=message):
        call(SumTree(4))
    with pytest.raises(ValidationError, match="capacity"):
        SumTree(0)
