"""Compiled inner loops (numba) for the sweeps that dominate tabular solvers on large sparse MDPs.

One optimal Bellman backup reads every stored probability once, so it is memory-bound; scipy's
CSR mat-vec runs single-threaded and then a separate max over actions re-reads ``S·A`` values.
This kernel fuses mat-vec, reward, discount and max, and spreads states over all cores.
Imported lazily: ``import triad`` does not pay numba's start-up cost.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True, fastmath=False)
def csr_optimal_backup(data, indices, indptr, R, allowed, gamma, V, out_v, out_a):  # pragma: no cover
    """``out_v[s] = max_a R[s, a] + γ Σ_j P[s·A + a, j] V[j]``; ``out_a[s]`` the first argmax."""
    S, A = R.shape
    for s in numba.prange(S):
        best = -np.inf
        arg = 0
        for a in range(A):
            if not allowed[s, a]:
                continue
            row = s * A + a
            acc = 0.0
            for j in range(indptr[row], indptr[row + 1]):
                acc += data[j] * V[indices[j]]
            q = R[s, a] + gamma * acc
            if q > best:
                best = q
                arg = a
        out_v[s] = best
        out_a[s] = arg


@numba.njit(parallel=True, cache=True, fastmath=False)
def csr_policy_backup(data, indices, indptr, R, actions, gamma, V, out_v):  # pragma: no cover
    """``out_v[s] = R[s, π(s)] + γ Σ_j P[s·A + π(s), j] V[j]`` for a deterministic policy."""
    S, A = R.shape
    for s in numba.prange(S):
        row = s * A + actions[s]
        acc = 0.0
        for j in range(indptr[row], indptr[row + 1]):
            acc += data[j] * V[indices[j]]
        out_v[s] = R[s, actions[s]] + gamma * acc
