"""Numba kernels of the learning core (not public API).

Every kernel is a pure function of float64 arrays and integer scalars: it
validates nothing, allocates nothing inside its loops (buffers are passed in or
allocated once before the loop) and writes its results into output arguments.
The public wrappers in :mod:`neurocontrol.nets.rtrn`, :mod:`neurocontrol.nets.rtrl` and
:mod:`neurocontrol.nets.rules` coerce and validate, then call these.

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

Numba flags live in :mod:`neurocontrol._jit` only.
"""

from __future__ import annotations

import math

import numpy as np

from neurocontrol._jit import JIT_OPTIONS, jit

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
]


TANH = 0
LOGISTIC = 1

_jit = jit


@_jit
def _activate(W, z, y, fp, act):
    """S = W z; y = f(s); fp = f'(s) (computed from y)."""
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
    """E = target - f(W[:p] z) for the first p = len(target) units; returns ||e||."""
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


