"""Learning rules over time x iteration for RTRNs, and guards that make them safe.

Every rule is an :class:`AbstractLearningRule`. Its state (covariances,
optimiser moments, sensitivities, windows) lives in a separate state object
created by :meth:`AbstractLearningRule.init_state`, owned by the caller (e.g.
:class:`neurocontrol.nets.rtrn.RTRN`). One call of
:meth:`AbstractLearningRule.update` learns from one teacher-forced transition

    z(t) = [y(t); u(t); 1]  ->  target d(t+1) for the first n_outputs units

and **updates W in place**, returning an :class:`UpdateInfo` with the error
norm before and after and the number of inner iterations.

Rules: :class:`TwoDRule` (Chow & Fang 1998, reconstructed), :class:`RTRLGradient`
(Williams & Zipser 1989; one-step or windowed multi-step free-running loss),
:class:`RecursiveLeastSquares` (in pre-activation space). Safety by
composition: ``Guarded(rule, guards=[DeadZone(...), SigmaModification(...),
WeightNormProjection(...)])`` with non-finite/divergence rollback.
"""

from __future__ import annotations

import abc
import dataclasses
import math

import numpy as np

from neurocontrol.exceptions import DivergenceError, ParameterError, ShapeError
from neurocontrol.nets import _kernels
from neurocontrol.nets.rtrl import AbstractSensitivity, ExactRTRL
from neurocontrol.nets.rtrn import RTRNConfig, _c, _check_vector

__all__ = [
    "UpdateInfo",
    "RuleState",
    "AbstractLearningRule",
    "TwoDRule",
    "AbstractOptimizer",
    "GradientStep",
    "NormalizedStep",
    "Adam",
    "RTRLGradient",
    "RecursiveLeastSquares",
    "AbstractGuard",
    "WeightNormProjection",
    "SigmaModification",
    "DeadZone",
    "Guarded",
]


