"""Numba kernel of the neural controller's Gauss-Newton step (not public API).

Pure function of float64/int64 arrays and scalars: validates nothing,
allocates nothing (buffers are passed in). The public wrapper is
:func:`neurocontrol.controllers.neural.gauss_newton_step`.
"""

from __future__ import annotations

import math

import numba

from neurocontrol.nets._kernels import JIT_OPTIONS

__all__ = ["gauss_newton_kernel"]

_jit = numba.njit(**JIT_OPTIONS)


@_jit
def gauss_newton_kernel(pred, J, plan, u_prev, desired, tracked, weights, eval_steps, rho, mu, wr, bound,
                        A, g, L, out):
    """One damped Gauss-Newton step: out = plan - (J'QJ + rho D'D + wr Jx'Jx + mu I)^-1 (J'Qe + rho D'(Dv-c) + wr Jx'x).

    ``pred`` (N, n), ``J`` (N, n, nc), ``plan`` (nc,) block inputs, ``u_prev`` (m,),
    ``desired`` (N, q) for the ``tracked`` (q,) entries with ``weights`` (q,),
    evaluated at rows ``eval_steps``; the range excess beyond ``bound`` of any
    predicted entry is penalised with weight ``wr``. ``A``, ``L`` (nc, nc) and
    ``g`` (nc,) are scratch. Returns False (``out`` undefined) when the normal
    matrix is not numerically positive definite or not finite.
    """
    nc = plan.shape[0]
    m = u_prev.shape[0]
    nq = tracked.shape[0]
    n = pred.shape[1]
    for a in range(nc):
        g[a] = 0.0
        for b in range(nc):
            A[a, b] = 0.0
    for s in range(eval_steps.shape[0]):
        t = eval_steps[s]
        for q in range(nq):
            i = tracked[q]
            w = weights[q]
            e = pred[t, i] - desired[t, q]
            for a in range(nc):
                ja = w * J[t, i, a]
                g[a] += ja * e
                for b in range(a + 1):
                    A[a, b] += ja * J[t, i, b]
        if wr > 0.0:
            for i in range(n):
                y = pred[t, i]
                if y > bound:
                    x = y - bound
                elif y < -bound:
                    x = y + bound
                else:
                    continue
                for a in range(nc):
                    ja = wr * J[t, i, a]
                    g[a] += ja * x
                    for b in range(a + 1):
                        A[a, b] += ja * J[t, i, b]
    # move penalty: rho sum_b |v_b - v_{b-1}|^2, v_{-1} = u_prev, per input channel
    nblk = nc // m
    for blk in range(nblk):
        for c in range(m):
            a = blk * m + c
            prev = u_prev[c] if blk == 0 else plan[a - m]
            d = plan[a] - prev
            g[a] += rho * d
            A[a, a] += rho
            if blk > 0:
                g[a - m] -= rho * d
                A[a - m, a - m] += rho
                A[a, a - m] -= rho
    for a in range(nc):
        A[a, a] += mu
    # Cholesky of the lower triangle, then two triangular solves
    for i in range(nc):
        for j in range(i + 1):
            acc = A[i, j]
            for k in range(j):
                acc -= L[i, k] * L[j, k]
            if i == j:
                if not (acc > 0.0 and math.isfinite(acc)):
                    return False
                L[i, i] = math.sqrt(acc)
            else:
                L[i, j] = acc / L[j, j]
    for i in range(nc):
        acc = g[i]
        for k in range(i):
            acc -= L[i, k] * out[k]
        out[i] = acc / L[i, i]
    for i in range(nc - 1, -1, -1):
        acc = out[i]
        for k in range(i + 1, nc):
            acc -= L[k, i] * out[k]
        out[i] = acc / L[i, i]
    for i in range(nc):
        out[i] = plan[i] - out[i]
        if not math.isfinite(out[i]):
            return False
    return True
