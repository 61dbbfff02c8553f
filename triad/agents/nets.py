"""Networks and action distributions of the agents.

* :func:`mlp`: a multilayer perceptron, initialised from an explicit ``torch.Generator`` (orthogonal
  with SB3's gains, or torch's default scheme) — no global RNG is read.
* Action heads — :class:`CategoricalHead`, :class:`DiagGaussianHead`, :class:`TanhGaussianHead` —
  turn a network output into samples, log-probabilities and entropies. The tanh-squashed Gaussian
  applies the change of variables ``log π(a) = log N(u; μ, σ) − Σ log(1 − tanh²u)`` (Haarnoja et al.
  2018, appendix C) plus the affine map to the action bounds.
* :class:`ActorCritic`: the seed notes' two designs, ``separate`` (an actor and a critic network)
  and ``shared`` (one trunk, a policy head and a value head).
* :class:`StackedMLP`: ``E`` independent MLPs evaluated in one batched forward (twin critics), with
  its passes written out — under autograd, or driven by hand (``taped`` → ``backward_from`` /
  ``input_grad_from``: a gradient step without a graph, written into an optimiser's flat gradient)
  — and a plain ``addmm`` loop for acting; :class:`QCritic` (``Q̂_e(s, a)``, Box actions) and
  :class:`DiscreteQCritic` (``Q̂_e(s, ·)``) on top.
* Off-policy actors over actions normalised to ``[−1, 1]^d``: :class:`DeterministicActor`
  (DDPG/TD3) and :class:`SquashedGaussianActor` (SAC's reparameterised ``a = tanh(μ + σε)``);
  :func:`to_bounds` maps them to the env's box.
* :func:`polyak_update`: ``φ' ← (1 − τ)φ' + τφ`` over any list of tensors in one fused call;
  :func:`flat_parameters`: several parameters as views of one tensor (one optimiser kernel);
  :func:`denormals_flushed`: a scope in which the CPU flushes subnormal floats to zero (fast Adam).

Shapes: observations ``(B, obs_dim)``; logits ``(B, A)``; Gaussian means ``(B, d)``; actions ``(B,)``
(discrete) or ``(B, d)``; log-probabilities, entropies and values ``(B,)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from triad.agents.config import Q_NETS
from triad.errors import ValidationError

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
LOG_2PI = math.log(2.0 * math.pi)


# ------------------------------------------------------------------------------------------ init
def init_linear(layer: nn.Linear, generator: torch.Generator, gain: float | None) -> None:
    """Initialise ``layer`` in place from ``generator``.

    ``gain`` given: orthogonal weights of that gain and zero biases (Saxe et al. 2014; SB3's
    ``ortho_init``). ``None``: torch's default, ``U(−1/√fan_in, 1/√fan_in)`` for weights and biases.
    """
    with torch.no_grad():
        if gain is not None:
            nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
            layer.bias.zero_()
        else:
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)


def _linear(n_in: int, n_out: int, generator: torch.Generator, gain: float | None) -> nn.Linear:
    layer = torch.nn.utils.skip_init(nn.Linear, n_in, n_out)  # no draw from the global RNG
    init_linear(layer, generator, gain)
    return layer


def layers_of(net: nn.Sequential) -> tuple[tuple[torch.Tensor, torch.Tensor, bool], ...]:
    """``(weight, bias, activation follows)`` of every linear layer, for :func:`run_layers`."""
    mods = list(net)
    return tuple((m.weight, m.bias, i + 1 < len(mods) and not isinstance(mods[i + 1], nn.Linear))
                 for i, m in enumerate(mods) if isinstance(m, nn.Linear))


def run_layers(layers: tuple[tuple[torch.Tensor, torch.Tensor, bool], ...], x: torch.Tensor,
               act: object = torch.tanh) -> torch.Tensor:
    """The forward pass of an :func:`mlp` without module-call overhead (the acting hot path)."""
    for w, b, activate in layers:
        x = F.linear(x, w, b)
        if activate:
            x = act(x)
    return x


def mlp(sizes: Sequence[int], generator: torch.Generator, activation: str = "tanh", ortho: bool = True,
        out_gain: float | None = 1.0, out_activation: bool = False) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]) → act → … → Linear(sizes[-2], sizes[-1])`` (``→ act`` if ``out_activation``).

    With ``ortho`` hidden layers get gain √2 and the last layer ``out_gain`` (SB3: 0.01 for a
    policy head, 1 for a value head); otherwise torch's default initialisation everywhere.
    """
    if activation not in ACTIVATIONS:
        raise ValidationError(f"activation {activation!r} must be one of {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    n = len(sizes) - 1
    for i in range(n):
        last = i == n - 1
        gain = (out_gain if last else math.sqrt(2.0)) if ortho else None
        layers.append(_linear(sizes[i], sizes[i + 1], generator, gain))
        if not last or out_activation:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------------ distributions
def categorical_log_prob(logits: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``log π(a|s) = logits[a] − logsumexp(logits)``: ``(B,)``."""
    return torch.log_softmax(logits, -1).gather(-1, a.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H = −Σ_a π(a) log π(a)``: ``(B,)``."""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


def policy_expectation(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``Σ_a π(a) x(a)`` over the actions with ``π(a) > 0``: ``(..., A), (..., A) → (...)``. An action of
    probability 0 (a masked one) contributes exactly 0 to the value and to both gradients whatever its ``x`` — a
    forbidden action's Q̂, never trained, may be anything, even inf or NaN (``0·NaN`` would poison ``∂/∂π``)."""
    return (p * x.where(p > 0, 0.0)).sum(-1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``Σ_i log N(x_i; μ_i, σ_i²) = Σ_i −½((x_i − μ_i)/σ_i)² − log σ_i − ½ log 2π``: ``(B,)``."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - 0.5 * LOG_2PI).sum(-1)


def gaussian_entropy(log_std: torch.Tensor, batch: int) -> torch.Tensor:
    """``Σ_i ½ + ½ log 2π + log σ_i``, repeated for ``batch`` rows: ``(B,)``."""
    return (0.5 + 0.5 * LOG_2PI + log_std).sum(-1).expand(batch)


def tanh_log_det_jacobian(u: torch.Tensor) -> torch.Tensor:
    """``Σ_i log(d tanh(u_i)/du_i) = Σ_i log(1 − tanh²u_i) = Σ_i 2(log 2 − u_i − softplus(−2u_i))``.

    The last form is exact and does not round to ``log 0`` for large ``|u|`` (Haarnoja et al. 2018).
    """
    return (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)


def tanh_gaussian_log_prob(a: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor,
                           low: torch.Tensor | float = -1.0, high: torch.Tensor | float = 1.0,
                           eps: float = 1e-6) -> torch.Tensor:
    """Log-density of ``a = low + (tanh(u) + 1)·(high − low)/2`` with ``u ~ N(μ, σ²)``: ``(B,)``.

    Change of variables: ``log p(a) = log N(u) − Σ log(1 − tanh²u) − Σ log((high − low)/2)`` with
    ``u = atanh(y)``, ``y = 2(a − low)/(high − low) − 1`` clamped to ``±(1 − eps)``.
    """
    half = (torch.as_tensor(high) - torch.as_tensor(low)) / 2.0
    y = ((a - low) / half - 1.0).clamp(-1.0 + eps, 1.0 - eps)
    u = torch.atanh(y)
    return gaussian_log_prob(u, mean, log_std) - tanh_log_det_jacobian(u) - torch.log(half).expand_as(a).sum(-1)


class CategoricalHead(nn.Module):
    """π(·|s) = softmax(logits) over ``n`` actions; the stored action is the env action."""

    discrete = True

    def __init__(self, n: int):
        super().__init__()
        self.n = int(n)
        self.n_outputs = self.n

    def sample(self, logits: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, log π(a|s))`` with ``a ~ softmax(logits)``: the first ``a`` whose CDF exceeds ``U ~ U[0, 1)``."""
        logp_all = torch.log_softmax(logits, -1)
        u = torch.rand((logits.shape[0], 1), generator=generator, dtype=logits.dtype)
        a = (logp_all.exp().cumsum(-1) <= u).sum(-1, keepdim=True).clamp_max(self.n - 1)
        return a.squeeze(-1), logp_all.gather(-1, a).squeeze(-1)

    def log_prob(self, logits: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return categorical_log_prob(logits, a)

    def entropy(self, logits: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return categorical_entropy(logits)

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1)

    def to_env(self, a: np.ndarray) -> np.ndarray:
        return a

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` action probabilities (for the truth probes)."""
        return torch.softmax(logits, -1)


class DiagGaussianHead(nn.Module):
    """``a ~ N(μ(s), diag σ²)`` with a state-independent learned ``log σ`` (SB3); clipped to the bounds in the env."""

    discrete = False

    def __init__(self, low: np.ndarray, high: np.ndarray, log_std_init: float = 0.0):
        super().__init__()
        self.dim = int(np.prod(low.shape))
        self.n_outputs = self.dim
        self.log_std = nn.Parameter(torch.full((self.dim,), float(log_std_init)))
        self.low, self.high = np.asarray(low, np.float32), np.asarray(high, np.float32)

    def sample(self, mean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        u = mean + torch.exp(self.log_std) * noise
        return u, gaussian_log_prob(u, mean, self.log_std)

    def log_prob(self, mean: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(u, mean, self.log_std)

    def entropy(self, mean: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return gaussian_entropy(self.log_std, mean.shape[0])

    def mode(self, mean: torch.Tensor) -> torch.Tensor:
        return mean

    def to_env(self, u: np.ndarray) -> np.ndarray:
        return np.clip(u, self.low, self.high).reshape((u.shape[0], *self.low.shape))


class TanhGaussianHead(DiagGaussianHead):
    """``a = low + (tanh(u) + 1)(high − low)/2``, ``u ~ N(μ(s), diag σ²)``; the stored action is ``u``.

    Storing the pre-squash ``u`` keeps log-probabilities of stored actions exact (no ``atanh`` of a
    rounded ±1); :func:`tanh_gaussian_log_prob` gives the same density from the env action.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, log_std_init: float = 0.0):
        super().__init__(low, high, log_std_init)
        half = (self.high.astype(np.float64) - self.low) / 2.0
        self._log_half = float(np.log(half).sum())

    def sample(self, mean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        u, logp_u = super().sample(mean, generator)
        return u, logp_u - tanh_log_det_jacobian(u) - self._log_half

    def log_prob(self, mean: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(u, mean, self.log_std) - tanh_log_det_jacobian(u) - self._log_half

    def entropy(self, mean: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """A one-sample estimate ``−log π(a|s)`` at the stored action (no closed form exists)."""
        return -self.log_prob(mean, u)

    def to_env(self, u: np.ndarray) -> np.ndarray:
        a = self.low + (np.tanh(u) + 1.0) * (self.high - self.low) / 2.0
        return a.astype(np.float32).reshape((u.shape[0], *self.low.shape))

    def mode(self, mean: torch.Tensor) -> torch.Tensor:
        return mean


def action_head(space: object, squash: bool = False, log_std_init: float = 0.0, where: str = "agent") -> nn.Module:
    """The head for a gymnasium action space: Discrete → categorical, Box → (tanh-)Gaussian.

    Raises:
        ValidationError: any other space (``where`` names the algorithm).
    """
    import gymnasium

    if isinstance(space, gymnasium.spaces.Discrete):
        if int(space.start) != 0:
            raise ValidationError(f"{where} needs Discrete actions starting at 0, got {space}")
        return CategoricalHead(int(space.n))
    if isinstance(space, gymnasium.spaces.Box) and np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)):
        cls = TanhGaussianHead if squash else DiagGaussianHead
        return cls(space.low, space.high, log_std_init)
    raise ValidationError(f"{where} cannot handle the action space {space} (it takes Discrete or bounded Box actions)")


# ------------------------------------------------------------------------------- actor-critic
class ActorCritic(nn.Module):
    """A policy and a state-value critic, as two networks or one shared trunk with two heads.

    Args:
        obs_dim: length of a (flattened) observation.
        head: the action head (owns Gaussian ``log σ``).
        hidden: hidden widths.
        critic: ``separate`` (two MLPs) or ``shared`` (trunk MLP, linear policy and value heads).
        with_value: build the critic at all (plain REINFORCE has none).
        generator: draws every initial weight.
    """

    def __init__(self, obs_dim: int, head: nn.Module, hidden: Sequence[int], generator: torch.Generator,
                 critic: str = "separate", activation: str = "tanh", ortho: bool = True, with_value: bool = True):
        super().__init__()
        if critic not in ("separate", "shared"):
            raise ValidationError(f"critic = {critic!r} must be separate or shared")
        self.head, self.design, self.with_value = head, critic, with_value
        sizes = [obs_dim, *hidden]
        if critic == "shared":
            self.trunk = mlp(sizes, generator, activation, ortho, out_gain=math.sqrt(2.0), out_activation=True)
            self.pi = mlp([hidden[-1], head.n_outputs], generator, activation, ortho, out_gain=0.01)
            self.v = mlp([hidden[-1], 1], generator, activation, ortho, out_gain=1.0) if with_value else None
        else:
            self.trunk = None
            self.pi = mlp([*sizes, head.n_outputs], generator, activation, ortho, out_gain=0.01)
            self.v = mlp([*sizes, 1], generator, activation, ortho, out_gain=1.0) if with_value else None
        self._act = torch.tanh if activation == "tanh" else torch.relu
        self._trunk = layers_of(self.trunk) if self.trunk is not None else ()
        self._pi = layers_of(self.pi)
        self._v = layers_of(self.v) if self.v is not None else ()

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        return run_layers(self._trunk, obs, self._act) if self._trunk else obs

    def policy_output(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits or Gaussian means: ``(B, head.n_outputs)``."""
        return run_layers(self._pi, self._features(obs), self._act)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """``V̂(s)``: ``(B,)``."""
        return run_layers(self._v, self._features(obs), self._act).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(policy output, V̂)`` with one trunk pass in the shared design."""
        z = self._features(obs)
        out = run_layers(self._pi, z, self._act)
        return out, (run_layers(self._v, z, self._act).squeeze(-1) if self._v else None)

    def policy_parameters(self) -> list[nn.Parameter]:
        """The parameters π depends on (trunk, policy head, Gaussian log σ)."""
        mods = [m for m in (self.trunk, self.pi, self.head) if m is not None]
        return [p for m in mods for p in m.parameters()]

    def value_parameters(self) -> list[nn.Parameter]:
        """The parameters V̂ depends on (trunk and value head)."""
        mods = [m for m in (self.trunk, self.v) if m is not None]
        return [p for m in mods for p in m.parameters()]


# ------------------------------------------------------------------------------- stacked MLPs
class _StackedForward(torch.autograd.Function):
    """The forward and backward pass of a :class:`StackedMLP`, written out: a few kernels per layer.

    Forward per layer: ``h ← baddbmm(b, h, W)``, then the activation in place. Backward per layer,
    for the inputs that need it (``ctx.needs_input_grad``): ``∂W = hᵀg`` (batched), ``∂b = Σ_B g``,
    ``∂h = gWᵀ`` (a broadcast product when the layer has one output), then the activation's
    derivative from its saved output, in place. Frozen (detached) weights get no gradient and cost no GEMM.
    Shapes as :class:`StackedMLP`; a shared ``(B, n_in)`` input gets the sum over members.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, tanh: bool, *params: torch.Tensor) -> torch.Tensor:
        ws, bs = params[0::2], params[1::2]
        h = x.expand(ws[0].shape[0], *x.shape) if x.dim() == 2 else x
        hidden = []
        for k, (w, b) in enumerate(zip(ws, bs)):
            h = torch.baddbmm(b, h, w)
            if k < len(ws) - 1:
                h = torch.tanh_(h) if tanh else torch.relu_(h)
                hidden.append(h)
        ctx.tanh = tanh
        ctx.save_for_backward(x, *hidden, *ws)
        return h

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        n = (len(saved) + 1) // 2
        x, hidden, ws = saved[0], saved[1:n], saved[n:]
        needs = ctx.needs_input_grad
        into = getattr(ctx, "into", None) or [None] * (2 * n)  # a hand-driven pass's destinations (_Tape.into)
        grads: list[torch.Tensor | None] = [None] * (2 * n)
        dx = None
        for k in range(n)[::-1]:  # layers, last first (backpropagation through depth, not time)
            w = ws[k]
            if needs[2 + 2 * k]:
                if k:
                    grads[2 * k] = torch.bmm(hidden[k - 1].transpose(1, 2), g, out=into[2 * k])
                else:
                    grads[0] = torch.matmul(x.transpose(-1, -2), g, out=into[0])
            if needs[3 + 2 * k]:
                grads[2 * k + 1] = torch.sum(g, 1, keepdim=True, out=into[2 * k + 1])
            if k == 0 and not needs[0]:
                break
            dh = g * w.transpose(1, 2) if w.shape[2] == 1 else torch.bmm(g, w.transpose(1, 2))
            if k:  # the activation's derivative, written over dh (no new buffer)
                h = hidden[k - 1]
                if ctx.tanh:
                    g = torch.ops.aten.tanh_backward.grad_input(dh, h, grad_input=dh)
                else:
                    g = torch.ops.aten.threshold_backward.grad_input(dh, h, 0.0, grad_input=dh)
            else:
                dx = dh.sum(0) if x.dim() == 2 else dh
        return (dx, None, *grads)


class _Tape:
    """The ``ctx`` of :class:`_StackedForward` outside autograd: what the forward saves for the backward
    (``weights``: the backward computes the parameters' gradients, else only the input's)."""

    def __init__(self, n_params: int, weights: bool = True):
        self.needs_input_grad = (not weights, False) + (weights,) * n_params
        self.saved_tensors: tuple[torch.Tensor, ...] = ()
        self.into: list[torch.Tensor] | None = None
        """Where the backward writes the parameters' gradients (one tensor each, in the forward's order), if set."""

    def save_for_backward(self, *tensors: torch.Tensor) -> None:
        self.saved_tensors = tensors


class StackedMLP(nn.Module):
    """``E`` independent MLPs of one shape, evaluated together with batched matrix products.

    Layer ``k`` holds ``weight: (E, n_in, n_out)`` and ``bias: (E, 1, n_out)``; member ``e`` is
    initialised exactly like :func:`mlp` would initialise a single network (drawn in member order).
    Input ``(B, n_in)`` (shared by all members) or ``(E, B, n_in)``; output ``(E, B, n_out)``.
    ``forward(x, members=slice(0, 1))`` evaluates only those members (TD3's actor reads ``Q̂_1``);
    ``detach=True`` uses the weights as constants, so a loss through the output trains the input
    (an actor's action) and not the members (no weight gradients are computed at all). ``E = 1``
    is a plain MLP (the off-policy actors). The passes are :class:`_StackedForward`'s.
    """

    def __init__(self, members: int, sizes: Sequence[int], generator: torch.Generator, activation: str = "relu",
                 ortho: bool = False, out_gain: float | None = 1.0):
        super().__init__()
        singles = [mlp(sizes, generator, activation, ortho, out_gain) for _ in range(members)]
        linears = [[m for m in net if isinstance(m, nn.Linear)] for net in singles]
        self.members = members
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[k].weight.detach().T for ls in linears])) for k in range(len(sizes) - 1))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[k].bias.detach()[None] for ls in linears])) for k in range(len(sizes) - 1))
        self.act = ACTIVATIONS[activation]()
        self._tanh = activation == "tanh"
        self._params = tuple(p for pair in zip(self.weights, self.biases) for p in pair)

    def forward(self, x: torch.Tensor, members: slice | None = None, detach: bool = False) -> torch.Tensor:
        params = self._params
        if members is not None:
            params = tuple(p[members] for p in params)
        if not torch.is_grad_enabled():  # no graph to record: the pass itself, without autograd.Function's machinery
            return _StackedForward.forward(_Tape(len(params), weights=False), x, self._tanh, *params)
        if detach:
            params = tuple(p.detach() for p in params)
        return _StackedForward.apply(x, self._tanh, *params)

    def single(self, x: torch.Tensor) -> torch.Tensor:
        """A one-member MLP's output ``(B, n_out)``: :meth:`plain` under ``torch.inference_mode`` (acting), else
        ``forward(x)[0]`` (the batched pass the losses and targets use)."""
        return self.plain(x) if torch.is_inference_mode_enabled() else self(x)[0]

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)[0]`` of a one-member MLP on ``(B, n_in)`` as a plain loop of ``addmm`` and in-place
        activations, for acting under ``torch.inference_mode`` (no autograd node, no batched GEMM of one;
        equal to the batched pass up to float32 rounding)."""
        params = self._params  # (W_0, b_0, W_1, b_1, …): no ParameterList indexing on the hot path
        last = len(params) // 2 - 1
        for k in range(last + 1):
            x = torch.addmm(params[2 * k + 1][0], x, params[2 * k][0])
            if k < last:
                x = torch.tanh_(x) if self._tanh else torch.relu_(x)
        return x

    def taped(self, x: torch.Tensor, members: slice | None = None,
              weights: bool = True) -> tuple[torch.Tensor, _Tape]:
        """``forward(x, members)`` without autograd, with what the hand-driven backward needs: :meth:`backward_from`
        (``weights``) or, with ``weights=False`` (the weights as constants), :meth:`input_grad_from`."""
        params = self._params if members is None else tuple(p[members] for p in self._params)
        tape = _Tape(len(params), weights)
        with torch.no_grad():
            return _StackedForward.forward(tape, x, self._tanh, *params), tape

    def backward_from(self, tape: _Tape, g: torch.Tensor, into_grads: bool = False) -> list[torch.Tensor]:
        """The gradients of ``Σ g · taped(x)`` with respect to :meth:`parameters` (in that order: the
        weights, then the biases), by :class:`_StackedForward`'s backward pass: ``g`` has the output's shape.
        ``into_grads``: written straight into the parameters' ``.grad`` tensors (overwritten, not accumulated;
        e.g. the views of an optimiser's flat gradient, :func:`flat_parameters`), which are what is returned."""
        if into_grads:
            if any(p.grad is None for p in self._params):
                raise ValidationError("StackedMLP.backward_from(into_grads=True): every parameter needs a .grad")
            tape.into = [p.grad for p in self._params]
        with torch.no_grad():
            grads = _StackedForward.backward(tape, g)[2:]
        return [*grads[0::2], *grads[1::2]]

    def input_grad_from(self, tape: _Tape, g: torch.Tensor) -> torch.Tensor:
        """The gradient of ``Σ g · taped(x, weights=False)`` with respect to ``x`` (``x``'s shape; a shared
        ``(B, n_in)`` input gets the sum over members), by :class:`_StackedForward`'s backward pass."""
        with torch.no_grad():
            return _StackedForward.backward(tape, g)[0]