def _number(value, name: str, *, low=None, high=None, low_open=False, high_open=False, allow_inf=False) -> float:
    """Validate a real scalar in a (half-)open interval; return it as float."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if ok and (math.isnan(v) or (math.isinf(v) and not allow_inf)):
        ok = False
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" + (")" if high_open or high is None else "]")
        raise ParameterError(f"`{name}` must be a number in {interval}, got {value!r}.")
    return v


def _integer(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------- results and state

@dataclasses.dataclass(frozen=True)
class UpdateInfo:
    """Diagnostics of one :meth:`AbstractLearningRule.update` call.

    Attributes
    ----------
    error_norm : float
        ||d(t+1) - f(W z(t))[:p]|| with the weights before the update.
    error_norm_after : float
        The same with the weights after the update (after any rollback).
    iterations : int
        Inner iterations (weight changes) made at this time step: k for the
        2-D rule, 1 for single-step rules, 0 when skipped.
    skipped : bool
        No update was made (a dead zone, or an already converged 2-D rule).
    rolled_back : bool
        A guard detected divergence and restored the previous weights.
    """

    error_norm: float
    error_norm_after: float
    iterations: int
    skipped: bool = False
    rolled_back: bool = False


class RuleState:
    """Per-network state of a learning rule (subclassed by rules that need more).

    Attributes
    ----------
    config : RTRNConfig
    n_updates : int
        Calls of :meth:`AbstractLearningRule.update` so far.
    """

    def __init__(self, config: RTRNConfig):
        self.config = config
        self.n_updates = 0


@dataclasses.dataclass(frozen=True)
class _Outcome:
    iterations: int
    skipped: bool = False
    rolled_back: bool = False


class AbstractLearningRule(abc.ABC):
    """A learning rule: one template method :meth:`update`, one hook ``_update_impl``.

    Subclasses implement ``_update_impl(W, z, target, error, state)`` that
    changes the rows of ``W`` in place and returns the number of inner
    iterations (or an internal outcome), and optionally ``_init_state``.
    """

    def init_state(self, config: RTRNConfig, W) -> RuleState:
        """Create the rule's state for a network with ``config`` and current weights ``W``."""
        if not isinstance(config, RTRNConfig):
            raise ParameterError(f"`config` must be an RTRNConfig, got {type(config).__name__}.")
        W = config.check_weights(W)
        return self._init_state(config, W)

    def _init_state(self, config: RTRNConfig, W: np.ndarray) -> RuleState:
        return RuleState(config)

    def update(self, W: np.ndarray, z, target, state: RuleState) -> UpdateInfo:
        """Learn from one transition z(t) -> d(t+1); **W is modified in place**.

        Parameters
        ----------
        W : numpy.ndarray, float64, shape (N, N + m + b), writeable
        z : array_like, shape (N + m + b,)
            z(t) = [y(t); u(t); 1], compared units holding the measured y(t).
        target : array_like, shape (n_outputs,)
            d(t+1), strictly inside the activation's output range.
        state : RuleState
            From :meth:`init_state`; updated in place.

        Returns
        -------
        UpdateInfo
        """
        if not isinstance(state, RuleState):
            raise ParameterError(f"`state` must come from {type(self).__name__}.init_state(), "
                                 f"got {type(state).__name__}.")
        cfg = state.config
        if not (isinstance(W, np.ndarray) and W.dtype == np.float64 and W.flags.writeable
                and W.flags.c_contiguous):
            raise ParameterError("`W` must be a writeable, C-contiguous float64 numpy array (rules update it in "
                                 f"place), got {type(W).__name__}"
                                 + (f" of dtype {W.dtype}, writeable={W.flags.writeable}, "
                                    f"C-contiguous={W.flags.c_contiguous}" if isinstance(W, np.ndarray) else "")
                                 + "; pass np.ascontiguousarray(W, dtype=float) and use the returned array.")
        if W.shape != cfg.weight_shape:
            raise ShapeError(f"`W` must have shape {cfg.weight_shape}, got {W.shape}.")
        z = _c(_check_vector(z, "z", cfg.n_z))
        target = _c(_check_vector(target, "target", cfg.n_outputs))
        cfg.activation.check_range(target, "target")
        code = cfg.activation.code
        e = np.empty(cfg.n_outputs)
        err0 = _kernels.output_error_kernel(W, z, target, code, e)
        out = self._update_impl(W, z, target, e, state)
        if not isinstance(out, _Outcome):
            out = _Outcome(int(out))
        err1 = _kernels.output_error_kernel(W, z, target, code, np.empty(cfg.n_outputs))
        state.n_updates += 1
        return UpdateInfo(error_norm=err0, error_norm_after=err1, iterations=out.iterations,
                          skipped=out.skipped, rolled_back=out.rolled_back)

    @abc.abstractmethod
    def _update_impl(self, W, z, target, error, state) -> int | _Outcome: ...


# --------------------------------------------------------------------------- the 2-D rule

