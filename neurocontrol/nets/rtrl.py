r"""The sensitivities of an RTRN: forward-mode gradients (exact RTRL, SnAp-1, UORO) and input Jacobians.

Sensitivity strategies share one interface, :class:`AbstractSensitivity`:
``state = s.init_state(config)``, then per step ``y_next = s.step(W, z, state)``
and ``G = s.gradient(state, e)``. Swap the strategy object to trade exactness
for cost (``ExactRTRL()`` -> ``SnAp1()`` -> ``UORO(seed=0)``).

Conventions: W has shape (N, nz), nz = N + m + b; z = [y; u; 1]; the dense
sensitivity is ``P[k, i*nz + j] = dy_k / dW_ij`` (W flattened row-major), shape
(N, N*nz). Gradients are of the loss ``L = 0.5 ||e||^2`` with
``e = d - y[:n_outputs]``, so gradient descent is ``W -= lr * G``.

Layer: imports :mod:`~neurocontrol.nets.structure` and
:mod:`~neurocontrol.nets.forward` below it, never the rules or the
:class:`~neurocontrol.nets.rtrn.RTRN` object above it.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np

import neurocontrol.nets._kernels as _kernels
from neurocontrol._validation import as_float_array, check_int
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.nets.forward import stack_z
from neurocontrol.nets.structure import RTRNConfig, _c, _check_config

__all__ = [
    "AbstractSensitivity",
    "SensitivityState",
    "ExactRTRL",
    "SnAp1",
    "UORO",
    "SequenceGradient",
    "rtrl_step",
    "rtrl_gradient",
    "InputSensitivities",
    "input_sensitivities",
    "BLAS_MIN_UNITS",
]

#: From this many units on, the exact RTRL kernel forms the sensitivity product
#: with one BLAS GEMM; below it, register-blocked compiled loops are faster
#: (the crossover is measured by benchmarks/bench_rtrl.py).
BLAS_MIN_UNITS = 24


def _diag_blocks(P: np.ndarray, nz: int) -> np.ndarray:
    """Strided (N, nz) view of the diagonal blocks P[k, k*nz:(k+1)*nz] of a C-contiguous P."""
    N = P.shape[0]
    s = P.strides[1]
    return np.lib.stride_tricks.as_strided(P, shape=(N, nz), strides=(P.strides[0] + nz * s, s))


# --------------------------------------------------------------------------- state

class SensitivityState(abc.ABC):
    """Buffers and counters of one sensitivity strategy for one network.

    Attributes
    ----------
    config : RTRNConfig
    t : int
        Steps taken since the last reset.
    y : numpy.ndarray, shape (N,)
        Output of the last step (read-only view).
    P : numpy.ndarray, shape (N, N*nz)
        The dense sensitivity dy(t)/dW the strategy represents (exact, sparse or
        rank-one approximation; built on access for the approximate strategies).
    """

    def __init__(self, config: RTRNConfig):
        self.config = config
        self.t = 0
        self._y = np.zeros(config.n_units)
        self._fp = np.zeros(config.n_units)
        self._y_ro = self._y.view()
        self._y_ro.setflags(write=False)
        self._shape = config.weight_shape
        self._n_out = config.n_outputs
        self._code = config.activation.code

    @property
    def y(self) -> np.ndarray:
        """Output y(t) of the last step, shape (N,), read-only view."""
        return self._y_ro

    @property
    @abc.abstractmethod
    def P(self) -> np.ndarray:
        """The sensitivities in the strategy's own layout."""

    def zero(self) -> None:
        """Zero the sensitivities and the step counter, keeping the buffers."""
        self.t = 0
        self._y[:] = 0.0
        self._fp[:] = 0.0
        self._zero_impl()

    @abc.abstractmethod
    def _zero_impl(self) -> None:
        """Zero the strategy's own buffers."""


