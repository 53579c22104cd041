"""Forward passes of an RTRN as pure functions: concatenated input z, one step, multi-step prediction.

Imports :mod:`neurocontrol.nets.structure` and the kernels only; the
sensitivities, the rules and the :class:`~neurocontrol.nets.rtrn.RTRN` object
build on these functions.
"""

from __future__ import annotations

import numpy as np

import neurocontrol.nets._kernels as _kernels
from neurocontrol._validation import as_float_array
from neurocontrol.nets.structure import RTRNConfig, _c, _check_vector

__all__ = ["stack_z", "forward", "predict"]


def stack_z(config: RTRNConfig, y, u, out=None) -> np.ndarray:
    """Concatenate ``z = [y; u; 1]`` (the 1 only with a bias).

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    y : array_like, shape (N,) or (n_outputs,)
        Unit activations (hidden units zero when only outputs are given).
    u : array_like, shape (m,)
        External inputs.
    out : numpy.ndarray, shape (N + m + b,), optional
        Buffer to write into.

    Returns
    -------
    numpy.ndarray, shape (N + m + b,)
    """
    y = config.check_state(y, "y")
    u = _check_vector(u, "u", config.n_inputs)
    z = np.empty(config.n_z) if out is None else out
    N, m = config.n_units, config.n_inputs
    z[:N] = y
    z[N:N + m] = u
    if config.bias:
        z[N + m] = 1.0
    return z


def forward(config: RTRNConfig, W, y, u) -> np.ndarray:
    """Take one step ``y(t+1) = f(W [y(t); u(t); 1])``.

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    W : array_like, shape (N, N + m + b)
        Weights.
    y : array_like, shape (N,)
        y(t).
    u : array_like, shape (m,)
        u(t).

    Returns
    -------
    numpy.ndarray, shape (N,)

    Examples
    --------
    >>> cfg = RTRNConfig(n_outputs=1, n_inputs=1, bias=False)
    >>> forward(cfg, [[0.0, 1.0]], [0.3], [0.5])
    array([0.46211716])
    """
    W = config.check_weights(W)
    z = stack_z(config, y, u)
    return config.activation.f(W @ z)


def predict(config: RTRNConfig, W, y0, inputs, *, teacher=None) -> np.ndarray:
    """Predict several steps, free running (parallel) or teacher forced (series-parallel).

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    W : array_like, shape (N, N + m + b)
        Weights.
    y0 : array_like, shape (N,) or (n_outputs,)
        State y(0); hidden units default to 0 when only outputs are given.
    inputs : array_like, shape (T, m)
        u(0), ..., u(T-1).
    teacher : array_like, shape (T, n_outputs), optional
        Targets d(1), ..., d(T). When given, the compared units of y(t) are
        replaced by d(t) before every step t >= 1 (teacher forcing), so
        ``Y[t]`` is the one-step prediction from measured data; ``teacher[T-1]``
        is not used.

    Returns
    -------
    numpy.ndarray, shape (T, N)
        ``Y[t] = y(t+1)``, all units (outputs first).

    Examples
    --------
    >>> from neurocontrol.nets.structure import init_weights
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    >>> W = init_weights(cfg, 0)
    >>> predict(cfg, W, [0.0, 0.0], [[0.1], [0.2], [0.3]]).shape
    (3, 2)
    """
    W = _c(config.check_weights(W))
    y0 = _c(config.check_state(y0))
    U = _c(config.check_inputs(inputs))
    T = U.shape[0]
    if teacher is None:
        D = np.zeros((T, config.n_outputs))
        n_forced = 0
    else:
        D = _c(as_float_array(teacher, "teacher", (T, config.n_outputs)))
        n_forced = config.n_outputs
    Y = np.empty((T, config.n_units))
    _kernels.predict_kernel(W, y0, U, D, n_forced, config.activation.code, int(config.bias), Y)
    return Y
