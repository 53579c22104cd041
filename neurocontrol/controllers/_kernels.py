"""Numba kernels of the controllers: the adaptive step, the predictive law, the input limits (not public API)."""

from __future__ import annotations

import math

import numpy as np

from neurocontrol.controllers.arena import F, I, view1, view2, view3
from neurocontrol.nets._kernels import TANH, _jit, rls_kernel, two_d_kernel
from neurocontrol.reference_model import second_order_step

__all__ = ["adaptive_step_kernel", "all_finite_kernel", "count_at_least_kernel", "count_below_kernel",
           "denormalize_kernel", "fill_desired_kernel", "fill_preview_kernel", "finite_sum_kernel",
           "limit_input_kernel", "predictive_kernel", "set_walk_kernel"]


# --------------------------------------------------------------------------- input limits

@_jit
def all_finite_kernel(x):
    """Return whether every entry of ``x`` is finite (no sum, so no overflow of finite entries, and no warning)."""
    for i in range(x.shape[0]):
        if not math.isfinite(x[i]):
            return False
    return True


@_jit
def finite_sum_kernel(x):
    """Return whether the sum of ``x``'s entries is finite (``math.isfinite(x.sum())`` up to the order of the sum)."""
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i]
    return math.isfinite(total)


# --------------------------------------------------------------------------- the neural controller's per-step glue

@_jit
def count_below_kernel(a, b):
    """Return ``np.count_nonzero(a < b)`` of two 1-D arrays."""
    n = 0
    for i in range(a.shape[0]):
        if a[i] < b[i]:
            n += 1
    return n


@_jit
def count_at_least_kernel(a, b, index):
    """Return ``np.count_nonzero(a[index] >= b[index])``."""
    n = 0
    for i in index:
        if a[i] >= b[i]:
            n += 1
    return n


@_jit
def set_walk_kernel(on, rows, noise_var, quiet, q, walk):
    """``walk[rows[j]] = q[j]`` where ``on`` and ``noise_var[rows[j]] < quiet[j]``, else 0 (the bias walk's rows)."""
    for j in range(rows.shape[0]):
        r = rows[j]
        walk[r] = q[j] if on and noise_var[r] < quiet[j] else 0.0


@_jit
def fill_preview_kernel(cache, off, lead, reference, r):
    """Fill the reference model's input over the horizon, r (N, p), from the preview cache.

    ``r[:, j] = cache[off + lead[j]:off + lead[j] + N, j]``, and row 0 of a column without lead is the present
    ``reference[j]``.
    """
    for j in range(r.shape[1]):
        for i in range(r.shape[0]):
            r[i, j] = cache[off + lead[j] + i, j]
        if lead[j] == 0:
            r[0, j] = reference[j]


@_jit
def limit_input_kernel(proposal, feedforward, use_feedforward, u_prev, rate_limit, lo, hi, out):
    """Write the applied input ``limit(proposal + feedforward)`` into ``out``: rate, then range limits.

    The one place inputs are limited (:meth:`AbstractController.step`
    calls it): the feedforward is added first, so the rate limit bounds it
    too. ``use_feedforward`` False ignores ``feedforward`` (adding zeros
    would turn -0.0 into 0.0).
    """
    for i in range(out.shape[0]):
        v = proposal[i]
        if use_feedforward:
            v += feedforward[i]
        v = min(max(v, u_prev[i] - rate_limit[i]), u_prev[i] + rate_limit[i])
        out[i] = min(max(v, lo[i]), hi[i])


@_jit
def denormalize_kernel(proposal, u_scale, u_offset, u_hold, out):
    """Write a normalised law proposal in physical units into ``out``; non-finite entries hold ``u_hold``."""
    for i in range(out.shape[0]):
        v = (proposal[i] - u_offset[i]) / u_scale[i]
        out[i] = v if math.isfinite(v) else u_hold[i]


# --------------------------------------------------------------------------- adaptive controller: desired response

