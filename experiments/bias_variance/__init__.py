"""λ and n as a bias–variance knob: exact bias², variance and MSE of n-step and λ-returns.

The seed's notes (section "Advanced Advantage Estimation") describe n and λ as trading the bias
of bootstrapping from an imperfect critic V̂ against the variance of sampled rewards: λ = 0 is TD,
λ = 1 Monte Carlo, λ ≈ 0.95 "the sweet spot". This experiment computes both sides exactly
(:mod:`triad.analysis.moments`) on a chain and a Garnet MDP under the uniform policy, for critics
``V̂ = V^π + e·σ_G·z`` whose error ``e`` is measured in units of the Monte-Carlo return's standard
deviation ``σ_G``, and confirms a few points by simulation. The optimal λ moves from 0 (exact
critic: bootstrapping is free) towards 1 (poor critic: bias dominates).
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="bias-variance",
    description="Exact bias², variance and MSE of n-step and λ-returns vs n and λ for critics of several errors",
    figures=("bias_variance",),
)
