"""Plain numpy reference of one adaptive control step after the warm-up (no neurocontrol code imported).

It restates, from the equations, what :class:`AdaptiveController` does in
one step: the identifier's RLS update with uniform and directional
forgetting behind the outlier gate, the disturbance offset, the reference
model, the imitator's update (2-D rule or RLS), the predictive law (one
Gauss-Newton step over the horizon with move blocking, sensitivities by the
chain rule, normal equations solved by ``numpy.linalg.solve``) and the
rate and range limits. The RLS covariance update is written in the
Sherman-Morrison form of the information update ``R <- lam R + eps z z^T``,
not in the kernel's gain form.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg


def second_order_matrices(bandwidth, damping, dt):
    """Return the exact zero-order-hold ``Ad`` (p, 2, 2) and ``Bd`` (p, 2) of ``d'' = w^2 (r - d) - 2 zeta w d'``."""
    ad, bd = [], []
    for w, z in zip(bandwidth, damping):
        M = np.array([[0.0, 1.0, 0.0], [-w * w, -2.0 * z * w, w * w], [0.0, 0.0, 0.0]])
        E = scipy.linalg.expm(M * dt)
        ad.append(E[:2, :2])
        bd.append(E[:2, 2])
    return np.array(ad), np.array(bd)


def rls(W, P, z, target, lam, mu, max_trace):
    """Return ``(W, P)`` after one RLS step on the rows of ``target`` (pre-activation space, tanh)."""
    W, P = W.copy(), 0.5 * (P + P.T) / lam
    q = float(z @ P @ z)
    eps = mu - (1.0 - mu) / q if mu < 1.0 else 1.0
    Pz = P @ z
    P = P - eps * np.outer(Pz, Pz) / (1.0 + eps * q)
    gain = P @ z
    rows = target.shape[0]
    W[:rows] += np.outer(np.arctanh(target) - W[:rows] @ z, gain)
    tr = np.trace(P)
    if tr > max_trace:
        P = P * (max_trace / tr)
    return W, P


def two_d_rule(W, z, target, alpha, delta, tol, k_max):
    """Return ``(W, iterations)`` after the 2-D rule's inner iterations on the rows of ``target``."""
    W = W.copy()
    rows = target.shape[0]
    k = 0
    while True:
        y = np.tanh(W[:rows] @ z)
        e = target - y
        if k >= k_max or 0.5 * e @ e < tol:
            return W, k
        W[:rows] += np.outer(alpha * e / ((1.0 - y * y) + delta), z) / (z @ z)
        k += 1


def desired(rm, out_scale, out_offset, rate_scale, rate_offset, n):
    """Return the imitator state ``[values | rates | 0]`` (normalised, clipped to 0.99) of reference-model state ``rm``."""
    p = rm.shape[0]
    d = np.zeros(n)
    d[:p] = rm[:, 0] * out_scale + out_offset
    d[p:2 * p] = rm[:, 1] * rate_scale + rate_offset
    return np.clip(d, -0.99, 0.99)


def predictive(W, Ws, y, d, r, u, offset, dmap, q, blocks, horizon, stride, rho):
    """Return the first block's input ``u + du_0`` of one Gauss-Newton step of the horizon problem."""
    n, m, p = y.shape[0], u.shape[0], r.shape[0]
    nv = len(blocks) * m
    S = np.zeros((n, nv))
    rows, rhs, weights = [], [], []
    yh, dh = y.copy(), d.copy()
    for h in range(horizon):
        active = np.zeros((m, nv))
        for j, b in enumerate(blocks):
            if b <= h:
                active[:, j * m:(j + 1) * m] = np.eye(m)
        yn = np.tanh(W[:, :n] @ yh + W[:, n:n + m] @ u + W[:, n + m] + offset)
        S = (1.0 - yn * yn)[:, None] * (W[:, :n] @ S + W[:, n:n + m] @ active)
        dn = np.tanh(Ws[:, :n] @ dh + Ws[:, n:n + p] @ r + Ws[:, n + p])
        if (h + 1) % stride == 0 or h == horizon - 1:
            for k in range(n):
                if dmap[k] >= 0 and q[k] > 0:
                    rows.append(S[k])
                    rhs.append(dn[dmap[k]] - yn[k])
                    weights.append(q[k])
        yh, dh = yn, dn
    G, e, wq = np.array(rows), np.array(rhs), np.array(weights)
    A = G.T @ (wq[:, None] * G) + np.diag(np.tile(rho, len(blocks)))
    du = np.linalg.solve(A, G.T @ (wq * e))
    return u + du[:m]


