"""The A-split example of Sutton & Barto (2018), Example 11.2."""

from __future__ import annotations

import numpy as np

from triad.mdp import FiniteMDP
from triad.zoo import Problem

STATES = ("A", "B", "C")
"""The non-terminal states, in feature order."""


def a_split() -> Problem:
    """Episodes start in A and split: half go to B then terminate with reward 1, half to C then with 0.

    The first transition pays 0 either way; on-policy (one action, ρ = 1) and tabular features for
    A, B and C (the terminal state has zero features). True values (γ = 1, the book's, which every
    episode's termination makes well defined): A = ½, B = 1, C = 0.
    """
    P = np.zeros((4, 1, 4))
    P[0, 0, 1] = P[0, 0, 2] = 0.5
    P[1:, 0, 3] = 1.0
    R = np.zeros((4, 1))
    R[1, 0] = 1.0
    mdp = FiniteMDP(P, R, 1.0, mu=np.array([1.0, 0.0, 0.0, 0.0]), terminal=np.array([False, False, False, True]),
                    state_names=(*STATES, "end"), name="a-split")
    one = np.ones((4, 1))
    return Problem(mdp, features=np.vstack([np.eye(3), np.zeros((1, 3))]), target=one, behaviour=one,
                   w0=np.zeros(3), source="Sutton & Barto (2018) Example 11.2 (the A-split example)")
