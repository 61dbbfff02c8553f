"""R2D2-lite: a recurrent Q network learning from replayed sequences with stored recurrent state and burn-in.

Kapturowski, Ostrovski, Quan, Munos & Dabney (2019), "Recurrent Experience Replay in Distributed
Reinforcement Learning" (R2D2), reduced to one process:

* the Q network is ``obs → Linear → ReLU → LSTM → (dueling) head`` (:class:`RecurrentQNetwork`);
  the actor carries one ``(h, c)`` per env, zeroed at every episode start, and stores with each step
  the state *before* it (extras ``h``, ``c``);
* replay holds sequences of ``burn_in + learn`` consecutive steps of one env
  (:meth:`triad.agents.replay.ReplayBuffer.sample_sequences`); the learner starts each unroll from
  the stored state of the sequence's first step ("stored state", §3), runs the first ``burn_in``
  steps without a loss to repair its staleness ("burn-in"), and regresses the remaining ``learn``
  steps on n-step targets (``ignore``, i.e. uncorrected, n = 5 in the paper) from
  :func:`triad.multistep.off_policy_targets`; within a sequence the state is zeroed where an episode
  starts, and an episode's end cuts (termination) or bootstraps (truncation) the targets;
* the bootstrap values ``Q̂'(s_{t+1}, ·)`` come from the target network carried along the same
  unroll and fed the stored true next observation, so the final observation of an episode is
  evaluated with that episode's memory.

Left out of the paper's agent ("lite"): the distributed actors, the invertible value rescaling
``h(x)`` (CartPole's returns are below 100) and the learned priorities are a switch
(``prioritized``; the paper's η = 0.9 mix is :func:`triad.agents.replay.sequence_priority`).
The partially observable test bed is ``triad/CartPoleNoVel-v1`` (:mod:`triad.agents.pomdp`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from triad import multistep
from triad.agents.nets import dueling, mlp
from triad.agents.replay import multistep_inputs, sequence_priority
from triad.agents.value import MASKED_Q, ValueAgent, ValueBatch

State = tuple[torch.Tensor, torch.Tensor]
"""An LSTM state ``(h, c)``, each ``(B, H)``."""


class RecurrentQNetwork(nn.Module):
    """``Q̂(s_t, · | h_{t−1})``: an encoder ``Linear(obs_dim, hidden) → ReLU``, an LSTM cell of ``memory``
    units, and a linear head (``dueling``: value and advantage heads, :func:`triad.agents.nets.dueling`).

    Every weight is drawn from ``generator`` with torch's default schemes (``U(±1/√fan_in)`` for the
    linear layers, ``U(±1/√memory)`` for the LSTM), never from the global RNG.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int, memory: int, generator: torch.Generator,
                 dueling: bool = True):
        super().__init__()
        self.memory, self.is_dueling = int(memory), bool(dueling)
        self.encoder = mlp([obs_dim, hidden], generator, "relu", ortho=False, out_activation=True)
        self.cell = torch.nn.utils.skip_init(nn.LSTMCell, hidden, memory)
        bound = 1.0 / math.sqrt(memory)
        with torch.no_grad():
            for p in self.cell.parameters():
                p.uniform_(-bound, bound, generator=generator)
        if dueling:
            self.value_head = mlp([memory, 1], generator, ortho=False)
            self.advantage_head = mlp([memory, n_actions], generator, ortho=False)
        else:
            self.head = mlp([memory, n_actions], generator, ortho=False)

    def initial_state(self, batch: int) -> State:
        """The zero state of a new episode: ``(h, c)`` of shape ``(batch, memory)``."""
        return torch.zeros(batch, self.memory), torch.zeros(batch, self.memory)

    def q_values(self, h: torch.Tensor) -> torch.Tensor:
        """The head on LSTM outputs ``(..., memory) → (..., A)``."""
        if self.is_dueling:
            return dueling(self.value_head(h), self.advantage_head(h))
        return self.head(h)

    def step(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One time step: ``obs (B, obs_dim)`` with the state before it → ``(Q̂ (B, A), state after)``."""
        h, c = self.cell(self.encoder(obs), state)
        return self.q_values(h), (h, c)

    def unroll(self, obs: torch.Tensor, state: State, starts: torch.Tensor) -> State:
        """Run a sequence: ``obs (T, B, obs_dim)`` from ``state``, zeroing the state before row ``t``
        where ``starts[t]`` (a new episode begins there), ``(T, B)`` bool.

        Returns the states ``(h_t, c_t)`` after every row, each ``(T, B, memory)``: ``q_values(h_t)``
        is ``Q̂(s_t, ·)``, and :meth:`step` from ``(h_t, c_t)`` on the true next observation gives
        ``Q̂(s_{t+1}, ·)`` with the memory of ``s_t``'s episode.
        """
        x = self.encoder(obs)
        h, c = state
        keep = (~starts).to(x.dtype).unsqueeze(-1)
        hs, cs = [], []
        for t in range(obs.shape[0]):
            h, c = self.cell(x[t], (h * keep[t], c * keep[t]))
            hs.append(h)
            cs.append(c)
        return torch.stack(hs), torch.stack(cs)


# ------------------------------------------------------------------------------------------ agent
class R2D2Agent(ValueAgent):
    """R2D2-lite on the value-based agent (module docstring): the same driver, replay, targets and loss;
    a recurrent network, per-env memory, and sequences unrolled from their stored state after a burn-in.

    Besides ``mu`` and ``next_mask`` the replay keeps ``h`` and ``c``, the actor's LSTM state before
    each step. On a tabular twin the probes read the policy of an episode's first step (zero memory).
    """

    def __init__(self, config: Any, spaces: Any, seed: int, name: str = "r2d2-lite"):
        super().__init__(config, spaces, seed, name)
        self.state = self.q.initial_state(int(spaces.num_envs))
        self.eval_state: State | None = None

    def stored_extras(self, config: Any, n_actions: int) -> dict[str, tuple[tuple[int, ...], Any]]:
        return {**super().stored_extras(config, n_actions), "h": ((config.memory,), np.float32),
                "c": ((config.memory,), np.float32)}

    def make_q(self) -> RecurrentQNetwork:
        c = self.config
        return RecurrentQNetwork(self.obs_dim, self.n_actions, c.hidden[0], c.memory, self.generator,
                                 dueling=c.q_net == "dueling")

    def sequence_length(self) -> int:
        return self.config.burn_in + self.config.sequence

    # -------------------------------------------------------------------------------- actor
    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """``Q̂(s, ·)`` at the start of an episode (zero memory): what the tabular probes read."""
        return self.q.step(obs, self.q.initial_state(obs.shape[0]))[0]

    def select(self, obs: torch.Tensor, explore: bool,
               mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Act from each env's memory (training) or from the evaluation episodes' own memory."""
        if explore:
            before = self.state
            q, self.state = self.q.step(obs, before)
            actions, extras = self.choose(q, True, mask)
            return actions, {**extras, "h": before[0].numpy(), "c": before[1].numpy()}
        if self.eval_state is None or self.eval_state[0].shape[0] != obs.shape[0]:
            self.eval_state = self.q.initial_state(obs.shape[0])
        q, self.eval_state = self.q.step(obs, self.eval_state)
        return self.choose(q, False, mask)

    def reset_evaluation(self, episodes: int) -> None:
        """A new evaluation begins (:func:`triad.agents.loop.evaluate`): its episodes start with zero memory."""
        self.eval_state = self.q.initial_state(episodes)

    def observe(self, step: Any) -> None:
        """Store the step, then forget the memory of every env whose episode ended (or that reset)."""
        super().observe(step)
        forget = np.asarray(step.terminated) | np.asarray(step.truncated) | ~np.asarray(step.valid, bool)
        if forget.any():
            keep = torch.from_numpy(~forget).float()[:, None]
            self.state = (self.state[0] * keep, self.state[1] * keep)

    # ------------------------------------------------------------------------------ learner
    def td(self, b: ValueBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(δ, Q̂(s_t, ·))`` on the ``sequence`` steps after the burn-in, ``(T, N)`` and ``(T, N, A)``.

        Both networks start from the stored state of the sequence's first step and run the burn-in
        without gradients; the online network then unrolls the learned steps, the target network
        too, and each evaluates the stored next observation from its state after step t. The targets
        are :func:`triad.multistep.off_policy_targets` with a window of ``n_step``.
        """
        c = self.config
        L, N = b.steps, b.action.shape[1]
        burn = c.burn_in
        obs = b.obs.reshape(L, N, -1)
        nxt = b.next_obs.reshape(L, N, -1)
        ended = torch.as_tensor(b.data["terminated"] | b.data["truncated"])
        starts = torch.cat([torch.zeros(1, N, dtype=torch.bool), ended[:-1]])
        stored = (torch.as_tensor(b.data["h"][0]), torch.as_tensor(b.data["c"][0]))
        with torch.no_grad():
            online0 = target0 = stored
            if burn:
                h, cc = self.q.unroll(obs[:burn], stored, starts[:burn])
                online0 = (h[-1], cc[-1])
                h, cc = self.q_target.unroll(obs[:burn], stored, starts[:burn])
                target0 = (h[-1], cc[-1])
        H, C = self.q.unroll(obs[burn:], online0, starts[burn:])
        q_tm1 = self.q.q_values(H)
        T = L - burn
        with torch.no_grad():
            Ht, Ct = self.q_target.unroll(obs[burn:], target0, starts[burn:])
            flat = nxt[burn:].reshape(T * N, -1)
            q_t = self.q_target.step(flat, (Ht.reshape(T * N, -1), Ct.reshape(T * N, -1)))[0]
            selector = None
            if c.double:
                selector = self.q.step(flat, (H.detach().reshape(T * N, -1), C.detach().reshape(T * N, -1)))[0]
            if b.next_mask is not None:
                mask = b.next_mask.reshape(L, N, -1)[burn:].reshape(T * N, -1)
                q_t = q_t.masked_fill(~mask, MASKED_Q)
                selector = None if selector is None else selector.masked_fill(~mask, MASKED_Q)
            q_t = q_t.reshape(T, N, -1)
            pi_t = None
            if selector is not None:
                pi_t = torch.nn.functional.one_hot(selector.reshape(T, N, -1).argmax(-1), q_t.shape[-1]).float()
            x = multistep_inputs({k: v[burn:] for k, v in b.data.items() if k != "weight"}, c.gamma, mu="mu")
            G = multistep.off_policy_targets(b.reward[burn:], b.discount[burn:], q_t, b.action[burn:], c.correction,
                                             pi_t=pi_t, mu_t=torch.as_tensor(x.mu_t, dtype=torch.float32),
                                             lam=c.trace_lambda, n=c.n_step, truncated_t=torch.as_tensor(x.truncated_t))
        return G - q_tm1.gather(-1, b.action[burn:, :, None]).squeeze(-1), q_tm1

    def state_dict(self) -> dict:
        """The driver's state and the actor's memory of every env (a resume continues the episodes)."""
        return {**super().state_dict(), "memory": tuple(x.clone() for x in self.state)}

    def load_state_dict(self, d: Any) -> None:
        super().load_state_dict(d)
        self.state = tuple(x.clone() for x in d["memory"])

    def priorities(self, delta: np.ndarray) -> np.ndarray:
        """A sequence's ``η·max_t |δ_t| + (1 − η)·mean_t |δ_t|`` over its learned steps (R2D2: η = 0.9)."""
        return sequence_priority(delta, eta=0.9)


def build(config: Any, spaces: Any, seed: int, name: str = "r2d2-lite") -> R2D2Agent:
    """The builder the registry calls: ``build(config, env_spaces, seed) -> Agent``."""
    return R2D2Agent(config, spaces, seed, name)
