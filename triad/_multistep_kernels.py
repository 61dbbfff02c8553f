"""The compiled backward recursion behind :mod:`triad.multistep` (numba).

A buffer of ``T`` steps needs ``T`` dependent updates, so numpy can only vectorise over the
batch and pays its per-call overhead ``T`` times; this loop pays nothing per step. One explicit
signature (read-only, any-layout inputs, so broadcast scalars cost no memory) means one
compilation, cached on disk: the first call in a process only loads it (about 0.5 s, mostly
numba's own start-up). Imported lazily, so ``import triad.multistep`` stays light.
"""

from __future__ import annotations

import numba
from numba import types

_IN = types.Array(types.float64, 2, "A", readonly=True)
_FLAG = types.Array(types.boolean, 2, "A", readonly=True)
_OUT = types.Array(types.float64, 2, "C")


@numba.njit(types.void(_IN, _IN, _IN, _IN, _IN, _FLAG, _OUT), cache=True, fastmath=False)
def backward_returns(r, d, u, c, v, stop, out):  # pragma: no cover - compiled
    """``out[t] = r[t] + d[t]·(v[t] if stop[t] or t = T−1 else u[t] + c[t]·out[t+1])``; all ``(T, B)``.

    The same operations in the same order as the numpy loop in :mod:`triad.multistep`, and no
    fast-math, so both give bit-identical results.
    """
    T, B = r.shape
    for t in range(T - 1, -1, -1):
        for b in range(B):
            if t == T - 1 or stop[t, b]:
                nxt = v[t, b]
            else:
                nxt = u[t, b] + c[t, b] * out[t + 1, b]
            out[t, b] = r[t, b] + d[t, b] * nxt