_ACT_FNS = {"tanh": torch.tanh, "relu": torch.relu}


class QNetwork(nn.Module):
    """Action values ``Q̂_e(s, ·)`` of ``E`` independent members in one batched forward: ``(E, B, A)``.

    * ``mlp``: ``[obs_dim, *hidden, A]`` (Mnih et al. 2015; SB3's DQN ``QNetwork``).
    * ``dueling``: a trunk ``[obs_dim, *hidden]``, then a value head ``V̂(s)`` and an advantage head
      ``Â(s, ·)`` combined as ``Q̂ = V̂ + Â − mean_a Â`` (Wang et al. 2016, "Dueling Network
      Architectures", eq. 9: the mean makes the split identifiable).
    * ``linear``: ``Q̂(s, ·) = Wᵀx(s)``, ``W: (obs_dim, A)`` initialised to zero, no bias and no hidden
      layer: with one-hot observations a table (tabular Q-learning, Sutton & Barto 2018 §6.5),
      with a problem's features Φ linear FQI / Q-learning (``hidden`` is ignored).

    Members are drawn one after the other from ``generator`` exactly as :class:`StackedMLP` draws
    them (torch's default initialisation, as SB3's DQN, unless ``ortho``). Input ``(B, obs_dim)``
    (shared by all members) or ``(E, B, obs_dim)``.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int], generator: torch.Generator,
                 kind: str = "mlp", activation: str = "relu", members: int = 1, ortho: bool = False):
        super().__init__()
        if kind not in Q_NETS:
            raise ValidationError(f"Q network {kind!r} must be one of {', '.join(Q_NETS)}")
        self.kind, self.members, self.n_actions = kind, int(members), int(n_actions)
        self._act = _ACT_FNS[activation]
        if kind == "linear":
            self.weight = nn.Parameter(torch.zeros(self.members, obs_dim, self.n_actions))
        elif kind == "mlp":
            self.net = StackedMLP(members, [obs_dim, *hidden, n_actions], generator, activation, ortho)
        else:
            self.trunk = StackedMLP(members, [obs_dim, *hidden], generator, activation, ortho)
            self.value_head = StackedMLP(members, [hidden[-1], 1], generator, activation, ortho)
            self.advantage_head = StackedMLP(members, [hidden[-1], n_actions], generator, activation, ortho)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "mlp":
            return self.net(x)
        if self.kind == "linear":
            return torch.matmul(x, self.weight)
        z = self._act(self.trunk(x))
        return dueling(self.value_head(z), self.advantage_head(z))


    def act_values(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)`` for acting (under ``torch.inference_mode``): a one-member MLP on ``(B, obs_dim)`` runs
        as a plain loop of ``addmm`` and in-place activations (no autograd node, no batched GEMM of one)."""
        if self.kind != "mlp" or self.members != 1 or x.dim() != 2:
            return self(x)
        return self.net.plain(x)[None]

