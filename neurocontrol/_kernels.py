"""Numba kernels of the learning core (not public API).

Every kernel is a pure function of float64 arrays and integer scalars: it
validates nothing, allocates nothing inside its loops (buffers are passed in or
allocated once before the loop) and writes its results into output arguments.
The public wrappers in :mod:`neurocontrol.rtrn`, :mod:`neurocontrol.rtrl` and
:mod:`neurocontrol.learning` coerce and validate, then call these.

Conventions shared by all kernels
---------------------------------
``W``      (N, nz) weights, nz = N + m + bias; columns [recurrent | inputs | bias].
``z``      (nz,) concatenated input z = [y; u; 1].
``P``      (N, N*nz) dense RTRL sensitivities, P[k, i*nz + j] = dy_k / dW_ij.
``act``    activation code: ``TANH`` (0) or ``LOGISTIC`` (1).
``n_forced`` number of leading units that are teacher forced: their
           sensitivities are zero before the step (Williams & Zipser 1989),
           implemented by skipping those columns of the recurrent weights.
``use_blas`` 1: compute the sensitivity product with one BLAS GEMM
           (``np.dot(A, P, out)``), 0: register-blocked loops (faster for
           small N, where BLAS call overhead dominates).

Numba flags live in ``JIT_OPTIONS`` only.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "JIT_OPTIONS",
    "TANH",
    "LOGISTIC",
    "forward_kernel",
    "rtrl_step_kernel",
    "rtrl_sequence_kernel",
    "predict_kernel",
    "snap1_step_kernel",
    "input_jacobian_kernel",
    "output_error_kernel",
    "two_d_kernel",
    "rls_kernel",
    "predictive_kernel",
    "adaptive_learn_kernel",
    "adaptive_step_kernel",
    "limit_input_kernel",
    "ARENA_FIELDS",
]

#: The one place where numba compilation flags are set. ``cache=True`` keeps the
#: compiled machine code on disk so the test suite and scripts start quickly;
#: ``fastmath`` allows only floating-point contraction (fused multiply-add), no
#: reassociation, so results agree with plain references to rounding.
#: ``error_model="numpy"``: division by zero gives inf/nan (caught by the
#: learning guards) instead of raising inside a kernel.
JIT_OPTIONS = dict(nogil=True, cache=True, fastmath={"contract"}, boundscheck=False, error_model="numpy")

TANH = 0
LOGISTIC = 1

_jit = numba.njit(**JIT_OPTIONS)


@_jit
def _activate(W, z, y, fp, act):
    """s = W z; y = f(s); fp = f'(s) (computed from y)."""
    N, nz = W.shape
    for k in range(N):
        s = 0.0
        for j in range(nz):
            s += W[k, j] * z[j]
        if act == TANH:
            yk = math.tanh(s)
            fp[k] = 1.0 - yk * yk
        else:
            yk = 1.0 / (1.0 + math.exp(-s))
            fp[k] = yk * (1.0 - yk)
        y[k] = yk


@_jit
def _fill_z(z, y, u, bias):
    N = y.shape[0]
    m = u.shape[0]
    for i in range(N):
        z[i] = y[i]
    for i in range(m):
        z[N + i] = u[i]
    if bias:
        z[N + m] = 1.0


@_jit
def forward_kernel(W, z, y, fp, act):
    """One forward step y = f(W z), also writing fp = f'(W z)."""
    _activate(W, z, y, fp, act)


