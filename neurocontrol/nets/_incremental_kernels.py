"""Numba kernels of the incremental identifier and its EKF rule (not public API).

Pure functions of float64 arrays and scalars: they validate nothing and
allocate nothing (every buffer is passed in). The public wrappers live in
:mod:`neurocontrol.nets.incremental` and :mod:`neurocontrol.nets.ekf`.

Conventions
-----------
``p, m, H``   outputs, inputs, hidden units; ``nz = p + m + 1``; ``nb = H + nz``.
``theta``     (n_theta,) all weights, ``n_theta = (p + H) nb``: first the output
              rows ``C = [A | V]`` (p, nb), then the hidden rows ``W`` (H, nb);
              ``C`` and ``W`` are passed as 2-D views of ``theta``.
``C``         columns ``[z (nz) | h(t+1) (H)]``: ``y(t+1) = y(t) + C [z(t); h(t+1)]``.
``W``         columns ``[h(t) (H) | z(t) (nz)]``: ``h(t+1) = tanh(W [h(t); z(t)])``.
``z``         ``[y(t); u(t); 1]`` in normalised units.
``x``         (nb,) buffer holding ``[h(t); z(t)]``; ``phi`` (nb,) buffer ``[z(t); h(t+1)]``.
``Sy, Sh``    (p, n_theta), (H, n_theta) sensitivities dy/dtheta, dh/dtheta.
``P``         (n_blocks, bs, bs) EKF covariance blocks over consecutive slices of theta.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from neurocontrol.nets._kernels import JIT_OPTIONS

__all__ = [
    "UPDATED",
    "SKIP_DEAD_ZONE",
    "SKIP_OUTLIER",
    "SKIP_NON_FINITE",
    "SKIP_ONSET",
    "SKIP_HELD",
    "step_kernel",
    "free_run_kernel",
    "teacher_forced_kernel",
    "sensitivity_step_kernel",
    "input_jacobian_kernel",
    "blocked_jacobian_kernel",
    "ekf_kernel",
    "train_step_kernel",
    "gradient_kernel",
    "gradient_train_step_kernel",
    "change_kernel",
    "onset_kernel",
    "bias_walk_kernel",
]

_jit = numba.njit(**JIT_OPTIONS)

#: Status codes of :func:`ekf_kernel` and :func:`train_step_kernel`.
UPDATED = 0
SKIP_DEAD_ZONE = 1
SKIP_OUTLIER = 2
SKIP_NON_FINITE = 3
SKIP_ONSET = 4
SKIP_HELD = 5


@_jit
def step_kernel(C, W, y, u, h, y_next, h_next, x, phi):
    """One step: h_next = tanh(W [h; z]), y_next = y + C [z; h_next]; outputs may alias inputs."""
    p, nb = C.shape
    H = W.shape[0]
    m = u.shape[0]
    nz = nb - H
    for k in range(H):
        x[k] = h[k]
    for i in range(p):
        x[H + i] = y[i]
    for i in range(m):
        x[H + p + i] = u[i]
    x[H + nz - 1] = 1.0
    for k in range(H):
        a = 0.0
        for j in range(nb):
            a += W[k, j] * x[j]
        h_next[k] = math.tanh(a)
    for j in range(nz):
        phi[j] = x[H + j]
    for k in range(H):
        phi[nz + k] = h_next[k]
    for i in range(p):
        acc = x[H + i]
        for j in range(nb):
            acc += C[i, j] * phi[j]
        y_next[i] = acc


@_jit
def free_run_kernel(C, W, y0, h0, inputs, outputs, hidden, y, h, x, phi):
    """Free run from (y0, h0): outputs[t] = y(t+1), hidden[t] = h(t+1), each fed back."""
    for i in range(y0.shape[0]):
        y[i] = y0[i]
    for k in range(h0.shape[0]):
        h[k] = h0[k]
    for t in range(inputs.shape[0]):
        step_kernel(C, W, y, inputs[t], h, y, h, x, phi)
        for i in range(y.shape[0]):
            outputs[t, i] = y[i]
        for k in range(h.shape[0]):
            hidden[t, k] = h[k]


@_jit
def teacher_forced_kernel(C, W, measured, inputs, h0, predictions, hidden, x, phi):
    """One-step predictions from measured outputs: predictions[t] = y_hat(t+1), hidden[t] = h(t), T+1 rows."""
    for k in range(h0.shape[0]):
        hidden[0, k] = h0[k]
    for t in range(inputs.shape[0]):
        step_kernel(C, W, measured[t], inputs[t], hidden[t], predictions[t], hidden[t + 1], x, phi)


@_jit
def sensitivity_step_kernel(C, W, y, u, h, Sy, Sh, teacher, y_next, h_next, Sy_next, Sh_next, x, phi, d):
    """One step with exact RTRL sensitivities of (y, h) to theta.

    ``teacher`` 1: y is measured (dy/dtheta = 0 before the step; ``Sy`` is not
    read and may alias ``Sy_next``; only the hidden-weight columns of ``Sh``
    are propagated, the output-weight columns stay zero). 0: free run (y fed
    back). ``Sh_next`` must not alias ``Sh``.
    """
    p, nb = C.shape
    H = W.shape[0]
    nz = nb - H
    n_theta = Sh.shape[1]
    step_kernel(C, W, y, u, h, y_next, h_next, x, phi)
    for k in range(H):
        d[k] = 1.0 - h_next[k] * h_next[k]
    col0 = p * nb if teacher else 0
    # The loops below run over row slices from index 0, so numba can see the indices are not negative and
    # vectorises them; each entry still sums its terms in the same order (bit for bit the plain loops).
    # hidden units: Sh' = D (W_h Sh + W_y Sy + e_k x^T)
    for k in range(H):
        row = Sh_next[k]
        for c in range(n_theta):
            row[c] = 0.0
        tail = Sh_next[k, col0:]
        for l in range(H):
            w = W[k, l]
            src = Sh[l, col0:]
            for c in range(tail.shape[0]):
                tail[c] += w * src[c]
        if not teacher:
            for j in range(p):
                w = W[k, H + j]
                src = Sy[j]
                for c in range(n_theta):
                    row[c] += w * src[c]
        base = p * nb + k * nb
        for j in range(nb):
            row[base + j] += x[j]
        dk = d[k]
        for c in range(tail.shape[0]):
            tail[c] *= dk
    # outputs: Sy' = Sy + A_y Sy + V Sh' + e_i phi^T
    for i in range(p):
        row = Sy_next[i]
        if teacher:
            for c in range(n_theta):
                row[c] = 0.0
        else:
            src = Sy[i]
            for c in range(n_theta):
                row[c] = src[c]
            for j in range(p):
                a = C[i, j]
                src = Sy[j]
                for c in range(n_theta):
                    row[c] += a * src[c]
        tail = Sy_next[i, col0:]
        for k in range(H):
            v = C[i, nz + k]
            src = Sh_next[k, col0:]
            for c in range(tail.shape[0]):
                tail[c] += v * src[c]
        base = i * nb
        for j in range(nb):
            row[base + j] += phi[j]


@_jit
def _input_sensitivity_step(C, W, h, Sy, Sh, Sy_next, Sh_next, cols, ncur, m):
    """Advance the input sensitivities one step: input tap j of the step enters columns ``cols[j] .. + m``.

    The network's input holds ``len(cols)`` taps of m inputs (tap j: the
    input j steps back); ``cols[j] < 0`` marks a tap that is not a planned
    input (a fixed past input: no sensitivity). ``h`` is the hidden state
    after the step; only the first ``ncur`` columns (inputs already applied)
    are touched.
    """
    p, nb = C.shape
    H = W.shape[0]
    nz = nb - H
    for k in range(H):
        for c in range(ncur):
            acc = 0.0
            for l in range(H):
                acc += W[k, l] * Sh[l, c]
            for j in range(p):
                acc += W[k, H + j] * Sy[j, c]
            Sh_next[k, c] = acc
        for j in range(cols.shape[0]):
            c0 = cols[j]
            if c0 >= 0:
                for a in range(m):
                    Sh_next[k, c0 + a] += W[k, H + p + j * m + a]
        dk = 1.0 - h[k] * h[k]
        for c in range(ncur):
            Sh_next[k, c] *= dk
    for i in range(p):
        for c in range(ncur):
            acc = Sy[i, c]
            for j in range(p):
                acc += C[i, j] * Sy[j, c]
            for k in range(H):
                acc += C[i, nz + k] * Sh_next[k, c]
            Sy_next[i, c] = acc
        for j in range(cols.shape[0]):
            c0 = cols[j]
            if c0 >= 0:
                for a in range(m):
                    Sy_next[i, c0 + a] += C[i, p + j * m + a]


@_jit
def input_jacobian_kernel(C, W, y0, h0, inputs, outputs, J, y, h, Sy, Sy_next, Sh, Sh_next, x, phi):
    """Free run with forward input sensitivities: J[t, :, s, :] = dy(t+1)/du(s), outputs[t] = y(t+1).

    ``Sy``, ``Sy_next`` (p, N m), ``Sh``, ``Sh_next`` (H, N m) are scratch buffers.
    Columns of inputs not yet applied stay zero (causality), so step t
    touches only the first (t + 1) m columns.
    """
    p, nb = C.shape
    H = W.shape[0]
    N, m = inputs.shape
    ncol = N * m
    cols = np.empty(1, np.int64)
    for i in range(p):
        y[i] = y0[i]
        for c in range(ncol):
            Sy[i, c] = 0.0
    for k in range(H):
        h[k] = h0[k]
        for c in range(ncol):
            Sh[k, c] = 0.0
    for t in range(N):
        step_kernel(C, W, y, inputs[t], h, y, h, x, phi)   # y, h now at t+1
        cols[0] = t * m
        ncur = cols[0] + m
        _input_sensitivity_step(C, W, h, Sy, Sh, Sy_next, Sh_next, cols, ncur, m)
        for i in range(p):
            for c in range(ncur):
                Sy[i, c] = Sy_next[i, c]
        for k in range(H):
            for c in range(ncur):
                Sh[k, c] = Sh_next[k, c]
        for i in range(p):
            outputs[t, i] = y[i]
            for s in range(N):
                for a in range(m):
                    J[t, i, s, a] = Sy[i, s * m + a]


@_jit
def _cholesky(S, L):
    """Lower Cholesky factor of S into L; False if S is not numerically positive definite."""
    p = S.shape[0]
    for i in range(p):
        for j in range(i + 1):
            acc = S[i, j]
            for k in range(j):
                acc -= L[i, k] * L[j, k]
            if i == j:
                if not acc > 0.0 or not math.isfinite(acc):
                    return False
                L[i, i] = math.sqrt(acc)
            else:
                L[i, j] = acc / L[j, j]
        for j in range(i + 1, p):
            L[i, j] = 0.0
    return True


@_jit
def ekf_kernel(theta, P, Hm, e, R, max_trace, q, dead_zone, gate, G, S, L, alpha, M):
    """One (node-)decoupled EKF step over covariance blocks; returns a status code.

    Blocks b cover theta[b bs:(b+1) bs]. With H_b = Hm[:, block b]:
    S = sum_b H_b P_b H_b^T + diag(R), G_b = P_b H_b^T, theta_b += G_b S^-1 e,
    P_b -= G_b S^-1 G_b^T (computed as M^T M with M = L^-1 G_b^T, S = L L^T),
    then P_b += q I and P_b scaled back to ``max_trace`` when its trace
    exceeds it. Skips (theta and P untouched): non-finite e, Hm or S
    (SKIP_NON_FINITE), mean(e^2 / R) < dead_zone^2 (SKIP_DEAD_ZONE),
    e^T S^-1 e / p > gate^2 (SKIP_OUTLIER). ``alpha[p]`` returns the number
    of blocks whose trace was bounded (alpha has length p + 1).

    Buffers: ``G`` (p, n) holds G^T, ``S``, ``L`` (p, p), ``M`` (p + 1, bs)
    (its last row is scratch). Each P_b must be symmetric, as
    :meth:`DecoupledEKF.initial_covariance` gives it and every update keeps it
    (row c of P_b is read for its column c). The loops run over contiguous
    slices from index 0 so that they vectorise, and every entry sums its terms
    in the order of the formula's plain loops.
    """
    nblk, bs, _ = P.shape
    p = e.shape[0]
    alpha[p] = 0.0
    r2 = 0.0
    for i in range(p):
        if not math.isfinite(e[i]):
            return SKIP_NON_FINITE
        r2 += e[i] * e[i] / R[i]
        for c in range(Hm.shape[1]):
            if not math.isfinite(Hm[i, c]):
                return SKIP_NON_FINITE
    if r2 < dead_zone * dead_zone * p:
        return SKIP_DEAD_ZONE
    n_theta = nblk * bs
    for b in range(nblk):          # G_b^T[i, a] = sum_c P_b[a, c] H_b[i, c], c ascending
        off = b * bs
        for i in range(p):
            gt = G[i, off:off + bs]
            for a in range(bs):
                gt[a] = 0.0
            for c in range(bs):
                hv = Hm[i, off + c]
                prow = P[b, c]
                for a in range(bs):
                    gt[a] += prow[a] * hv
    for i in range(p):             # S = H G (lower triangle), the columns c ascending, four entries at a time
        hrow = Hm[i]
        for j0 in range(0, i + 1, 4):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            g0 = G[j0]
            g1 = G[min(j0 + 1, i)]
            g2 = G[min(j0 + 2, i)]
            g3 = G[min(j0 + 3, i)]
            for c in range(n_theta):
                hv = hrow[c]
                s0 += hv * g0[c]
                s1 += hv * g1[c]
                s2 += hv * g2[c]
                s3 += hv * g3[c]
            S[i, j0] = s0
            if j0 + 1 <= i:
                S[i, j0 + 1] = s1
            if j0 + 2 <= i:
                S[i, j0 + 2] = s2
            if j0 + 3 <= i:
                S[i, j0 + 3] = s3
    for i in range(p):   # mirror the computed lower triangle: S is symmetric by construction
        S[i, i] += R[i]
        for j in range(i + 1, p):
            S[i, j] = S[j, i]
    if not _cholesky(S, L):
        return SKIP_NON_FINITE
    # alpha = S^-1 e: forward then backward substitution
    for i in range(p):
        acc = e[i]
        for k in range(i):
            acc -= L[i, k] * alpha[k]
        alpha[i] = acc / L[i, i]
    d2 = 0.0
    for i in range(p):
        d2 += alpha[i] * alpha[i]
    if d2 > gate * gate * p:
        return SKIP_OUTLIER
    for i in range(p - 1, -1, -1):
        acc = alpha[i]
        for k in range(i + 1, p):
            acc -= L[k, i] * alpha[k]
        alpha[i] = acc / L[i, i]
    for c in range(n_theta):
        acc = 0.0
        for i in range(p):
            acc += G[i, c] * alpha[i]
        theta[c] += acc
    bounded = 0
    acc_row = M[p]
    for b in range(nblk):
        off = b * bs
        for i in range(p):     # M = L^-1 G_b^T, row by row
            row = M[i]
            gt = G[i, off:off + bs]
            for a in range(bs):
                row[a] = gt[a]
            for k in range(i):
                lik = L[i, k]
                prev = M[k]
                for a in range(bs):
                    row[a] -= lik * prev[a]
            lii = L[i, i]
            for a in range(bs):
                row[a] = row[a] / lii
        tr = 0.0
        for a in range(bs):    # row a of P_b - M^T M, whole (a product commutes, so the result stays symmetric)
            for c in range(bs):
                acc_row[c] = 0.0
            for i in range(p):
                mia = M[i, a]
                mrow = M[i]
                for c in range(bs):
                    acc_row[c] += mia * mrow[c]
            prow = P[b, a]
            for c in range(bs):
                prow[c] = prow[c] - acc_row[c]
            P[b, a, a] += q
            tr += P[b, a, a]
        if tr > max_trace[b]:
            f = max_trace[b] / tr
            for a in range(bs):
                for c in range(bs):
                    P[b, a, c] *= f
            bounded += 1
    alpha[p] = bounded
    return UPDATED


@_jit
def _teacher_step(C, W, y, u, y_next, y_mid, y_half, u_mid, u_half, h, Sh, h_new, Sh_new, Sy,
                  yn, un, yn_next, y_hat, x, phi, d, e):
    """Normalise, step the hidden state with teacher-forced RTRL sensitivities, fill ``e``; False on non-finite data.

    ``h``, ``Sh`` are advanced in place through the ``h_new``, ``Sh_new``
    buffers; ``Sy`` gets d y_hat(t+1) / d theta and ``e`` the one-step error
    (normalised). Non-finite data: nothing moves.
    """
    p = y.shape[0]
    m = u.shape[0]
    for i in range(p):
        if not (math.isfinite(y[i]) and math.isfinite(y_next[i])):
            return False
        yn[i] = (y[i] - y_mid[i]) / y_half[i]
        yn_next[i] = (y_next[i] - y_mid[i]) / y_half[i]
    for i in range(m):
        if not math.isfinite(u[i]):
            return False
        un[i] = (u[i] - u_mid[i]) / u_half[i]
    sensitivity_step_kernel(C, W, yn, un, h, Sy, Sh, 1, y_hat, h_new, Sy, Sh_new, x, phi, d)
    H = h.shape[0]
    col0 = C.shape[0] * C.shape[1]
    for k in range(H):
        h[k] = h_new[k]
        for c in range(col0, Sh.shape[1]):
            Sh[k, c] = Sh_new[k, c]
    for i in range(p):
        e[i] = yn_next[i] - y_hat[i]
    return True


@_jit
def onset_kernel(e, R, change, log_factor, min_count):
    """Whether the one-step error ``e`` looks like the onset of sensor noise: most signals jump at once.

    True when more than half of the signals have ``e_i^2 > R_i`` and the log of
    ``z = mean_i(e_i^2 / R_i)`` exceeds the change detector's slow mean
    (``change[1]``, :func:`change_kernel`) by ``log_factor``, once the detector
    has seen at least ``min_count`` errors (``change[3]``). A change of the
    plant moves the errors of the few signals it drives first; a rise of the
    sensor noise moves every noisy signal's at once.
    """
    p = e.shape[0]
    if change[3] < min_count:
        return False
    z = 0.0
    above = 0
    for i in range(p):
        r = e[i] * e[i] / R[i]
        z += r
        if r > 1.0:
            above += 1
    z /= p
    return 2 * above > p and z > 0.0 and math.log(z) > change[1] + log_factor


@_jit
def train_step_kernel(theta, C, W, y, u, y_next, y_mid, y_half, u_mid, u_half, h, Sh, h_new, Sh_new, Sy,
                      yn, un, yn_next, y_hat, x, phi, d, e,
                      P, R, max_trace, q, dead_zone, gate, G, S, L, alpha, M, onset, change):
    """One online identifier update from physical (y(t), u(t), y(t+1)); returns an EKF status code.

    Normalises, steps the hidden state with teacher-forced RTRL sensitivities
    (h, Sh advanced in place through the h_new, Sh_new buffers), then applies
    :func:`ekf_kernel` to the one-step error. Non-finite data: nothing moves.
    ``onset = [mode, log_factor, min_count]``: mode 1 skips the EKF step when
    :func:`onset_kernel` holds (SKIP_ONSET), mode 2 skips it always (SKIP_HELD);
    the hidden state and its sensitivities advance as on an outlier.
    """
    if not _teacher_step(C, W, y, u, y_next, y_mid, y_half, u_mid, u_half, h, Sh, h_new, Sh_new, Sy,
                         yn, un, yn_next, y_hat, x, phi, d, e):
        return SKIP_NON_FINITE
    if onset[0] == 2.0:
        return SKIP_HELD
    if onset[0] == 1.0 and onset_kernel(e, R, change, onset[1], onset[2]):
        return SKIP_ONSET
    return ekf_kernel(theta, P, Sy, e, R, max_trace, q, dead_zone, gate, G, S, L, alpha, M)


@_jit
def gradient_kernel(theta, Hm, e, R, rate, dead_zone, gate):
    """One normalised gradient step on the one-step error; returns a status code.

    ``theta += rate Hm^T R^-1 e / (1 + sum_i |Hm_i|^2 / R_i)`` (normalised
    LMS over the RTRL sensitivities ``Hm`` (p, n)). Skips: non-finite ``e`` or
    ``Hm`` (SKIP_NON_FINITE), ``mean(e^2 / R) < dead_zone^2`` (SKIP_DEAD_ZONE),
    ``mean(e^2 / R) > gate^2`` (SKIP_OUTLIER).
    """
    p, n = Hm.shape
    r2 = 0.0
    norm = 1.0
    for i in range(p):
        if not math.isfinite(e[i]):
            return SKIP_NON_FINITE
        r2 += e[i] * e[i] / R[i]
        for c in range(n):
            v = Hm[i, c]
            if not math.isfinite(v):
                return SKIP_NON_FINITE
            norm += v * v / R[i]
    if r2 < dead_zone * dead_zone * p:
        return SKIP_DEAD_ZONE
    if r2 > gate * gate * p:
        return SKIP_OUTLIER
    for c in range(n):
        acc = 0.0
        for i in range(p):
            acc += Hm[i, c] * e[i] / R[i]
        theta[c] += rate * acc / norm
    return UPDATED


@_jit
def gradient_train_step_kernel(theta, C, W, y, u, y_next, y_mid, y_half, u_mid, u_half, h, Sh, h_new, Sh_new, Sy,
                               yn, un, yn_next, y_hat, x, phi, d, e, R, rate, dead_zone, gate):
    """As :func:`train_step_kernel`, with :func:`gradient_kernel` in place of the EKF step."""
    if not _teacher_step(C, W, y, u, y_next, y_mid, y_half, u_mid, u_half, h, Sh, h_new, Sh_new, Sy,
                         yn, un, yn_next, y_hat, x, phi, d, e):
        return SKIP_NON_FINITE
    return gradient_kernel(theta, Sy, e, R, rate, dead_zone, gate)


@_jit
def blocked_jacobian_kernel(C, W, y0, h0, inputs, block_of, m, outputs, J, y, h, Sy, Sy_next, Sh, Sh_next, x,
                            phi):
    """Free run with sensitivities to move-blocked inputs: J[t, :, b m + a] = dy(t+1)/dv_b[a].

    The planned input at step t is ``v[block_of[t]]`` (``block_of`` non-decreasing
    int64, starting at 0), so the explicit input terms of step t land on the
    columns of block ``block_of[t]``; blocks not yet started stay zero. With
    input taps (``inputs`` (N, taps m): row t holds the inputs of steps t,
    t - 1, ..., t - taps + 1), tap j of step t lands on block ``block_of[t - j]``,
    or nowhere when t - j < 0 (an input applied before the horizon). ``J``
    is (N, p, B m); ``Sy``, ``Sy_next`` (p B m entries), ``Sh``, ``Sh_next``
    (H B m entries) are contiguous scratch buffers (used column-major, one
    column's p or H entries together); ``outputs[t] = y(t+1)``.

    The network is stepped with its weight matrices transposed (copies made
    once per call, with the hidden units' slopes: about ``(H + p + 1) (H + p
    + m + 1)`` numbers), one input entry (or one sensitivity column) at a time
    across all units, so the loops vectorise; each unit's sum runs over its
    terms in the order of :func:`step_kernel` and
    :func:`_input_sensitivity_step` (bit for bit their results). Without the
    copies (reading the weights across units with a stride) it measured
    slower than the plain loops.
    """
    p, nb = C.shape
    H = W.shape[0]
    nz = nb - H
    N = inputs.shape[0]
    taps = inputs.shape[1] // m
    cols = np.empty(taps, np.int64)
    ncol = J.shape[2]
    WT = np.empty((nb, H))
    CT = np.empty((nb, p))
    for k in range(H):
        for j in range(nb):
            WT[j, k] = W[k, j]
    for i in range(p):
        for j in range(nb):
            CT[j, i] = C[i, j]
    ShT = Sh.reshape(-1)[:ncol * H].reshape((ncol, H))
    ShT_next = Sh_next.reshape(-1)[:ncol * H].reshape((ncol, H))
    SyT = Sy.reshape(-1)[:ncol * p].reshape((ncol, p))
    SyT_next = Sy_next.reshape(-1)[:ncol * p].reshape((ncol, p))
    d = np.empty(H)
    for i in range(p):
        y[i] = y0[i]
    for k in range(H):
        h[k] = h0[k]
    for c in range(ncol):
        for k in range(H):
            ShT[c, k] = 0.0
        for i in range(p):
            SyT[c, i] = 0.0
    for t in range(N):
        # the step: x = [h; y; u; 1], h <- tanh(W x), y <- y + C [y; u; 1; h]
        for k in range(H):
            x[k] = h[k]
        for i in range(p):
            x[H + i] = y[i]
        for a in range(inputs.shape[1]):
            x[H + p + a] = inputs[t, a]
        x[H + nz - 1] = 1.0
        for k in range(H):
            h[k] = 0.0
        for j in range(nb):
            xj = x[j]
            for k in range(H):
                h[k] += WT[j, k] * xj
        for k in range(H):
            h[k] = math.tanh(h[k])
        for j in range(nz):
            phi[j] = x[H + j]
        for k in range(H):
            phi[nz + k] = h[k]
        for i in range(p):
            y[i] = x[H + i]
        for j in range(nb):
            pj = phi[j]
            for i in range(p):
                y[i] += CT[j, i] * pj
        # the sensitivities of the started blocks' columns
        for j in range(taps):
            cols[j] = block_of[t - j] * m if t >= j else -1
        ncur = cols[0] + m
        for k in range(H):
            d[k] = 1.0 - h[k] * h[k]
        for c in range(ncur):
            for k in range(H):
                ShT_next[c, k] = 0.0
            for l in range(H):
                s = ShT[c, l]
                for k in range(H):
                    ShT_next[c, k] += WT[l, k] * s
            for j in range(p):
                s = SyT[c, j]
                for k in range(H):
                    ShT_next[c, k] += WT[H + j, k] * s
        for j in range(taps):
            c0 = cols[j]
            if c0 >= 0:
                for a in range(m):
                    r = H + p + j * m + a
                    for k in range(H):
                        ShT_next[c0 + a, k] += WT[r, k]
        for c in range(ncur):
            for k in range(H):
                ShT_next[c, k] *= d[k]
        for c in range(ncur):
            for i in range(p):
                SyT_next[c, i] = SyT[c, i]
            for j in range(p):
                s = SyT[c, j]
                for i in range(p):
                    SyT_next[c, i] += CT[j, i] * s
            for k in range(H):
                s = ShT_next[c, k]
                for i in range(p):
                    SyT_next[c, i] += CT[nz + k, i] * s
        for j in range(taps):
            c0 = cols[j]
            if c0 >= 0:
                for a in range(m):
                    r = p + j * m + a
                    for i in range(p):
                        SyT_next[c0 + a, i] += CT[r, i]
        for i in range(p):
            outputs[t, i] = y[i]
            for c in range(ncur):
                J[t, i, c] = SyT_next[c, i]
            for c in range(ncur, ncol):
                J[t, i, c] = 0.0
        for c in range(ncur):
            for i in range(p):
                SyT[c, i] = SyT_next[c, i]
            for k in range(H):
                ShT[c, k] = ShT_next[c, k]


@_jit
def change_kernel(e, R, state, a_fast, a_slow, log_gate):
    """Advance the change detector on one innovation; returns True while it signals a change.

    ``z = mean_i(e_i^2 / R_i)``; ``state = [fast, slow, on, n]``: two
    exponential means of ``log z`` with weights ``a_fast`` and ``a_slow``
    (the plain mean of the n values so far while 1/n is larger); on while
    ``fast > slow + log_gate``. Geometric means: a burst of large errors
    moves them little, a lasting rise of z by orders of magnitude moves the
    fast one at once. A non-finite z leaves the state as it is.
    """
    p = e.shape[0]
    z = 0.0
    for i in range(p):
        z += e[i] * e[i] / R[i]
    z /= p
    if math.isfinite(z):
        lz = math.log(max(z, 1e-300))
        state[3] += 1.0
        state[0] += max(a_fast, 1.0 / state[3]) * (lz - state[0])
        state[1] += max(a_slow, 1.0 / state[3]) * (lz - state[1])
        state[2] = 1.0 if state[0] > state[1] + log_gate else 0.0
    return state[2] == 1.0


@_jit
def bias_walk_kernel(P, block, row, col, walk):
    """Add ``walk[i]`` to ``P[block[i], row[i], col[i]]`` for every i, if any walk is nonzero (the EKF's predict).

    The positions are distinct (one bias variance per output), so this is numpy's ``P[block, row, col] += walk``.
    """
    for i in range(walk.shape[0]):
        if walk[i] != 0.0:
            for j in range(walk.shape[0]):
                P[block[j], row[j], col[j]] += walk[j]
            return