class _ExactState(SensitivityState):
    def __init__(self, config: RTRNConfig):
        super().__init__(config)
        N, nz = config.weight_shape
        self._bufs = (np.zeros((N, N * nz)), np.zeros((N, N * nz)))
        self._diag = tuple(_diag_blocks(b, nz) for b in self._bufs)
        self._cur = 0
        self._A = np.zeros((N, N))
        self._outer = np.zeros((N, nz))

    def _zero_impl(self):
        self._bufs[0][...] = 0.0
        self._bufs[1][...] = 0.0
        self._cur = 0

    @property
    def P(self) -> np.ndarray:
        v = self._bufs[self._cur].view()
        v.setflags(write=False)
        return v


class _SnAp1State(SensitivityState):
    def __init__(self, config: RTRNConfig):
        super().__init__(config)
        self._bufs = (np.zeros(config.weight_shape), np.zeros(config.weight_shape))
        self._cur = 0

    def _zero_impl(self):
        self._bufs[0][...] = 0.0
        self._bufs[1][...] = 0.0
        self._cur = 0

    @property
    def p(self) -> np.ndarray:
        """Kept entries p[i, j] = dy_i/dW_ij, shape (N, nz), read-only view."""
        v = self._bufs[self._cur].view()
        v.setflags(write=False)
        return v

    @property
    def P(self) -> np.ndarray:
        N, nz = self.config.weight_shape
        P = np.zeros((N, N * nz))
        _diag_blocks(P, nz)[...] = self._bufs[self._cur]
        return P


class _UOROState(SensitivityState):
    def __init__(self, config: RTRNConfig, rng: np.random.Generator):
        super().__init__(config)
        self.rng = rng
        self.y_tilde = np.zeros(config.n_units)
        self.theta_tilde = np.zeros(config.n_weights)

    def _zero_impl(self):
        self.y_tilde = np.zeros(self.config.n_units)
        self.theta_tilde = np.zeros(self.config.n_weights)

    @property
    def P(self) -> np.ndarray:
        return np.outer(self.y_tilde, self.theta_tilde)


# --------------------------------------------------------------------------- strategies

