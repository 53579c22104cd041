r"""The incremental recurrent identifier: its structure, forward and free runs, and exact RTRL sensitivities.

The network predicts the next output as the present one plus a linear part
and a part through recurrent tanh hidden units,

.. math::

    h(t+1) = \tanh(W [h(t); z(t)]),\qquad
    y(t+1) = y(t) + A z(t) + V h(t+1),\qquad z(t) = [y(t); u(t); 1],

in normalised units (each declared signal range mapped onto [-1, 1]), so
the hidden units see inputs of order one and work in tanh's nonlinear range,
while the linear incremental outputs can represent "the output stays where it
is" exactly. Imports only the validators and :mod:`._incremental_kernels`;
the EKF rule and the online identifier build on it (:mod:`neurocontrol.nets.ekf`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_memory, check_positive
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.nets import _incremental_kernels as _k

__all__ = [
    "IncrementalConfig",
    "init_incremental_weights",
    "split_weights",
    "incremental_step",
    "free_run",
    "one_step_predictions",
    "output_sensitivities",
    "input_jacobian",
    "blocked_input_jacobian",
    "trajectory_jacobians",
    "check_network_memory",
]


def check_network_memory(p: int, m: int, H: int, covariance_floats=None) -> None:
    """Refuse a network whose arrays would not fit in memory (a ParameterError naming the settings that size it).

    Counts its weights' RTRL sensitivities, the EKF's scratch and the weights, and its rule's covariance.

    Parameters
    ----------
    p, m, H : int
        Outputs, inputs and hidden units (:class:`IncrementalConfig`).
    covariance_floats : callable, optional
        ``(n, bs) -> numbers`` of the rule's covariance for ``n`` weights in blocks of ``bs``; None: none.
    """
    bs = H + p + m + 1                               # the weights into one unit
    n = (p + H) * bs
    cov = 0.0 if covariance_floats is None else float(covariance_floats(float(n), float(bs)))
    floats = cov + (2.0 * H + 2.0 * p + 3.0) * n
    check_memory(floats, f"a network with {p} outputs, {m} inputs and {H} hidden units ({n} weights)",
                 "lower its hidden units, or the signals, lags and taps that size it (the neural controller's "
                 "`n_hidden`, `output_lags`, `input_taps`; an ILC's `gains` `hidden_units`, `taps`, `lead_taps`).")


def _range(value, name: str, n: int) -> np.ndarray:
    if value is None:
        arr = np.array([[-1.0] * n, [1.0] * n])
    else:
        arr = as_float_array(value, name, (2, n)).copy()
    if np.any(arr[1] <= arr[0]):
        raise ParameterError(f"`{name}` must have low < high in every column, got low={arr[0].tolist()}, "
                             f"high={arr[1].tolist()}.")
    arr.setflags(write=False)
    return arr


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class IncrementalConfig:
    """Structure and signal scaling of an incremental recurrent identifier.

    Parameters
    ----------
    n_outputs : int
        Number p >= 1 of predicted outputs (the measured plant outputs).
    n_inputs : int
        Number m >= 0 of plant inputs.
    n_hidden : int, default 8
        Number H >= 0 of tanh hidden units; 0 gives a linear ARX model.
    output_range : array_like, shape (2, p), optional
        Declared ``[low, high]`` of each output in physical units, mapped onto
        [-1, 1]; default [-1, 1] (signals already normalised).
    input_range : array_like, shape (2, m), optional
        Declared ``[low, high]`` of each input, mapped onto [-1, 1].
    input_init_std : float, default 1.0
        Standard deviation of the initial hidden weights on z (inputs of order one).
    recurrent_init_std : float, default 0.5
        Initial recurrent hidden weights are N(0, recurrent_init_std^2 / H).
    filter_time_constants : tuple of float, optional
        Time constants (in steps, each > 0) of hidden units 0, 1, ..., k-1 as
        *leaky filters of the inputs* at the start: unit j's recurrent weight is
        ``a_j = exp(-1 / tau_j)`` on itself and 0 on the other units, its weights
        on the inputs are the random draw times ``1 - a_j`` (unit gain at steady
        state), on the outputs and the bias 0. In tanh's linear range the unit is
        a first-order low-pass of a random mix of the inputs, so the network can
        carry slow states it does not measure. Training changes these weights
        like any other. Default: none (every unit a random feature).

    Attributes
    ----------
    n_z : int
        p + m + 1, the length of z.
    block_size : int
        H + n_z: the incoming weights of one output row [A_i, V_i] or one hidden unit W_k.
    n_blocks : int
        p + H.
    n_weights : int
        n_blocks * block_size.

    Examples
    --------
    >>> cfg = IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3)
    >>> cfg.n_z, cfg.block_size, cfg.n_weights
    (4, 7, 35)
    """

    n_outputs: int
    n_inputs: int
    n_hidden: int = 8
    output_range: np.ndarray | None = None
    input_range: np.ndarray | None = None
    input_init_std: float = 1.0
    recurrent_init_std: float = 0.5
    filter_time_constants: tuple[float, ...] | None = None

    def __post_init__(self):
        p = check_int(self.n_outputs, "n_outputs", low=1)
        m = check_int(self.n_inputs, "n_inputs", low=0)
        check_network_memory(p, m, check_int(self.n_hidden, "n_hidden", low=0))   # before any array is sized
        yr = _range(self.output_range, "output_range", p)
        ur = _range(self.input_range, "input_range", m)
        object.__setattr__(self, "output_range", yr)
        object.__setattr__(self, "input_range", ur)
        object.__setattr__(self, "input_init_std", check_positive(self.input_init_std, "input_init_std",
                                                                  allow_zero=True))
        object.__setattr__(self, "recurrent_init_std", check_positive(self.recurrent_init_std,
                                                                      "recurrent_init_std", allow_zero=True))
        if self.filter_time_constants is not None:
            taus = as_float_array(self.filter_time_constants, "filter_time_constants", (None,))
            if taus.shape[0] > self.n_hidden or np.any(taus <= 0):
                raise ParameterError(f"`filter_time_constants` must hold at most n_hidden={self.n_hidden} positive "
                                     f"time constants (in steps), got {taus.tolist()}.")
            object.__setattr__(self, "filter_time_constants", tuple(taus.tolist()))
        for name, r in (("output", yr), ("input", ur)):
            mid = np.ascontiguousarray(0.5 * (r[0] + r[1]))
            half = np.ascontiguousarray(0.5 * (r[1] - r[0]))
            mid.setflags(write=False)
            half.setflags(write=False)
            object.__setattr__(self, f"{name}_mid", mid)
            object.__setattr__(self, f"{name}_half", half)

    @property
    def n_z(self) -> int:
        """Length p + m + 1 of z."""
        return self.n_outputs + self.n_inputs + 1

    @property
    def block_size(self) -> int:
        """H + n_z, the weights entering one output row or one hidden unit."""
        return self.n_hidden + self.n_z

    @property
    def n_blocks(self) -> int:
        """Number of covariance blocks p + H: output rows first, then hidden units."""
        return self.n_outputs + self.n_hidden

    @property
    def n_weights(self) -> int:
        """Total number of weights, (p + H) (H + n_z)."""
        return self.n_blocks * self.block_size

    def normalize_outputs(self, y) -> np.ndarray:
        """Map outputs to normalised units, shape (..., p).

        Parameters
        ----------
        y : array_like, shape (..., p)
            Outputs in physical units.
        """
        return (np.asarray(y, dtype=np.float64) - self.output_mid) / self.output_half

    def denormalize_outputs(self, v) -> np.ndarray:
        """Map normalised outputs back to physical units, shape (..., p).

        Parameters
        ----------
        v : array_like, shape (..., p)
            Normalised outputs.
        """
        return np.asarray(v, dtype=np.float64) * self.output_half + self.output_mid

    def normalize_inputs(self, u) -> np.ndarray:
        """Map inputs to normalised units, shape (..., m).

        Parameters
        ----------
        u : array_like, shape (..., m)
            Inputs in physical units.
        """
        return (np.asarray(u, dtype=np.float64) - self.input_mid) / self.input_half

    def check_weights(self, theta, name: str = "theta") -> np.ndarray:
        """Return ``theta`` as a finite, C-contiguous float64 vector of length :attr:`n_weights`.

        Parameters
        ----------
        theta : array_like, shape (n_weights,)
            All weights (see :func:`split_weights`).
        name : str, default "theta"
            The argument's name, used in messages.
        """
        return np.ascontiguousarray(as_float_array(theta, name, (self.n_weights,)))


def _check_config(config) -> IncrementalConfig:
    if not isinstance(config, IncrementalConfig):
        raise ParameterError(f"`config` must be an IncrementalConfig, got {type(config).__name__}.")
    return config


def init_incremental_weights(config: IncrementalConfig, rng) -> np.ndarray:
    """Draw initial weights: A = V = 0 (predict "no change"), random hidden weights.

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed).

    Returns
    -------
    numpy.ndarray, shape (n_weights,)
        ``theta``; hidden weights on z are N(0, input_init_std^2), recurrent
        ones N(0, recurrent_init_std^2 / H); then the units named by
        ``config.filter_time_constants`` are made leaky filters of the inputs
        (see :class:`IncrementalConfig`; the draw itself is the same).
    """
    config = _check_config(config)
    if rng is None:
        raise ParameterError("`rng` must be a numpy Generator or an int seed (every draw from an explicit seed), "
                             "got None.")
    rng = np.random.default_rng(rng)
    theta = np.zeros(config.n_weights)
    _, W = split_weights(config, theta)
    H = config.n_hidden
    if H:
        W[:, :H] = rng.normal(0.0, config.recurrent_init_std / np.sqrt(H), size=(H, H))
        W[:, H:] = rng.normal(0.0, config.input_init_std, size=(H, config.n_z))
    if config.filter_time_constants:
        k, p, m = len(config.filter_time_constants), config.n_outputs, config.n_inputs
        a = np.exp(-1.0 / np.asarray(config.filter_time_constants))
        mix = W[:k, H + p:H + p + m].copy()
        W[:k] = 0.0
        W[np.arange(k), np.arange(k)] = a
        W[:k, H + p:H + p + m] = (1.0 - a)[:, None] * mix
    return theta


def split_weights(config: IncrementalConfig, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return views ``C = [A | V]`` (p, H + n_z) and ``W`` (H, H + n_z) of the weight vector.

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : numpy.ndarray, shape (n_weights,)
        The weights; the views share its memory when it is C-contiguous float64.

    Returns
    -------
    C, W : numpy.ndarray
        ``C`` columns ``[z | h(t+1)]`` (so ``A = C[:, :n_z]``, ``V = C[:, n_z:]``);
        ``W`` columns ``[h(t) | z(t)]``.
    """
    p, nb = config.n_outputs, config.block_size
    if not (isinstance(theta, np.ndarray) and theta.shape == (config.n_weights,)):
        raise ShapeError(f"`theta` must have shape ({config.n_weights},), got {np.shape(theta)}.")
    return theta[:p * nb].reshape(p, nb), theta[p * nb:].reshape(config.n_hidden, nb)