@dataclasses.dataclass(frozen=True, kw_only=True)
class TwoDRule(AbstractLearningRule):
    """The 2-D (time x iteration) learning rule of Chow & Fang (1998), reconstructed.

    At a fixed time step t the weights are iterated, k = 0, 1, ...:

    .. math::

        e_k = d(t+1) - f(W_k z),\\quad C_k = \\operatorname{diag}(f'(W_k z)) + \\delta I,\\quad
        W_{k+1} = W_k + \\alpha\\, C_k^{-1} e_k\\, z^T / (z^T z),

    until ``0.5 ||e_k||^2 < tol`` or ``k = k_max``; W(t+1, 0) = W(t, K).

    Parameters
    ----------
    alpha : float in (0, 2), default 1.0
        Step size (1 = full linearised Newton step through the activation).
    delta : float >= 0, default 0.1
        Added to the slopes: bounds the gain, ``||dW z|| <= alpha/delta ||e||``.
        ``delta = 0`` is the paper's rule exactly; then saturated units get
        unbounded steps, and on data the network cannot fit exactly (noise,
        model mismatch) the weights grow until the units saturate and the
        iteration blows up (measured: NaN within 300 steps on random
        targets, where delta = 0.1 stays bounded).
    tol : float >= 0, default 1e-8
        Stop when ``0.5 ||e||^2 < tol``.
    k_max : int >= 1, default 20
        Maximum inner iterations per time step.

    Notes
    -----
    ``dW z = alpha C^-1 e`` exactly, and ``dW = alpha C^-1 e z^T/(z^T z)`` is the
    minimum-Frobenius-norm matrix with that property (a projection, as in
    normalised LMS). Per unit the error obeys
    ``e_{k+1} = (1 - alpha f'(xi)/(f'(s) + delta)) e_k`` with f'(xi) the secant
    slope between old and new net input, so it contracts iff
    ``0 < alpha f'(xi)/(f'(s)+delta) < 2``; this holds near the solution for
    alpha in (0, 2), always when ``alpha < 2 delta`` (tanh: f' <= 1), but
    not from saturated net inputs with small delta (the step overshoots into
    the opposite saturation). Only the rows of compared units change; hidden
    units have no error signal in this rule.
    Reference: Chow & Fang, IEEE Trans. Ind. Electron. 45(1):151-161, 1998.

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    >>> rule = TwoDRule(alpha=1.0)
    >>> W = init_weights(cfg, 0)
    >>> info = rule.update(W, [0.1, -0.2, 0.5, 1.0], [0.3, 0.2], rule.init_state(cfg, W))
    >>> info.error_norm_after < 1e-4, info.iterations <= 20
    (True, True)
    """

    alpha: float = 1.0
    delta: float = 0.1
    tol: float = 1e-8
    k_max: int = 20

    def __post_init__(self):
        object.__setattr__(self, "alpha", _number(self.alpha, "alpha", low=0, high=2, low_open=True, high_open=True))
        object.__setattr__(self, "delta", _number(self.delta, "delta", low=0))
        object.__setattr__(self, "tol", _number(self.tol, "tol", low=0))
        object.__setattr__(self, "k_max", _integer(self.k_max, "k_max", 1))

    def _update_impl(self, W, z, target, error, state):
        if not np.any(z):
            return _Outcome(0, skipped=True)  # z = 0 carries no information (only without bias)
        k = _kernels.two_d_kernel(W, z, target, state.config.activation.code, self.alpha, self.delta, self.tol,
                                  self.k_max, np.empty(target.shape[0]))
        return _Outcome(k, skipped=(k == 0))


# --------------------------------------------------------------------------- optimisers

class AbstractOptimizer(abc.ABC):
    """Turns a gradient into an in-place weight change (used by :class:`RTRLGradient`)."""

    def init_state(self, shape: tuple[int, int]) -> dict:
        return {}

    @abc.abstractmethod
    def step(self, W: np.ndarray, G: np.ndarray, jacobian_sq: float, state: dict) -> None:
        """W <- W + dW from gradient G (same shape) and ||dy/dW||_F^2 of the loss terms."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientStep(AbstractOptimizer):
    """Plain gradient descent ``W -= lr * G``.

    Parameters
    ----------
    lr : float > 0
    """

    lr: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "lr", _number(self.lr, "lr", low=0, low_open=True))

    def step(self, W, G, jacobian_sq, state):
        W -= self.lr * G


@dataclasses.dataclass(frozen=True, kw_only=True)
class NormalizedStep(AbstractOptimizer):
    """Normalised gradient step (NLMS form): ``W -= lr * G / (eps + ||dy/dW||_F^2)``.

    Parameters
    ----------
    lr : float in (0, 2), default 0.5
        For one output and a one-step loss, the linearised error shrinks by
        the factor (1 - lr) per update (normalised LMS).
    eps : float > 0, default 1e-3
        Regulariser bounding the step where sensitivities vanish.
    """

    lr: float = 0.5
    eps: float = 1e-3

    def __post_init__(self):
        object.__setattr__(self, "lr", _number(self.lr, "lr", low=0, high=2, low_open=True, high_open=True))
        object.__setattr__(self, "eps", _number(self.eps, "eps", low=0, low_open=True))

    def step(self, W, G, jacobian_sq, state):
        W -= (self.lr / (self.eps + jacobian_sq)) * G


@dataclasses.dataclass(frozen=True, kw_only=True)
class Adam(AbstractOptimizer):
    """Adam (Kingma & Ba 2015) with bias correction and optional step clipping.

    Parameters
    ----------
    lr : float > 0, default 1e-3
    beta1, beta2 : float in [0, 1), defaults 0.9, 0.999
    eps : float > 0, default 1e-8
    max_step : float > 0 or None, default None
        Clip each element of the step to ``±max_step``.
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    max_step: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "lr", _number(self.lr, "lr", low=0, low_open=True))
        object.__setattr__(self, "beta1", _number(self.beta1, "beta1", low=0, high=1, high_open=True))
        object.__setattr__(self, "beta2", _number(self.beta2, "beta2", low=0, high=1, high_open=True))
        object.__setattr__(self, "eps", _number(self.eps, "eps", low=0, low_open=True))
        if self.max_step is not None:
            object.__setattr__(self, "max_step", _number(self.max_step, "max_step", low=0, low_open=True))

    def init_state(self, shape):
        return {"m": np.zeros(shape), "v": np.zeros(shape), "t": 0}

    def step(self, W, G, jacobian_sq, state):
        state["t"] += 1
        t = state["t"]
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1 - self.beta1) * G
        v *= self.beta2
        v += (1 - self.beta2) * G * G
        mhat = m / (1 - self.beta1 ** t)
        vhat = v / (1 - self.beta2 ** t)
        dW = self.lr * mhat / (np.sqrt(vhat) + self.eps)
        if self.max_step is not None:
            np.clip(dW, -self.max_step, self.max_step, out=dW)
        W -= dW