@_jit
def _propagate(W, z, P, Pn, A, fp, n_forced, use_blas):
    """Pn = (fp[:, None] * W_rec[:, n_forced:]) @ P[n_forced:] + blockdiag(fp_k z).

    ``A`` is an (N, N) scratch buffer used only when ``use_blas``.
    """
    N, nz = W.shape
    ncol = P.shape[1]
    if use_blas:
        for k in range(N):
            for l in range(N):
                A[k, l] = fp[k] * W[k, l] if l >= n_forced else 0.0
        np.dot(A, P, Pn)
    else:
        # Register-blocked 2 x 4: two destination rows share four source rows,
        # so each loaded P element feeds two fused multiply-adds and each Pn
        # element is loaded/stored once per four source rows.
        k = 0
        while k + 2 <= N:
            k2 = k + 1
            f0 = fp[k]
            f1 = fp[k2]
            for c in range(ncol):
                Pn[k, c] = 0.0
                Pn[k2, c] = 0.0
            l = n_forced
            while l + 4 <= N:
                a0 = f0 * W[k, l]
                a1 = f0 * W[k, l + 1]
                a2 = f0 * W[k, l + 2]
                a3 = f0 * W[k, l + 3]
                b0 = f1 * W[k2, l]
                b1 = f1 * W[k2, l + 1]
                b2 = f1 * W[k2, l + 2]
                b3 = f1 * W[k2, l + 3]
                for c in range(ncol):
                    p0 = P[l, c]
                    p1 = P[l + 1, c]
                    p2 = P[l + 2, c]
                    p3 = P[l + 3, c]
                    Pn[k, c] += a0 * p0 + a1 * p1 + a2 * p2 + a3 * p3
                    Pn[k2, c] += b0 * p0 + b1 * p1 + b2 * p2 + b3 * p3
                l += 4
            while l < N:
                a0 = f0 * W[k, l]
                b0 = f1 * W[k2, l]
                for c in range(ncol):
                    p0 = P[l, c]
                    Pn[k, c] += a0 * p0
                    Pn[k2, c] += b0 * p0
                l += 1
            k += 2
        if k < N:  # odd N: the last row alone
            f0 = fp[k]
            for c in range(ncol):
                Pn[k, c] = 0.0
            l = n_forced
            while l + 4 <= N:
                a0 = f0 * W[k, l]
                a1 = f0 * W[k, l + 1]
                a2 = f0 * W[k, l + 2]
                a3 = f0 * W[k, l + 3]
                for c in range(ncol):
                    Pn[k, c] += a0 * P[l, c] + a1 * P[l + 1, c] + a2 * P[l + 2, c] + a3 * P[l + 3, c]
                l += 4
            while l < N:
                a0 = f0 * W[k, l]
                for c in range(ncol):
                    Pn[k, c] += a0 * P[l, c]
                l += 1
    for k in range(N):
        off = k * nz
        for j in range(nz):
            Pn[k, off + j] += fp[k] * z[j]


@_jit
def rtrl_step_kernel(W, z, P, Pn, y, fp, act, n_forced, use_blas):
    """One exact RTRL step: y = f(W z) and Pn = dy/dW from P (Williams & Zipser 1989).

    Few arguments on purpose: each array argument costs call overhead, which
    dominates for small N. The (N, N) GEMM operand is allocated per call only
    on the BLAS path, where the product costs far more than the allocation.
    """
    _activate(W, z, y, fp, act)
    if use_blas:
        A = np.empty((W.shape[0], W.shape[0]))
    else:
        A = np.empty((0, 0))
    _propagate(W, z, P, Pn, A, fp, n_forced, use_blas)


@_jit
def rtrl_sequence_kernel(W, y0, U, D, n_out, forcing, act, bias, P, Pn, grad, Y, use_blas):
    """Run exact RTRL over a whole sequence with frozen weights.

    Loss L = sum_t 0.5 ||D[t] - Y[t, :n_out]||^2, t = 0..T-1, where Y[t] = y(t+1).
    Writes ``grad`` (N*nz,) = dL/dW (flattened row-major), ``Y`` (T, N) the
    predictions, and leaves the final sensitivities dy(T)/dW in ``P``.
    With ``forcing``, the first ``n_out`` units of y(t) are replaced by D[t-1]
    before step t >= 1 and their sensitivities zeroed.
    Returns (L, sum_t ||dY[t,:n_out]/dW||_F^2).
    """
    N, nz = W.shape
    T = U.shape[0]
    ncol = P.shape[1]
    z = np.empty(nz)
    y = np.empty(N)
    ycur = np.empty(N)
    fp = np.empty(N)
    A = np.empty((N, N))
    jac = np.zeros(ncol)  # per-column sums of squares: a vectorisable reduction
    for i in range(N):
        ycur[i] = y0[i]
    for c in range(ncol):
        grad[c] = 0.0
    for k in range(N):
        for c in range(ncol):
            P[k, c] = 0.0
    n_forced = n_out if forcing else 0
    loss = 0.0
    Pa = P
    Pb = Pn
    for t in range(T):
        _fill_z(z, ycur, U[t], bias)
        _activate(W, z, y, fp, act)
        _propagate(W, z, Pa, Pb, A, fp, n_forced, use_blas)
        for k in range(N):
            Y[t, k] = y[k]
        for k in range(n_out):
            e = D[t, k] - y[k]
            loss += 0.5 * e * e
            for c in range(ncol):
                pk = Pb[k, c]
                grad[c] -= e * pk
                jac[c] += pk * pk
        for k in range(N):
            ycur[k] = y[k]
        if forcing:
            for k in range(n_out):
                ycur[k] = D[t, k]
        Pa, Pb = Pb, Pa
    if T % 2 == 1:
        for k in range(N):
            for c in range(ncol):
                P[k, c] = Pn[k, c]
    jac_sq = 0.0
    for c in range(ncol):
        jac_sq += jac[c]
    return loss, jac_sq