def _hidden(config, hidden, name="hidden"):
    if hidden is None:
        return np.zeros(config.n_hidden)
    return np.ascontiguousarray(as_float_array(hidden, name, (config.n_hidden,)))


def _seq(arr, name, n):
    out = np.ascontiguousarray(as_float_array(arr, name, (None, n)))
    if out.shape[0] == 0:
        raise ShapeError(f"`{name}` must hold at least one time step, got shape {out.shape}.")
    return out


def _buffers(config):
    return np.empty(config.block_size), np.empty(config.block_size)


def incremental_step(config: IncrementalConfig, theta, y, u, hidden=None) -> tuple[np.ndarray, np.ndarray]:
    """One step of the network in normalised units.

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : array_like, shape (n_weights,)
        The weights.
    y : array_like, shape (p,)
        Normalised output y(t).
    u : array_like, shape (m,)
        Normalised input u(t).
    hidden : array_like, shape (H,), optional
        h(t); default zeros.

    Returns
    -------
    y_next : numpy.ndarray, shape (p,)
        y(t+1).
    hidden_next : numpy.ndarray, shape (H,)
        h(t+1).
    """
    config = _check_config(config)
    theta = config.check_weights(theta)
    C, W = split_weights(config, theta)
    y = np.ascontiguousarray(as_float_array(y, "y", (config.n_outputs,)))
    u = np.ascontiguousarray(as_float_array(u, "u", (config.n_inputs,)))
    h = _hidden(config, hidden)
    y_next, h_next = np.empty(config.n_outputs), np.empty(config.n_hidden)
    _k.step_kernel(C, W, y, u, h, y_next, h_next, *_buffers(config))
    return y_next, h_next


