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
    # hidden units: Sh' = D (W_h Sh + W_y Sy + e_k x^T)
    for k in range(H):
        for c in range(n_theta):
            Sh_next[k, c] = 0.0
        for l in range(H):
            w = W[k, l]
            for c in range(col0, n_theta):
                Sh_next[k, c] += w * Sh[l, c]
        if not teacher:
            for j in range(p):
                w = W[k, H + j]
                for c in range(n_theta):
                    Sh_next[k, c] += w * Sy[j, c]
        base = p * nb + k * nb
        for j in range(nb):
            Sh_next[k, base + j] += x[j]
        dk = d[k]
        for c in range(col0, n_theta):
            Sh_next[k, c] *= dk
    # outputs: Sy' = Sy + A_y Sy + V Sh' + e_i phi^T
    for i in range(p):
        if teacher:
            for c in range(n_theta):
                Sy_next[i, c] = 0.0
        else:
            for c in range(n_theta):
                Sy_next[i, c] = Sy[i, c]
            for j in range(p):
                a = C[i, j]
                for c in range(n_theta):
                    Sy_next[i, c] += a * Sy[j, c]
        for k in range(H):
            v = C[i, nz + k]
            for c in range(col0, n_theta):
                Sy_next[i, c] += v * Sh_next[k, c]
        base = i * nb
        for j in range(nb):
            Sy_next[i, base + j] += phi[j]


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
    for b in range(nblk):
        off = b * bs
        for a in range(bs):
            for i in range(p):
                acc = 0.0
                for c in range(bs):
                    acc += P[b, a, c] * Hm[i, off + c]
                G[off + a, i] = acc
    n_theta = nblk * bs
    for i in range(p):
        for j in range(i + 1):
            acc = 0.0
            for c in range(n_theta):
                acc += Hm[i, c] * G[c, j]
            S[i, j] = acc
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
            acc += G[c, i] * alpha[i]
        theta[c] += acc
    bounded = 0
    for b in range(nblk):
        off = b * bs
        for a in range(bs):   # M = L^-1 G_b^T, column a
            for i in range(p):
                acc = G[off + a, i]
                for k in range(i):
                    acc -= L[i, k] * M[k, a]
                M[i, a] = acc / L[i, i]
        tr = 0.0
        for a in range(bs):
            for c in range(a, bs):
                acc = 0.0
                for i in range(p):
                    acc += M[i, a] * M[i, c]
                v = 0.5 * (P[b, a, c] + P[b, c, a]) - acc
                P[b, a, c] = v
                P[b, c, a] = v
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
    is (N, p, B m); ``Sy``, ``Sy_next`` (p, B m), ``Sh``, ``Sh_next`` (H, B m)
    are scratch buffers; ``outputs[t] = y(t+1)``.
    """
    p, nb = C.shape
    H = W.shape[0]
    N = inputs.shape[0]
    taps = inputs.shape[1] // m
    cols = np.empty(taps, np.int64)
    ncol = J.shape[2]
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
        for j in range(taps):
            cols[j] = block_of[t - j] * m if t >= j else -1
        ncur = cols[0] + m
        _input_sensitivity_step(C, W, h, Sy, Sh, Sy_next, Sh_next, cols, ncur, m)
        for i in range(p):
            outputs[t, i] = y[i]
            for c in range(ncur):
                Sy[i, c] = Sy_next[i, c]
                J[t, i, c] = Sy_next[i, c]
            for c in range(ncur, ncol):
                J[t, i, c] = 0.0
        for k in range(H):
            for c in range(ncur):
                Sh[k, c] = Sh_next[k, c]


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
