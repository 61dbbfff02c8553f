"""Losses of the policy-gradient agents: small pure torch functions (rlax-style names).

Every loss takes per-step tensors of one shape ``(N,)`` (a minibatch of steps, flattened over time
and streams) and a per-step ``weight_t`` — 1 for ordinary steps, ``γ^t`` for the seed notes'
option 2 — and returns the weighted mean over the ``N`` entries. Advantages and targets are
treated as constants (no gradient flows into them).
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