def free_run(config: IncrementalConfig, theta, y0, inputs, hidden=None) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the network from (y0, h0), feeding its own outputs back (normalised units).

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : array_like, shape (n_weights,)
        The weights.
    y0 : array_like, shape (p,)
        Normalised y(0), e.g. the measured output.
    inputs : array_like, shape (T, m)
        Normalised u(0), ..., u(T-1).
    hidden : array_like, shape (H,), optional
        h(0); default zeros.

    Returns
    -------
    outputs : numpy.ndarray, shape (T, p)
        y(1), ..., y(T).
    hidden : numpy.ndarray, shape (T, H)
        h(1), ..., h(T).
    """
    config = _check_config(config)
    theta = config.check_weights(theta)
    C, W = split_weights(config, theta)
    y0 = np.ascontiguousarray(as_float_array(y0, "y0", (config.n_outputs,)))
    inputs = _seq(inputs, "inputs", config.n_inputs)
    T = inputs.shape[0]
    outputs, hid = np.empty((T, config.n_outputs)), np.empty((T, config.n_hidden))
    _k.free_run_kernel(C, W, y0, _hidden(config, hidden), inputs, outputs, hid, np.empty(config.n_outputs),
                       np.empty(config.n_hidden), *_buffers(config))
    return outputs, hid


def one_step_predictions(config: IncrementalConfig, theta, measured, inputs,
                         hidden=None) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forced run: predict y(t+1) from the measured y(t) at every step (normalised units).

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : array_like, shape (n_weights,)
        The weights.
    measured : array_like, shape (T, p)
        Normalised measured outputs y(0), ..., y(T-1).
    inputs : array_like, shape (T, m)
        Normalised inputs u(0), ..., u(T-1).
    hidden : array_like, shape (H,), optional
        h(0); default zeros.

    Returns
    -------
    predictions : numpy.ndarray, shape (T, p)
        y_hat(1), ..., y_hat(T).
    hidden : numpy.ndarray, shape (T + 1, H)
        h(0), ..., h(T): row t is the hidden state to free-run from at time t.
    """
    config = _check_config(config)
    theta = config.check_weights(theta)
    C, W = split_weights(config, theta)
    measured = _seq(measured, "measured", config.n_outputs)
    inputs = as_float_array(inputs, "inputs", (measured.shape[0], config.n_inputs))
    inputs = np.ascontiguousarray(inputs)
    T = inputs.shape[0]
    pred, hid = np.empty((T, config.n_outputs)), np.empty((T + 1, config.n_hidden))
    _k.teacher_forced_kernel(C, W, measured, inputs, _hidden(config, hidden), pred, hid, *_buffers(config))
    return pred, hid