@_jit
def fill_desired_kernel(rm, out_scale, out_offset, rate_scale, rate_offset, d):
    """Imitator state from the reference model: ``[values | rates | hidden = 0]``, normalised, clipped to 0.99."""
    p = rm.shape[0]
    for i in range(d.shape[0]):
        d[i] = 0.0
    for i in range(p):
        v = rm[i, 0] * out_scale[i] + out_offset[i]
        w = rm[i, 1] * rate_scale[i] + rate_offset[i]
        d[i] = min(max(v, -0.99), 0.99)
        d[p + i] = min(max(w, -0.99), 0.99)


# --------------------------------------------------------------------------- predictive law

@_jit
def _tanh(s):
    """Tanh through one exp (about 3x cheaper than math.tanh here; exact to rounding)."""
    if s > 20.0:
        return 1.0
    if s < -20.0:
        return -1.0
    if -1e-3 < s < 1e-3:
        s2 = s * s
        return s * (1.0 - s2 * (1.0 / 3.0 - s2 * (2.0 / 15.0)))
    e = math.exp(2.0 * s)
    return (e - 1.0) / (e + 1.0)


@_jit
def predictive_kernel(W, Ws, y, d, r, u, offset, dmap, q, blocks, horizon, stride, move_penalty,
                      yh, yn, dh, dn, S, Sn, A, b, out):
    """One Gauss-Newton step of the horizon problem (pure, no allocation).

    Free-runs the identifier from the measured ``y`` with the input held at
    ``u`` and the imitator from ``d`` with the command held at ``r``;
    propagates the sensitivities ``S[:, j*m:(j+1)*m] = dy(t+h)/du_j`` of the
    outputs to the input move of block j (applied from step ``blocks[j]``
    onward; zero before it); accumulates, at every ``stride``-th step, the
    normal equations of

        sum_h sum_k q_k (d_map[k](t+h) - y_k(t+h) - S_k(h) du)^2 + move_penalty * |du|^2

    and solves them by Cholesky. Writes ``u + du_0`` (the first block's
    input) into ``out`` and returns the predicted cost without a move.
    """
    n = y.shape[0]
    m = u.shape[0]
    p = r.shape[0]
    nb = blocks.shape[0]
    nv = nb * m
    for i in range(n):
        yh[i] = y[i]
        dh[i] = d[i]
        for j in range(nv):
            S[i, j] = 0.0
            Sn[i, j] = 0.0
    for i in range(nv):
        b[i] = 0.0
        for j in range(nv):
            A[i, j] = 0.0
        A[i, i] = move_penalty[i % m]
    cost = 0.0
    n_active = 0
    for h in range(horizon):
        while n_active < nb and blocks[n_active] <= h:
            n_active += 1
        na = n_active * m
        # identifier free run
        for k in range(n):
            s = W[k, n + m] + offset[k]
            for l in range(n):
                s += W[k, l] * yh[l]
            for l in range(m):
                s += W[k, n + l] * u[l]
            yn[k] = _tanh(s)
        # sensitivities of the active blocks: Sn = diag(f') (W1 S + W2 [active])
        for k in range(n):
            fp = 1.0 - yn[k] * yn[k]
            for j in range(n_active):
                for c in range(m):
                    Sn[k, j * m + c] = W[k, n + c]
            for l in range(n):
                w = W[k, l]
                for col in range(na):
                    Sn[k, col] += w * S[l, col]
            for col in range(na):
                Sn[k, col] *= fp
        # imitator free run (rows without weights are hidden units that stay at 0: skip them)
        for k in range(n):
            if Ws[k, k] == 0.0 and Ws[k, n + p] == 0.0:
                dn[k] = 0.0
                continue
            s = Ws[k, n + p]
            for l in range(n):
                s += Ws[k, l] * dh[l]
            for l in range(p):
                s += Ws[k, n + l] * r[l]
            dn[k] = _tanh(s)
        # normal equations at the evaluation points
        if (h + 1) % stride == 0 or h == horizon - 1:
            for k in range(n):
                if dmap[k] < 0 or q[k] == 0.0:
                    continue
                e = dn[dmap[k]] - yn[k]
                cost += q[k] * e * e
                for i in range(na):
                    si = q[k] * Sn[k, i]
                    b[i] += si * e
                    for j in range(i, na):
                        A[i, j] += si * Sn[k, j]
        for k in range(n):
            yh[k] = yn[k]
            dh[k] = dn[k]
        S, Sn = Sn, S
    # Cholesky solve of the symmetric positive-definite system (upper triangle filled)
    for i in range(nv):
        for j in range(i):
            A[i, j] = A[j, i]
    for j in range(nv):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if s <= 1e-300:
            s = 1e-300
        A[j, j] = math.sqrt(s)
        for i in range(j + 1, nv):
            s = A[i, j]
            for k in range(j):
                s -= A[i, k] * A[j, k]
            A[i, j] = s / A[j, j]
    for i in range(nv):
        s = b[i]
        for k in range(i):
            s -= A[i, k] * b[k]
        b[i] = s / A[i, i]
    for i in range(nv - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, nv):
            s -= A[k, i] * b[k]
        b[i] = s / A[i, i]
    for c in range(m):
        out[c] = u[c] + b[c]
    return cost


