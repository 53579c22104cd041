"""Numba kernels of the helicopter plant (not public API).

Pure float64 functions: no validation, no allocation inside loops, no Python
objects. Public wrappers in :mod:`plants.helicopter.dynamics` and the env
validate and call these. Every integrating kernel goes through the same
scalar function :func:`integrate`, so one env step, one :func:`step_kernel`
call and one row of :func:`step_batch_kernel` give bit-identical results.

Parameter vector ``p`` layout (see :meth:`HelicopterParams.to_vector`):
``p[0:15] = a1..a15``, ``p[15]`` published-drag flag, ``p[16:18]`` altitude
stops, ``p[18:20]`` collective stops.
"""

from __future__ import annotations

import math

from neurocontrol._jit import plant_jit

__all__ = ["jit", "rhs_kernel", "step_kernel", "step_batch_kernel", "env_step_kernel",
           "STATUS_OK", "STATUS_ROTOR_OUT_OF_RANGE", "STATUS_NONFINITE",
           "STATUS_BAD_ACTION"]

#: The plant's kernels compile with the project's plant flags (strict IEEE: :mod:`neurocontrol._jit`).
jit = plant_jit

STATUS_OK = 0
STATUS_ROTOR_OUT_OF_RANGE = 1
STATUS_NONFINITE = 2
STATUS_BAD_ACTION = 3


@jit
def _forces(w, zd, th, thd, u0, u1, p, d):
    """Free-flight accelerations (d omega/dt, d2z/dt2, d2theta/dt2)."""
    s = math.sin(th)
    w2 = w * w
    dw = p[7] * w + p[8] * w2 + p[9] * w2 * s + p[10] + u0
    r = p[2] + p[3] * th
    root = math.sqrt(r) if r > 0.0 else 0.0
    if p[15] != 0.0:
        drag = p[5] * zd * zd
    else:
        drag = p[5] * zd * abs(zd)
    ddz = w2 * (p[0] + p[1] * th - root) + p[4] * zd + drag + p[6] + d
    ddth = p[12] * th + p[13] * w2 * s + p[14] * thd + p[11] + u1
    return dw, ddz, ddth


@jit
def _deriv_contact(w, z, zd, th, thd, u0, u1, p, d):
    """Time derivative with the stand's end stops acting as contacts.

    At a stop, a velocity into the stop is treated as zero (the impact has
    stopped it) and an acceleration into the stop is cancelled by the contact
    force, so a body resting on a stop stays there until the net force pulls it away.
    """
    zmin = p[16]
    zmax = p[17]
    thmin = p[18]
    thmax = p[19]
    if z <= zmin and zd < 0.0:
        zd = 0.0
    elif z >= zmax and zd > 0.0:
        zd = 0.0
    if th <= thmin and thd < 0.0:
        thd = 0.0
    elif th >= thmax and thd > 0.0:
        thd = 0.0
    dw, ddz, ddth = _forces(w, zd, th, thd, u0, u1, p, d)
    if zd == 0.0:
        if z <= zmin and ddz < 0.0:
            ddz = 0.0
        elif z >= zmax and ddz > 0.0:
            ddz = 0.0
    if thd == 0.0:
        if th <= thmin and ddth < 0.0:
            ddth = 0.0
        elif th >= thmax and ddth > 0.0:
            ddth = 0.0
    return dw, zd, ddz, thd, ddth


@jit
def integrate(w, z, zd, th, thd, u0, u1, p, d, dt, substeps):
    """Advance one control period ``dt`` with ``substeps`` classical RK4 steps.

    ``u0, u1`` (inputs) and ``d`` (extra vertical acceleration, m/s^2) are held
    constant over the period. After every sub-step the end stops are enforced
    as contacts: a position past a stop is set to the stop and a velocity into
    the stop to zero. Returns the new state as five floats.
    """
    h = dt / substeps
    h2 = 0.5 * h
    h6 = h / 6.0
    zmin = p[16]
    zmax = p[17]
    thmin = p[18]
    thmax = p[19]
    for _ in range(substeps):
        k1w, k1z, k1zd, k1th, k1thd = _deriv_contact(w, z, zd, th, thd, u0, u1, p, d)
        k2w, k2z, k2zd, k2th, k2thd = _deriv_contact(w + h2 * k1w, z + h2 * k1z, zd + h2 * k1zd,
                                                     th + h2 * k1th, thd + h2 * k1thd, u0, u1, p, d)
        k3w, k3z, k3zd, k3th, k3thd = _deriv_contact(w + h2 * k2w, z + h2 * k2z, zd + h2 * k2zd,
                                                     th + h2 * k2th, thd + h2 * k2thd, u0, u1, p, d)
        k4w, k4z, k4zd, k4th, k4thd = _deriv_contact(w + h * k3w, z + h * k3z, zd + h * k3zd,
                                                     th + h * k3th, thd + h * k3thd, u0, u1, p, d)
        w = w + h6 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w)
        z = z + h6 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
        zd = zd + h6 * (k1zd + 2.0 * k2zd + 2.0 * k3zd + k4zd)
        th = th + h6 * (k1th + 2.0 * k2th + 2.0 * k3th + k4th)
        thd = thd + h6 * (k1thd + 2.0 * k2thd + 2.0 * k3thd + k4thd)
        if z <= zmin:
            z = zmin
            if zd < 0.0:
                zd = 0.0
        elif z >= zmax:
            z = zmax
            if zd > 0.0:
                zd = 0.0
        if th <= thmin:
            th = thmin
            if thd < 0.0:
                thd = 0.0
        elif th >= thmax:
            th = thmax
            if thd > 0.0:
                thd = 0.0
    return w, z, zd, th, thd


