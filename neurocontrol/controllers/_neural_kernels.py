"""Numba kernels of the neural controller's step: Gauss-Newton, measurement filter, desired trajectory (not public API).

Pure functions of float64/int64 arrays and scalars: they validate nothing
and allocate nothing (buffers are passed in). The public wrappers are
:func:`neurocontrol.controllers.gauss_newton.gauss_newton_step` and
:class:`neurocontrol.controllers.measurement_filter.MeasurementFilter`;
:func:`observe_kernel` and :func:`synthesise_kernel` are the controller's
whole step after the identifier's update, in two compiled calls.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from neurocontrol.nets import _incremental_kernels as _ik
from neurocontrol.nets._kernels import JIT_OPTIONS

__all__ = ["gauss_newton_kernel", "filter_measure_kernel", "filter_blend_kernel", "noise_rise_kernel", "observe_kernel",
           "desired_kernel", "imitator_desired_kernel", "synthesise_kernel", "reference_model_kernel",
           "outside_kernel"]

_jit = numba.njit(**JIT_OPTIONS)

#: Most solves of one Gauss-Newton step while its range penalty's active set changes (:func:`gauss_newton_kernel`).
RANGE_SOLVES = 30


@_jit
def gauss_newton_kernel(pred, J, plan, u_prev, desired, tracked, weights, eval_steps, rho, mu, wr, bound,
                        A, g, L, A0, g0, act, out):
    """One damped Gauss-Newton step: out = plan - (J'QJ + rho D'D + wr Jx'Jx + mu I)^-1 (J'Qe + rho D'(Dv-c) + wr Jx'x).

    ``pred`` (N, n), ``J`` (N, n, nc), ``plan`` (nc,) block inputs, ``u_prev`` (m,),
    ``desired`` (N, q) for the ``tracked`` (q,) entries with ``weights`` (q,),
    evaluated at rows ``eval_steps``; the range excess beyond ``bound`` of any
    predicted entry is penalised with weight ``wr``, on the entries the step's own
    linear prediction ``pred + J delta`` puts beyond it (the active set, found by
    re-solving: at most :data:`RANGE_SOLVES` solves, starting from no entry).
    ``A``, ``L``, ``A0`` (nc, nc), ``g``, ``g0`` (nc,) and ``act`` (len(eval_steps), n)
    int8 are scratch. Returns False (``out`` undefined) when the normal matrix is
    not numerically positive definite or not finite.
    """
    nc = plan.shape[0]
    m = u_prev.shape[0]
    nq = tracked.shape[0]
    n = pred.shape[1]
    ne = eval_steps.shape[0]
    for a in range(nc):
        g0[a] = 0.0
        for b in range(nc):
            A0[a, b] = 0.0
    for s in range(ne):
        t = eval_steps[s]
        for q in range(nq):
            i = tracked[q]
            w = weights[q]
            e = pred[t, i] - desired[t, q]
            for a in range(nc):
                ja = w * J[t, i, a]
                g0[a] += ja * e
                for b in range(a + 1):
                    A0[a, b] += ja * J[t, i, b]
        for i in range(n):
            act[s, i] = 0
    # move penalty: rho sum_b |v_b - v_{b-1}|^2, v_{-1} = u_prev, per input channel
    nblk = nc // m
    for blk in range(nblk):
        for c in range(m):
            a = blk * m + c
            prev = u_prev[c] if blk == 0 else plan[a - m]
            d = plan[a] - prev
            g0[a] += rho * d
            A0[a, a] += rho
            if blk > 0:
                g0[a - m] -= rho * d
                A0[a - m, a - m] += rho
                A0[a, a - m] -= rho
    for a in range(nc):
        A0[a, a] += mu
    for solve in range(RANGE_SOLVES):
        for a in range(nc):
            g[a] = g0[a]
            for b in range(a + 1):
                A[a, b] = A0[a, b]
        if wr > 0.0:        # the range penalty wr (y + J delta - bound)^2 on the active entries
            for s in range(ne):
                t = eval_steps[s]
                for i in range(n):
                    if act[s, i] == 0:
                        continue
                    x = pred[t, i] - bound if act[s, i] > 0 else pred[t, i] + bound
                    for a in range(nc):
                        ja = wr * J[t, i, a]
                        g[a] += ja * x
                        for b in range(a + 1):
                            A[a, b] += ja * J[t, i, b]
        if not _cholesky_solve(A, g, L, out):
            return False
        if wr <= 0.0:
            break
        changed = False     # out holds delta: the entries its linear prediction puts beyond the bound
        for s in range(ne):
            t = eval_steps[s]
            for i in range(n):
                y = pred[t, i]
                for a in range(nc):
                    y -= J[t, i, a] * out[a]
                side = 1 if y > bound else (-1 if y < -bound else 0)
                if side != act[s, i]:
                    act[s, i] = side
                    changed = True
        if not changed:
            break
    for i in range(nc):
        out[i] = plan[i] - out[i]
        if not math.isfinite(out[i]):
            return False
    return True


@_jit
def _cholesky_solve(A, g, L, out):
    """Solve A out = g by the Cholesky factor L of A's lower triangle; False if A is not positive definite."""
    nc = g.shape[0]
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
    return True


