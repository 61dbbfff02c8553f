"""A sum-tree over non-negative priorities: O(log N) updates and prefix-sum search (numba).

The proportional variant of prioritised replay samples leaf ``i`` with probability
``P(i) = p_i / Σ_k p_k`` (Schaul, Quan, Antonoglou & Silver 2016, "Prioritized Experience
Replay", eq. 1). A binary tree whose every internal node holds the sum of its children keeps the
total at the root and finds, for a value ``u ∈ [0, total)``, the leaf ``i`` with
``Σ_{k<i} p_k ≤ u < Σ_{k≤i} p_k`` by one descent. A batch of ``k`` is drawn by *segment
(stratified) sampling*: ``[0, total)`` is cut into ``k`` equal segments and one ``u`` is drawn
uniformly in each (Schaul et al. 2016, §3.3 and Appendix B.2.1). Each draw then has the marginal law
``P``; the batch has lower variance than ``k`` independent draws.

Layout: ``tree`` has ``2·L`` float64 entries, ``L`` the smallest power of two ≥ the capacity;
node ``j ≥ 1`` has children ``2j`` and ``2j + 1``, leaf ``i`` is node ``L + i``, the root is node
1 (entry 0 is unused). Leaves beyond the capacity stay 0. Internal nodes are always *recomputed*
as ``left + right`` (never incremented by a difference), so the sums do not drift however many
updates they see, and a node is 0 exactly when every leaf under it is 0.

Both kernels run a whole batch *level by level* (every path advances one level before any goes
deeper), so the memory loads of different paths are independent and overlap instead of forming one
chain of cache misses per path. Kernels compile on first use and are cached on disk
(``cache=True``); randomness comes from the caller's generator as uniforms, never from numba.
"""

from __future__ import annotations

import numba
import numpy as np

from triad.errors import ValidationError


@numba.njit(cache=True)
def _update(tree, leaves, indices, priorities):  # pragma: no cover - compiled
    """Set ``tree[leaves + indices[j]] = priorities[j]`` (the last of repeated indices wins), then
    recompute every ancestor of a changed leaf as the sum of its two children, level by level."""
    k = indices.shape[0]
    nodes = np.empty(k, np.int64)
    for j in range(k):
        node = leaves + indices[j]
        tree[node] = priorities[j]
        nodes[j] = node
    while leaves > 1:
        for j in range(k):
            parent = nodes[j] >> 1
            tree[parent] = tree[2 * parent] + tree[2 * parent + 1]
            nodes[j] = parent
        leaves >>= 1


@numba.njit(cache=True)
def _find(tree, leaves, values, out):  # pragma: no cover - compiled
    """``out[j]`` = the leaf whose prefix-sum interval holds ``values[j]`` (a descent from the root).

    At each node go right (subtracting the left sum from ``u``) if ``u ≥ left`` or the left
    subtree is empty, unless the right subtree is empty; else go left. A node with a positive sum
    has a child with a positive sum, so from a positive root the descent only enters positive
    subtrees and never ends on a zero leaf, even when rounding puts ``u`` at or past a subtree's
    total. Branch-free (the step is a 0/1 integer), so no misprediction stalls the other paths' loads.
    """
    k = values.shape[0]
    nodes = np.ones(k, np.int64)
    u = values.copy()
    while leaves > 1:
        for j in range(k):
            left = 2 * nodes[j]
            s = tree[left]
            right = ((u[j] >= s) | (s <= 0.0)) & (tree[left + 1] > 0.0)
            u[j] -= s * right
            nodes[j] = left + right
        leaves >>= 1
    for j in range(k):
        out[j] = nodes[j] - tree.shape[0] // 2