class AbstractSensitivity(abc.ABC):
    """A way to carry dy(t)/dW forward in time (one template method per operation).

    Subclasses implement ``_new_state``, ``_step_impl`` and ``_gradient_impl``;
    :meth:`sequence` has a generic implementation that subclasses may replace
    with a compiled one.
    """

    #: True when the strategy gives the exact gradient for frozen weights.
    exact: bool = False

    def init_state(self, config: RTRNConfig) -> SensitivityState:
        """Allocate the buffers for ``config`` (sensitivities start at zero).

        Parameters
        ----------
        config : RTRNConfig
            The structure of the network whose sensitivities are carried.
        """
        return self._new_state(_check_config(config))

    def reset(self, state: SensitivityState) -> None:
        """Zero the sensitivities (start of a new sequence); keeps the buffers.

        Parameters
        ----------
        state : SensitivityState
            From :meth:`init_state`.
        """
        state.zero()

    def step(self, W: np.ndarray, z: np.ndarray, state: SensitivityState, *, forced: bool = False) -> np.ndarray:
        """Advance one step: y(t+1) = f(W z(t)) and its sensitivities.

        Parameters
        ----------
        W : numpy.ndarray, float64, shape (N, nz), C-contiguous
        z : numpy.ndarray, float64, shape (nz,)
            z(t) = [y(t); u(t); 1] as actually fed to the network.
        state : SensitivityState
            From :meth:`init_state`; updated in place.
        forced : bool, default False
            The compared units of z were teacher forced (replaced by targets):
            their sensitivities are zeroed before the step (Williams & Zipser 1989).

        Returns
        -------
        numpy.ndarray, shape (N,)
            y(t+1), a read-only view into ``state`` valid until the next step.

        Notes
        -----
        The hot path: only shapes are checked (non-finite values propagate;
        wrap learning in :class:`neurocontrol.nets.rules.Guarded` to catch them).
        """
        shape = state._shape
        if W.shape != shape:
            raise ShapeError(f"`W` must have shape {shape}, got {W.shape}.")
        if z.shape != (shape[1],):
            raise ShapeError(f"`z` must have shape ({shape[1]},), got {z.shape}.")
        self._step_impl(_c(W), _c(z), state, state._n_out if forced else 0)
        state.t += 1
        return state._y_ro

    def gradient(self, state: SensitivityState, error) -> np.ndarray:
        """Gradient of 0.5 ||e||^2 w.r.t. W at the last step, e = d - y(t)[:n_outputs].

        Parameters
        ----------
        state : SensitivityState
            From :meth:`init_state`, after at least one :meth:`step`.
        error : array_like, shape (n_outputs,)
            e = d - y(t)[:n_outputs].

        Returns
        -------
        numpy.ndarray, shape (N, nz)
            ``G = -sum_k e_k dy_k/dW`` (descend with ``W -= lr * G``).
        """
        e = as_float_array(error, "error", (state.config.n_outputs,))
        return self._gradient_impl(state, e)

    def sequence(self, W, y0, inputs, targets, *, state: SensitivityState, forcing: bool = False):
        """Compute loss, gradient and outputs over a sequence with frozen weights (no checks).

        Use :func:`rtrl_gradient` for a validated call.

        Parameters
        ----------
        W : numpy.ndarray, float64, shape (N, nz)
            Frozen weights.
        y0 : numpy.ndarray, float64, shape (N,)
            y(0).
        inputs : numpy.ndarray, float64, shape (T, m)
            u(0), ..., u(T-1).
        targets : numpy.ndarray, float64, shape (T, n_outputs)
            d(1), ..., d(T).
        state : SensitivityState
            Reset first; holds the final sensitivities afterwards.
        forcing : bool, default False
            Teacher-force the compared units before each step t >= 1.

        Returns
        -------
        tuple
            ``(loss, gradient (N, nz), outputs (T, N), jacobian_sq)`` with
            ``jacobian_sq = sum_t ||dy(t)[:p]/dW||_F^2``.
        """
        cfg = state.config
        N, nz = cfg.weight_shape
        p, m = cfg.n_outputs, cfg.n_inputs
        self.reset(state)
        T = inputs.shape[0]
        z = np.empty(nz)
        ycur = np.array(y0, dtype=np.float64)
        Y = np.empty((T, N))
        G = np.zeros((N, nz))
        loss = 0.0
        jac_sq = 0.0
        for t in range(T):
            z[:N] = ycur
            z[N:N + m] = inputs[t]
            if cfg.bias:
                z[N + m] = 1.0
            y = self.step(W, z, state, forced=forcing and t > 0)
            Y[t] = y
            e = targets[t] - y[:p]
            loss += 0.5 * float(e @ e)
            G += self._gradient_impl(state, e)
            jac_sq += float(np.sum(state.P[:p] ** 2))
            ycur[:] = y
            if forcing:
                ycur[:p] = targets[t]
        return loss, G, Y, jac_sq

    @abc.abstractmethod
    def _new_state(self, config: RTRNConfig) -> SensitivityState: ...

    @abc.abstractmethod
    def _step_impl(self, W, z, state, n_forced: int) -> None: ...

    @abc.abstractmethod
    def _gradient_impl(self, state, e) -> np.ndarray: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_EXACT_BACKENDS = ("auto", "numba-loops", "numba-blas", "numpy")