@jit
def rhs_kernel(x, u, p, out):
    """Free-flight state derivative (no end stops) into ``out`` (5,)."""
    dw, ddz, ddth = _forces(x[0], x[2], x[3], x[4], u[0], u[1], p, 0.0)
    out[0] = dw
    out[1] = x[2]
    out[2] = ddz
    out[3] = x[4]
    out[4] = ddth


@jit
def step_kernel(x, u, p, d, dt, substeps, out):
    """One control period from ``x`` (5,) under ``u`` (2,) into ``out`` (5,)."""
    w, z, zd, th, thd = integrate(x[0], x[1], x[2], x[3], x[4], u[0], u[1], p, d, dt, substeps)
    out[0] = w
    out[1] = z
    out[2] = zd
    out[3] = th
    out[4] = thd


@jit
def step_batch_kernel(x, u, p, d, dt, substeps, out):
    """One control period for each row of ``x`` (N, 5), ``u`` (N, 2), ``d`` (N,) into ``out`` (N, 5)."""
    for i in range(x.shape[0]):
        w, z, zd, th, thd = integrate(x[i, 0], x[i, 1], x[i, 2], x[i, 3], x[i, 4],
                                      u[i, 0], u[i, 1], p, d[i], dt, substeps)
        out[i, 0] = w
        out[i, 1] = z
        out[i, 2] = zd
        out[i, 3] = th
        out[i, 4] = thd


@jit
def env_step_kernel(x, action, limits, obs_bounds, p, d, dt, substeps, rotor_lo, rotor_hi,
                    u_out, sat_out, obs_out):
    """Everything one env step needs, in one compiled call.

    Rejects a non-finite ``action`` (2,) without touching the state
    (returns :data:`STATUS_BAD_ACTION`); clips it to ``limits`` (2, 2) into
    ``u_out`` and flags saturation in ``sat_out`` (bool, 2); advances ``x``
    (5,) in place over ``dt``; writes ``x`` clipped to ``obs_bounds`` (2, 5)
    into ``obs_out``; returns :data:`STATUS_OK`, :data:`STATUS_ROTOR_OUT_OF_RANGE`
    (rotor speed outside ``[rotor_lo, rotor_hi]``) or :data:`STATUS_NONFINITE`.
    """
    for j in range(2):
        if not math.isfinite(action[j]):
            return STATUS_BAD_ACTION
    for j in range(2):
        a = action[j]
        if a < limits[j, 0]:
            u_out[j] = limits[j, 0]
            sat_out[j] = True
        elif a > limits[j, 1]:
            u_out[j] = limits[j, 1]
            sat_out[j] = True
        else:
            u_out[j] = a
            sat_out[j] = False
    w, z, zd, th, thd = integrate(x[0], x[1], x[2], x[3], x[4], u_out[0], u_out[1], p, d, dt, substeps)
    x[0] = w
    x[1] = z
    x[2] = zd
    x[3] = th
    x[4] = thd
    finite = True
    for j in range(5):
        v = x[j]
        if not math.isfinite(v):
            finite = False
        lo = obs_bounds[0, j]
        hi = obs_bounds[1, j]
        obs_out[j] = lo if v < lo else (hi if v > hi else v)
    if not finite:
        return STATUS_NONFINITE
    if w < rotor_lo or w > rotor_hi:
        return STATUS_ROTOR_OUT_OF_RANGE
    return STATUS_OK