# ---------------------------------------------------------------- numpy-order kernels of the control step
#
# Compiled without floating-point contraction: every expression below rounds exactly like the numpy
# expression it replaces (a product rounded before the sum, sums in numpy's order), so the neural
# controller's step gives the same bits as its former numpy glue. The contracted kernels it calls
# (blocked_jacobian_kernel, gauss_newton_kernel) keep their own flags.
_strict = numba.njit(**dict(JIT_OPTIONS, fastmath=False))


@intrinsic
def _fma(typingctx, a, b, c):
    """Return ``a * b + c`` rounded once (LLVM's ``llvm.fma.f64``; float64 arguments)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64, f64, f64]))
        return builder.call(fn, args)

    return sig, codegen


@_strict
def reference_model_kernel(state, transition, input_matrix, reference):
    """Advance the reference model's state (p, 2) in place: ``x_i <- A_i x_i + b_i r_i`` per output.

    Rounds as numpy's ``transition[i] @ state[i] + input_matrix[i] * reference[i]`` does with the OpenBLAS
    this project is built against (its 2x2 matrix-vector product gives ``fma(a_k0, x_0, a_k1 x_1)`` per row;
    checked in tests/test_imitator.py), then the product ``b_ik r_i`` rounded and added.
    """
    for i in range(state.shape[0]):
        s0 = state[i, 0]
        s1 = state[i, 1]
        r = reference[i]
        state[i, 0] = _fma(transition[i, 0, 0], s0, transition[i, 0, 1] * s1) + input_matrix[i, 0] * r
        state[i, 1] = _fma(transition[i, 1, 0], s0, transition[i, 1, 1] * s1) + input_matrix[i, 1] * r


@_strict
def outside_kernel(x, lo, hi):
    """Return True when an entry of ``x`` is not within ``[lo, hi]`` (NaN included: it compares false)."""
    for i in range(x.shape[0]):
        if not (lo[i] <= x[i] <= hi[i]):
            return True
    return False


#: 1 / Phi^-1(3/4) (as :data:`neurocontrol.controllers.measurement_filter._MAD_TO_STD`).
_MAD_TO_STD = 1.482602218505602


@_strict
def filter_measure_kernel(raw, d2, srt, count, y, noise_var):
    """Take one measurement ``y`` into the sensor-noise estimate; return the new count of second differences.

    ``raw`` (3, n) the last three measurements, ``d2`` (W, n) the ring of
    second differences, signed (slot ``count % W``), ``srt`` (W, n) their
    absolute values sorted per column (kept sorted by one insertion per step, so the
    median is read, not recomputed). Once ``count >= W``, ``noise_var`` gets
    ``(1.4826 median)^2 / 6`` (numpy's median: the mean of the two middle
    values for even W). A non-finite window skips; a non-finite ``y`` clears ``raw``.
    """
    n = y.shape[0]
    w = d2.shape[0]
    for j in range(n):
        raw[0, j] = raw[1, j]
        raw[1, j] = raw[2, j]
        raw[2, j] = y[j]
    total = 0.0
    for r in range(3):
        for j in range(n):
            total += raw[r, j]
    if not math.isfinite(total):
        ys = 0.0
        for j in range(n):
            ys += y[j]
        if not math.isfinite(ys):
            for r in range(3):
                for j in range(n):
                    raw[r, j] = math.nan
        return count
    slot = count % w
    for j in range(n):
        signed = raw[2, j] - 2.0 * raw[1, j] + raw[0, j]
        v = abs(signed)
        old = abs(d2[slot, j])
        d2[slot, j] = signed
        pos = 0
        while pos < w and srt[pos, j] != old:
            pos += 1
        if pos == w:            # not found (cannot happen for finite data): rebuild the column
            col = np.abs(d2[:, j])
            col.sort()
            for r in range(w):
                srt[r, j] = col[r]
            continue
        while pos + 1 < w and srt[pos + 1, j] < v:
            srt[pos, j] = srt[pos + 1, j]
            pos += 1
        while pos > 0 and srt[pos - 1, j] > v:
            srt[pos, j] = srt[pos - 1, j]
            pos -= 1
        srt[pos, j] = v
    count += 1
    if count >= w:
        half = w // 2
        for j in range(n):
            if w % 2:
                med = srt[half, j] / 1.0
            else:
                med = (srt[half - 1, j] + srt[half, j]) / 2.0
            s = _MAD_TO_STD * med
            noise_var[j] = s * s / 6.0
    return count


@_strict
def noise_rise_kernel(d2, count, noise_var, R0, scale, rise, white, col, fast_var, R, up, state):
    """Set the EKF's R from the sensor-noise estimates; return True while the noise of most signals has risen.

    ``fast_var[j]`` is ``(1.4826 median |d2|)^2 / 6`` over the last ``fast = len(col)`` second
    differences of the ring ``d2`` (the window's newest; 0 until ``count >= fast``; ``col`` is scratch).
    Signal j's noise has risen when ``fast_var[j] > rise * noise_var[j]``, ``scale * fast_var[j] > R0[j]``
    and those second differences look white: their lag-one correlation ``sum d_t d_(t-1) / sum d_t^2`` is
    below ``white`` (-2/3 for white noise, near +1 for the smooth transient of a fast move);
    the noise has risen when that holds for more than half of the signals, and then ``R[j] = scale *
    fast_var[j]`` on every signal that passes the first two tests (a noisy signal whose own motion hides the
    whiteness included). Elsewhere, and otherwise, ``R[j] = max(R0[j], scale * noise_var[j])``
    (the window's estimate, as without the check). No rise before the window is full (``count < W``).
    A rise lasts while the first two tests hold for more than half of the signals (``state[0]``: 1 during a
    rise), so a step whose vote falls short does not drop R back in the middle of it.
    """
    n = noise_var.shape[0]
    w = d2.shape[0]
    fast = col.shape[0]
    n_up = 0
    for j in range(n):
        fv = 0.0
        lag = 0.0
        energy = 0.0
        if count >= fast:
            for i in range(fast):
                d = d2[(count - 1 - i) % w, j]
                energy += d * d
                if i > 0:
                    lag += d * d2[(count - i) % w, j]
                v = abs(d)
                pos = i                          # insertion sort of the newest values
                while pos > 0 and col[pos - 1] > v:
                    col[pos] = col[pos - 1]
                    pos -= 1
                col[pos] = v
            half = fast // 2
            med = col[half] / 1.0 if fast % 2 else (col[half - 1] + col[half]) / 2.0
            sd = _MAD_TO_STD * med
            fv = sd * sd / 6.0
        fast_var[j] = fv
        sized = fv > rise * noise_var[j] and scale * fv > R0[j]
        up[j] = sized and (lag < white * energy or state[0] == 1.0)     # whiteness starts a rise, size keeps it
        if up[j]:
            n_up += 1
    risen = count >= w and 2 * n_up > n            # the window's estimate must be there to compare with
    state[0] = 1.0 if risen else 0.0
    for j in range(n):
        fv = fast_var[j]
        if risen and fv > rise * noise_var[j] and scale * fv > R0[j]:     # whiteness is the vote's, not R's
            R[j] = scale * fv
        else:
            R[j] = max(R0[j], scale * noise_var[j])
    return risen


@_strict
def filter_blend_kernel(y, p, S, noise_var, gain, a, active, out):
    """Blend ``out = p + K nu``, ``nu = y - p``, with ``S <- (1-a) S + a nu^2`` and ``K = clip(1 - var/S, 0, 1)``.

    S starts at the first ``nu^2``; ``active`` False: K = 1. ``S``, ``gain`` updated in place; ``out`` may alias ``y``.
    """
    for j in range(y.shape[0]):
        nu = y[j] - p[j]
        if math.isnan(S[j]):
            S[j] = nu * nu
        else:
            S[j] = (1.0 - a) * S[j] + a * nu * nu
        if active:
            ratio = noise_var[j] / S[j] if S[j] > 0 else 0.0
            k = 1.0 - ratio
            if math.isnan(k):
                gain[j] = k
            else:
                k = k if k > 0.0 else 0.0
                gain[j] = k if k < 1.0 else 1.0
        else:
            gain[j] = 1.0
        out[j] = p[j] + gain[j] * nu


@_strict
def observe_kernel(obs, mid, half, raw, d2, srt, count, noise_var, S, gain, a, y_hat, blend, active, yn, pn, x):
    """Normalise the measurement, feed the noise estimate and blend (the controller's step); return the new count.

    ``x`` gets the blended state in physical units when ``blend`` (the
    identifier's prediction ``y_hat``, normalised, passed through physical
    units as the public property does), else the measurement ``obs`` itself.
    """
    n = obs.shape[0]
    for i in range(n):
        yn[i] = (obs[i] - mid[i]) / half[i]
    count = filter_measure_kernel(raw, d2, srt, count, yn, noise_var)
    if blend:
        for i in range(n):
            pn[i] = ((y_hat[i] * half[i] + mid[i]) - mid[i]) / half[i]
        filter_blend_kernel(yn, pn, S, noise_var, gain, a, active, x)
        for i in range(n):
            x[i] = x[i] * half[i] + mid[i]
    else:
        for i in range(n):
            x[i] = obs[i]
    return count


@_strict
def desired_kernel(phi, G, G_held, rm, r, preview, reference, mid, half, out_idx, rate_rows, rate_cols, resp, out):
    """Desired trajectory (N, q) of the tracked entries, normalised: the reference model's response over the horizon.

    Per output i: ``resp[i, t] = Phi[i, t] rm[i] + sum_j G[i, t, j] r[j, i]``
    (preview) or ``+ G_held[i, t] reference[i]`` (held), summed in the order of
    the einsum it replaces (j > t terms of G are zero and left out: a sum that
    starts at +0.0 is unchanged by adding +-0). Columns: the outputs'
    values, then the rate of each output in ``rate_rows`` (observation entry ``rate_cols``).
    """
    p, N = phi.shape[0], phi.shape[1]
    for i in range(p):
        for t in range(N):
            for a in range(2):
                s = 0.0
                s += phi[i, t, a, 0] * rm[i, 0]
                s += phi[i, t, a, 1] * rm[i, 1]
                if preview:
                    g = 0.0
                    for j in range(t + 1):
                        g += G[i, t, j, a] * r[j, i]
                else:
                    g = G_held[i, t, a] * reference[i]
                resp[i, t, a] = s + g
    for t in range(N):
        for i in range(p):
            j = out_idx[i]
            out[t, i] = (resp[i, t, 0] - mid[j]) / half[j]
        for c in range(rate_rows.shape[0]):
            j = rate_cols[c]
            out[t, p + c] = (resp[rate_rows[c], t, 1] - mid[j]) / half[j]


@_strict
def imitator_desired_kernel(C, W, h0, rm, r, preview, reference, y_mid, y_half, u_mid, u_half, mid, half, out_idx,
                            rate_rows, rate_cols, y0, un, pred, hidden, y, h, xb, phi, out):
    """Desired trajectory (N, q) of the tracked entries, normalised: the imitator network's free run over the horizon.

    The imitator (weights ``C``, ``W``, hidden state ``h0``; outputs value and
    rate per controlled output, inputs the set-points, normalised by
    ``y_mid``/``y_half`` and ``u_mid``/``u_half``) free-runs from the
    reference model's state ``rm`` (p, 2) under ``r`` (preview) or the held
    ``reference``. Columns of ``out`` as :func:`desired_kernel`'s.
    """
    p = rm.shape[0]
    N = out.shape[0]
    for i in range(p):
        for a in range(2):
            y0[2 * i + a] = (rm[i, a] - y_mid[2 * i + a]) / y_half[2 * i + a]
    for t in range(N):
        for i in range(p):
            v = r[t, i] if preview else reference[i]
            un[t, i] = (v - u_mid[i]) / u_half[i]
    _ik.free_run_kernel(C, W, y0, h0, un, pred, hidden, y, h, xb, phi)
    for t in range(N):
        for i in range(p):
            j = out_idx[i]
            out[t, i] = ((pred[t, 2 * i] * y_half[2 * i] + y_mid[2 * i]) - mid[j]) / half[j]
        for c in range(rate_rows.shape[0]):
            i = rate_rows[c]
            j = rate_cols[c]
            out[t, p + c] = ((pred[t, 2 * i + 1] * y_half[2 * i + 1] + y_mid[2 * i + 1]) - mid[j]) / half[j]


@_strict
def synthesise_kernel(fresh, C, W, h0, x, mid, half, held, hist, u_mid, u_half, rate_n, block_of,
                      rm_phi, rm_g, rm_g_held, rm, r, preview, reference, out_idx, rate_rows, rate_cols,
                      tracked, weights, eval_steps, rho, mu, wr, bound, desired_given,
                      u_prev, plan, yn, u, pred, J, y, h, Sy, Sy2, Sh, Sh2, xb, phi, resp, desired, A, g, L, A0, g0,
                      act, new, result, hidden):
    """One predictive step from the held input ``held`` and the state ``x`` (physical); False if the solve failed.

    The held plan (``u_prev`` in every block), the identifier's free run with
    its move-blocked input Jacobian, the desired trajectory
    (:func:`desired_kernel`), one Gauss-Newton step, then each block clipped
    to the rate ``rate_n`` from the previous block and to [-1, 1] (numpy's
    clip), and ``result`` = the first block in physical units. ``new`` holds the clipped plan.
    ``hist`` (taps m,) holds the inputs applied at steps k-1, k-2, ...
    (physical; the identifier's input taps, a non-finite one read as
    ``held``): horizon step t's tap j is the plan's block ``block_of[t - j]``,
    or, for t < j, the input applied j - t steps back.
    ``desired_given`` True: ``desired`` already holds the desired trajectory
    (the imitator network's, :func:`imitator_desired_kernel`) and the
    reference model's exact response is not computed.
    ``fresh`` False: only the free run is recomputed (into ``pred``, ``hidden``
    scratch) and ``J`` is reused as the previous call left it (an approximation).
    """
    m = held.shape[0]
    nc = plan.shape[0]
    for a in range(m):
        u_prev[a] = (held[a] - u_mid[a]) / u_half[a]
    for c in range(nc):
        plan[c] = u_prev[c % m]
    for i in range(x.shape[0]):
        yn[i] = (x[i] - mid[i]) / half[i]
    taps = u.shape[1] // m
    for t in range(u.shape[0]):
        for j in range(taps):
            for a in range(m):
                if t >= j:
                    u[t, j * m + a] = plan[block_of[t - j] * m + a]
                else:
                    back = j - t - 1            # 0: the input of step k-1 (held)
                    v = hist[back * m + a]
                    u[t, j * m + a] = (v - u_mid[a]) / u_half[a] if back > 0 and math.isfinite(v) else u_prev[a]
    if fresh:
        _ik.blocked_jacobian_kernel(C, W, yn, h0, u, block_of, m, pred, J, y, h, Sy, Sy2, Sh, Sh2, xb, phi)
    else:
        _ik.free_run_kernel(C, W, yn, h0, u, pred, hidden, y, h, xb, phi)
    if not desired_given:
        desired_kernel(rm_phi, rm_g, rm_g_held, rm, r, preview, reference, mid, half, out_idx, rate_rows, rate_cols,
                       resp, desired)
    if not gauss_newton_kernel(pred, J, plan, u_prev, desired, tracked, weights, eval_steps, rho, mu, wr, bound,
                               A, g, L, A0, g0, act, new):
        return False
    for blk in range(nc // m):
        for a in range(m):
            c = blk * m + a
            prev = u_prev[a] if blk == 0 else new[c - m]
            lo = prev - rate_n[a]
            hi = prev + rate_n[a]
            v = new[c]
            v = v if v > lo else lo
            v = v if v < hi else hi
            v = v if v > -1.0 else -1.0
            v = v if v < 1.0 else 1.0
            new[c] = v
    for a in range(m):
        result[a] = new[a] * u_half[a] + u_mid[a]
    return True