class ExactRTRL(AbstractSensitivity):
    r"""Exact real-time recurrent learning (dense sensitivities, GEMM form).

    Parameters
    ----------
    backend : {"auto", "numba-loops", "numba-blas", "numpy"}, default "auto"
        "numba-loops": one compiled call with register-blocked loops (fastest
        for small N); "numba-blas": one compiled call that forms the product
        with a BLAS GEMM; "numpy": numpy ``matmul(out=)`` into the
        double buffer. "auto" takes numba-loops below :data:`BLAS_MIN_UNITS`
        units and numba-blas from there on.

    Notes
    -----
    Williams & Zipser (1989), with s = W z, D = diag(f'(s)):

    .. math:: p^k_{ij}(t+1) = f'(s_k) \Big[\sum_l w_{kl}\, p^l_{ij}(t) + \delta_{ik} z_j(t)\Big],
              \quad p(0) = 0,

    i.e. ``P_new = (D W_rec) @ P`` (one GEMM, 2 N^3 nz flops) plus ``f'_k z``
    added onto the k-th diagonal block (a strided view). Teacher-forced units
    have zero sensitivity, done by zeroing their columns of ``D W_rec``.
    Memory O(N^2 nz), time O(N^3 nz) per step; exact only with frozen weights.

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights, stack_z
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    >>> W = init_weights(cfg, 0)
    >>> rtrl = ExactRTRL()
    >>> st = rtrl.init_state(cfg)
    >>> y = rtrl.step(W, stack_z(cfg, [0.0, 0.0], [1.0]), st)
    >>> rtrl.gradient(st, [0.1, -0.1]).shape
    (2, 4)
    """

    exact = True

    def __init__(self, backend: str = "auto"):
        if backend not in _EXACT_BACKENDS:
            raise ParameterError(f"`backend` must be one of {_EXACT_BACKENDS}, got {backend!r}.")
        self.backend = backend

    def __repr__(self) -> str:
        return f"ExactRTRL(backend={self.backend!r})"

    def _use_blas(self, N: int) -> int:
        if self.backend == "numba-blas":
            return 1
        if self.backend == "numba-loops":
            return 0
        return int(N >= BLAS_MIN_UNITS)

    def _new_state(self, config):
        state = _ExactState(config)
        state._use_blas = self._use_blas(config.n_units)
        return state

    def _step_impl(self, W, z, state, n_forced):
        src = state._bufs[state._cur]
        dst = state._bufs[1 - state._cur]
        if self.backend == "numpy":
            act = state.config.activation
            N = state.config.n_units
            y, fp, A = state._y, state._fp, state._A
            np.matmul(W, z, out=y)
            act.f(y, out=y)
            act.fprime_from_output(y, out=fp)
            np.multiply(fp[:, None], W[:, :N], out=A)
            if n_forced:
                A[:, :n_forced] = 0.0
            np.matmul(A, src, out=dst)
            np.multiply.outer(fp, z, out=state._outer)
            diag = state._diag[1 - state._cur]
            diag += state._outer
        else:
            _kernels.rtrl_step_kernel(W, z, src, dst, state._y, state._fp, state._code, n_forced, state._use_blas)
        state._cur = 1 - state._cur

    def _gradient_impl(self, state, e):
        p = state.config.n_outputs
        G = -(e @ state._bufs[state._cur][:p])
        return G.reshape(state.config.weight_shape)

    def sequence(self, W, y0, inputs, targets, *, state, forcing=False):  # noqa: D102 - documented on the base class
        if self.backend == "numpy":
            return super().sequence(W, y0, inputs, targets, forcing=forcing, state=state)
        cfg = state.config
        N, nz = cfg.weight_shape
        T = inputs.shape[0]
        G = np.empty(N * nz)
        Y = np.empty((T, N))
        P = state._bufs[0]
        loss, jac_sq = _kernels.rtrl_sequence_kernel(
            _c(W), _c(y0), _c(inputs), _c(targets),
            cfg.n_outputs, int(forcing), cfg.activation.code, int(cfg.bias), P, state._bufs[1], G, Y,
            state._use_blas)
        state._cur = 0
        state.t = T
        state._y[:] = Y[-1]
        return float(loss), G.reshape(N, nz), Y, float(jac_sq)


