"""Numba kernels of the adaptive controller: learning step, predictive law, input limits, fused step (not public API)."""

from __future__ import annotations

import math

import numpy as np

from neurocontrol.nets._kernels import TANH, _jit, rls_kernel, two_d_kernel

__all__ = ["TANH", "rls_kernel", "adaptive_learn_kernel", "limit_input_kernel", "predictive_kernel", "adaptive_step_kernel", "ARENA_FIELDS"]


# --------------------------------------------------------------------------- adaptive controller: one learning step

@_jit
def _fill_desired_kernel(rm, out_scale, out_offset, rate_scale, rate_offset, d):
    p = rm.shape[0]
    for i in range(d.shape[0]):
        d[i] = 0.0
    for i in range(p):
        v = rm[i, 0] * out_scale[i] + out_offset[i]
        w = rm[i, 1] * rate_scale[i] + rate_offset[i]
        d[i] = min(max(v, -0.99), 0.99)
        d[p + i] = min(max(w, -0.99), 0.99)


@_jit
def adaptive_learn_kernel(obs, ref, y, W, z, have_z, P, lam, lam_dir, max_trace, Pz, gain,
                          Ws, zs, Ps, lam_s, lam_dir_s, max_trace_s, Pzs, gains, n_out_s, im_kind, im_par,
                          y_scale, y_offset, r_scale, r_offset,
                          rm, rm_ad, rm_bd, handover, handover_values, handover_rates,
                          out_scale, out_offset, rate_scale, rate_offset,
                          d, d_prev, dist_a, offset, scratch):
    """Learning half of one adaptive-controller step, both networks by RLS (pure, no allocation).

    Normalises the measurement into ``y``; if ``have_z``, records the
    identifier's a-priori one-step error, lets it learn ``z -> y`` (RLS),
    and updates the disturbance estimate ``offset`` when ``dist_a > 0``;
    optionally restarts the reference model at the measured outputs
    (``handover``); copies the imitator state into ``d_prev``, advances the
    reference model under ``ref``, fills ``d`` and lets the imitator learn
    ``[d_prev; r; 1] -> d`` by RLS (``im_kind`` 0) or by the 2-D rule
    (``im_kind`` 1, ``im_par = [alpha, delta, tol, k_max]``, ``gains`` as
    its buffer). Returns the prediction error norm (NaN when not learned);
    the count of covariance bounds applied goes to ``scratch[0]``, the
    imitator's inner iterations to ``scratch[1]``; ``scratch[2:5]`` hold the
    identifier's outlier gate (factor, log running error level, level rate),
    ``scratch[5]`` is 1 when the identifier learned this step.
    """
    n = y.shape[0]
    p = rm.shape[0]
    for i in range(n):
        v = obs[i] * y_scale[i] + y_offset[i]
        y[i] = min(max(v, -0.99), 0.99)
    err = np.nan
    bounded = 0
    if have_z:
        acc = 0.0
        for k in range(n):
            s = 0.0
            for j in range(z.shape[0]):
                s += W[k, j] * z[j]
            e = y[k] - math.tanh(s)
            acc += e * e
        err = math.sqrt(acc)
        # outlier gate (scratch[2] = G > 0): skip the update while the error exceeds G times its running
        # level; the level (geometric mean, rate scratch[4]) follows every sample, so a lasting change of the
        # plant opens the gate again after a delay that grows with log(jump)
        learn = True
        gate = scratch[2]
        if gate > 0.0:
            le = math.log(err + 1e-300)
            if math.isnan(scratch[3]):
                scratch[3] = le
            learn = le <= math.log(gate) + scratch[3]
            scratch[3] += scratch[4] * (le - scratch[3])
        scratch[5] = 1.0 if learn else 0.0
        if learn:
            bounded += rls_kernel(W, z, y, TANH, P, lam, lam_dir, max_trace, Pz, gain)
        if dist_a > 0.0:
            for k in range(n):
                s = 0.0
                for j in range(z.shape[0]):
                    s += W[k, j] * z[j]
                offset[k] = dist_a * offset[k] + (1.0 - dist_a) * (0.5 * math.log((1.0 + y[k]) / (1.0 - y[k])) - s)
    if handover:
        for i in range(p):
            rm[i, 0] = handover_values[i]
            rm[i, 1] = handover_rates[i]
        _fill_desired_kernel(rm, out_scale, out_offset, rate_scale, rate_offset, d)
    for i in range(n):
        d_prev[i] = d[i]
    for i in range(p):
        v = rm[i, 0]
        rm[i, 0] = rm_ad[i, 0, 0] * v + rm_ad[i, 0, 1] * rm[i, 1] + rm_bd[i, 0] * ref[i]
        rm[i, 1] = rm_ad[i, 1, 0] * v + rm_ad[i, 1, 1] * rm[i, 1] + rm_bd[i, 1] * ref[i]
    _fill_desired_kernel(rm, out_scale, out_offset, rate_scale, rate_offset, d)
    for i in range(n):
        zs[i] = d_prev[i]
    for i in range(p):
        zs[n + i] = ref[i] * r_scale[i] + r_offset[i]
    zs[n + p] = 1.0
    if im_kind == 0:
        bounded += rls_kernel(Ws, zs, d[:n_out_s], TANH, Ps, lam_s, lam_dir_s, max_trace_s, Pzs, gains)
        scratch[1] = 1
    else:
        scratch[1] = two_d_kernel(Ws, zs, d[:n_out_s], TANH, im_par[0], im_par[1], im_par[2], int(im_par[3]), gains)
    scratch[0] = bounded
    return err


