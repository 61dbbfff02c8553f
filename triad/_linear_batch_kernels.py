"""The compiled (numba) sampled kernel behind :mod:`triad.linear_batch`.

One call advances every stream of every cell of a batch through all its steps. Each (cell,
stream) pair is independent, so the outer loop is a ``prange`` over them; inside, one stream's
weights stay in cache for its whole run.

Bit for bit, each stream repeats what :func:`triad.linear.sampled` computes for it:

* the random numbers are the ones ``sampled`` draws, pre-drawn in the order it draws them
  (:func:`triad.linear_batch.draws`), and consumed here in that order;
* sampling repeats :func:`triad.sampling.sample_actions` (a comparison with the cumulative
  behaviour row) and :meth:`triad.sampling.Sampler.next_states` (a binary search of
  ``row + u`` in the sampler's shifted cumulative table);
* every arithmetic operation is the one numpy performs, in numpy's order: the dot products
  ``einsum("...d,...d->...")`` are summed the way numpy's einsum sums a contiguous pair (two
  lanes, blocks of eight taken from the top, then pairs; :func:`_dot`), and the divergence test's
  ``‖w‖²`` the way ``np.sum`` does (pairwise, eight accumulators; :func:`_sum_squares`). No
  fast-math: LLVM never fuses a multiply and an add here, and neither does numpy's einsum on x86
  (``tests/test_linear_batch.py`` checks both orders against numpy first).

Imported lazily (numba's start-up is paid only by callers of the kernel).
"""

from __future__ import annotations

import math

import numba
import numpy as np

TD, TDC, GTD2, ETD, TARGET = 0, 1, 2, 3, 4
"""Rule codes of the kernel (``triad.linear.Rule.algorithm``: semi-gradient-td, tdc, gtd2, etd, target-network)."""


@numba.njit(cache=True, inline="always")
def _dot(x, w, d):  # pragma: no cover - compiled
    """``Σ_k x_k w_k`` in the order of numpy's einsum on two contiguous float64 rows.

    Two accumulators (one 128-bit lane each); while at least eight terms remain, the block's pairs
    are added from the top (6–7, 4–5, 2–3, 0–1); then the rest pair by pair, a missing partner
    adding ``0·0``; finally ``0 + (a₀ + a₁)`` (einsum adds into a zeroed output).
    """
    a0 = 0.0
    a1 = 0.0
    i = 0
    while d - i >= 8:
        a0 = x[i + 6] * w[i + 6] + a0
        a1 = x[i + 7] * w[i + 7] + a1
        a0 = x[i + 4] * w[i + 4] + a0
        a1 = x[i + 5] * w[i + 5] + a1
        a0 = x[i + 2] * w[i + 2] + a0
        a1 = x[i + 3] * w[i + 3] + a1
        a0 = x[i] * w[i] + a0
        a1 = x[i + 1] * w[i + 1] + a1
        i += 8
    while i < d:
        a0 = x[i] * w[i] + a0
        if i + 1 < d:
            a1 = x[i + 1] * w[i + 1] + a1
        else:
            a1 = 0.0 * 0.0 + a1
        i += 2
    return 0.0 + (a0 + a1)