class SumTree:
    """Priorities ``p_i ≥ 0`` over ``capacity`` leaves with their total and prefix-sum search.

    Args:
        capacity: number of leaves ``N ≥ 1``; every priority starts at 0.
    """

    def __init__(self, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValidationError(f"SumTree: capacity = {capacity!r} must be an integer ≥ 1")
        self.capacity = int(capacity)
        self.leaves = 1 << max(0, (self.capacity - 1).bit_length())
        self.tree = np.zeros(2 * self.leaves, np.float64)

    @property
    def total(self) -> float:
        """``Σ_i p_i`` (the root)."""
        return float(self.tree[1])

    def __getitem__(self, indices: np.ndarray) -> np.ndarray:
        """Priorities of the given leaves (a copy)."""
        return self.tree[self.leaves + np.asarray(indices, np.int64)]

    def priorities(self) -> np.ndarray:
        """All ``capacity`` priorities (a view)."""
        return self.tree[self.leaves: self.leaves + self.capacity]

    def _indices(self, indices: np.ndarray, name: str) -> np.ndarray:
        idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
            bad = idx[(idx < 0) | (idx >= self.capacity)][0]
            raise ValidationError(f"SumTree.{name}: index {bad} outside [0, {self.capacity})")
        return idx

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set ``p_i`` for a batch of leaves (``(k,)`` each; of repeated indices the last wins)."""
        idx = self._indices(indices, "update")
        p = np.ascontiguousarray(priorities, dtype=np.float64).reshape(-1)
        if p.shape != idx.shape:
            raise ValidationError(f"SumTree.update: {p.size} priorities for {idx.size} indices")
        if not np.all(p >= 0.0) or not np.all(np.isfinite(p)):
            bad = p[~((p >= 0.0) & np.isfinite(p))][0]
            raise ValidationError(f"SumTree.update: priority {bad} must be finite and ≥ 0")
        _update(self.tree, self.leaves, idx, p)

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaves ``i`` with ``Σ_{k<i} p_k ≤ u < Σ_{k≤i} p_k`` for each ``u`` of ``values`` (``(k,)``).

        Values are clipped into the tree: a ``u`` at or beyond the total returns the last leaf with
        a positive priority. Needs ``total > 0``.
        """
        if not self.tree[1] > 0.0:
            raise ValidationError("SumTree.find: every priority is 0, nothing can be sampled")
        u = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        out = np.empty(u.shape[0], np.int64)
        _find(self.tree, self.leaves, u, out)
        return out

    def sample(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """``batch_size`` leaves by segment sampling: ``u_j = (j + U_j)·total / k``, ``U_j ~ U[0, 1)``.

        Each draw has the marginal law ``P(i) = p_i / total``; draws come back in increasing leaf
        order (one per segment). Zero-priority leaves are never returned. Source: Schaul et al.
        (2016), Appendix B.2.1.
        """
        k = int(batch_size)
        if k < 1:
            raise ValidationError(f"SumTree.sample: batch_size = {batch_size!r} must be ≥ 1")
        total = self.tree[1]
        u = (np.arange(k) + rng.random(k)) * (total / k)
        return self.find(u)

    def state_dict(self) -> dict:
        """The priorities (a copy) and the capacity."""
        return {"capacity": self.capacity, "priorities": self.priorities().copy()}

    def load_state_dict(self, d: dict) -> None:
        """Restore :meth:`state_dict`; the internal sums are recomputed from the leaves."""
        if int(d["capacity"]) != self.capacity:
            raise ValidationError(f"SumTree.load_state_dict: capacity {int(d['capacity'])} ≠ {self.capacity}")
        p = np.asarray(d["priorities"], np.float64)
        if p.shape != (self.capacity,) or not np.all((p >= 0.0) & np.isfinite(p)):
            raise ValidationError(f"SumTree.load_state_dict: priorities must be {self.capacity} finite values ≥ 0")
        self.tree[:] = 0.0
        self.tree[self.leaves: self.leaves + self.capacity] = p
        width = self.leaves
        while width > 1:  # each level from the one below: node j = child 2j + child 2j + 1, as _update does
            half = width // 2
            self.tree[half:width] = self.tree[width: 2 * width: 2] + self.tree[width + 1: 2 * width: 2]
            width = half