def output_sensitivities(config: IncrementalConfig, theta, measured, inputs, hidden=None, *,
                         teacher_forcing: bool = True) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact RTRL sensitivities dy_hat(t+1)/dtheta along a sequence, weights frozen (normalised units).

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : array_like, shape (n_weights,)
        The weights.
    measured : array_like, shape (T, p) or (p,)
        With teacher forcing: the measured y(0), ..., y(T-1) (shape (T, p)).
        Without: y(0) only (shape (p,)); the network's outputs are fed back.
    inputs : array_like, shape (T, m)
        Normalised inputs u(0), ..., u(T-1).
    hidden : array_like, shape (H,), optional
        h(0) (its sensitivity is zero); default zeros.
    teacher_forcing : bool, default True
        Feed the measured outputs (True) or the network's own (False) into z.

    Returns
    -------
    outputs : numpy.ndarray, shape (T, p)
        y_hat(1), ..., y_hat(T).
    sensitivities : numpy.ndarray, shape (T, p, n_weights)
        dy_hat(t+1)/dtheta.

    Notes
    -----
    Forward mode (Williams & Zipser 1989) through the hidden state, with
    :math:`D = \mathrm{diag}(1 - h(t+1)^2)`, :math:`S_y = \partial y/\partial\theta`,
    :math:`S_h = \partial h/\partial\theta`:

    .. math::

        S_h(t+1) &= D\,[W_h S_h(t) + W_y S_y(t) + E_W(x(t))] \\
        S_y(t+1) &= S_y(t) + A_y S_y(t) + V S_h(t+1) + E_C(\varphi(t))

    where :math:`W_h, W_y` are the columns of W on h and y, :math:`A_y` those
    of A on y, :math:`E_W(x)` places :math:`x = [h(t); z(t)]` on row k at the
    weights of hidden unit k, :math:`E_C(\varphi)` places
    :math:`\varphi = [z(t); h(t+1)]` on row i at the weights of output row i.
    With teacher forcing :math:`S_y(t) = 0` before every step.
    """
    config = _check_config(config)
    theta = config.check_weights(theta)
    C, W = split_weights(config, theta)
    p, H, n = config.n_outputs, config.n_hidden, config.n_weights
    inputs = _seq(inputs, "inputs", config.n_inputs)
    T = inputs.shape[0]
    if teacher_forcing:
        meas = np.ascontiguousarray(as_float_array(measured, "measured", (T, p)))
    else:
        meas = np.ascontiguousarray(as_float_array(measured, "measured", (p,)))[None, :]
    y = meas[0].copy()
    h = _hidden(config, hidden).copy()
    Sy, Sh = np.zeros((p, n)), np.zeros((H, n))
    Sy_n, Sh_n = np.zeros((p, n)), np.zeros((H, n))
    y_n, h_n = np.empty(p), np.empty(H)
    x, phi = _buffers(config)
    d = np.empty(H)
    outputs, sens = np.empty((T, p)), np.empty((T, p, n))
    for t in range(T):
        y_in = meas[t] if teacher_forcing else y
        _k.sensitivity_step_kernel(C, W, y_in, inputs[t], h, Sy, Sh, int(teacher_forcing), y_n, h_n, Sy_n, Sh_n,
                                   x, phi, d)
        outputs[t] = y_n
        sens[t] = Sy_n
        y, y_n = y_n, y
        h, h_n = h_n, h
        Sy, Sy_n = Sy_n, Sy
        Sh, Sh_n = Sh_n, Sh
    return outputs, sens


def input_jacobian(config: IncrementalConfig, theta, y0, inputs, hidden=None) -> tuple[np.ndarray, np.ndarray]:
    """Free run over a horizon with forward input sensitivities dy(t+i)/du(t+j) (normalised units).

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : array_like, shape (n_weights,)
        The weights.
    y0 : array_like, shape (p,)
        Normalised measured output y(t).
    inputs : array_like, shape (N, m)
        Normalised planned inputs u(t), ..., u(t+N-1).
    hidden : array_like, shape (H,), optional
        h(t); default zeros.

    Returns
    -------
    outputs : numpy.ndarray, shape (N, p)
        y(t+1), ..., y(t+N).
    jacobian : numpy.ndarray, shape (N, p, N, m)
        ``jacobian[i, :, j, :] = dy(t+i+1)/du(t+j)``, zero for j > i. In physical
        units multiply by ``output_half[:, None] / input_half[None, :]`` of the config.

    Notes
    -----
    The recursion of :func:`output_sensitivities` with the inputs in place of
    the weights: the explicit terms are ``W_u`` (into h) and ``A_u`` (into y)
    on the columns of the input applied at that step.
    """
    config = _check_config(config)
    theta = config.check_weights(theta)
    C, W = split_weights(config, theta)
    p, H, m = config.n_outputs, config.n_hidden, config.n_inputs
    y0 = np.ascontiguousarray(as_float_array(y0, "y0", (p,)))
    inputs = _seq(inputs, "inputs", m)
    N = inputs.shape[0]
    outputs, J = np.empty((N, p)), np.empty((N, p, N, m))
    _k.input_jacobian_kernel(C, W, y0, _hidden(config, hidden), inputs, outputs, J, np.empty(p), np.empty(H),
                             np.empty((p, N * m)), np.empty((p, N * m)), np.empty((H, N * m)),
                             np.empty((H, N * m)), *_buffers(config))
    return outputs, J


def blocked_input_jacobian(config: IncrementalConfig, theta, y0, inputs, block_of,
                           hidden=None) -> tuple[np.ndarray, np.ndarray]:
    """Free run over a horizon with sensitivities to move-blocked inputs (normalised units).

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : array_like, shape (n_weights,)
        The weights.
    y0 : array_like, shape (p,)
        Normalised measured output y(t).
    inputs : array_like, shape (N, m)
        Normalised planned inputs u(t), ..., u(t+N-1); with move blocking
        ``inputs[j] = v[block_of[j]]``.
    block_of : array_like of int, shape (N,)
        Block of each step: non-decreasing, starting at 0.
    hidden : array_like, shape (H,), optional
        h(t); default zeros.

    Returns
    -------
    outputs : numpy.ndarray, shape (N, p)
        y(t+1), ..., y(t+N).
    jacobian : numpy.ndarray, shape (N, p, B m)
        ``jacobian[i, :, b m + a] = dy(t+i+1)/dv_b[a]``, the sum of
        :func:`input_jacobian` over the steps of block b; B = ``block_of[-1] + 1``.
    """
    config = _check_config(config)
    theta = config.check_weights(theta)
    C, W = split_weights(config, theta)
    p, H, m = config.n_outputs, config.n_hidden, config.n_inputs
    y0 = np.ascontiguousarray(as_float_array(y0, "y0", (p,)))
    inputs = _seq(inputs, "inputs", m)
    N = inputs.shape[0]
    blk = np.asarray(block_of)
    if blk.shape != (N,) or not np.issubdtype(blk.dtype, np.integer) or blk[0] != 0 \
            or np.any(np.diff(blk) < 0) or np.any(np.diff(blk) > 1):
        raise ShapeError(f"`block_of` must be {N} integers, starting at 0 and rising by 0 or 1 per step, "
                         f"got {np.array2string(blk, threshold=12)}.")
    blk = np.ascontiguousarray(blk, dtype=np.int64)
    ncol = (int(blk[-1]) + 1) * m
    outputs, J = np.empty((N, p)), np.empty((N, p, ncol))
    _k.blocked_jacobian_kernel(C, W, y0, _hidden(config, hidden), inputs, blk, m, outputs, J, np.empty(p),
                               np.empty(H), np.empty((p, ncol)), np.empty((p, ncol)), np.empty((H, ncol)),
                               np.empty((H, ncol)), *_buffers(config))
    return outputs, J


def trajectory_jacobians(config: IncrementalConfig, theta, measured, inputs,
                         hidden=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-step Jacobians of the free run, linearised along a measured trajectory (normalised units).

    The state of the free run is ``s(t) = [y(t); h(t)]``; a small change of
    the inputs moves it by ``ds(t+1) = F(t) ds(t) + G(t) du(t)``. Here F and G
    are evaluated at the measured outputs and the teacher-forced hidden states
    (:func:`one_step_predictions`), so the linearisation follows the recorded
    trajectory rather than the network's own free run, which may drift from it.

    Parameters
    ----------
    config : IncrementalConfig
        The structure.
    theta : array_like, shape (n_weights,)
        The weights.
    measured : array_like, shape (T, p)
        Normalised measured outputs y(0), ..., y(T-1).
    inputs : array_like, shape (T, m)
        Normalised inputs u(0), ..., u(T-1).
    hidden : array_like, shape (H,), optional
        h(0); default zeros.

    Returns
    -------
    F : numpy.ndarray, shape (T, p + H, p + H)
        ``d s(t+1) / d s(t)``.
    G : numpy.ndarray, shape (T, p + H, m)
        ``d s(t+1) / d u(t)``.

    Notes
    -----
    With ``h' = tanh(W [h; y; u; 1])``, ``D = diag(1 - h'^2)`` and
    ``y' = y + A [y; u; 1] + V h'``:

    .. math::

        \frac{\partial h'}{\partial (h, y, u)} = D\,[W_h, W_y, W_u],\qquad
        \frac{\partial y'}{\partial (h, y, u)} = [0, I + A_y, A_u]
            + V\,\frac{\partial h'}{\partial (h, y, u)}.

    Along the network's own free run, ``F`` and ``G`` chain to the exact
    input Jacobian of :func:`input_jacobian`.
    """
    config = _check_config(config)
    theta = config.check_weights(theta)
    C, W = split_weights(config, theta)
    p, m, H, nz = config.n_outputs, config.n_inputs, config.n_hidden, config.n_z
    _, hid = one_step_predictions(config, theta, measured, inputs, hidden)
    T = hid.shape[0] - 1
    D = 1.0 - hid[1:] ** 2                                          # (T, H)
    dh = D[:, :, None] * W[None, :, :H + p + m]                     # (T, H, H + p + m): [h | y | u]
    A, V = C[:, :nz], C[:, nz:]
    dy = np.einsum("ik,tkj->tij", V, dh)                            # (T, p, H + p + m)
    dy[:, :, H:H + p] += np.eye(p) + A[:, :p]
    dy[:, :, H + p:] += A[:, p:p + m]
    F = np.empty((T, p + H, p + H))
    F[:, :p, :p], F[:, :p, p:] = dy[:, :, H:H + p], dy[:, :, :H]
    F[:, p:, :p], F[:, p:, p:] = dh[:, :, H:H + p], dh[:, :, :H]
    G = np.concatenate([dy[:, :, H + p:], dh[:, :, H + p:]], axis=1)
    return F, G
