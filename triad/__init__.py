"""triad: theory and convergence analysis of reinforcement learning.

The tabular core (``triad.mdp``, ``triad.operators``, ``triad.solvers``, ``triad.zoo``) needs only
numpy and scipy; torch is imported lazily by the parts that train networks.
"""

from triad.errors import SolverError, SpecError, TriadError, ValidationError
from triad.mdp import FiniteMDP, uniform_policy, validate_policy

__version__ = "0.1.0"

__all__ = [
    "FiniteMDP",
    "SolverError",
    "SpecError",
    "TriadError",
    "ValidationError",
    "uniform_policy",
    "validate_policy",
]