def adaptive_step(s, obs, ref, *, handover=False):
    """One control step of the adaptive controller from its state ``s`` (a dict, see below); return the new state.

    ``s`` holds the arrays ``W, P, Ws, Ps (RLS imitator only), z, rm, d, offset, u (feedback input),
    u_applied (last applied input)``, the scalars ``have_z, gate, level``, the settings ``y_scale, y_offset,
    r_scale, r_offset, out_scale, out_offset, rate_scale, rate_offset, u_scale, u_offset, lo, hi, rate_limit,
    ad, bd, out_idx, rate_idx, dmap, id (lam, mu, max_trace), im (kind and its parameters), law (q, blocks,
    horizon, stride, move_penalty), dist_a, level_rate, outlier_gate``. ``handover`` runs the warm-up -> law
    hand-over first. The result adds ``learned`` (whether the gate let the identifier learn) and the applied
    input ``u_applied``.
    """
    s = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
    n = s["W"].shape[0]
    p = s["rm"].shape[0]
    if handover:
        s["gate"] = s["outlier_gate"]
        s["rm"][:, 0] = obs[s["out_idx"]]
        s["rm"][:, 1] = [obs[i] if i >= 0 else 0.0 for i in s["rate_idx"]]
        s["d"] = desired(s["rm"], s["out_scale"], s["out_offset"], s["rate_scale"], s["rate_offset"], n)
    y = np.clip(obs * s["y_scale"] + s["y_offset"], -0.99, 0.99)
    s["learned"] = False
    if s["have_z"]:
        z = s["z"]
        err = float(np.linalg.norm(y - np.tanh(s["W"] @ z)))
        learn = True
        if s["gate"] > 0:
            le = math.log(err + 1e-300)
            if math.isnan(s["level"]):
                s["level"] = le
            learn = le <= math.log(s["gate"]) + s["level"]
            s["level"] += s["level_rate"] * (le - s["level"])
        if learn:
            s["W"], s["P"] = rls(s["W"], s["P"], z, y, *s["id"])
        s["learned"] = learn
        a = s["dist_a"]
        if a > 0:
            s["offset"] = a * s["offset"] + (1 - a) * (np.arctanh(y) - s["W"] @ z)
    d_prev = s["d"]
    rm = s["rm"]
    rm = np.stack([s["ad"][:, 0, 0] * rm[:, 0] + s["ad"][:, 0, 1] * rm[:, 1] + s["bd"][:, 0] * ref,
                   s["ad"][:, 1, 0] * rm[:, 0] + s["ad"][:, 1, 1] * rm[:, 1] + s["bd"][:, 1] * ref], axis=1)
    s["rm"] = rm
    s["d"] = desired(rm, s["out_scale"], s["out_offset"], s["rate_scale"], s["rate_offset"], n)
    r = ref * s["r_scale"] + s["r_offset"]
    zs = np.concatenate([d_prev, r, [1.0]])
    im = s["im"]
    if im[0] == "rls":
        s["Ws"], s["Ps"] = rls(s["Ws"], s["Ps"], zs, s["d"][:2 * p], *im[1:])
    else:
        s["Ws"], _ = two_d_rule(s["Ws"], zs, s["d"][:2 * p], *im[1:])
    law = s["law"]
    u_n = s["u"] * s["u_scale"] + s["u_offset"]
    u_law = predictive(s["W"], s["Ws"], y, d_prev, r, u_n, s["offset"], s["dmap"], law["q"], law["blocks"],
                       law["horizon"], law["stride"], np.full(u_n.shape[0], law["move_penalty"] + 1e-12))
    u = (u_law - s["u_offset"]) / s["u_scale"]
    u = np.clip(u, s["u_applied"] - s["rate_limit"], s["u_applied"] + s["rate_limit"])
    u = np.clip(u, s["lo"], s["hi"])
    s["u"] = u
    s["u_applied"] = u
    s["z"] = np.concatenate([y, u * s["u_scale"] + s["u_offset"], [1.0]])
    s["have_z"] = True
    return s