def dueling(value: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """``Q̂(s, a) = V̂(s) + Â(s, a) − mean_a' Â(s, a')``: ``(..., 1), (..., A) → (..., A)`` (Wang et al. 2016, eq. 9)."""
    return value + advantage - advantage.mean(-1, keepdim=True)


class QCritic(nn.Module):
    """``Q̂_e(s, a)`` for ``E`` members in one forward (``E = 2``: twin critics, Fujimoto et al. 2018): ``(E, B)``.

    ``members`` and ``detach`` as in :meth:`StackedMLP.forward`.
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], generator: torch.Generator,
                 members: int = 1, activation: str = "relu"):
        super().__init__()
        self.net = StackedMLP(members, [obs_dim + action_dim, *hidden, 1], generator, activation, ortho=False)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, members: slice | None = None,
                detach: bool = False) -> torch.Tensor:
        return self.net(torch.cat([obs, action], -1), members, detach).squeeze(-1)


class DiscreteQCritic(nn.Module):
    """``Q̂_e(s, ·)`` over ``n`` discrete actions for ``E`` members in one forward: ``(E, B, n)``."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int], generator: torch.Generator,
                 members: int = 1, activation: str = "relu"):
        super().__init__()
        self.net = StackedMLP(members, [obs_dim, *hidden, n_actions], generator, activation, ortho=False)

    def forward(self, obs: torch.Tensor, members: slice | None = None, detach: bool = False) -> torch.Tensor:
        return self.net(obs, members, detach)