# --------------------------------------------------------------------------- RTRL gradient

class _RTRLGradientState(RuleState):
    def __init__(self, config, rule: RTRLGradient, W):
        super().__init__(config)
        self.sensitivity = rule.sensitivity.init_state(config)
        self.optimizer = rule.optimizer.init_state(config.weight_shape)
        H = rule.horizon
        self.window_z = np.zeros((H, config.n_z))
        self.window_d = np.zeros((H, config.n_outputs))
        self.count = 0
        self.last_loss = math.nan


@dataclasses.dataclass(frozen=True, kw_only=True)
class RTRLGradient(AbstractLearningRule):
    """Gradient learning with RTRL sensitivities, one-step or multi-step loss.

    Parameters
    ----------
    optimizer : AbstractOptimizer, default NormalizedStep()
        :class:`NormalizedStep`, :class:`Adam` or :class:`GradientStep`.
    horizon : int >= 1, default 1
        1: real-time teacher-forced RTRL (Williams & Zipser 1989): the
        sensitivities are carried from step to step (forced units zeroed) and
        the loss is the one-step error ``0.5 ||d(t+1) - y(t+1)||^2``.
        H > 1: multi-step free-running loss over the last H transitions: from
        the stored z at the window start, the network runs free through the
        stored inputs and ``0.5 sum ||d - y||^2`` over the window is
        differentiated by exact RTRL with the current (frozen) weights.
    sensitivity : AbstractSensitivity, default ExactRTRL()
        ExactRTRL, SnAp1 or UORO (see :mod:`neurocontrol.nets.rtrl`).

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    >>> rule = RTRLGradient(optimizer=Adam(lr=1e-2), horizon=5)
    >>> W = init_weights(cfg, 0)
    >>> st = rule.init_state(cfg, W)
    >>> rule.update(W, [0.1, -0.2, 0.5, 1.0], [0.3, 0.2], st).iterations
    1
    """

    optimizer: AbstractOptimizer = dataclasses.field(default_factory=NormalizedStep)
    horizon: int = 1
    sensitivity: AbstractSensitivity = dataclasses.field(default_factory=ExactRTRL)

    def __post_init__(self):
        if not isinstance(self.optimizer, AbstractOptimizer):
            raise ParameterError(f"`optimizer` must be an AbstractOptimizer such as NormalizedStep(), "
                                 f"got {type(self.optimizer).__name__}.")
        if not isinstance(self.sensitivity, AbstractSensitivity):
            raise ParameterError(f"`sensitivity` must be an AbstractSensitivity such as ExactRTRL(), "
                                 f"got {type(self.sensitivity).__name__}.")
        object.__setattr__(self, "horizon", _integer(self.horizon, "horizon", 1))

    def _init_state(self, config, W):
        return _RTRLGradientState(config, self, W)

    def _update_impl(self, W, z, target, error, state):
        cfg = state.config
        p = cfg.n_outputs
        if self.horizon == 1:
            sst = state.sensitivity
            y = self.sensitivity.step(W, z, sst, forced=sst.t > 0)
            e = target - y[:p]
            G = self.sensitivity._gradient_impl(sst, e)
            P = sst.P
            jac_sq = float(np.einsum("ij,ij->", P[:p], P[:p]))
            state.last_loss = 0.5 * float(e @ e)
        else:
            H = self.horizon
            if state.count < H:
                n = state.count + 1
                state.window_z[n - 1] = z
                state.window_d[n - 1] = target
                state.count = n
            else:
                n = H
                state.window_z[:-1] = state.window_z[1:]
                state.window_d[:-1] = state.window_d[1:]
                state.window_z[-1] = z
                state.window_d[-1] = target
            N, m = cfg.n_units, cfg.n_inputs
            Z = state.window_z[:n]
            loss, G, _, jac_sq = self.sensitivity.sequence(
                W, np.ascontiguousarray(Z[0, :N]), np.ascontiguousarray(Z[:, N:N + m]),
                np.ascontiguousarray(state.window_d[:n]), forcing=False, state=state.sensitivity)
            state.last_loss = loss
        self.optimizer.step(W, G, jac_sq, state.optimizer)
        return 1


