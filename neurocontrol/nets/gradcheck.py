"""The gradient check of the networks: RTRL against back-propagation through time and finite differences.

Use it whenever the network structure, the activation or the sensitivity
code changes: with frozen weights, forward-mode RTRL and reverse-mode BPTT
compute the same gradient of the same loss, to rounding. The top of
:mod:`neurocontrol.nets`: it imports the :class:`~neurocontrol.nets.rtrn.RTRN` object.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import neurocontrol.nets._kernels as _kernels
from neurocontrol._validation import check_real
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets.rtrl import AbstractSensitivity, ExactRTRL, rtrl_gradient
from neurocontrol.nets.rtrn import RTRN
from neurocontrol.nets.structure import RTRNConfig, _c, init_weights

__all__ = ["GradientCheckResult", "bptt_gradient", "check_gradients", "relative_error"]


def relative_error(a, b) -> float:
    """Return the norm-wise relative error ``max|a - b| / max|b|`` (max norm; 0/0 counts as 0).

    Parameters
    ----------
    a : array_like
        The value under test.
    b : array_like
        The reference (same shape).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    if scale == 0.0:
        return diff
    return diff / scale


def bptt_gradient(config: RTRNConfig, W, y0, inputs, targets, *, teacher_forcing: bool = False):
    """Compute loss and gradient by back-propagation through time (reverse mode).

    Same loss and conventions as :func:`neurocontrol.nets.rtrl.rtrl_gradient`:
    ``L = 0.5 sum_{t=1..T} ||d(t) - y(t)[:p]||^2``.

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    W : array_like, shape (N, N + m + b)
        Frozen weights.
    y0 : array_like, shape (N,) or (n_outputs,)
        y(0).
    inputs : array_like, shape (T, m)
        u(0), ..., u(T-1).
    targets : array_like, shape (T, n_outputs)
        d(1), ..., d(T), inside the activation's output range.
    teacher_forcing : bool, default False
        Replace the compared units of y(t) by d(t) before each step t >= 1.

    Returns
    -------
    loss : float
    gradient : numpy.ndarray, shape (N, N + m + b)

    Notes
    -----
    With g(t) = dL/dy(t): ds(t) = g(t+1) * f'(s(t)), dL/dW += ds(t) z(t)^T and
    g(t) = W_rec^T ds(t) - e(t) (Werbos 1990). Teacher-forced units of z(t)
    hold targets, so nothing flows back through them.
    """
    W = _c(config.check_weights(W))
    y0 = config.check_state(y0)
    U = config.check_inputs(inputs)
    D = config.check_targets(targets, U.shape[0])
    N, nz = config.weight_shape
    p, m, T = config.n_outputs, config.n_inputs, U.shape[0]
    act = config.activation
    Z = np.empty((T, nz))
    Y = np.empty((T, N))
    y = y0.copy()
    for t in range(T):
        Z[t, :N] = y
        Z[t, N:N + m] = U[t]
        if config.bias:
            Z[t, -1] = 1.0
        y = act.f(W @ Z[t])
        Y[t] = y
        y = y.copy()
        if teacher_forcing:
            y[:p] = D[t]
    E = D - Y[:, :p]
    loss = 0.5 * float(np.sum(E * E))
    FP = act.fprime_from_output(Y)
    G = np.zeros((N, nz))
    g_next = np.zeros(N)
    for t in range(T - 1, -1, -1):
        g = g_next.copy()
        g[:p] -= E[t]
        ds = g * FP[t]
        G += np.outer(ds, Z[t])
        g_next = W[:, :N].T @ ds
        if teacher_forcing:
            g_next[:p] = 0.0
    return loss, G


@dataclasses.dataclass(frozen=True)
class GradientCheckResult:
    """Outcome of :func:`check_gradients`.

    Attributes
    ----------
    rtrl_vs_bptt : float
        :func:`relative_error` of the RTRL gradient against BPTT.
    rtrl_vs_fd : float
        The same against central finite differences.
    rtrl, bptt, finite_difference : numpy.ndarray, shape (N, N + m + b)
        The three gradients of the loss.
    loss : float
    """

    rtrl_vs_bptt: float
    rtrl_vs_fd: float
    rtrl: np.ndarray
    bptt: np.ndarray
    finite_difference: np.ndarray
    loss: float

    def passed(self, bptt_tol: float = 1e-10, fd_tol: float = 1e-6) -> bool:
        """Return True when both errors are within the tolerances.

        Parameters
        ----------
        bptt_tol : float, default 1e-10
            Bound on :attr:`rtrl_vs_bptt` (two exact methods: rounding only).
        fd_tol : float, default 1e-6
            Bound on :attr:`rtrl_vs_fd` (central differences: truncation and rounding).
        """
        return self.rtrl_vs_bptt <= bptt_tol and self.rtrl_vs_fd <= fd_tol