# ------------------------------------------------------------------------- off-policy actors

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
"""Bounds of SAC's state-dependent log σ (Haarnoja et al.'s softlearning; SB3 ``LOG_STD_MIN/MAX``)."""


def to_bounds(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The env action ``low + (y + 1)(high − low)/2`` of a normalised action ``y ∈ [−1, 1]^d`` (SB3 ``unscale_action``)."""
    return (low + (y + 1.0) * (0.5 * (high - low))).astype(np.float32)


class DeterministicActor(nn.Module):
    """``μ_θ(s) = tanh(MLP_θ(s)) ∈ [−1, 1]^d``, a deterministic policy over normalised actions.

    DDPG (Lillicrap et al. 2016) and TD3 (Fujimoto, van Hoof & Meger 2018): the actor is trained
    to output an approximate ``argmax_a Q̂(s, a)`` (the seed notes' "approximate maximizer").
    torch's default initialisation, as SB3 and Fujimoto et al.'s code. ``(B, obs_dim) → (B, d)``.
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], generator: torch.Generator,
                 activation: str = "relu"):
        super().__init__()
        self.net = StackedMLP(1, [obs_dim, *hidden, action_dim], generator, activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net.single(obs))


class _SquashedSample(torch.autograd.Function):
    """``(a, log π(a|s))`` of the reparameterised ``a = tanh(u)``, ``u = μ + σε``, from the actor's
    output ``[μ, log σ_raw]`` ``(B, 2d)`` and the noise ``ε`` ``(B, d)`` as one autograd node.

    Forward as :meth:`SquashedGaussianActor.sample` states it (``log σ`` clipped). Backward by hand:
    with ``∂ log π/∂u = 2 tanh u`` (the derivative of ``−log(1 − tanh²u)``; the Gaussian term
    ``−½ε²`` does not depend on θ at fixed ε) and ``∂a/∂u = 1 − a²``,
    ``g_u = g_a(1 − a²) + 2a·g_logπ``, ``∂/∂μ = g_u``, ``∂/∂ log σ = (g_u σε − g_logπ)`` where the clip
    is inactive (inclusive bounds, as torch's clamp), 0 elsewhere.
    """

    @staticmethod
    def forward(ctx, out: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = eps.shape[-1]
        mean, raw = out[:, :d], out[:, d:]
        log_std = raw.clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = log_std.exp() * eps
        u = mean + noise
        logp = (-0.5 * eps * eps - log_std).sum(-1) - 0.5 * LOG_2PI * d - tanh_log_det_jacobian(u)
        a = torch.tanh(u)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a, noise, (raw >= LOG_STD_MIN) & (raw <= LOG_STD_MAX))
        return a, logp

    @staticmethod
    def backward(ctx, g_a: torch.Tensor, g_logp: torch.Tensor) -> tuple[torch.Tensor, None]:
        a, noise, inside = ctx.saved_tensors
        g_l = g_logp.unsqueeze(-1)
        g_u = torch.addcmul(2.0 * a * g_l, g_a, 1.0 - a * a)
        g_log_std = (g_u * noise - g_l).masked_fill_(~inside, 0.0)
        return torch.cat([g_u, g_log_std], -1), None


