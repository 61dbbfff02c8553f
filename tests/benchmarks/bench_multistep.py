"""GAE and λ-returns on a (2048 steps, 64 envs) buffer: triad.multistep vs the rollout-buffer loop.

The baseline is the backward loop Stable-Baselines3's ``RolloutBuffer.compute_returns_and_advantage``
runs (written here from its recursion, not copied): one numpy step per time index over all envs,

    δ_t = r_t + γ·V_{t+1}·(1 − done_{t}) − V_t,   A_t = δ_t + γλ·(1 − done_{t})·A_{t+1},   G_t = A_t + V_t,

with episode ends inside the buffer. SB3 handles a time-limit truncation by adding γ·V(final state)
to that step's reward and then treating it as done; triad takes ``truncated_t`` and the final
state's value instead. Both must give the same advantages and returns (asserted), then each is
timed in this process and the ratio printed. Run: ``python tests/benchmarks/bench_multistep.py``.
Exit status 1 if the ratio misses the 10× target.
"""

from __future__ import annotations

import sys
import time
import timeit

import numpy as np

from triad.multistep import gae, lambda_returns

T, B, GAMMA, LAM = 2048, 64, 0.99, 0.95
TARGET = 10.0


def make_buffer(seed: int = 0) -> dict[str, np.ndarray]:
    """Random rewards and values; ~1 in 150 steps terminates and ~1 in 400 is truncated."""
    rng = np.random.default_rng(seed)
    terminated = rng.random((T, B)) < 1 / 150
    truncated = ~terminated & (rng.random((T, B)) < 1 / 400)
    return {"r": rng.standard_normal((T, B)), "values": rng.standard_normal((T + 1, B)),
            "final_values": rng.standard_normal((T, B)), "terminated": terminated, "truncated": truncated}


def rollout_buffer_loop(rewards: np.ndarray, values: np.ndarray, episode_starts: np.ndarray,
                        last_values: np.ndarray, dones: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """SB3's rollout-buffer recursion: ``(advantages, returns)``, all ``(T, B)`` in the buffers' dtype."""
    n = rewards.shape[0]
    advantages = np.zeros_like(rewards)
    last_gae_lam = 0
    for step in reversed(range(n)):
        if step == n - 1:
            next_non_terminal = 1.0 - dones.astype(rewards.dtype)
            next_values = last_values
        else:
            next_non_terminal = 1.0 - episode_starts[step + 1]
            next_values = values[step + 1]
        delta = rewards[step] + gamma * next_values * next_non_terminal - values[step]
        last_gae_lam = delta + gamma * lam * next_non_terminal * last_gae_lam
        advantages[step] = last_gae_lam
    return advantages, advantages + values


def sb3_inputs(buf: dict[str, np.ndarray], dtype: type) -> tuple:
    """The same buffer as SB3 stores it: timeouts folded into rewards, dones as episode starts."""
    done = buf["terminated"] | buf["truncated"]
    rewards = buf["r"] + GAMMA * buf["final_values"] * buf["truncated"]
    starts = np.zeros((T, B))
    starts[1:] = done[:-1]
    return (rewards.astype(dtype), buf["values"][:-1].astype(dtype), starts.astype(dtype),
            buf["values"][-1].astype(dtype), done[-1], GAMMA, LAM)


def triad_inputs(buf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    discount = GAMMA * (1.0 - buf["terminated"])
    v_next = np.where(buf["truncated"], buf["final_values"], buf["values"][1:])
    return {"r": buf["r"], "d": discount, "values": buf["values"], "v_next": v_next,
            "truncated": buf["truncated"], "final": buf["final_values"]}


def ours_gae(x: dict[str, np.ndarray]) -> np.ndarray:
    return gae(x["r"], x["d"], x["values"], LAM, truncated_t=x["truncated"], bootstrap_t=x["final"])


def ours_lambda(x: dict[str, np.ndarray]) -> np.ndarray:
    return lambda_returns(x["r"], x["d"], x["v_next"], LAM, truncated_t=x["truncated"])


def best_ms(fn, number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e3


def main() -> int:
    buf = make_buffer()
    x = triad_inputs(buf)
    print(f"buffer: {T} steps × {B} envs, {int(buf['terminated'].sum())} terminations, "
          f"{int(buf['truncated'].sum())} truncations; γ={GAMMA}, λ={LAM}")

    start = time.perf_counter()
    adv = ours_gae(x)
    print(f"first call (loads the cached numba kernel, or compiles it once): {time.perf_counter() - start:.3f} s")
    ret = ours_lambda(x)
    ref_adv, ref_ret = rollout_buffer_loop(*sb3_inputs(buf, np.float64))
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ret, ref_ret, rtol=1e-12, atol=1e-12)
    print("outputs: triad gae and lambda_returns equal the rollout-buffer loop's advantages and returns "
          "(float64, within 1e-12)")

    sb3_args = sb3_inputs(buf, np.float32)  # SB3 stores its buffers in float32
    base = best_ms(lambda: rollout_buffer_loop(*sb3_args), number=3)
    results = {"gae": best_ms(lambda: ours_gae(x), number=50),
               "lambda_returns": best_ms(lambda: ours_lambda(x), number=50)}
    print(f"SB3-style rollout-buffer loop (advantages and returns, float32): {base:.2f} ms")
    ok = True
    for name, ms in results.items():
        ratio = base / ms
        ok &= ratio >= TARGET
        print(f"triad {name}: {ms:.3f} ms  ->  {ratio:.1f}x faster (target ≥ {TARGET:g}x)")
    import torch

    torch.set_num_threads(1)  # as the agents run it on these 2-core machines
    tensors = {k: torch.as_tensor(v, dtype=torch.float32) if v.dtype != bool else torch.as_tensor(v)
               for k, v in x.items()}
    ours_gae(tensors)
    ms = best_ms(lambda: ours_gae(tensors), number=20)
    print(f"triad gae on float32 torch tensors (no gradient: compiled loop, result back as a tensor): {ms:.3f} ms "
          f"->  {base / ms:.1f}x (information, no target)")
    print("target met" if ok else "TARGET NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