class SnAp1(AbstractSensitivity):
    r"""SnAp-1: keep only the sensitivities of each unit to its own incoming weights.

    Notes
    -----
    Menick et al. (2020), "Practical real time recurrent learning with a sparse
    approximation" (ICLR 2021), order-1 sparse approximation:

    .. math:: p^i_{ij}(t+1) = f'(s_i) \big( w_{ii}\, p^i_{ij}(t) + z_j(t) \big),

    O(#params) time and memory. Biased and deterministic; exact at T = 1 and
    whenever W_rec is diagonal (units do not drive each other). Weights into
    hidden units get a zero gradient because only p^i_ij is kept and the loss
    sees the compared units only.

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights, stack_z
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    >>> snap = SnAp1()
    >>> st = snap.init_state(cfg)
    >>> _ = snap.step(init_weights(cfg, 0), stack_z(cfg, [0.0, 0.0], [1.0]), st)
    >>> st.p.shape
    (2, 4)
    """

    def _new_state(self, config):
        return _SnAp1State(config)

    def _step_impl(self, W, z, state, n_forced):
        src = state._bufs[state._cur]
        dst = state._bufs[1 - state._cur]
        _kernels.snap1_step_kernel(W, z, src, dst, state._y, state._fp, state.config.activation.code, n_forced)
        state._cur = 1 - state._cur

    def _gradient_impl(self, state, e):
        p = state.config.n_outputs
        G = np.zeros(state.config.weight_shape)
        G[:p] = -e[:, None] * state._bufs[state._cur][:p]
        return G