# --------------------------------------------------------------------------- recursive least squares

class _RLSState(RuleState):
    def __init__(self, config, rule: RecursiveLeastSquares):
        super().__init__(config)
        self.covariance = rule.initial_covariance * np.eye(config.n_z)
        self.n_bounded = 0
        self.max_trace = rule.max_trace if rule.max_trace is not None else config.n_z * rule.initial_covariance
        self._Pz = np.empty(config.n_z)
        self._gain = np.empty(config.n_z)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RecursiveLeastSquares(AbstractLearningRule):
    """Recursive least squares on the pre-activations of the compared units.

    With teacher forcing the target satisfies ``f^-1(d(t+1)) = W z(t)`` for
    a network that generated the data, so each compared row w_k of W solves a
    linear regression with the common regressor z. One covariance P is shared
    by all rows:

    .. math::

        k = P z / (\\lambda + z^T P z),\\quad
        w_k \\leftarrow w_k + k\\,(f^{-1}(d_k) - w_k^T z),\\quad
        P \\leftarrow (P - k z^T P)/\\lambda.

    With ``directional_forgetting`` mu < 1 the information along the new
    regressor is also discounted, and only along it (Bittanti, Bolzern and
    Campi's directional forgetting): in information form
    :math:`R \\leftarrow \\lambda R + \\epsilon z z^T` with
    :math:`\\epsilon = \\mu - (1-\\mu)/(z^T P z)` (P after the uniform
    forgetting), so directions the data do not excite keep what was learned
    there, and :math:`z^T P z` along a steadily excited direction settles at
    :math:`(1-\\mu)/\\mu`.

    Parameters
    ----------
    forgetting : float in (0, 1], default 1.0
        lambda; < 1 discounts old data (tracking) at the risk of windup.
    initial_covariance : float > 0, default 1e4
        P(0) = initial_covariance * I (large: weak prior on the initial W).
    max_trace : float > 0 or None, default None
        Anti-windup bound: when trace(P) exceeds it, P is scaled back to it
        (counted in ``state.n_bounded``). None: ``n_z * initial_covariance``.
    directional_forgetting : float in (0, 1], default 1.0
        mu; < 1 forgets (a further) 1 - mu of the information along each
        new regressor only. 1: plain exponential forgetting.

    Notes
    -----
    Only the rows of the compared units are learned (hidden units have no
    target): this rule is meant for full-state identifiers (n_hidden = 0).
    Noise-free data from a network of the same structure give back its W
    after n_z linearly independent regressors (up to the prior's weight
    1/initial_covariance). Cost O(nz^2 + p nz) per step.

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights
    >>> cfg = RTRNConfig(n_outputs=1, n_inputs=1)
    >>> rule = RecursiveLeastSquares()
    >>> W = init_weights(cfg, 0)
    >>> st = rule.init_state(cfg, W)
    >>> rule.update(W, [0.2, 0.5, 1.0], [0.4], st).error_norm_after < 1e-3
    True
    """

    forgetting: float = 1.0
    initial_covariance: float = 1e4
    max_trace: float | None = None
    directional_forgetting: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "forgetting", _number(self.forgetting, "forgetting", low=0, high=1, low_open=True))
        object.__setattr__(self, "directional_forgetting", _number(self.directional_forgetting,
                                                                   "directional_forgetting", low=0, high=1,
                                                                   low_open=True))
        object.__setattr__(self, "initial_covariance",
                           _number(self.initial_covariance, "initial_covariance", low=0, low_open=True))
        if self.max_trace is not None:
            object.__setattr__(self, "max_trace", _number(self.max_trace, "max_trace", low=0, low_open=True))

    def _init_state(self, config, W):
        return _RLSState(config, self)

    def _update_impl(self, W, z, target, error, state):
        state.n_bounded += _kernels.rls_kernel(W, z, target, state.config.activation.code, state.covariance,
                                               self.forgetting, self.directional_forgetting, state.max_trace,
                                               state._Pz, state._gain)
        return 1