# --------------------------------------------------------------------------- adaptive controller: one step

@_jit
def adaptive_step_kernel(obs, ref, u_law, A, L, J, JL, finite, run_law):
    """One adaptive-controller step on its arena (pure, no allocation); returns the a-priori error norm.

    ``A``/``L`` are the float arena and its layout, ``J``/``JL`` the integer
    ones (fields named in :mod:`neurocontrol.controllers.arena`). With a
    ``finite`` measurement: normalise it into ``y``; if ``have_z``, record
    the identifier's a-priori one-step error, pass it through the outlier
    gate and let the identifier learn ``z -> y`` by RLS, then update the
    disturbance estimate ``offset``. Always: ``d_prev = d``, advance the
    reference model under ``ref``, refill ``d`` and let the imitator learn
    ``[d_prev; r; 1] -> d`` (RLS or the 2-D rule). With ``run_law``: one
    predictive-law step from the measured ``y``, the imitator state
    ``d_prev`` and the feedback input ``u_law``; its proposal, in physical
    units, lands in ``u_out`` (non-finite entries hold ``u_law``). The
    limits are applied by the caller. Returns NaN when the identifier had
    nothing to learn from.
    """
    # the activation code as a run-time int64, as the Python callers pass it: a literal would compile the
    # shared kernels a second time, specialised to the constant
    act = np.int64(TANH)
    W = view2(A, L, F.W)
    z = view1(A, L, F.z)
    Ws = view2(A, L, F.Ws)
    zs = view1(A, L, F.zs)
    y = view1(A, L, F.y)
    d = view1(A, L, F.d)
    d_prev = view1(A, L, F.d_prev)
    offset = view1(A, L, F.offset)
    rm = view2(A, L, F.rm)
    r_scale = view1(A, L, F.r_scale)
    r_offset = view1(A, L, F.r_offset)
    n = y.shape[0]
    p = rm.shape[0]
    err = np.nan
    id_iters = 0
    if finite:
        y_scale = view1(A, L, F.y_scale)
        y_offset = view1(A, L, F.y_offset)
        for i in range(n):
            v = obs[i] * y_scale[i] + y_offset[i]
            y[i] = min(max(v, -0.99), 0.99)
        if A[L[F.have_z, 0]] != 0.0:
            acc = 0.0
            for k in range(n):
                s = 0.0
                for j in range(z.shape[0]):
                    s += W[k, j] * z[j]
                e = y[k] - math.tanh(s)
                acc += e * e
            err = math.sqrt(acc)
            A[L[F.pred_err, 0]] = err
            # outlier gate (factor G > 0): skip the update while the error exceeds G times its running level;
            # the level (a geometric mean) follows every sample, so a lasting change of the plant opens the gate
            # again after a delay that grows with log(jump)
            learn = True
            gate = A[L[F.gate_factor, 0]]
            if gate > 0.0:
                lv = L[F.gate_level, 0]
                le = math.log(err + 1e-300)
                if math.isnan(A[lv]):
                    A[lv] = le
                learn = le <= math.log(gate) + A[lv]
                A[lv] += A[L[F.gate_rate, 0]] * (le - A[lv])
            if learn:
                A[L[F.id_bounded, 0]] += rls_kernel(W, z, y, act, view2(A, L, F.P), A[L[F.lam, 0]],
                                                    A[L[F.lam_dir, 0]], A[L[F.max_trace, 0]],
                                                    view1(A, L, F.Pz), view1(A, L, F.gain))
                A[L[F.id_updates, 0]] += 1.0
                id_iters = 1
            dist_a = A[L[F.dist_a, 0]]
            if dist_a > 0.0:
                for k in range(n):
                    s = 0.0
                    for j in range(z.shape[0]):
                        s += W[k, j] * z[j]
                    offset[k] = dist_a * offset[k] + (1.0 - dist_a) * (0.5 * math.log((1.0 + y[k]) / (1.0 - y[k]))
                                                                         - s)
    A[L[F.id_iters, 0]] = id_iters
    for i in range(n):
        d_prev[i] = d[i]
    second_order_step(rm, view3(A, L, F.rm_ad), view2(A, L, F.rm_bd), ref)
    fill_desired_kernel(rm, view1(A, L, F.out_scale), view1(A, L, F.out_offset), view1(A, L, F.rate_scale),
                        view1(A, L, F.rate_offset), d)
    for i in range(n):
        zs[i] = d_prev[i]
    for i in range(p):
        zs[n + i] = ref[i] * r_scale[i] + r_offset[i]
    zs[n + p] = 1.0
    gains = view1(A, L, F.gains)
    if J[JL[I.im_kind, 0]] == 0:
        A[L[F.im_bounded, 0]] += rls_kernel(Ws, zs, d[:2 * p], act, view2(A, L, F.Ps), A[L[F.lam_s, 0]],
                                            A[L[F.lam_dir_s, 0]], A[L[F.max_trace_s, 0]], view1(A, L, F.Pzs), gains)
        A[L[F.im_iters, 0]] = 1
    else:
        A[L[F.im_iters, 0]] = two_d_kernel(Ws, zs, d[:2 * p], act, A[L[F.alpha_s, 0]], A[L[F.delta_s, 0]],
                                           A[L[F.tol_s, 0]], J[JL[I.k_max_s, 0]], gains)
    A[L[F.im_updates, 0]] += 1.0
    if run_law:
        r_n = view1(A, L, F.r_n)
        for i in range(p):
            r_n[i] = ref[i] * r_scale[i] + r_offset[i]
        u_scale = view1(A, L, F.u_scale)
        u_offset = view1(A, L, F.u_offset)
        u_n = view1(A, L, F.u_n)
        for i in range(u_n.shape[0]):
            u_n[i] = u_law[i] * u_scale[i] + u_offset[i]
        law_out = view1(A, L, F.law_out)
        dmap = J[JL[I.dmap, 0]:JL[I.dmap, 0] + JL[I.dmap, 1]]
        blocks = J[JL[I.blocks, 0]:JL[I.blocks, 0] + JL[I.blocks, 1]]
        predictive_kernel(W, Ws, y, d_prev, r_n, u_n, offset, dmap, view1(A, L, F.q), blocks, J[JL[I.horizon, 0]],
                          J[JL[I.stride, 0]], view1(A, L, F.rho), view1(A, L, F.yh), view1(A, L, F.yn),
                          view1(A, L, F.dh), view1(A, L, F.dn), view2(A, L, F.S), view2(A, L, F.Sn),
                          view2(A, L, F.NA), view1(A, L, F.Nb), law_out)
        denormalize_kernel(law_out, u_scale, u_offset, u_law, view1(A, L, F.u_out))
    return err
