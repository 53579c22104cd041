"""The real-time recurrent network (RTRN): structure, activations, weights, forward passes.

An RTRN has N = n_outputs + n_hidden fully recurrent units and m external
inputs. With the concatenated input

.. math:: z(t) = [y(t);\\ u(t);\\ 1] \\in \\mathbb{R}^{N + m + b}

(the trailing 1 only when ``bias``), one step is

.. math:: y(t+1) = f(W z(t)),\\qquad W \\in \\mathbb{R}^{N \\times (N + m + b)}.

Only the first ``n_outputs`` units are compared with targets (plant outputs
or a desired response); the others are hidden units in the sense of
Williams & Zipser (1989). With ``n_hidden = 0`` this is the output-recurrent
network of Chow & Fang (1998), W = [W1 W2 (b)].

Functions here are pure (explicit state in, new state out); :class:`RTRN`
is the convenience object that owns weights, state and a learning rule.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import scipy.special

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import OutOfRangeError, ParameterError, ShapeError
from neurocontrol.nets import _kernels

if TYPE_CHECKING:  # pragma: no cover
    from neurocontrol.nets.rules import AbstractLearningRule, UpdateInfo

__all__ = [
    "AbstractActivation",
    "Tanh",
    "Logistic",
    "ACTIVATIONS",
    "get_activation",
    "RTRNConfig",
    "init_weights",
    "Normalizer",
    "stack_z",
    "forward",
    "predict",
    "RTRN",
]


# --------------------------------------------------------------------------- activations

class AbstractActivation(abc.ABC):
    """An elementwise activation f with its derivative and inverse.

    Subclasses define ``name``, ``code`` (the integer the numba kernels switch
    on), the open output interval ``(low, high)`` and the four methods.
    """

    name: ClassVar[str]
    code: ClassVar[int]
    low: ClassVar[float]
    high: ClassVar[float]

    @abc.abstractmethod
    def f(self, s, out=None):
        """f(s), elementwise."""

    @abc.abstractmethod
    def fprime_from_output(self, y, out=None):
        """f'(s) expressed through y = f(s) (no second transcendental call)."""

    def fprime(self, s):
        """f'(s), elementwise."""
        return self.fprime_from_output(self.f(s))

    @abc.abstractmethod
    def inverse(self, y):
        """f^-1(y) for y strictly inside (low, high)."""

    def check_range(self, values, name: str) -> None:
        """Raise :class:`OutOfRangeError` unless ``low < values < high`` elementwise."""
        v = np.asarray(values)
        if v.size and v.min() > self.low and v.max() < self.high:
            return
        bad = ~((v > self.low) & (v < self.high))
        if np.any(bad):
            raise OutOfRangeError(
                f"`{name}` must lie strictly inside ({self.low:g}, {self.high:g}), the output range of the "
                f"{self.name} activation, got {v[bad].ravel()[:5].tolist()}; normalise the signal first "
                f"(e.g. with neurocontrol.nets.rtrn.Normalizer into (-0.9, 0.9) for tanh, (0.05, 0.95) for logistic).")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class Tanh(AbstractActivation):
    """f(s) = tanh(s), f' = 1 - f^2, output range (-1, 1)."""

    name = "tanh"
    code = _kernels.TANH
    low = -1.0
    high = 1.0

    def f(self, s, out=None):
        return np.tanh(s, out=out)

    def fprime_from_output(self, y, out=None):
        out = np.multiply(y, y, out=out)
        return np.subtract(1.0, out, out=out)

    def inverse(self, y):
        return np.arctanh(y)


class Logistic(AbstractActivation):
    """f(s) = 1 / (1 + exp(-s)), f' = f (1 - f), output range (0, 1)."""

    name = "logistic"
    code = _kernels.LOGISTIC
    low = 0.0
    high = 1.0

    def f(self, s, out=None):
        return scipy.special.expit(s, out=out)

    def fprime_from_output(self, y, out=None):
        out = np.subtract(1.0, y, out=out)
        return np.multiply(y, out, out=out)

    def inverse(self, y):
        y = np.asarray(y, dtype=np.float64)
        return np.log(y) - np.log1p(-y)