# --------------------------------------------------------------------------- guards

class AbstractGuard(abc.ABC):
    """A safety layer applied by :class:`Guarded` around any rule.

    Hooks: :meth:`skip` before the update (True: no update), :meth:`apply`
    after it (modify W in place). Both default to doing nothing.
    """

    def init_state(self, config: RTRNConfig, W: np.ndarray):
        return None

    def skip(self, error_norm: float, state) -> bool:
        return False

    def apply(self, W: np.ndarray, state) -> None:
        return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class WeightNormProjection(AbstractGuard):
    """Project W onto the Frobenius ball ``||W||_F <= radius`` after each update.

    Parameters
    ----------
    radius : float > 0
    """

    radius: float

    def __post_init__(self):
        object.__setattr__(self, "radius", _number(self.radius, "radius", low=0, low_open=True))

    def apply(self, W, state):
        n = float(np.linalg.norm(W))
        if n > self.radius:
            W *= self.radius / n


@dataclasses.dataclass(frozen=True, kw_only=True)
class SigmaModification(AbstractGuard):
    """Leak toward an anchor after each update: ``W <- W - rate (W - W_anchor)``.

    Parameters
    ----------
    rate : float in [0, 1)
        sigma (per update); Ioannou & Kokotovic's sigma-modification against drift.
    toward_initial : bool, default True
        Anchor at the weights given to ``init_state`` (else at zero).
    """

    rate: float
    toward_initial: bool = True

    def __post_init__(self):
        object.__setattr__(self, "rate", _number(self.rate, "rate", low=0, high=1, high_open=True))

    def init_state(self, config, W):
        return np.array(W, dtype=np.float64, copy=True) if self.toward_initial else np.zeros(config.weight_shape)

    def apply(self, W, state):
        W -= self.rate * (W - state)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeadZone(AbstractGuard):
    """No update while the error norm is below ``threshold`` (robustness to noise).

    Parameters
    ----------
    threshold : float >= 0
        On ``||d - f(W z)[:p]||`` (normalised units).
    """

    threshold: float

    def __post_init__(self):
        object.__setattr__(self, "threshold", _number(self.threshold, "threshold", low=0))

    def skip(self, error_norm, state):
        return error_norm < self.threshold


