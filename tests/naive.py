"""Slow, obvious reference implementations for the learning-core tests.

Written independently of neurocontrol's kernels: explicit index loops straight
from the equations, no shared helpers, nothing clever. Conventions as in the
library: W (N, nz) with columns [recurrent y | inputs u | bias]; z = [y; u; 1];
inputs U[t] = u(t), t = 0..T-1; targets D[t] = d(t+1) for the first p units;
loss L = sum_t 0.5 ||D[t] - y(t+1)[:p]||^2. With teacher forcing, the first p
entries of y(t) are replaced by d(t) before every step t >= 1.
"""

from __future__ import annotations

import math

import numpy as np


def f(s, act):
    if act == "tanh":
        return math.tanh(s)
    return 1.0 / (1.0 + math.exp(-s))


def fprime(s, act):
    if act == "tanh":
        return 1.0 - math.tanh(s) ** 2
    v = 1.0 / (1.0 + math.exp(-s))
    return v * (1.0 - v)


def make_z(y, u, bias):
    return list(y) + list(u) + ([1.0] if bias else [])


def forward(W, y0, U, D, p, bias, act, forcing):
    """Plain-loop forward pass: returns (loss, Y, Z, S) with Y[t] = y(t+1), Z[t] = z(t), S[t] = s(t)."""
    W = np.asarray(W, dtype=float)
    N, nz = W.shape
    y = [float(v) for v in y0]
    Y, Z, S = [], [], []
    loss = 0.0
    for t in range(len(U)):
        z = make_z(y, U[t], bias)
        s = [sum(W[k, j] * z[j] for j in range(nz)) for k in range(N)]
        ynew = [f(s[k], act) for k in range(N)]
        for k in range(p):
            e = D[t][k] - ynew[k]
            loss += 0.5 * e * e
        Y.append(ynew)
        Z.append(z)
        S.append(s)
        y = list(ynew)
        if forcing:
            for k in range(p):
                y[k] = D[t][k]
    return loss, np.array(Y), np.array(Z), np.array(S)


def loss_only(W, y0, U, D, p, bias, act, forcing):
    return forward(W, y0, U, D, p, bias, act, forcing)[0]


def rtrl_loops(W, y0, U, D, p, bias, act, forcing):
    """RTRL with explicit index loops (Williams & Zipser 1989, eq. for p^k_ij).

    Returns (loss, grad) with grad[i, j] = dL/dW_ij.
    """
    W = np.asarray(W, dtype=float)
    N, nz = W.shape
    pk = np.zeros((N, N, nz))  # pk[k, i, j] = dy_k/dW_ij
    grad = np.zeros((N, nz))
    y = [float(v) for v in y0]
    loss = 0.0
    for t in range(len(U)):
        if forcing and t > 0:
            for k in range(p):
                y[k] = D[t - 1][k]
                for i in range(N):
                    for j in range(nz):
                        pk[k, i, j] = 0.0
        z = make_z(y, U[t], bias)
        s = [sum(W[k, j] * z[j] for j in range(nz)) for k in range(N)]
        new = np.zeros((N, N, nz))
        for k in range(N):
            d = fprime(s[k], act)
            for i in range(N):
                for j in range(nz):
                    acc = 0.0
                    for l in range(N):
                        acc += W[k, l] * pk[l, i, j]
                    if i == k:
                        acc += z[j]
                    new[k, i, j] = d * acc
        pk = new
        y = [f(s[k], act) for k in range(N)]
        for k in range(p):
            e = D[t][k] - y[k]
            loss += 0.5 * e * e
            for i in range(N):
                for j in range(nz):
                    grad[i, j] -= e * pk[k, i, j]
    return loss, grad


