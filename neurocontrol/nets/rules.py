r"""The learning rules of an RTRN (time x iteration), the optimisers they use and the guards that make them safe.

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

Layer: imports :mod:`~neurocontrol.nets.structure` and
:mod:`~neurocontrol.nets.rtrl` below it, never the
:class:`~neurocontrol.nets.rtrn.RTRN` object above it.
"""

from __future__ import annotations

import abc
import dataclasses
import math

import numpy as np

import neurocontrol.nets._kernels as _kernels
from neurocontrol._validation import check_int, check_real
from neurocontrol.exceptions import DivergenceError, ParameterError, ShapeError
from neurocontrol.nets.rtrl import AbstractSensitivity, ExactRTRL
from neurocontrol.nets.structure import RTRNConfig, _c, _check_config, _check_vector

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
        """Create the rule's state for a network with ``config`` and current weights ``W``.

        Parameters
        ----------
        config : RTRNConfig
            The structure of the network the rule will update.
        W : array_like, shape (N, N + m + b)
            Its current weights (anchors, backups and priors start from them).
        """
        config = _check_config(config)
        W = config.check_weights(W)
        return self._init_state(config, W)

    def _init_state(self, config: RTRNConfig, W: np.ndarray) -> RuleState:
        return RuleState(config)

    def update(self, W: np.ndarray, z, target, state: RuleState) -> UpdateInfo:
        """Learn from one transition z(t) -> d(t+1); **W is modified in place**.

        Parameters
        ----------
        W : numpy.ndarray, float64, shape (N, N + m + b), writeable
            The weights, changed in place.
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
    r"""The 2-D (time x iteration) learning rule of Chow & Fang (1998), reconstructed.

    At a fixed time step t the weights are iterated, k = 0, 1, ...:

    .. math::

        e_k = d(t+1) - f(W_k z),\quad C_k = \operatorname{diag}(f'(W_k z)) + \delta I,\quad
        W_{k+1} = W_k + \alpha\, C_k^{-1} e_k\, z^T / (z^T z),

    until ``0.5 ||e_k||^2 < tol`` or ``k = k_max``; W(t+1, 0) = W(t, K).

    Parameters
    ----------
    alpha : float in (0, 2), default 1.0
        Step size (1 = full linearised Newton step through the activation).
    delta : float >= 0, default 0.1
        Added to the slopes: bounds the gain, ``||dW z|| <= alpha/delta ||e||``.
        ``delta = 0`` is the paper's rule exactly; then saturated units get
        unbounded steps, and on data the network cannot fit exactly (noise,
        model mismatch) the weights can grow until the units saturate and the
        iteration blows up; ``alpha < 2 delta / sup f'`` rules out overshoot
        (see Notes).
    tol : float >= 0, default 1e-8
        Stop when ``0.5 ||e||^2 < tol``.
    k_max : int >= 1, default 20
        Maximum inner iterations per time step.

    Notes
    -----
    ``dW z = alpha C^-1 e`` exactly, and ``dW = alpha C^-1 e z^T/(z^T z)`` is the
    minimum-Frobenius-norm matrix with that property (a projection, as in
    normalised LMS). Only the rows of compared units change; hidden units
    have no error signal in this rule.

    *When the error shrinks.* Rows change independently, so take one unit
    with net input s. The step moves it to :math:`s' = s + \Delta s`,
    :math:`\Delta s = \alpha e_k / (f'(s) + \delta)`. By the mean value theorem
    :math:`f(s') - f(s) = \lambda \Delta s` with the secant slope
    :math:`\lambda = f'(\xi)`, :math:`\xi` between s and s', hence

    .. math:: e_{k+1} = \Big(1 - \frac{\alpha \lambda}{f'(s) + \delta}\Big) e_k .

    As f is increasing, :math:`\lambda > 0`, so :math:`|e_{k+1}| \le |e_k|` iff
    :math:`\alpha \lambda \le 2 (f'(s) + \delta)`. The slope :math:`\lambda`
    lies between the smallest and the largest slope on :math:`[s, s']`; for
    tanh and logistic f' is unimodal with its peak :math:`\sup f' = f'(0)`, so
    these are the slopes at the current and the next point (the peak if the
    step crosses 0). Therefore

    * :math:`\alpha \max_{[s, s']} f' < 2 (f'(s) + \delta)` implies the error
      of the unit shrinks, by at least the factor
      :math:`\max |1 - \alpha f'/(f'(s) + \delta)|` over the slopes at both ends;
    * :math:`\alpha \min(f'(s), f'(s')) > 2 (f'(s) + \delta)` implies it grows:
      the step overshoots, e.g. from a saturated unit (f'(s) ~ 0) with small
      delta into the opposite saturation;
    * :math:`\alpha < 2 \delta / \sup f'` (tanh: ``alpha < 2 delta``; logistic:
      ``alpha < 8 delta``) meets the first condition everywhere, so every
      unit's error, and the error norm, is non-increasing from any start;
      near the solution :math:`\xi \approx s` and any alpha in (0, 2) does.

    This is exact arithmetic. In float64 the error is computed only to within
    :math:`\eta = O(u\, (n_z + |d| + \sum_j |w_j z_j|))`, u = 2^-53, so the
    computed iteration satisfies :math:`|e_{k+1}| \le |e_k| + \eta` per unit:
    once the error reaches that floor it moves by an ulp either way, and a
    relative test ``|e_{k+1}| <= |e_k| (1 + tol)`` fails there even though the
    step contracts.
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
        object.__setattr__(self, "alpha", check_real(self.alpha, "alpha", low=0, high=2, low_open=True, high_open=True))
        object.__setattr__(self, "delta", check_real(self.delta, "delta", low=0))
        object.__setattr__(self, "tol", check_real(self.tol, "tol", low=0))
        object.__setattr__(self, "k_max", check_int(self.k_max, "k_max", low=1))

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
        """Create the optimiser's state (moments, counters) for weights of ``shape``.

        Parameters
        ----------
        shape : tuple of int
            The weight shape (N, N + m + b).
        """
        return {}

    @abc.abstractmethod
    def step(self, W: np.ndarray, G: np.ndarray, jacobian_sq: float, state: dict) -> None:
        """Change W in place, W <- W + dW, from the gradient of the loss.

        Parameters
        ----------
        W : numpy.ndarray, shape (N, N + m + b)
            The weights, changed in place.
        G : numpy.ndarray, same shape as W
            Gradient of the loss.
        jacobian_sq : float
            ``||dy/dW||_F^2`` of the loss terms (used by normalised steps).
        state : dict
            From :meth:`init_state`; updated in place.
        """


@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientStep(AbstractOptimizer):
    """Plain gradient descent ``W -= lr * G``.

    Parameters
    ----------
    lr : float > 0
    """

    lr: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "lr", check_real(self.lr, "lr", low=0, low_open=True))

    def step(self, W, G, jacobian_sq, state):  # noqa: D102 - documented on the base class
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
        object.__setattr__(self, "lr", check_real(self.lr, "lr", low=0, high=2, low_open=True, high_open=True))
        object.__setattr__(self, "eps", check_real(self.eps, "eps", low=0, low_open=True))

    def step(self, W, G, jacobian_sq, state):  # noqa: D102 - documented on the base class
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
        object.__setattr__(self, "lr", check_real(self.lr, "lr", low=0, low_open=True))
        object.__setattr__(self, "beta1", check_real(self.beta1, "beta1", low=0, high=1, high_open=True))
        object.__setattr__(self, "beta2", check_real(self.beta2, "beta2", low=0, high=1, high_open=True))
        object.__setattr__(self, "eps", check_real(self.eps, "eps", low=0, low_open=True))
        if self.max_step is not None:
            object.__setattr__(self, "max_step", check_real(self.max_step, "max_step", low=0, low_open=True))

    def init_state(self, shape):  # noqa: D102 - documented on the base class
        return {"m": np.zeros(shape), "v": np.zeros(shape), "t": 0}

    def step(self, W, G, jacobian_sq, state):  # noqa: D102 - documented on the base class
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
        object.__setattr__(self, "horizon", check_int(self.horizon, "horizon", low=1))

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
    r"""Recursive least squares on the pre-activations of the compared units.

    With teacher forcing the target satisfies ``f^-1(d(t+1)) = W z(t)`` for
    a network that generated the data, so each compared row w_k of W solves a
    linear regression with the common regressor z. One covariance P is shared
    by all rows:

    .. math::

        k = P z / (\lambda + z^T P z),\quad
        w_k \leftarrow w_k + k\,(f^{-1}(d_k) - w_k^T z),\quad
        P \leftarrow (P - k z^T P)/\lambda.

    With ``directional_forgetting`` mu < 1 the information along the new
    regressor is also discounted, and only along it (Bittanti, Bolzern and
    Campi's directional forgetting): in information form
    :math:`R \leftarrow \lambda R + \epsilon z z^T` with
    :math:`\epsilon = \mu - (1-\mu)/(z^T P z)` (P after the uniform
    forgetting), so directions the data do not excite keep what was learned
    there, and :math:`z^T P z` along a steadily excited direction settles at
    :math:`(1-\mu)/\mu`.

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
        object.__setattr__(self, "forgetting", check_real(self.forgetting, "forgetting", low=0, high=1, low_open=True))
        object.__setattr__(self, "directional_forgetting", check_real(self.directional_forgetting,
                                                                   "directional_forgetting", low=0, high=1,
                                                                   low_open=True))
        object.__setattr__(self, "initial_covariance",
                           check_real(self.initial_covariance, "initial_covariance", low=0, low_open=True))
        if self.max_trace is not None:
            object.__setattr__(self, "max_trace", check_real(self.max_trace, "max_trace", low=0, low_open=True))

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
        """Create the guard's state (e.g. an anchor) for a network; None by default.

        Parameters
        ----------
        config : RTRNConfig
            The structure of the guarded network.
        W : numpy.ndarray, shape (N, N + m + b)
            Its weights when the rule's state is created.
        """
        return None

    def skip(self, error_norm: float, state) -> bool:
        """Return True to make no update at this step (False by default).

        Parameters
        ----------
        error_norm : float
            ``||d(t+1) - f(W z(t))[:p]||`` before the update.
        state : object
            From :meth:`init_state`.
        """
        return False

    def apply(self, W: np.ndarray, state) -> None:
        """Change W in place after the rule's update (nothing by default).

        Parameters
        ----------
        W : numpy.ndarray, shape (N, N + m + b)
            The updated weights.
        state : object
            From :meth:`init_state`.
        """
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
        object.__setattr__(self, "radius", check_real(self.radius, "radius", low=0, low_open=True))

    def apply(self, W, state):  # noqa: D102 - documented on the base class
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
        object.__setattr__(self, "rate", check_real(self.rate, "rate", low=0, high=1, high_open=True))

    def init_state(self, config, W):  # noqa: D102 - documented on the base class
        return np.array(W, dtype=np.float64, copy=True) if self.toward_initial else np.zeros(config.weight_shape)

    def apply(self, W, state):  # noqa: D102 - documented on the base class
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
        object.__setattr__(self, "threshold", check_real(self.threshold, "threshold", low=0))

    def skip(self, error_norm, state):  # noqa: D102 - documented on the base class
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
                           check_real(self.max_weight_norm, "max_weight_norm", low=0, low_open=True, allow_inf=True))
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