class _GuardedState(RuleState):
    def __init__(self, config, rule: Guarded, W):
        super().__init__(config)
        self.inner = rule.rule.init_state(config, W)
        self.guards = [g.init_state(config, W) for g in rule.guards]
        self.backup = np.array(W, dtype=np.float64, copy=True)
        self.n_rollbacks = 0
        self.n_skipped = 0


@dataclasses.dataclass(frozen=True)
class Guarded(AbstractLearningRule):
    """Wrap a rule with guards and divergence rollback.

    Per update: if any guard's ``skip`` says so, nothing changes; otherwise
    the rule updates W, each guard's ``apply`` runs in order, and W is checked:
    if W or the new prediction is non-finite, or ``||W||_F > max_weight_norm``,
    the weights before the update (the last good ones) are restored, the
    inner rule's state is restarted, ``state.n_rollbacks`` is incremented and
    the returned :class:`UpdateInfo` has ``rolled_back=True`` — or, with
    ``raise_on_divergence``, :class:`~neurocontrol.exceptions.DivergenceError`
    is raised after restoring.

    Parameters
    ----------
    rule : AbstractLearningRule
    guards : sequence of AbstractGuard, default ()
    max_weight_norm : float > 0, default 1e6
    raise_on_divergence : bool, default False

    Examples
    --------
    >>> from neurocontrol.nets.rtrn import RTRNConfig, init_weights
    >>> cfg = RTRNConfig(n_outputs=2, n_inputs=1)
    >>> rule = Guarded(TwoDRule(), [DeadZone(threshold=1e-3), WeightNormProjection(radius=10.0)])
    >>> W = init_weights(cfg, 0)
    >>> st = rule.init_state(cfg, W)
    >>> rule.update(W, [0.1, -0.2, 0.5, 1.0], [0.3, 0.2], st).rolled_back
    False
    """

    rule: AbstractLearningRule
    guards: tuple = ()
    max_weight_norm: float = 1e6
    raise_on_divergence: bool = False

    def __post_init__(self):
        if not isinstance(self.rule, AbstractLearningRule):
            raise ParameterError(f"`rule` must be an AbstractLearningRule, got {type(self.rule).__name__}.")
        guards = tuple(self.guards)
        for g in guards:
            if not isinstance(g, AbstractGuard):
                raise ParameterError(f"`guards` must hold AbstractGuard objects (e.g. DeadZone(threshold=0.01)), "
                                     f"got {type(g).__name__}.")
        object.__setattr__(self, "guards", guards)
        object.__setattr__(self, "max_weight_norm",
                           _number(self.max_weight_norm, "max_weight_norm", low=0, low_open=True, allow_inf=True))
        object.__setattr__(self, "raise_on_divergence", bool(self.raise_on_divergence))

    def _init_state(self, config, W):
        return _GuardedState(config, self, W)

    def _update_impl(self, W, z, target, error, state):
        err = math.sqrt(error @ error)
        if any(g.skip(err, gs) for g, gs in zip(self.guards, state.guards)):
            state.n_skipped += 1
            return _Outcome(0, skipped=True)
        cfg = state.config
        state.backup[...] = W
        with np.errstate(all="ignore"):
            out = self.rule._update_impl(W, z, target, error, state.inner)
            state.inner.n_updates += 1
            for g, gs in zip(self.guards, state.guards):
                g.apply(W, gs)
            norm = float(np.linalg.norm(W))
            pred_ok = bool(np.all(np.isfinite(cfg.activation.f(W @ z))))
        if not isinstance(out, _Outcome):
            out = _Outcome(int(out))
        if math.isfinite(norm) and norm <= self.max_weight_norm and pred_ok:
            return out
        W[...] = state.backup
        state.inner = self.rule.init_state(cfg, W)
        state.n_rollbacks += 1
        if self.raise_on_divergence:
            raise DivergenceError(
                f"learning diverged at update {state.n_updates + 1} (||W||_F = {norm:.3g} > max_weight_norm = "
                f"{self.max_weight_norm:.3g} or non-finite); the previous weights were restored. Reduce the "
                "learning rate / alpha, increase delta, or add WeightNormProjection.")
        return _Outcome(out.iterations, skipped=out.skipped, rolled_back=True)