class SquashedGaussianActor(nn.Module):
    """``a = tanh(u)``, ``u ~ N(μ_θ(s), diag σ_θ(s)²)``: SAC's actor over normalised actions ``[−1, 1]^d``.

    One MLP whose last layer holds both heads, ``[μ, log σ]`` (``log σ`` clipped to
    ``[LOG_STD_MIN, LOG_STD_MAX]``; the same initial law as two linear heads on a shared trunk);
    :meth:`sample` is the reparameterisation ``u = μ + σ·ε``, ``ε ~ N(0, I)``, so gradients flow
    from ``Q̂(s, a)`` through the sample into θ, with
    ``log π(a|s) = Σ_i (−½ε_i² − log σ_i − ½ log 2π) − Σ_i log(1 − tanh²u_i)``
    (Haarnoja, Zhou, Abbeel & Levine 2018, §4.2 and appendix C). Densities are of the normalised
    action (as SB3's; the constant log-Jacobian of the map to the env's box is left out).
    Shapes: ``obs (B, obs_dim)``; actions, ``u``, ``μ``, ``log σ`` ``(B, d)``; ``log π`` ``(B,)``.
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], generator: torch.Generator,
                 activation: str = "relu"):
        super().__init__()
        self.net = StackedMLP(1, [obs_dim, *hidden, 2 * action_dim], generator, activation)
        self.dim = int(action_dim)

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, log σ)`` of ``u``."""
        out = self.net.single(obs)
        return out[:, :self.dim], out[:, self.dim:].clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, log π(a|s))`` by the reparameterisation (differentiable in θ)."""
        out = self.net.single(obs)
        eps = torch.randn((out.shape[0], self.dim), generator=generator, dtype=out.dtype)
        return _SquashedSample.apply(out, eps)  # one autograd node (hand-written backward)

    def sample_detached(self, obs: torch.Tensor,
                        generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(a, u, log π(a|s))`` with ``u`` drawn outside the graph and ``log π`` differentiable in θ
        (the score-function form ``∇ log π(a|s)`` of the seed notes' off-policy actor-critic)."""
        mean, log_std = self.distribution(obs)
        with torch.no_grad():
            u = mean + log_std.exp() * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return torch.tanh(u), u, gaussian_log_prob(u, mean, log_std) - tanh_log_det_jacobian(u)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action ``tanh(μ_θ(s))`` (SAC's evaluation action)."""
        return torch.tanh(self.distribution(obs)[0])


_TINY = 1e-310
"""A float64 subnormal (below 2⁻¹⁰²² ≈ 2.2e-308): a Python float product with it is 0 while subnormals are
flushed (the flag, DAZ/FTZ in x86's MXCSR, governs the thread's float64 arithmetic as well as float32)."""


@contextlib.contextmanager
def denormals_flushed() -> Iterator[None]:
    """Run the block with subnormal floats flushed to zero (``torch.set_flush_denormal``), then restore the
    previous setting (read by probing a subnormal: there is no getter).

    Why: Adam's moments of a weight whose gradient is exactly 0 (a dead ReLU unit) decay geometrically
    (``m ← 0.9·m``) through the subnormal range, where x86 arithmetic takes a microcode assist per
    element; with a few of them the fused Adam kernel on a 67,586-parameter flat tensor took ~570 µs
    instead of ~50 µs (DQN on CartPole, tests/benchmarks/README.md). Flushing changes only values below
    1.2e-38: an update ``lr·m̂/(√v̂ + ε)`` with such an ``m`` is below 1e-28, invisible next to a float32
    weight. The flag belongs to the calling thread (x86 MXCSR), so the scope ends with the block and
    nothing leaks to other code in the process (e.g. SB3 timed after triad in one benchmark process).
    """
    before = _TINY * 1.0 == 0.0  # a probe of the flag in plain Python: ~0.1 µs (a tensor probe costs µs per step)
    if before:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def flat_parameters(params: Sequence[nn.Parameter], grad: bool = True) -> nn.Parameter:
    """One contiguous parameter holding all of ``params``, which become views of it, with a contiguous ``.grad``
    (``grad=False``: no gradient buffer, e.g. for a target network's parameters).

    An optimiser over the returned tensor updates every one of ``params`` in one kernel call
    instead of one (plus bookkeeping) per tensor; for Adam, which acts elementwise, that is the
    same update as over the separate tensors provided all of them receive a gradient at every
    step. Backward passes accumulate into the views in place (autograd's rule for an existing
    ``.grad``), so reset gradients with ``zero_grad(set_to_none=False)``: setting them to None
    would detach the views. Module state dicts, ``load_state_dict`` (in place) and deep copies
    (independent contiguous copies) work as before.
    """
    params = list(params)
    n = sum(p.numel() for p in params)
    flat = torch.empty(n, dtype=params[0].dtype)
    buffer = torch.zeros(n, dtype=params[0].dtype) if grad else None
    offset = 0
    with torch.no_grad():
        for p in params:
            k = p.numel()
            flat[offset:offset + k].copy_(p.reshape(-1))
            p.data = flat[offset:offset + k].view_as(p)
            if buffer is not None:
                p.grad = buffer[offset:offset + k].view_as(p)
            offset += k
    out = nn.Parameter(flat, requires_grad=grad)
    out.grad = buffer
    return out


def flat_spans(tensors: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[int]] | None:
    """Runs of ``tensors`` that lie back to back in one storage (as :func:`flat_parameters` lays them
    out), each as one 1-D tensor over that memory, and the number of tensors in every run; ``None``
    if one of them is not contiguous. Elementwise in-place work on the runs is work on the tensors
    (:func:`polyak_update` with one kernel per run instead of one per tensor).
    """
    runs: list[list] = []  # [storage, first offset, end offset, dtype, count]
    for t in tensors:
        if not t.is_contiguous():
            return None
        storage, offset = t.untyped_storage(), t.storage_offset()
        last = runs[-1] if runs else None
        if (last is not None and last[0].data_ptr() == storage.data_ptr() and last[2] == offset
                and last[3] == t.dtype):
            last[2] += t.numel()
            last[4] += 1
        else:
            runs.append([storage, offset, offset + t.numel(), t.dtype, 1])
    views = [torch.empty(0, dtype=dtype).set_(storage, start, (end - start,)) for storage, start, end, dtype, _ in runs]
    return views, [run[4] for run in runs]


def polyak_update(target: Sequence[torch.Tensor], online: Sequence[torch.Tensor], tau: float) -> None:
    """``φ' ← (1 − τ)φ' + τφ`` for every pair ``(φ', φ)``, in place, in one fused foreach call.

    Polyak averaging of target networks (Lillicrap et al. 2016, §7: τ = 0.001; Haarnoja et al.
    2018 and Fujimoto et al. 2018: τ = 0.005; the seed notes); ``τ = 1`` is DQN's hard copy
    (Mnih et al. 2015). Computed as ``φ' + τ(φ − φ')`` (``torch._foreach_lerp_``).
    """
    target, online = list(target), list(online)
    with torch.no_grad():
        if tau >= 1.0:
            torch._foreach_copy_(target, online)
        else:
            torch._foreach_lerp_(target, online, float(tau))


def paired_spans(target: Sequence[torch.Tensor],
                 online: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(target, online)`` as :func:`flat_spans` runs when both lists break into runs alike (the same
    number of tensors in every run), else as the lists themselves: the arguments of one
    :func:`polyak_update` call that touches every pair once."""
    a, b = flat_spans(target), flat_spans(online)
    if a is None or b is None or a[1] != b[1]:
        return list(target), list(online)
    return a[0], b[0]


class VCritic(nn.Module):
    """A state-value network ``V̂(s)``: ``(B,)``."""

    def __init__(self, obs_dim: int, hidden: Sequence[int], generator: torch.Generator, activation: str = "tanh",
                 ortho: bool = True):
        super().__init__()
        self.net = mlp([obs_dim, *hidden, 1], generator, activation, ortho, out_gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)