def check_gradients(net, inputs, targets, *, weights=None, y0=None, teacher_forcing: bool = False, seed=0,
                    eps: float = 1e-6, sensitivity: AbstractSensitivity | None = None) -> GradientCheckResult:
    """Compare RTRL gradients with BPTT and central finite differences over a sequence.

    Parameters
    ----------
    net : RTRNConfig or RTRN
        Structure (an RTRN also supplies its weights and, unless ``y0`` is given, its state).
    inputs : array_like, shape (T, m)
    targets : array_like, shape (T, n_outputs)
        Inside the activation's output range.
    weights : array_like, shape (N, N + m + b), optional
        Frozen weights; drawn from ``seed`` with :func:`init_weights` if omitted for a config.
    y0 : array_like, shape (N,) or (n_outputs,), optional
        Initial state; drawn from ``seed`` (uniform in half the activation's range) if omitted.
    teacher_forcing : bool, default False
        Replace the compared units of y(t) by d(t) before each step t >= 1.
    seed : int or numpy.random.Generator, default 0
        Randomness for the weights and the initial state when they are not given.
    eps : float > 0, default 1e-6
        Finite-difference step.
    sensitivity : AbstractSensitivity, default ExactRTRL()
        The strategy under test (approximate ones will not pass).

    Returns
    -------
    GradientCheckResult

    Examples
    --------
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1, n_hidden=1)
    >>> rng = np.random.default_rng(0)
    >>> res = check_gradients(cfg, rng.uniform(-1, 1, (20, 1)), rng.uniform(-0.5, 0.5, (20, 2)))
    >>> res.rtrl_vs_bptt < 1e-10, res.rtrl_vs_fd < 1e-6
    (True, True)
    """
    if isinstance(net, RTRN):
        config = net.config
        W = net.weights if weights is None else weights
        if y0 is None:
            y0 = net.state
    elif isinstance(net, RTRNConfig):
        config = net
        W = weights
    else:
        raise ParameterError(f"`net` must be an RTRNConfig or an RTRN, got {type(net).__name__}.")
    eps = check_real(eps, "eps", low=0.0, high=1.0, low_open=True, high_open=True)
    rng = np.random.default_rng(seed)
    if W is None:
        W = init_weights(config, rng)
    W = np.array(config.check_weights(W, "weights"), dtype=np.float64, order="C")
    if y0 is None:
        act = config.activation
        mid, half = 0.5 * (act.low + act.high), 0.25 * (act.high - act.low)
        y0 = rng.uniform(mid - half, mid + half, config.n_units)
    y0 = _c(config.check_state(y0))
    U = _c(config.check_inputs(inputs))
    D = _c(config.check_targets(targets, U.shape[0]))

    res = rtrl_gradient(config, W, y0, U, D, teacher_forcing=teacher_forcing,
                        sensitivity=ExactRTRL() if sensitivity is None else sensitivity)
    _, G_bptt = bptt_gradient(config, W, y0, U, D, teacher_forcing=teacher_forcing)

    p = config.n_outputs
    n_forced = p if teacher_forcing else 0
    Y = np.empty((U.shape[0], config.n_units))

    def loss(Wv):
        _kernels.predict_kernel(Wv, y0, U, D, n_forced, config.activation.code, int(config.bias), Y)
        E = D - Y[:, :p]
        return 0.5 * float(np.sum(E * E))

    G_fd = np.empty_like(W)
    Wp = W.copy()
    for idx in np.ndindex(W.shape):
        w = W[idx]
        Wp[idx] = w + eps
        lp = loss(Wp)
        Wp[idx] = w - eps
        lm = loss(Wp)
        Wp[idx] = w
        G_fd[idx] = (lp - lm) / (2 * eps)
    return GradientCheckResult(rtrl_vs_bptt=relative_error(res.gradient, G_bptt),
                               rtrl_vs_fd=relative_error(res.gradient, G_fd),
                               rtrl=res.gradient, bptt=G_bptt, finite_difference=G_fd, loss=res.loss)