def bptt_loops(W, y0, U, D, p, bias, act, forcing):
    """Back-propagation through time with explicit loops. Returns (loss, grad)."""
    W = np.asarray(W, dtype=float)
    N, nz = W.shape
    loss, Y, Z, S = forward(W, y0, U, D, p, bias, act, forcing)
    T = len(U)
    grad = np.zeros((N, nz))
    dy = [0.0] * N  # dL/dy(t+1) flowing back from later steps
    for t in range(T - 1, -1, -1):
        # total dL/dy(t+1): direct loss term + recurrence from step t+1
        g = list(dy)
        for k in range(p):
            g[k] += -(D[t][k] - Y[t][k])
        ds = [g[k] * fprime(S[t][k], act) for k in range(N)]
        for i in range(N):
            for j in range(nz):
                grad[i, j] += ds[i] * Z[t][j]
        # into y(t) through the recurrent columns of z(t)
        dy = [sum(W[k, l] * ds[k] for k in range(N)) for l in range(N)]
        if forcing:
            for l in range(p):
                dy[l] = 0.0  # y(t)[:p] was replaced by d(t): no path back into the prediction
    return loss, grad


def finite_differences(fun, W, eps=1e-6):
    """Central differences of a scalar function of a matrix."""
    W = np.array(W, dtype=float)
    G = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        Wp = W.copy()
        Wm = W.copy()
        Wp[idx] += eps
        Wm[idx] -= eps
        G[idx] = (fun(Wp) - fun(Wm)) / (2 * eps)
    return G


def einsum_rtrl_step(W, z, P, act, n_forced):
    """Reference exact RTRL step with einsum: P (N, N*nz) -> (y, P_new)."""
    W = np.asarray(W, dtype=float)
    N, nz = W.shape
    s = np.einsum("kj,j->k", W, z)
    if act == "tanh":
        y = np.tanh(s)
        d = 1 - y ** 2
    else:
        y = 1 / (1 + np.exp(-s))
        d = y * (1 - y)
    P3 = P.reshape(N, N, nz).copy()
    P3[:n_forced] = 0.0
    new = np.einsum("kl,lij->kij", W[:, :N], P3)
    new += np.einsum("ki,j->kij", np.eye(N), z)
    new *= d[:, None, None]
    return y, new.reshape(N, N * nz)


def relative_error(a, b):
    """max |a - b| / max |b| (norm-wise relative error, max norm)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def input_jacobian_fd(W, y0, U, bias, act, eps=1e-6):
    """Central-difference lifted Jacobian J[h, j] = dy(h+1)/du(j), shape (H, H, N, m)."""
    W = np.asarray(W, dtype=float)
    U = np.asarray(U, dtype=float)
    H, m = U.shape
    N = W.shape[0]
    D = np.zeros((H, 1))

    def run(Uv):
        return forward(W, y0, Uv, D, 0, bias, act, False)[1]

    J = np.zeros((H, H, N, m))
    for j in range(H):
        for q in range(m):
            Up = U.copy()
            Um = U.copy()
            Up[j, q] += eps
            Um[j, q] -= eps
            J[:, j, :, q] = (run(Up) - run(Um)) / (2 * eps)
    return J


def plain_rk4(f, x, u, dt, substeps, n_steps, params_at):
    """Classical RK4 with the input held; ``params_at(k)`` gives the parameters of period k; states (n_steps + 1, n)."""
    out = [np.array(x, dtype=float)]
    h = dt / substeps
    for k in range(n_steps):
        p = params_at(k)
        for _ in range(substeps):
            k1 = f(x, u, p)
            k2 = f(x + h / 2 * k1, u, p)
            k3 = f(x + h / 2 * k2, u, p)
            k4 = f(x + h * k3, u, p)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x)
    return np.array(out)


def incremental_free_run(cfg, theta, y0, inputs, h0=None):
    """The incremental network's free run from (y0, h0) (h0 default zeros), numpy only, normalised units.

    Weights as :func:`neurocontrol.nets.incremental.split_weights` lays them out: C (p, nb) with columns
    [y, u, 1 | h(t+1)] and W (H, nb) with columns [h(t) | y, u, 1]; y(t+1) = y(t) + C [z; h(t+1)].
    """
    p, m, H = cfg.n_outputs, cfg.n_inputs, cfg.n_hidden
    nb = H + p + m + 1
    Cw, Ww = theta[:p * nb].reshape(p, nb), theta[p * nb:].reshape(H, nb)
    y, h, out = np.array(y0, float), np.zeros(H) if h0 is None else np.array(h0, float), []
    for u in inputs:
        z = np.concatenate([y, u, [1.0]])
        h = np.tanh(Ww @ np.concatenate([h, z]))
        y = y + Cw @ np.concatenate([z, h])
        out.append(y)
    return np.array(out)
