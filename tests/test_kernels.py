"""The compiled panel layout: bit-identical to CSR products, and the MDP backups built on it."""

import numpy as np
import scipy.sparse as sp

from triad._kernels import PanelMatrix, panel_rows
from triad.zoo import garnet


def _random_csr(rng, rows, cols, density):
    M = sp.random_array((rows, cols), density=density, format="csr", rng=rng)
    M.data = rng.standard_normal(M.nnz)
    return M


def test_matvec_is_bit_identical_to_csr_across_column_blocks_and_empty_rows():
    rng = np.random.default_rng(0)
    M = _random_csr(rng, 30_001, 140_000, 4e-5)  # three 65,536-column blocks, many empty rows
    assert (np.diff(M.indptr) == 0).any()
    x = rng.standard_normal(140_000)
    panel = PanelMatrix(M)
    assert panel.block_ptr.shape[0] > 1
    np.testing.assert_array_equal(panel.matvec(x), M @ x)


def test_small_and_transposed_matrices():
    rng = np.random.default_rng(1)
    M = _random_csr(rng, 7, 5, 0.5)
    np.testing.assert_array_equal(PanelMatrix(M).matvec(np.arange(5.0)), M @ np.arange(5.0))
    np.testing.assert_array_equal(PanelMatrix(M.T).matvec(np.arange(7.0)), M.T @ np.arange(7.0))


def test_panels_never_split_a_state_and_fit_16_bit_rows():
    for rows, cols, nnz, group in [(4_000_000, 1_000_000, 40_000_000, 4), (400, 100, 4000, 3), (10, 10, 10, 7)]:
        r = panel_rows(rows, cols, nnz, group)
        assert r % group == 0 and group <= r <= 65536


def test_mdp_backups_match_numpy():
    mdp = garnet(S=3000, A=3, b=6, seed=5).mdp
    rng = np.random.default_rng(2)
    V = rng.standard_normal(mdp.S)
    Q = mdp.R + mdp.gamma * (mdp.P @ V).reshape(mdp.S, mdp.A)
    panel = PanelMatrix(mdp.P, group=mdp.A)
    allowed = np.ones((mdp.S, mdp.A), bool)
    allowed[::7, 0] = False
    out_v, out_a = np.empty(mdp.S), np.empty(mdp.S, np.int64)
    panel.optimal_backup(np.ascontiguousarray(mdp.R), allowed, mdp.gamma, V, out_v, out_a)
    masked = np.where(allowed, Q, -np.inf)
    np.testing.assert_array_equal(out_v, masked.max(axis=1))
    np.testing.assert_array_equal(out_a, masked.argmax(axis=1))
    actions = rng.integers(0, mdp.A, mdp.S)
    out = np.empty(mdp.S)
    panel.policy_backup(np.ascontiguousarray(mdp.R), actions, mdp.gamma, V, out)
    np.testing.assert_array_equal(out, Q[np.arange(mdp.S), actions])