@_jit
def predict_kernel(W, y0, U, D, n_forced, act, bias, Y):
    """Multi-step prediction Y[t] = y(t+1); forced units take D[t-1] before step t >= 1."""
    N, nz = W.shape
    T = U.shape[0]
    z = np.empty(nz)
    y = np.empty(N)
    ycur = np.empty(N)
    fp = np.empty(N)
    for i in range(N):
        ycur[i] = y0[i]
    for t in range(T):
        _fill_z(z, ycur, U[t], bias)
        _activate(W, z, y, fp, act)
        for k in range(N):
            Y[t, k] = y[k]
            ycur[k] = y[k]
        for k in range(n_forced):
            ycur[k] = D[t, k]


@_jit
def snap1_step_kernel(W, z, p, pn, y, fp, act, n_forced):
    """SnAp-1 step (Menick et al. 2020): pn[i, j] = f'_i (w_ii p[i, j] + z_j).

    ``p`` (N, nz) holds only the diagonal-unit sensitivities dy_i/dW_ij; rows of
    forced units are treated as zero.
    """
    N, nz = W.shape
    _activate(W, z, y, fp, act)
    for i in range(N):
        w = W[i, i] if i >= n_forced else 0.0
        for j in range(nz):
            pn[i, j] = fp[i] * (w * p[i, j] + z[j])


@_jit
def input_jacobian_kernel(W, y0, U, act, bias, Y, J, S, Sn):
    """Free-running prediction and its lifted input Jacobian.

    Y[h] = y(t+h+1) for h = 0..H-1 from y(t) = y0 driven by U[h] = u(t+h);
    J[h, j] = dy(t+h+1)/du(t+j) (N, m), zero for j > h.
    Recursion: J[h, h] = diag(f'_h) W_in; J[h, j] = diag(f'_h) W_rec J[h-1, j].
    ``S`` and ``Sn`` are (H, N, m) scratch buffers.
    """
    N, nz = W.shape
    H = U.shape[0]
    m = U.shape[1]
    z = np.empty(nz)
    y = np.empty(N)
    ycur = np.empty(N)
    fp = np.empty(N)
    for i in range(N):
        ycur[i] = y0[i]
    for h in range(H):
        for j in range(H):
            for k in range(N):
                for q in range(m):
                    J[h, j, k, q] = 0.0
    for h in range(H):
        _fill_z(z, ycur, U[h], bias)
        _activate(W, z, y, fp, act)
        for k in range(N):
            Y[h, k] = y[k]
            ycur[k] = y[k]
        for j in range(h):
            for k in range(N):
                for q in range(m):
                    acc = 0.0
                    for l in range(N):
                        acc += W[k, l] * S[j, l, q]
                    Sn[j, k, q] = fp[k] * acc
        for k in range(N):
            for q in range(m):
                Sn[h, k, q] = fp[k] * W[k, N + q]
        for j in range(h + 1):
            for k in range(N):
                for q in range(m):
                    S[j, k, q] = Sn[j, k, q]
                    J[h, j, k, q] = Sn[j, k, q]