#: Registry resolving activation names (e.g. from TOML) to activation objects.
ACTIVATIONS: dict[str, AbstractActivation] = {"tanh": Tanh(), "logistic": Logistic()}


def get_activation(activation) -> AbstractActivation:
    """Resolve an activation name or object.

    Parameters
    ----------
    activation : str or AbstractActivation
        A key of :data:`ACTIVATIONS` ("tanh", "logistic") or an activation object.

    Returns
    -------
    AbstractActivation

    Raises
    ------
    ParameterError
        If the name is unknown.

    Examples
    --------
    >>> get_activation("tanh").f(0.5)
    np.float64(0.46211715726000974)
    """
    if isinstance(activation, AbstractActivation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ParameterError(f"`activation` must be one of {sorted(ACTIVATIONS)} or an AbstractActivation, "
                             f"got {activation!r}.") from None


# --------------------------------------------------------------------------- configuration

def _check_vector(x, name: str, n: int) -> np.ndarray:
    """Fast path of ``as_float_array(x, name, (n,))`` for the per-step hot paths.

    A float64 (n,) array whose dot product with itself is finite holds no NaN
    or inf; anything else (including overflow) takes the full check.
    """
    if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (n,) and math.isfinite(x @ x):
        return x
    return as_float_array(x, name, (n,))


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RTRNConfig:
    """Structure of an RTRN.

    Parameters
    ----------
    n_outputs : int
        Number p >= 1 of units compared with targets (the first p units).
    n_inputs : int
        Number m >= 0 of external inputs u.
    n_hidden : int, default 0
        Number of extra fully recurrent units not compared with targets.
    activation : str or AbstractActivation, default "tanh"
        Resolved through :data:`ACTIVATIONS`; the attribute holds the object.
    bias : bool, default True
        Append a constant 1 to z.
    init_scale : float, default 0.5
        Weights are drawn uniformly in ``±init_scale / sqrt(N + m + b)``.

    Attributes
    ----------
    n_units : int
        N = n_outputs + n_hidden.
    n_z : int
        Length N + m + b of z.
    weight_shape : tuple
        (N, N + m + b).
    n_weights : int
        N (N + m + b).

    Examples
    --------
    >>> cfg = RTRNConfig(n_outputs=5, n_inputs=2)
    >>> cfg.weight_shape, cfg.activation
    ((5, 8), Tanh())
    """

    n_outputs: int
    n_inputs: int
    n_hidden: int = 0
    activation: AbstractActivation = "tanh"  # type: ignore[assignment]
    bias: bool = True
    init_scale: float = 0.5

    def __post_init__(self):
        _check_int(self.n_outputs, "n_outputs", 1)
        _check_int(self.n_inputs, "n_inputs", 0)
        _check_int(self.n_hidden, "n_hidden", 0)
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ParameterError(f"`bias` must be True or False, got {self.bias!r}.")
        try:
            scale = float(self.init_scale)
        except (TypeError, ValueError):
            scale = math.nan
        if not (math.isfinite(scale) and scale >= 0):
            raise ParameterError(f"`init_scale` must be a finite number >= 0, got {self.init_scale!r}.")
        object.__setattr__(self, "activation", get_activation(self.activation))
        object.__setattr__(self, "bias", bool(self.bias))
        object.__setattr__(self, "init_scale", scale)

    @property
    def n_units(self) -> int:
        return self.n_outputs + self.n_hidden

    @property
    def n_z(self) -> int:
        return self.n_units + self.n_inputs + int(self.bias)

    @property
    def weight_shape(self) -> tuple[int, int]:
        return (self.n_units, self.n_z)

    @property
    def n_weights(self) -> int:
        return self.n_units * self.n_z

    # ---- argument checks shared by the public functions of the learning core

    def check_weights(self, W, name: str = "W") -> np.ndarray:
        """Return ``W`` as float64 of shape :attr:`weight_shape`, finite, or raise."""
        return as_float_array(W, name, self.weight_shape)

    def check_state(self, y, name: str = "y0") -> np.ndarray:
        """Return a full state (N,); a (n_outputs,) vector is padded with zero hidden units."""
        arr = np.asarray(y, dtype=np.float64) if not isinstance(y, np.ndarray) else y
        if arr.shape == (self.n_units,):
            return _check_vector(arr, name, self.n_units)
        if arr.ndim == 1 and arr.shape[0] == self.n_outputs and self.n_hidden:
            arr = np.concatenate([arr, np.zeros(self.n_hidden)])
        return as_float_array(arr, name, (self.n_units,))

    def check_inputs(self, inputs, name: str = "inputs") -> np.ndarray:
        """Return an input sequence (T, m), T >= 1, finite; a 1-D array is one input per step when m = 1."""
        arr = np.asarray(inputs, dtype=np.float64) if not isinstance(inputs, np.ndarray) else inputs
        if arr.ndim == 1 and self.n_inputs == 1:
            arr = arr[:, None]
        arr = as_float_array(arr, name, (None, self.n_inputs))
        if arr.shape[0] == 0:
            raise ShapeError(f"`{name}` must hold at least one time step, got shape {arr.shape}.")
        return arr

    def check_targets(self, targets, T: int | None, name: str = "targets") -> np.ndarray:
        """Return targets (T, n_outputs), finite and inside the activation's open range."""
        arr = as_float_array(targets, name, (T, self.n_outputs))
        self.activation.check_range(arr, name)
        return arr


def init_weights(config: RTRNConfig, rng=None) -> np.ndarray:
    """Draw initial weights.

    Parameters
    ----------
    config : RTRNConfig
    rng : numpy.random.Generator or int or None
        Source of randomness (an int is a seed); ``None`` draws fresh entropy.

    Returns
    -------
    numpy.ndarray, shape (N, N + m + b)
        Uniform in ``±init_scale / sqrt(N + m + b)`` (rows have expected norm
        ``init_scale / sqrt(3)``, so f(Wz) starts unsaturated for ``|z_j| <= 1``).

    Examples
    --------
    >>> W = init_weights(RTRNConfig(n_outputs=2, n_inputs=1), 0)
    >>> W.shape
    (2, 4)
    """
    if not isinstance(config, RTRNConfig):
        raise ParameterError(f"`config` must be an RTRNConfig, got {type(config).__name__}.")
    gen = np.random.default_rng(rng)
    a = config.init_scale / math.sqrt(config.n_z)
    return gen.uniform(-a, a, size=config.weight_shape)


# --------------------------------------------------------------------------- normalisation

@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Normalizer:
    """Affine map from physical ranges ``[low, high]`` onto ``target`` and back.

    ``normalize(x) = scale * x + offset`` with
    ``scale = (target[1] - target[0]) / (high - low)`` and
    ``offset = target[0] - scale * low``, elementwise over the last axis.

    Parameters
    ----------
    low, high : array_like, shape (n,)
        Physical range of each signal (units of the signal), ``low < high``.
    target : tuple of float, default (-0.9, 0.9)
        Interval the range maps to; keep it strictly inside the activation's
        output range (tanh: (-1, 1)) so targets stay reachable.

    Attributes
    ----------
    scale, offset : numpy.ndarray, shape (n,)
        Read-only coefficients of the map. Instances compare by identity.

    Examples
    --------
    >>> nz = Normalizer(low=[0.0, -2.0], high=[10.0, 2.0])
    >>> nz.normalize([2.5, 0.0])
    array([-0.45,  0.  ])
    >>> nz.denormalize(nz.normalize([[1.0, 0.5]]))
    array([[1. , 0.5]])
    """

    low: np.ndarray
    high: np.ndarray
    target: tuple[float, float] = (-0.9, 0.9)

    def __post_init__(self):
        low = as_float_array(self.low, "low", (None,)).copy()
        high = as_float_array(self.high, "high", (low.shape[0],)).copy()
        if low.shape[0] == 0:
            raise ShapeError("`low` must have at least one entry, got shape (0,).")
        if np.any(high <= low):
            raise ParameterError(f"`high` must exceed `low` in every entry, got low={low.tolist()}, "
                                 f"high={high.tolist()}.")
        tgt = as_float_array(self.target, "target", (2,))
        if not tgt[0] < tgt[1]:
            raise ParameterError(f"`target` must be an interval (a, b) with a < b, got {tuple(tgt.tolist())}.")
        low.setflags(write=False)
        high.setflags(write=False)
        scale = (tgt[1] - tgt[0]) / (high - low)
        offset = tgt[0] - scale * low
        scale.setflags(write=False)
        offset.setflags(write=False)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "target", (float(tgt[0]), float(tgt[1])))
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "offset", offset)

    @property
    def size(self) -> int:
        return self.low.shape[0]

    def _check(self, x, name):
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != self.size:
            raise ShapeError(f"`{name}` must have last axis of length {self.size}, got shape {arr.shape}.")
        return as_float_array(arr, name)

    def normalize(self, x) -> np.ndarray:
        """Physical units -> normalised, shape (..., n) -> (..., n)."""
        return self._check(x, "x") * self.scale + self.offset

    def denormalize(self, v) -> np.ndarray:
        """Normalised -> physical units, shape (..., n) -> (..., n)."""
        return (self._check(v, "v") - self.offset) / self.scale

    def normalize_gain(self, dx) -> np.ndarray:
        """Scale a physical difference (no offset): ``scale * dx``."""
        return self._check(dx, "dx") * self.scale