class UORO(AbstractSensitivity):
    r"""Unbiased Online Recurrent Optimisation: a rank-one estimate P ~ y~ theta~^T.

    Parameters
    ----------
    seed : int or numpy.random.Generator, optional
        Randomness of the sign vectors (each state owns its own generator).

    Notes
    -----
    Tallec & Ollivier (2017), "Unbiased online recurrent optimization" (ICLR
    2018). With A = diag(f') W_rec, immediate Jacobian D (diagonal blocks
    f'_k z) and random signs nu:

    .. math:: \tilde y \leftarrow \rho_0 A \tilde y + \rho_1 \nu,\qquad
              \tilde\theta \leftarrow \tilde\theta/\rho_0 + \nu^T D/\rho_1,

    rho_0 = sqrt(||theta~|| / ||A y~||), rho_1 = sqrt(||nu^T D|| / ||nu||), so
    E[y~ theta~^T] = P. O(#params) per step, unbiased, high variance.
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __repr__(self) -> str:
        return f"UORO(seed={self.seed!r})"

    def _new_state(self, config):
        return _UOROState(config, np.random.default_rng(self.seed))

    def _step_impl(self, W, z, state, n_forced):
        cfg = state.config
        N = cfg.n_units
        act = cfg.activation
        y, fp = state._y, state._fp
        np.matmul(W, z, out=y)
        act.f(y, out=y)
        act.fprime_from_output(y, out=fp)
        A = fp[:, None] * W[:, :N]
        if n_forced:
            A[:, :n_forced] = 0.0
        Ay = A @ state.y_tilde
        nu = state.rng.choice((-1.0, 1.0), size=N)
        nuD = np.outer(nu * fp, z).ravel()
        n_theta, n_Ay = np.linalg.norm(state.theta_tilde), np.linalg.norm(Ay)
        rho0 = np.sqrt(n_theta / n_Ay) if n_theta > 0 and n_Ay > 0 else 1.0
        n_nuD = np.linalg.norm(nuD)
        rho1 = np.sqrt(n_nuD / np.sqrt(N)) if n_nuD > 0 else 1.0
        state.y_tilde = rho0 * Ay + rho1 * nu
        state.theta_tilde = state.theta_tilde / rho0 + nuD / rho1

    def _gradient_impl(self, state, e):
        p = state.config.n_outputs
        return (-(e @ state.y_tilde[:p]) * state.theta_tilde).reshape(state.config.weight_shape)


# --------------------------------------------------------------------------- validated functions

def rtrl_step(config: RTRNConfig, W, y, u, P=None, *, forced: bool = False):
    """One exact RTRL step, allocating its outputs: ``(y_next, P_next)``.

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    W : array_like, shape (N, nz)
        Weights.
    y : array_like, shape (N,)
        y(t) as fed to the network (with teacher values in the compared units when ``forced``).
    u : array_like, shape (m,)
        u(t).
    P : array_like, shape (N, N*nz), optional
        dy(t)/dW; zeros if omitted.
    forced : bool, default False
        The compared units of ``y`` are teacher forced; their sensitivities are zeroed.

    Returns
    -------
    y_next : numpy.ndarray, shape (N,)
    P_next : numpy.ndarray, shape (N, N*nz)
        ``P_next[k, i*nz + j] = dy_k(t+1)/dW_ij``.

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig
    >>> cfg = RTRNConfig(n_outputs=1, n_inputs=1, bias=False)
    >>> y1, P1 = rtrl_step(cfg, [[0.5, 1.0]], [0.0], [0.2])
    >>> P1.round(4)
    array([[0.    , 0.1922]])
    """
    config = _check_config(config)
    W = _c(config.check_weights(W))
    z = stack_z(config, y, u)
    N, nz = config.weight_shape
    P = np.zeros((N, N * nz)) if P is None else _c(as_float_array(P, "P", (N, N * nz)))
    y_next, fp, P_next = np.empty(N), np.empty(N), np.empty((N, N * nz))
    _kernels.rtrl_step_kernel(W, z, P, P_next, y_next, fp, config.activation.code,
                              config.n_outputs if forced else 0, int(N >= BLAS_MIN_UNITS))
    return y_next, P_next


@dataclasses.dataclass(frozen=True)
class SequenceGradient:
    """Result of :func:`rtrl_gradient`.

    Attributes
    ----------
    loss : float
        ``L = 0.5 sum_t ||d(t) - y(t)[:p]||^2``, t = 1..T.
    gradient : numpy.ndarray, shape (N, nz)
        dL/dW (exact for :class:`ExactRTRL`).
    outputs : numpy.ndarray, shape (T, N)
        y(1), ..., y(T) (before teacher forcing replaces them).
    jacobian_sq : float
        ``sum_t ||dy(t)[:p]/dW||_F^2`` (used by normalised steps).
    """

    loss: float
    gradient: np.ndarray
    outputs: np.ndarray
    jacobian_sq: float


def rtrl_gradient(config: RTRNConfig, W, y0, inputs, targets, *, teacher_forcing: bool = False,
                  sensitivity: AbstractSensitivity | None = None) -> SequenceGradient:
    """Loss and gradient over a sequence with frozen weights, by forward-mode RTRL.

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    W : array_like, shape (N, nz)
        Frozen weights.
    y0 : array_like, shape (N,) or (n_outputs,)
        y(0).
    inputs : array_like, shape (T, m)
        u(0), ..., u(T-1).
    targets : array_like, shape (T, n_outputs)
        d(1), ..., d(T), strictly inside the activation's output range.
    teacher_forcing : bool, default False
        Replace the compared units of y(t) by d(t) before each step t >= 1.
    sensitivity : AbstractSensitivity, default ExactRTRL()
        The strategy.

    Returns
    -------
    SequenceGradient

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1, n_hidden=1)
    >>> res = rtrl_gradient(cfg, init_weights(cfg, 0), [0, 0, 0], [[0.5]] * 10, [[0.1, 0.2]] * 10)
    >>> res.gradient.shape
    (3, 5)
    """
    config = _check_config(config)
    W = _c(config.check_weights(W))
    y0 = _c(config.check_state(y0))
    U = _c(config.check_inputs(inputs))
    D = _c(config.check_targets(targets, U.shape[0]))
    sens = ExactRTRL() if sensitivity is None else sensitivity
    if not isinstance(sens, AbstractSensitivity):
        raise ParameterError(f"`sensitivity` must be an AbstractSensitivity such as ExactRTRL(), "
                             f"got {type(sens).__name__}.")
    loss, G, Y, jac_sq = sens.sequence(W, y0, U, D, forcing=bool(teacher_forcing), state=sens.init_state(config))
    return SequenceGradient(loss=loss, gradient=G, outputs=Y, jacobian_sq=jac_sq)


@dataclasses.dataclass(frozen=True)
class InputSensitivities:
    """Free-running prediction and its sensitivities to the inputs.

    For a prediction from y(t) driven by u(t), ..., u(t+H-1):

    Attributes
    ----------
    outputs : numpy.ndarray, shape (H, N)
        ``outputs[h-1] = y(t+h)``, h = 1..H.
    jacobian : numpy.ndarray, shape (H, H, N, m)
        Lifted Jacobian ``jacobian[h-1, j] = dy(t+h)/du(t+j)``; zero for j >= h
        (causality). With S_1 = diag(f'_0) W_in and
        S_{h+1} = diag(f'_h) W_rec S_h this is the forward recursion of RTRL
        applied to the inputs.

    Notes
    -----
    ``pulse[h-1] = dy(t+h)/du(t)`` (only u(t) changes); ``held[h-1] =
    sum_j dy(t+h)/du(t+j)``: the first-order change of y(t+h) per unit change
    of u applied at t and held until t+H-1 (the step response of the
    linearisation along the prediction); ``held_from(j)`` the same for a
    change applied from t+j on.
    """

    outputs: np.ndarray
    jacobian: np.ndarray

    @property
    def horizon(self) -> int:
        """Number H of predicted steps."""
        return self.outputs.shape[0]

    @property
    def pulse(self) -> np.ndarray:
        """dy(t+h)/du(t), shape (H, N, m)."""
        return self.jacobian[:, 0]

    @property
    def held(self) -> np.ndarray:
        """dy(t+h)/du for u(t..t+H-1) all shifted together, shape (H, N, m)."""
        return self.jacobian.sum(axis=1)

    def held_from(self, j: int) -> np.ndarray:
        """Return dy(t+h)/du for u(t+j..t+H-1) shifted together, shape (H, N, m) (zero for h <= j).

        Parameters
        ----------
        j : int
            First shifted input, 0 <= j < H.
        """
        j = check_int(j, "j", low=0, high=self.horizon - 1)
        return self.jacobian[:, j:].sum(axis=1)


def input_sensitivities(config: RTRNConfig, W, y0, inputs, horizon: int | None = None) -> InputSensitivities:
    """Free-running prediction over a horizon and dy(t+h)/du(t+j) along it.

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    W : array_like, shape (N, nz)
        Weights.
    y0 : array_like, shape (N,) or (n_outputs,)
        y(t), the (measured) starting state.
    inputs : array_like, shape (H, m) or (m,)
        u(t), ..., u(t+H-1); a single (m,) vector is held for ``horizon`` steps.
    horizon : int, optional
        Required with a single input vector; must equal H otherwise.

    Returns
    -------
    InputSensitivities
        ``outputs`` (H, N), ``jacobian`` (H, H, N, m); ``held`` (H, N, m) is
        the sensitivity of y(t+h), h = 1..H, to an input change held from t on.

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    >>> s = input_sensitivities(cfg, init_weights(cfg, 0), [0.0, 0.0], [0.3], horizon=4)
    >>> s.outputs.shape, s.held.shape
    ((4, 2), (4, 2, 1))
    """
    config = _check_config(config)
    W = _c(config.check_weights(W))
    y0 = _c(config.check_state(y0))
    arr = np.asarray(inputs, dtype=np.float64)
    if horizon is not None:
        horizon = check_int(horizon, "horizon", low=1)
        if arr.ndim == 1 and arr.shape[0] == config.n_inputs:
            arr = np.broadcast_to(arr, (int(horizon), config.n_inputs))
        elif arr.ndim == 2 and arr.shape[0] != horizon:
            raise ShapeError(f"`inputs` must have {horizon} rows to match `horizon`, got shape {arr.shape}.")
    U = _c(config.check_inputs(arr))
    H, N, m = U.shape[0], config.n_units, config.n_inputs
    Y = np.empty((H, N))
    J = np.empty((H, H, N, m))
    S = np.empty((H, N, m))
    Sn = np.empty((H, N, m))
    _kernels.input_jacobian_kernel(W, y0, U, config.activation.code, int(config.bias), Y, J, S, Sn)
    return InputSensitivities(outputs=Y, jacobian=J)