@numba.njit(cache=True, inline="always")
def _block_squares(w, lo, n):  # pragma: no cover - compiled
    """numpy's ``pairwise_sum`` of ``w[lo:lo+n]²`` for ``n ≤ 128``: sequential below 8 terms, else 8 accumulators."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res = res + w[i] * w[i]
        return res
    r0 = w[lo] * w[lo]
    r1 = w[lo + 1] * w[lo + 1]
    r2 = w[lo + 2] * w[lo + 2]
    r3 = w[lo + 3] * w[lo + 3]
    r4 = w[lo + 4] * w[lo + 4]
    r5 = w[lo + 5] * w[lo + 5]
    r6 = w[lo + 6] * w[lo + 6]
    r7 = w[lo + 7] * w[lo + 7]
    i = 8
    while i < n - (n % 8):
        j = lo + i
        r0 = r0 + w[j] * w[j]
        r1 = r1 + w[j + 1] * w[j + 1]
        r2 = r2 + w[j + 2] * w[j + 2]
        r3 = r3 + w[j + 3] * w[j + 3]
        r4 = r4 + w[j + 4] * w[j + 4]
        r5 = r5 + w[j + 5] * w[j + 5]
        r6 = r6 + w[j + 6] * w[j + 6]
        r7 = r7 + w[j + 7] * w[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res = res + w[lo + i] * w[lo + i]
        i += 1
    return res


@numba.njit(cache=True)
def _pairwise_squares(w, lo, n):  # pragma: no cover - compiled
    """numpy's pairwise sum of ``w[lo:lo+n]²``: blocks of at most 128, halves (rounded to 8) above.

    numpy recurses on the halves; the same tree is walked here with an explicit stack.
    """
    if n <= 128:
        return _block_squares(w, lo, n)
    f_lo = np.empty(64, np.int64)
    f_n = np.empty(64, np.int64)
    f_stage = np.zeros(64, np.int64)
    f_left = np.zeros(64)
    f_lo[0], f_n[0] = lo, n
    top = 1
    ret = 0.0
    while top > 0:
        i = top - 1
        m = f_n[i]
        if m <= 128:
            ret = _block_squares(w, f_lo[i], m)
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        if f_stage[i] == 0:
            f_stage[i] = 1
            f_lo[top], f_n[top], f_stage[top] = f_lo[i], half, 0
            top += 1
        elif f_stage[i] == 1:
            f_left[i] = ret
            f_stage[i] = 2
            f_lo[top], f_n[top], f_stage[top] = f_lo[i] + half, m - half, 0
            top += 1
        else:
            ret = f_left[i] + ret
            top -= 1
    return ret


@numba.njit(cache=True, inline="always")
def _diverged(w, d, threshold, below, above):  # pragma: no cover - compiled
    """The test of :class:`triad.record.Recorder`: ``not (‖w‖₂ finite and ≤ threshold)``.

    ``below < threshold² < above`` bracket the squared threshold by a relative 1e-12, far wider than the
    rounding of ``‖w‖²`` and of its root: outside the bracket the answer needs no square root.
    """
    squares = 0.0 + _pairwise_squares(w, 0, d)
    if squares < below:
        return False
    if squares > above:  # also +inf; NaN fails both tests and takes the exact path
        return True
    size = math.sqrt(squares)
    return not (math.isfinite(size) and size <= threshold)


@numba.njit(cache=True, inline="always")
def _search_right(keys, lo, hi, value):  # pragma: no cover - compiled
    """``np.searchsorted(keys[lo:hi], value, side="right")`` for sorted keys."""
    a, b = lo, hi
    while a < b:
        mid = (a + b) >> 1
        if keys[mid] <= value:
            a = mid + 1
        else:
            b = mid
    return a - lo


@numba.njit(cache=True, inline="always")
def _next_state(keys, lo, start, stop, value):  # pragma: no cover - compiled
    """``min(searchsorted(keys[lo:hi], value, "right"), stop)`` for a value in the row ``[start, stop]``.

    The keys of a row ``r`` lie in ``(r, r + 1]`` and ``value = r + u``: every key before the row is
    ``≤ r ≤ value``, and when a key after the row counts, so does the whole row, and the clamp to the
    row's last entry ``stop`` gives the same index. So counting within the row is the full search.
    """
    count = 0
    for j in range(lo + start, lo + stop + 1):
        count += keys[j] <= value
    return min(start + count, stop)


@numba.njit(cache=True, inline="always")
def _initial(mu_cdf, S, u):  # pragma: no cover - compiled
    """:meth:`triad.sampling.Sampler.initial_states` for one uniform ``u``."""
    k = _search_right(mu_cdf, 0, S, u * mu_cdf[S - 1])
    return min(k, S - 1)


@numba.njit(cache=True, parallel=True)
def run_streams(uniforms, normals, T, chunk, S_c, A_c, d_c, Phi, cdf, rho_table, R, reward_std, noisy, terminal,
                interest, keys, key_ptr, successor, last, mu_cdf, gamma, algorithm, alpha, beta, lam, n_step,
                period, tau, w0, threshold, record_steps, out_w, out_diverged):  # pragma: no cover - compiled
    """Run every stream of every cell; write the recorded weights and the divergence steps.

    Shapes (``C`` cells, ``B`` streams, ``T`` steps, padded ``S, A, d``):
        uniforms ``(C, B, 1 + 3T + chunks)``: per stream, the uniforms of ``sampled`` in its order;
        normals ``(C, B, T)``: the reward noise (read only where ``noisy[c]``; may be ``(C, B, 0)`` if none is);
        per-cell tables ``Phi (C, S, d)``, ``cdf, rho_table, R, reward_std (C, S, A)``,
        ``terminal (C, S)``, ``interest (C, S)``, ``mu_cdf (C, S)``; the sampler's tables laid end
        to end: ``keys, successor`` (``key_ptr (C + 1,)`` delimits a cell's) and ``last (C, S·A)``;
        per-cell scalars ``S_c, A_c, d_c, gamma, algorithm, alpha, beta, lam, n_step, period, tau,
        threshold (C,)``; ``w0 (C, d)``; ``record_steps (K,)`` increasing, starting at 0.
        Outputs: ``out_w (C, K, B, d)``, ``out_diverged (C, B)`` (NaN where never).
    """
    C, B = uniforms.shape[0], uniforms.shape[1]
    dmax = Phi.shape[2]
    for job in numba.prange(C * B):
        c = job // B
        b = job - c * B
        S, A, d = S_c[c], A_c[c], d_c[c]
        g, alg, a_w, a_h, lm, n, per, tu = (gamma[c], algorithm[c], alpha[c], beta[c], lam[c], n_step[c],
                                            period[c], tau[c])
        one_minus_tau = 1.0 - tu
        lo = key_ptr[c]
        u = uniforms[c, b]
        w = w0[c].copy()
        h = np.zeros(dmax)
        w_target = w0[c].copy()
        z = np.zeros(dmax)
        win_s = np.zeros(max(n, 1), np.int64)
        win_next = np.zeros(max(n, 1), np.int64)
        win_r = np.zeros(max(n, 1))
        win_d = np.zeros(max(n, 1))
        win_rho = np.zeros(max(n, 1))
        win_end = np.zeros(max(n, 1), np.bool_)
        values = np.zeros(max(n, 1))
        count = 0
        carry = 0.0
        rho_f = 0.0
        updates = 0
        diverged_at = np.nan
        th = threshold[c]
        below, above = th * th * (1.0 - 1e-12), th * th * (1.0 + 1e-12)
        if _diverged(w, d, th, below, above):
            diverged_at = 0.0
        k_rec = 0
        if record_steps[0] == 0:
            out_w[c, 0, b, :] = w
            k_rec = 1
        pos = 0
        s = _initial(mu_cdf[c], S, u[pos])
        pos += 1
        t = 0
        while t < T:
            length = min(chunk, T - t)
            for k in range(length):
                # --- the transition: sample_actions, then step_streams (reward, next state, restart)
                row_cdf = cdf[c, s]
                ua = u[pos] * row_cdf[A - 1]
                a = 0
                for j in range(A):
                    if ua >= row_cdf[j]:
                        a += 1
                a = min(a, A - 1)
                r = R[c, s, a]
                if noisy[c]:
                    r = r + reward_std[c, s, a] * normals[c, b, t]
                row = s * A + a
                start = last[c, row - 1] + 1 if row > 0 else 0
                s_next = successor[lo + _next_state(keys, lo, start, last[c, row], row + u[pos + 1])]
                restart_u = u[pos + 2]
                pos += 3
                if k == length - 1:
                    restart_u = u[pos]  # the restart state drawn after the chunk
                ends = terminal[c, s_next]
                discount = g * (0.0 if ends else 1.0)
                rho = rho_table[c, s, a]
                x = Phi[c, s]
                x_next = Phi[c, s_next]
                # --- the update (linear._apply, linear._Window)
                if n > 1:
                    i = count % n
                    win_s[i], win_next[i], win_r[i], win_d[i], win_rho[i], win_end[i] = (s, s_next, r, discount,
                                                                                       rho, ends)
                    count += 1
                    if count >= n:
                        for m in range(n):
                            values[m] = _dot(Phi[c, win_next[(m + count) % n]], w, d)
                        last_i = (n - 1 + count) % n
                        G = win_r[last_i] + win_d[last_i] * values[n - 1]
                        for m in range(n - 2, -1, -1):
                            o = (m + count) % n
                            nxt = 0.0 + 1.0 * G
                            G = win_r[o] + win_d[o] * nxt
                        first = count % n
                        x_first = Phi[c, win_s[first]]
                        error = G - _dot(x_first, w, d)
                        prod = win_rho[first]
                        reached = not win_end[first]
                        for m in range(1, n):
                            o = (m + count) % n
                            prod = prod * (win_rho[o] if reached else 1.0)
                            reached = reached and not win_end[o]
                        coef = prod * error
                        for q in range(d):
                            w[q] = w[q] + a_w * (coef * x_first[q])
                else:
                    boot = w_target if alg == TARGET else w
                    delta = r + discount * _dot(x_next, boot, d) - _dot(x, w, d)
                    if alg == TD or alg == TARGET:
                        coef = rho * delta
                        if lm > 0:
                            decay = lm * carry
                            for q in range(d):
                                e = decay * z[q] + x[q]
                                z[q] = rho * e
                                w[q] = w[q] + a_w * (coef * e)
                        else:
                            for q in range(d):
                                w[q] = w[q] + a_w * (coef * x[q])
                    elif alg == ETD:
                        emphasis = carry * rho_f + interest[c, s]
                        rho_f = rho * emphasis
                        coef = emphasis * rho * delta
                        for q in range(d):
                            w[q] = w[q] + a_w * (coef * x[q])
                    else:
                        xh = _dot(x, h, d)
                        ch = rho * (delta - xh)
                        if alg == TDC:
                            dx = discount * xh
                            for q in range(d):
                                w[q] = w[q] + a_w * (rho * (delta * x[q] - dx * x_next[q]))
                        else:
                            cw = rho * xh
                            for q in range(d):
                                w[q] = w[q] + a_w * (cw * (x[q] - discount * x_next[q]))
                        for q in range(d):
                            h[q] = h[q] + a_h * (ch * x[q])
                    updates += 1
                    if alg == TARGET:
                        if tu > 0:
                            for q in range(d):
                                w_target[q] = tu * w[q] + one_minus_tau * w_target[q]
                        elif updates % per == 0:
                            for q in range(d):
                                w_target[q] = w[q]
                    carry = discount
                # --- the next state and the record (triad.record.Recorder)
                s = _initial(mu_cdf[c], S, restart_u) if ends else s_next
                t += 1
                if np.isnan(diverged_at) and _diverged(w, d, th, below, above):
                    diverged_at = t
                if k_rec < record_steps.size and record_steps[k_rec] == t:
                    out_w[c, k_rec, b, :] = w
                    k_rec += 1
            pos += 1
        out_diverged[c, b] = diverged_at
