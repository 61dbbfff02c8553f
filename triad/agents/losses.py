"""Losses of the agents: small pure torch functions (rlax-style names).

Every loss takes per-step tensors of one shape ``(N,)`` (a minibatch of steps, flattened over time
and streams) and a per-step ``weight_t`` — 1 for ordinary steps, ``γ^t`` for the seed notes'
option 2, importance weights for prioritised replay — and returns the weighted mean over the
``N`` entries. Advantages and targets are treated as constants (no gradient flows into them).
The off-policy losses (:func:`q_regression_loss`, :func:`soft_policy_loss`,
:func:`temperature_loss`, :func:`deterministic_policy_loss`) take TD errors from
:func:`triad.multistep.td_error` and Q-values of re-sampled actions.
"""

from __future__ import annotations

import torch


def _weighted_mean(x: torch.Tensor, weight_t: torch.Tensor | None) -> torch.Tensor:
    return x.mean() if weight_t is None else (weight_t * x).mean()


def policy_gradient_loss(logp_t: torch.Tensor, adv_t: torch.Tensor, weight_t: torch.Tensor | None = None) -> torch.Tensor:
    """``L = −(1/N) Σ_t w_t · log π(a_t|s_t) · Â_t``; ``−∇L`` is the score-function estimate of ∇J.

    With ``w_t = 1`` this is option 1 of the seed notes (γ^t dropped), with ``w_t = γ^t`` option 2,
    the unbiased estimate of the discounted objective's gradient (Williams 1992; Sutton et al. 2000).
    """
    return -_weighted_mean(logp_t * adv_t.detach(), weight_t)


def ppo_clip_loss(logp_t: torch.Tensor, logp_old_t: torch.Tensor, adv_t: torch.Tensor, clip: float,
                  weight_t: torch.Tensor | None = None) -> torch.Tensor:
    """``L = −(1/N) Σ_t w_t · min(ρ_t Â_t, clip(ρ_t, 1 − ε, 1 + ε) Â_t)``, ``ρ_t = exp(log π − log π_old)``.

    Schulman, Wolski, Dhariwal, Radford & Klimov (2017), eq. 7. At ``ρ = 1`` its gradient equals
    that of :func:`policy_gradient_loss`.
    """
    adv = adv_t.detach()
    ratio = torch.exp(logp_t - logp_old_t.detach())
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv)
    return -_weighted_mean(surrogate, weight_t)


def value_loss(v_t: torch.Tensor, target_t: torch.Tensor, v_old_t: torch.Tensor | None = None,
               clip: float | None = None, weight_t: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error ``(1/N) Σ_t w_t (V̂(s_t) − y_t)²`` (no ½: SB3's ``vf_coef = 0.5`` supplies it).

    With ``clip``: ``max((V̂ − y)², (V_old + clip(V̂ − V_old, −c, c) − y)²)``, the pessimistic value
    clipping of OpenAI baselines' ppo2 (Dhariwal et al. 2017; Engstrom et al. 2020 §3).
    """
    target = target_t.detach()
    err = (v_t - target) ** 2
    if clip is not None and clip > 0:
        if v_old_t is None:
            raise ValueError("value_loss: clip needs v_old_t")
        v_old = v_old_t.detach()
        clipped = v_old + torch.clamp(v_t - v_old, -clip, clip)
        err = torch.maximum(err, (clipped - target) ** 2)
    return _weighted_mean(err, weight_t)


def entropy_loss(entropy_t: torch.Tensor, weight_t: torch.Tensor | None = None) -> torch.Tensor:
    """``−(1/N) Σ_t w_t H(π(·|s_t))``: adding ``c·L`` to a loss rewards entropy (Williams & Peng 1991)."""
    return -_weighted_mean(entropy_t, weight_t)


def normalize(adv_t: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(Â − mean Â) / (std Â + eps)`` (SB3's ``normalize_advantage``; one entry is left centred only)."""
    if adv_t.numel() < 2:
        return adv_t - adv_t.mean()
    return (adv_t - adv_t.mean()) / (adv_t.std() + eps)


# ------------------------------------------------------------------------------- off-policy
def q_regression_loss(td_t: torch.Tensor, weight_t: torch.Tensor | None = None) -> torch.Tensor:
    """``Σ_e (1/N) Σ_t w_t δ_{e,t}²``: each critic member's mean squared TD error, summed over members.

    ``td_t``: ``(N,)`` for one critic or ``(E, N)`` for a stacked ensemble (``E = 2``: twin
    critics, whose losses Fujimoto, van Hoof & Meger 2018 add); ``δ`` from
    :func:`triad.multistep.td_error` with the target outside the graph. SAC's ``J_Q`` is half this
    (Haarnoja et al. 2018, eq. 5: ``½(Q − y)²``).
    """
    sq = td_t * td_t
    return (sq if weight_t is None else weight_t * sq).mean(-1).sum()


def soft_policy_loss(logp_t: torch.Tensor, q_t: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``J_π = (1/N) Σ_t (α·log π(a_t|s_t) − Q̂(s_t, a_t))`` with ``a_t`` re-sampled from π by the reparameterisation.

    The KL projection of SAC's policy improvement written with ``a = f_θ(ε; s)`` (Haarnoja, Zhou,
    Abbeel & Levine 2018, eq. 12); ``α`` is a constant here (detach it).
    """
    return (alpha * logp_t - q_t).mean()


def temperature_loss(log_alpha: torch.Tensor, logp_t: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """``J(α) = −(1/N) Σ_t log α · (log π(a_t|s_t) + H̄)`` (Haarnoja et al. 2018b, "SAC: Algorithms and Applications", eq. 18).

    Its gradient in ``log α`` is ``H − H̄`` with ``H = −E log π``: descending it lowers α while the
    policy's entropy exceeds the target ``H̄`` and raises it below (``log α`` as the variable, as
    in softlearning and SB3). ``logp_t`` is a constant here (detach it).
    """
    return -(log_alpha * (logp_t + target_entropy)).mean()


def deterministic_policy_loss(q_t: torch.Tensor) -> torch.Tensor:
    """``−(1/N) Σ_t Q̂(s_t, μ_θ(s_t))``; its gradient is the deterministic policy gradient
    ``−E[∇_θ μ_θ(s) ∇_a Q̂(s, a)|_{a = μ_θ(s)}]`` (Silver et al. 2014, eq. 7; DDPG, Lillicrap et al. 2016)."""
    return -q_t.mean()
