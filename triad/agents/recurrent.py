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

import torch
from torch import nn

from triad.agents.nets import dueling, mlp

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