@_jit
def _f_scalar(s, act):
    if act == TANH:
        return math.tanh(s)
    return 1.0 / (1.0 + math.exp(-s))


@_jit
def output_error_kernel(W, z, target, act, e):
    """e = target - f(W[:p] z) for the first p = len(target) units; returns ||e||."""
    p = target.shape[0]
    nz = z.shape[0]
    acc = 0.0
    for i in range(p):
        s = 0.0
        for j in range(nz):
            s += W[i, j] * z[j]
        ei = target[i] - _f_scalar(s, act)
        e[i] = ei
        acc += ei * ei
    return math.sqrt(acc)


@_jit
def two_d_kernel(W, z, target, act, alpha, delta, tol, k_max, g):
    """Inner iterations of the 2-D rule on the first p rows of W; returns k.

    Per iteration: e = d - f(W z), stop if 0.5 e.e < tol or k = k_max, else
    W[:p] += (alpha e / (f'(W z) + delta)) z^T / (z^T z). ``g`` is a (p,) buffer.
    """
    p = target.shape[0]
    nz = z.shape[0]
    zz = 0.0
    for j in range(nz):
        zz += z[j] * z[j]
    k = 0
    while True:
        err2 = 0.0
        for i in range(p):
            s = 0.0
            for j in range(nz):
                s += W[i, j] * z[j]
            y = _f_scalar(s, act)
            ei = target[i] - y
            err2 += ei * ei
            if act == TANH:
                d = 1.0 - y * y
            else:
                d = y * (1.0 - y)
            g[i] = alpha * ei / ((d + delta) * zz)
        if k >= k_max or 0.5 * err2 < tol:
            return k
        for i in range(p):
            for j in range(nz):
                W[i, j] += g[i] * z[j]
        k += 1


@_jit
def rls_kernel(W, z, target, act, P, lam, lam_dir, max_trace, Pz, gain):
    """One RLS step in pre-activation space on the first p rows of W, shared covariance P.

    Uniform forgetting ``lam`` first (P' = P / lam), then the new sample with
    directional forgetting ``lam_dir`` along it: with q = z^T P' z,
    c = (lam_dir q - (1 - lam_dir)) / (lam_dir q (1 + q)),
    gain = P' z / (lam_dir (1 + q)), W[:p] += (f^-1(d) - W[:p] z) gain^T,
    P = P' - c (P' z)(P' z)^T, symmetrised; scaled back to ``max_trace``
    when its trace exceeds it. ``lam_dir = 1`` is plain exponential
    forgetting (gain = P z / (lam + z^T P z)). Returns 1 if the bound was
    applied, else 0.
    """
    p = target.shape[0]
    nz = z.shape[0]
    q = 0.0
    for i in range(nz):
        acc = 0.0
        for j in range(nz):
            acc += P[i, j] * z[j]
        Pz[i] = acc / lam
        q += z[i] * Pz[i]
    c = 1.0 / (1.0 + q)
    if lam_dir < 1.0 and q > 1e-300:   # forget the information along z only: lam_dir of it is kept
        c -= (1.0 - lam_dir) / (lam_dir * q * (1.0 + q))
    for i in range(nz):
        gain[i] = Pz[i] / (lam_dir * (1.0 + q))
    for i in range(p):
        d = target[i]
        if act == TANH:
            a = 0.5 * math.log((1.0 + d) / (1.0 - d))
        else:
            a = math.log(d / (1.0 - d))
        r = a
        for j in range(nz):
            r -= W[i, j] * z[j]
        for j in range(nz):
            W[i, j] += r * gain[j]
    tr = 0.0
    for i in range(nz):
        for j in range(i, nz):
            v = 0.5 * (P[i, j] + P[j, i]) / lam - c * Pz[i] * Pz[j]
            P[i, j] = v
            P[j, i] = v
        tr += P[i, i]
    if tr > max_trace:
        c = max_trace / tr
        for i in range(nz):
            for j in range(nz):
                P[i, j] *= c
        return 1
    return 0


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
    """tanh through one exp (about 3x cheaper than math.tanh here; exact to rounding)."""
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