# --------------------------------------------------------------------------- forward passes

_F64 = np.dtype(np.float64)


def _c(x: np.ndarray) -> np.ndarray:
    """A C-contiguous, writeable float64 array (one numba specialisation per kernel)."""
    if x.dtype == _F64:
        flags = x.flags
        if flags.c_contiguous and flags.writeable:
            return x
    return np.array(x, dtype=np.float64, order="C")


def stack_z(config: RTRNConfig, y, u, out=None) -> np.ndarray:
    """Concatenate ``z = [y; u; 1]`` (the 1 only with a bias).

    Parameters
    ----------
    config : RTRNConfig
    y : array_like, shape (N,) or (n_outputs,)
        Unit activations (hidden units zero when only outputs are given).
    u : array_like, shape (m,)
    out : numpy.ndarray, shape (N + m + b,), optional

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
    """One step ``y(t+1) = f(W [y(t); u(t); 1])``.

    Parameters
    ----------
    config : RTRNConfig
    W : array_like, shape (N, N + m + b)
    y : array_like, shape (N,)
    u : array_like, shape (m,)

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
    """Multi-step prediction, free running (parallel) or teacher forced (series-parallel).

    Parameters
    ----------
    config : RTRNConfig
    W : array_like, shape (N, N + m + b)
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


# --------------------------------------------------------------------------- the object

class RTRN:
    """An RTRN that owns its weights, its state and (optionally) a learning rule.

    Parameters
    ----------
    config : RTRNConfig
    weights : array_like, shape (N, N + m + b), optional
        Initial weights (copied); drawn with :func:`init_weights` from ``seed`` if omitted.
    seed : int or numpy.random.Generator, optional
        Randomness for the initial weights.
    rule : AbstractLearningRule, optional
        Used by :meth:`learn`; see :mod:`neurocontrol.nets.rules`.

    Notes
    -----
    :meth:`learn` is the series-parallel (teacher-forced) identification step
    of Chow & Fang (1998): z(t) is built from the current state (compared
    units hold the last measurement), the rule updates W from z(t) and the
    target d(t+1), and the state then becomes ``y(t+1) = f(W z(t))`` with the
    compared units replaced by d(t+1). :attr:`weights` and :attr:`state` are
    read-only views; use :meth:`set_weights` and :meth:`reset` to change them.

    Examples
    --------
    >>> from neurocontrol.nets.rules import TwoDRule
    >>> net = RTRN(RTRNConfig(n_outputs=2, n_inputs=1), seed=0, rule=TwoDRule())
    >>> net.reset([0.1, -0.2])
    >>> info = net.learn([0.5], [0.2, 0.1])
    >>> info.error_norm_after < info.error_norm
    True
    """

    def __init__(self, config: RTRNConfig, weights=None, *, seed=None, rule: AbstractLearningRule | None = None):
        if not isinstance(config, RTRNConfig):
            raise ParameterError(f"`config` must be an RTRNConfig, got {type(config).__name__}.")
        self._config = config
        W = init_weights(config, seed) if weights is None else config.check_weights(weights, "weights")
        self._W = np.array(W, dtype=np.float64, order="C", copy=True)
        self._y = np.zeros(config.n_units)
        self._fp = np.zeros(config.n_units)
        self._z = np.empty(config.n_z)
        self._rule = None
        self._rule_state = None
        if rule is not None:
            self.set_rule(rule)

    @property
    def config(self) -> RTRNConfig:
        return self._config

    @property
    def weights(self) -> np.ndarray:
        """Current weights, shape (N, N + m + b), read-only view."""
        v = self._W.view()
        v.setflags(write=False)
        return v

    @property
    def state(self) -> np.ndarray:
        """Current unit activations y(t), shape (N,), read-only view."""
        v = self._y.view()
        v.setflags(write=False)
        return v

    @property
    def outputs(self) -> np.ndarray:
        """Compared units y(t)[:n_outputs], read-only view."""
        return self.state[: self._config.n_outputs]

    @property
    def rule(self):
        return self._rule

    @property
    def rule_state(self):
        """The learning rule's state object (covariance, moments, counters)."""
        return self._rule_state

    def set_rule(self, rule) -> None:
        """Attach a learning rule and start its state from the current weights."""
        from neurocontrol.nets.rules import AbstractLearningRule

        if not isinstance(rule, AbstractLearningRule):
            raise ParameterError(f"`rule` must be an AbstractLearningRule, got {type(rule).__name__}.")
        self._rule = rule
        self._rule_state = rule.init_state(self._config, self._W)

    def set_weights(self, weights) -> None:
        """Replace the weights (copied) and restart the rule state."""
        self._W[...] = self._config.check_weights(weights, "weights")
        if self._rule is not None:
            self._rule_state = self._rule.init_state(self._config, self._W)

    def reset(self, y0=None) -> None:
        """Set the state y(0) (shape (N,) or (n_outputs,); zeros if omitted)."""
        self._y[...] = 0.0 if y0 is None else self._config.check_state(y0)

    def step(self, u) -> np.ndarray:
        """Free-running step: state <- f(W [y; u; 1]); returns a copy of the new state."""
        z = stack_z(self._config, self._y, u, out=self._z)
        self._config.activation.f(self._W @ z, out=self._y)
        return self._y.copy()

    def learn(self, u, target) -> UpdateInfo:
        """Teacher-forced learning step from input u(t) and measured target d(t+1).

        Returns the rule's :class:`~neurocontrol.nets.rules.UpdateInfo`.
        """
        if self._rule is None:
            raise ParameterError("this RTRN has no learning rule; pass `rule=` or call set_rule() first.")
        cfg = self._config
        u = _check_vector(u, "u", cfg.n_inputs)
        z = self._z
        N, m = cfg.n_units, cfg.n_inputs
        z[:N] = self._y
        z[N:N + m] = u
        if cfg.bias:
            z[N + m] = 1.0
        info = self._rule.update(self._W, z, target, self._rule_state)
        _kernels.forward_kernel(self._W, z, self._y, self._fp, cfg.activation.code)
        self._y[: cfg.n_outputs] = target
        return info

    def predict(self, inputs, y0=None) -> np.ndarray:
        """Free-running prediction (T, N) from the current state (or ``y0``); state unchanged."""
        return predict(self._config, self._W, self._y if y0 is None else y0, inputs)

    def input_sensitivities(self, inputs, y0=None):
        """:func:`neurocontrol.nets.rtrl.input_sensitivities` from the current state (or ``y0``)."""
        from neurocontrol.nets.rtrl import input_sensitivities

        return input_sensitivities(self._config, self._W, self._y if y0 is None else y0, inputs)

    def __repr__(self) -> str:
        return f"RTRN({self._config!r}, rule={self._rule!r})"
