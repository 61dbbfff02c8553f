"""Hypothesis strategies for random valid MDPs, policies and value functions, and the estimator kit.

Used by triad's own property tests and available to users who property-test their estimators::

    from hypothesis import given
    from triad.testing import mdps, mdp_and_policy

    @given(mdp_and_policy())
    def test_something(case):
        mdp, pi = case

The estimator kit (:mod:`triad.testing.kit`, imported on first use) checks a whole estimator
against exact expectations: ``check_estimator(fn, target="v_pi")``, its pytest form
``assert_unbiased`` and the strategy ``buffers()``; :mod:`triad.testing.gallery` holds known bugs.

Requires the ``test`` extra (hypothesis); never imports torch.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad.mdp import FiniteMDP

# Subnormal floats (< 2.2e-308) are excluded throughout: no MDP means them, and they only test
# underflow (γ = 5e-324 makes γ·0.99 round to 0, so "‖γP‖∞ = γ" fails for no RL reason).
_unit = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False, width=64)


def _stochastic(draw: st.DrawFn, shape: tuple[int, ...], sparsity: bool = True) -> np.ndarray:
    """Rows along the last axis that are probability distributions, some entries exactly 0."""
    w = draw(hnp.arrays(np.float64, shape, elements=_unit))
    if sparsity:
        keep = draw(hnp.arrays(bool, shape))
        w = np.where(keep, w, 0.0)
    # Guarantee mass in every row at a drawn position, so no row is all zeros.
    pos = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    np.put_along_axis(w, pos[..., None], np.take_along_axis(w, pos[..., None], -1) + 0.5, axis=-1)
    return w / w.sum(axis=-1, keepdims=True)


DISCOUNTS = st.one_of(st.sampled_from((0.99, 0.9, 0.5, 0.0)),
                      st.floats(0.0, 0.99, allow_subnormal=False).map(lambda x: round(0.99 - x, 12)))
"""γ in [0, 0.99], weighted towards the values that matter: hypothesis's simplest draws (all-zero
bytes) give 0.99, the hardest case, not γ = 0, where every discounted property holds trivially.
(Measured: a plain ``floats(0, 0.99)`` inside :func:`mdps` drew γ = 0 in 40–70% of examples.)"""


@st.composite
def mdps(draw: st.DrawFn, min_states: int = 1, max_states: int = 6, min_actions: int = 1, max_actions: int = 3,
         gamma: st.SearchStrategy[float] | None = None, sparse: bool | None = None,
         reward_scale: float = 10.0) -> FiniteMDP:
    """Random valid :class:`FiniteMDP`: dense or CSR storage, rewards in ``[−scale, scale]``.

    Args:
        gamma: strategy for γ (default :data:`DISCOUNTS`).
        sparse: force the storage (``None``: either).
    """
    S = draw(st.integers(min_states, max_states))
    A = draw(st.integers(min_actions, max_actions))
    P = _stochastic(draw, (S, A, S))
    R = draw(hnp.arrays(np.float64, (S, A), elements=st.floats(-reward_scale, reward_scale, allow_nan=False,
                                                                        allow_subnormal=False)))
    g = draw(gamma if gamma is not None else DISCOUNTS)
    mdp = FiniteMDP(P, R, g)
    use_sparse = draw(st.booleans()) if sparse is None else sparse
    return mdp.to_sparse() if use_sparse else mdp


@st.composite
def policies(draw: st.DrawFn, mdp: FiniteMDP, deterministic: bool | None = None) -> np.ndarray:
    """A random ``(S, A)`` policy for ``mdp`` (stochastic, or one-hot if ``deterministic``)."""
    det = draw(st.booleans()) if deterministic is None else deterministic
    if det:
        actions = draw(hnp.arrays(np.int64, (mdp.S,), elements=st.integers(0, mdp.A - 1)))
        return np.eye(mdp.A)[actions]
    return _stochastic(draw, (mdp.S, mdp.A))


@st.composite
def mdp_and_policy(draw: st.DrawFn, **mdp_kwargs) -> tuple[FiniteMDP, np.ndarray]:
    """A pair ``(mdp, pi)``; keyword arguments go to :func:`mdps`."""
    mdp = draw(mdps(**mdp_kwargs))
    return mdp, draw(policies(mdp))


def value_functions(S: int, batch: int = 0, scale: float = 100.0) -> st.SearchStrategy[np.ndarray]:
    """Value arrays of shape ``(S,)``, or ``(batch, S)`` if ``batch > 0``, entries in ``[−scale, scale]``."""
    shape = (batch, S) if batch else (S,)
    return hnp.arrays(np.float64, shape, elements=st.floats(-scale, scale, allow_nan=False, allow_subnormal=False))


_KIT = ("check_estimator", "assert_unbiased", "draw_statistics", "buffers", "cases", "episodic_mdps", "sample_buffer",
        "truncated_moments", "CheckReport", "Buffer", "Case")


def __getattr__(name: str):
    # The kit imports this module's strategies: load it lazily, on first use.
    if name in _KIT:
        from triad.testing import kit

        return getattr(kit, name)
    raise AttributeError(f"module 'triad.testing' has no attribute {name!r}")