@_jit
def limit_input_kernel(proposal, normalized, u_scale, u_offset, u_prev, rate_limit, lo, hi, out):
    """The input actually proposed: de-normalised, non-finite entries held at ``u_prev``, rate- and range-limited."""
    for i in range(out.shape[0]):
        v = proposal[i]
        if normalized:
            v = (v - u_offset[i]) / u_scale[i]
        if not math.isfinite(v):
            v = u_prev[i]
        v = min(max(v, u_prev[i] - rate_limit[i]), u_prev[i] + rate_limit[i])
        out[i] = min(max(v, lo[i]), hi[i])


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



# --------------------------------------------------------------------------- adaptive controller: one fused step

#: Named buffers of the adaptive controller's arena (one flat float64 array), in layout order.
#: Passing one arena and one layout instead of ~50 arrays matters: numba unboxes every array
#: argument on each call (about 0.3-0.4 us each here).
ARENA_FIELDS = ("W", "z", "P", "Pz", "gain", "Ws", "zs", "Ps", "Pzs", "gains", "im_par",
                "y_scale", "y_offset", "r_scale", "r_offset", "rm", "rm_ad", "rm_bd", "hv", "hr",
                "out_scale", "out_offset", "rate_scale", "rate_offset", "d", "d_prev", "offset", "scratch", "y",
                "u_scale", "u_offset", "u_law", "lo", "hi", "rate_limit", "u_out", "q", "rho",
                "yh", "yn", "dh", "dn", "S", "Sn", "A", "b", "r_n", "u_n", "law_out", "par")
#: Integer buffers: the imitator unit of each identifier unit, and the move-block starts.
INT_FIELDS = ("dmap", "blocks")


@_jit
def _v1(A, L, k):
    o = L[4 * k]
    return A[o:o + L[4 * k + 1]]


@_jit
def _v2(A, L, k):
    o = L[4 * k]
    a = L[4 * k + 1]
    b = L[4 * k + 2]
    return A[o:o + a * b].reshape((a, b))


@_jit
def _v3(A, L, k):
    o = L[4 * k]
    a = L[4 * k + 1]
    b = L[4 * k + 2]
    c = L[4 * k + 3]
    return A[o:o + a * b * c].reshape((a, b, c))


@_jit
def adaptive_step_kernel(obs, ref, A, L, J, JL):
    """One whole adaptive-controller step after the warm-up, in one compiled call.

    ``A`` is the arena (``ARENA_FIELDS`` laid out by ``L``: offset and up to
    three dimensions per field), ``J`` the integer arena (``INT_FIELDS`` by
    ``JL``). Runs :func:`adaptive_learn_kernel`, then :func:`predictive_kernel`
    on the measured output, the imitator state and the normalised command,
    then :func:`limit_input_kernel`; the proposed input lands in ``u_out``.
    ``par`` holds ``[have_z, lam, max_trace, lam_s, max_trace_s, n_out_s,
    im_kind, dist_a, handover, horizon, stride, lam_dir, lam_dir_s]``. Returns the identifier's
    a-priori prediction error (NaN when it did not learn).
    """
    par = _v1(A, L, 49)
    W = _v2(A, L, 0)
    z = _v1(A, L, 1)
    Ws = _v2(A, L, 5)
    y = _v1(A, L, 28)
    d = _v1(A, L, 24)
    d_prev = _v1(A, L, 25)
    offset = _v1(A, L, 26)
    r_scale = _v1(A, L, 13)
    r_offset = _v1(A, L, 14)
    err = adaptive_learn_kernel(obs, ref, y, W, z, par[0] != 0.0, _v2(A, L, 2), par[1], par[11], par[2],
                                _v1(A, L, 3), _v1(A, L, 4), Ws, _v1(A, L, 6), _v2(A, L, 7), par[3], par[12], par[4],
                                _v1(A, L, 8),
                                _v1(A, L, 9), int(par[5]), int(par[6]), _v1(A, L, 10),
                                _v1(A, L, 11), _v1(A, L, 12), r_scale, r_offset,
                                _v2(A, L, 15), _v3(A, L, 16), _v2(A, L, 17), par[8] != 0.0, _v1(A, L, 18),
                                _v1(A, L, 19), _v1(A, L, 20), _v1(A, L, 21), _v1(A, L, 22), _v1(A, L, 23),
                                d, d_prev, par[7], offset, _v1(A, L, 27))
    r_n = _v1(A, L, 46)
    for i in range(r_n.shape[0]):
        r_n[i] = ref[i] * r_scale[i] + r_offset[i]
    u_scale = _v1(A, L, 29)
    u_offset = _v1(A, L, 30)
    u_law = _v1(A, L, 31)
    u_n = _v1(A, L, 47)
    for i in range(u_n.shape[0]):
        u_n[i] = u_law[i] * u_scale[i] + u_offset[i]
    law_out = _v1(A, L, 48)
    dmap = J[JL[0]:JL[0] + JL[1]]
    blocks = J[JL[4]:JL[4] + JL[5]]
    predictive_kernel(W, Ws, y, d_prev, r_n, u_n, offset, dmap, _v1(A, L, 36), blocks, int(par[9]), int(par[10]),
                      _v1(A, L, 37), _v1(A, L, 38), _v1(A, L, 39), _v1(A, L, 40), _v1(A, L, 41), _v2(A, L, 42),
                      _v2(A, L, 43), _v2(A, L, 44), _v1(A, L, 45), law_out)
    limit_input_kernel(law_out, True, u_scale, u_offset, u_law, _v1(A, L, 34), _v1(A, L, 32), _v1(A, L, 33),
                       _v1(A, L, 35))
    return err
