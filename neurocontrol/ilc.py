r"""Iterative learning control (ILC): learning a feedforward signal from trial to trial.

A finite-horizon tracking task is repeated from the same initial state. After
trial ``k`` an ILC law turns the trial's tracking error ``e_k = r - y_k`` into
the feedforward signal ``v_{k+1}`` of the next trial; the feedback controller
stays in the loop (and, for the adaptive controller, keeps what it learned).

Three kinds of objects live here:

* **Laws** (:class:`AbstractILCLaw`): :class:`PTypeILC` (model-free,
  ``v <- Q[v + L e(t + lead)]``) and :class:`GradientILC` (``v <- v + beta
  H^T e`` with the lifted input-output Jacobian ``H`` of the trial from a
  gradient model: :class:`LinearModelGradient` (also the closed loop as its
  reference model, :meth:`LinearModelGradient.from_reference_model`),
  :class:`FunctionGradient` or :class:`IdentifierGradient`, the adaptive
  controller's identifier network).
* **Channels** (:class:`AbstractChannel`): where the feedforward enters the
  loop, :class:`ReferenceChannel` (set-point pre-compensation: the controller
  is given ``r + v``) or :class:`InputChannel` (added to the controller's
  action). Strings resolve through :data:`CHANNELS`.
* **The runner** :class:`ILCRunner`, which repeats the trial on a Gymnasium
  plant and returns an :class:`ILCResult` (per-trial error norms, status,
  the learned feedforward, ``plot``, ``to_dict``, ``to_pandas``).

Conventions (every law, model and the runner): a trial has ``T`` control
steps; step ``t = 0..T-1`` applies ``u(t)`` (and feedforward ``v(t)``) and
the plant moves to ``y(t+1)``. The error handed to the laws has shape
``(T, p)`` and holds ``e(t+1) = r(t+1) - y(t+1)``, the errors that the
inputs of the trial can change (``e(0)`` is fixed by the initial state).
Lifted vectors stack time-major: ``[y(1); ...; y(T)]`` (``T p`` entries) and
``[v(0); ...; v(T-1)]`` (``T c`` entries), so
``H[t p + i, j c + a] = d y_i(t+1) / d v_a(j)``, lower block-triangular.

Examples
--------
>>> import numpy as np
>>> from neurocontrol.ilc import PTypeILC
>>> law = PTypeILC(0.5)
>>> v = np.zeros((4, 1))
>>> e = np.array([[1.0], [2.0], [3.0], [4.0]])      # e(1), ..., e(4)
>>> law.update(v, e).ravel().tolist()               # v(t) + 0.5 e(t+1)
[0.5, 1.0, 1.5, 2.0]
>>> PTypeILC(0.5, lead=2).update(v, e).ravel().tolist()  # e(t+2); zero beyond the trial
[1.0, 1.5, 2.0, 0.0]
"""

from __future__ import annotations

import abc
import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError, ShapeError

__all__ = [
    "AbstractILCLaw",
    "PTypeILC",
    "GradientILC",
    "AbstractGradientModel",
    "LinearModelGradient",
    "FunctionGradient",
    "IdentifierGradient",
    "AbstractChannel",
    "ReferenceChannel",
    "InputChannel",
    "CHANNELS",
    "resolve_channel",
    "TrialContext",
    "ILCRunner",
    "ILCResult",
    "ILC_STATUSES",
]

#: Allowed values of :attr:`ILCResult.status`: ``"converged"`` the error norms
#: settled (relative change below ``tol``) or the callback stopped the run;
#: ``"failed"`` a trial produced non-finite data, ended early (terminated or
#: truncated episode) or the controller diverged; ``"running"`` every trial
#: ran without meeting ``tol`` (learning could go on: start a new runner with
#: ``initial_feedforward=result.feedforward``).
ILC_STATUSES = ("running", "converged", "failed")


# =========================================================================== helpers

def _int_at_least(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        kind = "positive" if low == 1 else f">= {low}"
        raise ParameterError(f"`{name}` must be a {kind} integer, got {value!r}.")
    return int(value)


def _positive_float(value, name: str, unit: str = "") -> float:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value) and value > 0
    if not ok:
        raise ParameterError(f"`{name}` must be a positive finite number{unit}, got {value!r}.")
    return float(value)


def _readonly(arr) -> np.ndarray:
    out = np.array(arr, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class _QFilter:
    """Zero-phase Butterworth low-pass (``scipy.signal.filtfilt``) along time, or the identity."""

    cutoff_hz: float | None
    order: int

    def check(self, dt: float, n_steps: int) -> None:
        if self.cutoff_hz is None:
            return
        nyquist = 0.5 / dt
        if not self.cutoff_hz < nyquist:
            raise ParameterError(f"`q_cutoff_hz` must be below the Nyquist frequency {nyquist:g} Hz of the "
                                 f"control period {dt:g} s, got {self.cutoff_hz!r}.")
        padlen = 3 * (self.order + 1)
        if n_steps <= padlen:
            raise ParameterError(f"the zero-phase Q filter of order {self.order} needs trials longer than {padlen} "
                                 f"steps, got {n_steps}; lengthen `duration` or lower `q_order`.")

    def __call__(self, x: np.ndarray, dt: float | None) -> np.ndarray:
        if self.cutoff_hz is None:
            return x
        if dt is None:
            raise ParameterError("a law with `q_cutoff_hz` needs the control period: pass a TrialContext "
                                 "(ILCRunner does) or set `q_cutoff_hz=None`.")
        from scipy.signal import butter, filtfilt

        self.check(dt, x.shape[0])
        b, a = butter(self.order, self.cutoff_hz, btype="low", fs=1.0 / dt)
        return filtfilt(b, a, x, axis=0)


def _q_filter(q_cutoff_hz, q_order) -> _QFilter:
    order = _int_at_least(q_order, "q_order", 1)
    if q_cutoff_hz is None:
        return _QFilter(None, order)
    return _QFilter(_positive_float(q_cutoff_hz, "q_cutoff_hz", " in Hz (or None for no Q filter)"), order)


# =========================================================================== trial context

@dataclass(frozen=True, kw_only=True, eq=False)
class TrialContext:
    """What a law may use from the trial just run (read-only arrays, physical units).

    Parameters
    ----------
    trial : int
        1-based index of the trial just run.
    dt : float
        Control period in s.
    observations : numpy.ndarray, shape (T+1, n_obs)
        Every measurement, y(0)..y(T) of all observed signals.
    outputs : numpy.ndarray, shape (T+1, p)
        The controlled outputs.
    references : numpy.ndarray, shape (T+1, p)
        The task's set-points (without feedforward).
    inputs : numpy.ndarray, shape (T, m)
        The inputs applied to the plant (feedback + feedforward, after limits).
    feedforward : numpy.ndarray, shape (T, c)
        The feedforward applied in the trial.
    channel : AbstractChannel
        Where the feedforward entered.
    controller : object
        The controller of the trial (after the trial: its learned state).
    output_indices : tuple of int
        Which observations are the controlled outputs.
    """

    trial: int
    dt: float
    observations: np.ndarray
    outputs: np.ndarray
    references: np.ndarray
    inputs: np.ndarray
    feedforward: np.ndarray
    channel: "AbstractChannel"
    controller: object = None
    output_indices: tuple[int, ...] = ()

    @property
    def n_steps(self) -> int:
        """Number of control steps T of the trial."""
        return self.inputs.shape[0]


# =========================================================================== channels

class AbstractChannel(abc.ABC):
    """Where the feedforward enters the closed loop.

    Subclasses implement :meth:`_commands_impl`; :meth:`commands` validates
    and is called once per trial (vectorised over the trial's steps).
    """

    #: Name in scenario files and results.
    name: str = ""

    @abc.abstractmethod
    def n_channels(self, *, n_inputs: int, n_outputs: int) -> int:
        """Number c of feedforward signals (columns of the feedforward)."""

    def commands(self, references, feedforward):
        """What the controller is given at each step of a trial.

        Parameters
        ----------
        references : array_like, shape (T, p)
            The task's set-points r(0)..r(T-1).
        feedforward : array_like, shape (T, c)
            v(0)..v(T-1).

        Returns
        -------
        controller_references : numpy.ndarray, shape (T, p)
            Passed as ``reference`` to ``controller.step``.
        input_feedforward : numpy.ndarray, shape (T, m), or None
            Passed as ``feedforward`` to ``controller.step`` (None: nothing).
        """
        r = as_float_array(references, "references", (None, None))
        v = as_float_array(feedforward, "feedforward", (r.shape[0], None))
        return self._commands_impl(r, v)

    @abc.abstractmethod
    def _commands_impl(self, references: np.ndarray, feedforward: np.ndarray):
        """Return ``(controller_references, input_feedforward or None)``."""

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))


class ReferenceChannel(AbstractChannel):
    """Set-point pre-compensation: the controller is given ``r(t) + v(t)`` (c = p).

    Works with any closed-loop controller, which never sees that the
    set-point was shifted; the natural choice around a closed loop, whose
    (stable, unit-DC-gain) response from set-point to output is what the
    law then learns to invert.
    """

    name = "reference"

    def n_channels(self, *, n_inputs, n_outputs):
        return n_outputs

    def _commands_impl(self, references, feedforward):
        if feedforward.shape != references.shape:
            raise ShapeError(f"`feedforward` must have shape {references.shape} (one column per controlled output "
                             f"on the reference channel), got {feedforward.shape}.")
        return references + feedforward, None


class InputChannel(AbstractChannel):
    """Input feedforward: ``controller.step(y, r, feedforward=v(t))`` adds ``v(t)`` to the action (c = m).

    The controller clips the sum to its actuator limits and is told the
    input actually applied.
    """

    name = "input"

    def n_channels(self, *, n_inputs, n_outputs):
        return n_inputs

    def _commands_impl(self, references, feedforward):
        return references, feedforward


#: Registry of channels by name (strings in scenario files resolve here).
CHANNELS: Mapping[str, type[AbstractChannel]] = {"reference": ReferenceChannel, "input": InputChannel}


def resolve_channel(channel) -> AbstractChannel:
    """Return a channel object for ``channel`` (a name in :data:`CHANNELS` or an :class:`AbstractChannel`).

    Examples
    --------
    >>> resolve_channel("input")
    InputChannel()
    """
    if isinstance(channel, AbstractChannel):
        return channel
    if isinstance(channel, str) and channel in CHANNELS:
        return CHANNELS[channel]()
    raise ParameterError(f"unknown `channel` {channel!r}; use one of {sorted(CHANNELS)} or an AbstractChannel "
                         "instance such as ReferenceChannel().")


# =========================================================================== laws

class AbstractILCLaw(abc.ABC):
    """Base class of trial-to-trial learning laws.

    The public :meth:`update` validates its arguments, calls the one hook
    :meth:`_update_impl` and checks that the new feedforward is finite and
    of the right shape. :meth:`check` lets the runner reject an unsuitable
    law before the first trial.
    """

    def update(self, feedforward, error, context: TrialContext | None = None) -> np.ndarray:
        """Return the feedforward of the next trial.

        Parameters
        ----------
        feedforward : array_like, shape (T, c)
            v_k(0)..v_k(T-1), applied in the trial just run.
        error : array_like, shape (T, p)
            e_k(1)..e_k(T), ``e = r - y`` in output units (see the module notes).
        context : TrialContext, optional
            The trial's recorded signals; needed by laws with a Q filter (the
            control period) and by model-based laws.

        Returns
        -------
        numpy.ndarray, shape (T, c)
            v_{k+1}.

        Raises
        ------
        ShapeError
            If ``error`` does not have one row per feedforward row.
        NonFiniteError
            If an argument holds NaN or infinity.
        DivergenceError
            If the law produced a non-finite feedforward.
        """
        v = as_float_array(feedforward, "feedforward", (None, None))
        e = as_float_array(error, "error", (v.shape[0], None))
        if context is not None and not isinstance(context, TrialContext):
            raise ParameterError(f"`context` must be a TrialContext or None, got {type(context).__name__}.")
        out = np.asarray(self._update_impl(v, e, context), dtype=np.float64)
        if out.shape != v.shape:
            raise DivergenceError(f"{type(self).__name__} returned a feedforward of shape {out.shape}, "
                                  f"expected {v.shape}.")
        if not np.all(np.isfinite(out)):
            raise DivergenceError(f"{type(self).__name__} produced a non-finite feedforward; lower the gain "
                                  "or step, or add a Q filter.")
        return out

    def check(self, *, n_channels: int, n_outputs: int, n_steps: int, dt: float, channel: AbstractChannel,
              controller=None) -> None:
        """Raise if the law cannot run on trials of this shape (the runner calls it up front).

        The default accepts everything.
        """

    @abc.abstractmethod
    def _update_impl(self, feedforward: np.ndarray, error: np.ndarray, context: TrialContext | None) -> np.ndarray:
        """Return v_{k+1} from validated v_k (T, c) and e_k (T, p)."""


@dataclass(frozen=True, eq=False)
class PTypeILC(AbstractILCLaw):
    r"""P-type (Arimoto) ILC with an optional zero-phase Q filter.

    .. math:: v_{k+1}(t) = Q\,[\,v_k(t) + L\, e_k(t + \text{lead})\,]

    Parameters
    ----------
    gain : float, array_like (c,) or (c, p)
        Learning gain L: a scalar (L = gain * I, needs c = p), one gain per
        channel (a diagonal, c = p) or a full (c, p) matrix, in feedforward
        units per output unit.
    lead : int, default 1
        Steps of phase lead (>= 1): ``v(t)`` learns from ``e(t + lead)``;
        errors past the end of the trial count as zero. 1 matches a plant of
        relative degree 1; use the relative degree or the delay of the
        channel's response (a slow closed loop needs more).
    q_cutoff_hz : float or None, default None
        Cut-off of the zero-phase Butterworth Q filter in Hz (``butter`` +
        ``filtfilt`` over the trial); None applies no filter (Q = I).
    q_order : int, default 2
        Order of the Butterworth filter (doubled by the forward-backward pass).

    Notes
    -----
    Lifted form (module notes): ``V_{k+1} = Q (V_k + L_s E_k)`` with ``L_s``
    the lead-shifted block matrix of L. With ``E_k = E_0 - H V_k`` (a
    repeated trial, linear in v), the feedforward converges monotonically
    in the 2-norm when ``||Q (I - L_s H)||_2 < 1``; with Q = I the error
    itself falls monotonically when ``||I - H L_s||_2 < 1``. The spectral
    radius ``max |1 - L CB|`` < 1 (with lead 1) gives only asymptotic
    convergence, possibly after a large transient growth; the Q filter trades
    the final error for robustness (Bristow, Tharayil & Alleyne, IEEE Control
    Systems Magazine 26(3), 2006; Arimoto, Kawamura & Miyazaki, 1984;
    Norrlöf & Gunnarsson, Int. J. Control 75(14), 2002).

    Examples
    --------
    >>> import numpy as np
    >>> law = PTypeILC([[1.0, 0.0], [0.0, 0.5]])
    >>> law.update(np.zeros((2, 2)), np.ones((2, 2))).tolist()
    [[1.0, 0.5], [1.0, 0.5]]
    """

    gain: object
    _: KW_ONLY
    lead: int = 1
    q_cutoff_hz: float | None = None
    q_order: int = 2

    def __post_init__(self):
        g = as_float_array(self.gain, "gain")
        if g.ndim > 2:
            raise ShapeError(f"`gain` must be a scalar, a vector (c,) or a matrix (c, p), got shape {g.shape}.")
        as_python = float(g) if g.ndim == 0 else tuple(tuple(row) for row in g.tolist()) if g.ndim == 2 \
            else tuple(g.tolist())
        object.__setattr__(self, "gain", as_python)
        object.__setattr__(self, "_gain", _readonly(g))
        object.__setattr__(self, "lead", _int_at_least(self.lead, "lead", 1))
        object.__setattr__(self, "_q", _q_filter(self.q_cutoff_hz, self.q_order))
        object.__setattr__(self, "q_cutoff_hz", self._q.cutoff_hz)
        object.__setattr__(self, "q_order", self._q.order)

    def gain_matrix(self, n_channels: int, n_outputs: int) -> np.ndarray:
        """The gain as a (c, p) matrix; raises ShapeError if it does not fit."""
        g = self._gain
        if g.ndim == 2:
            if g.shape != (n_channels, n_outputs):
                raise ShapeError(f"`gain` must have shape ({n_channels}, {n_outputs}) (feedforward channels x "
                                 f"outputs), got {g.shape}.")
            return g
        if n_channels != n_outputs:
            raise ShapeError(f"a scalar or vector `gain` needs as many feedforward channels as outputs, got "
                             f"{n_channels} channels and {n_outputs} outputs; give a ({n_channels}, {n_outputs}) "
                             "matrix.")
        if g.ndim == 1 and g.shape != (n_outputs,):
            raise ShapeError(f"`gain` must have shape ({n_outputs},) (one gain per channel), got {g.shape}.")
        return np.diag(np.broadcast_to(g, (n_outputs,)))

    def check(self, *, n_channels, n_outputs, n_steps, dt, channel, controller=None):
        self.gain_matrix(n_channels, n_outputs)
        self._q.check(dt, n_steps)
        if self.lead > n_steps:
            raise ParameterError(f"`lead` ({self.lead} steps) must not exceed the trial length ({n_steps} steps).")

    def _update_impl(self, feedforward, error, context):
        L = self.gain_matrix(feedforward.shape[1], error.shape[1])
        s = self.lead - 1
        shifted = np.zeros_like(error)
        if s < error.shape[0]:
            shifted[:error.shape[0] - s] = error[s:]
        return self._q(feedforward + shifted @ L.T, None if context is None else context.dt)


# --------------------------------------------------------------------------- gradient models

class AbstractGradientModel(abc.ABC):
    """The lifted Jacobian H of a trial (feedforward -> outputs), applied transposed.

    The public :meth:`adjoint` validates and calls the one hook
    :meth:`_adjoint_impl`, which returns ``H^T e`` without necessarily
    forming H (T p x T c).
    """

    def adjoint(self, error, context: TrialContext | None = None) -> np.ndarray:
        """Return ``H^T e`` reshaped to (T, c).

        Parameters
        ----------
        error : array_like, shape (T, p)
            e(1)..e(T) (module notes).
        context : TrialContext, optional
            The trial (models that linearise along it need it).
        """
        e = as_float_array(error, "error", (None, None))
        g = np.asarray(self._adjoint_impl(e, context), dtype=np.float64)
        if g.ndim != 2 or g.shape[0] != e.shape[0]:
            raise ShapeError(f"{type(self).__name__} returned H^T e of shape {g.shape}, expected ({e.shape[0]}, c).")
        return g

    def check(self, *, n_channels: int, n_outputs: int, n_steps: int, dt: float, channel: AbstractChannel,
              controller=None) -> None:
        """Raise if the model cannot describe this loop (default: accept)."""

    @abc.abstractmethod
    def _adjoint_impl(self, error: np.ndarray, context: TrialContext | None) -> np.ndarray:
        """Return H^T e, shape (T, c)."""


@dataclass(frozen=True, eq=False)
class LinearModelGradient(AbstractGradientModel):
    r"""Gradient of a discrete LTI model ``x(t+1) = A x(t) + B v(t)``, ``y(t) = C x(t)``.

    Parameters
    ----------
    A : array_like, shape (nx, nx)
    B : array_like, shape (nx, c)
    C : array_like, shape (p, nx)

    Notes
    -----
    ``H^T e`` by the backward (adjoint) recursion, O(T nx^2), no lifted
    matrix: ``lam(T-1) = C^T e(T)``, ``lam(j) = A^T lam(j+1) + C^T e(j+1)``,
    ``(H^T e)(j) = B^T lam(j)``. :meth:`lifted` forms H explicitly (Markov
    parameters ``C A^(t-j) B``) for tests and small trials.

    Examples
    --------
    >>> import numpy as np
    >>> g = LinearModelGradient([[0.5]], [[1.0]], [[2.0]])
    >>> g.lifted(3)
    array([[2. , 0. , 0. ],
           [1. , 2. , 0. ],
           [0.5, 1. , 2. ]])
    >>> bool(np.allclose(g.adjoint(np.ones((3, 1))).ravel(), g.lifted(3).T @ np.ones(3)))
    True
    """

    A: object
    B: object
    C: object

    def __post_init__(self):
        A = as_float_array(self.A, "A", (None, None))
        if A.shape[0] != A.shape[1]:
            raise ShapeError(f"`A` must be square, got shape {A.shape}.")
        B = as_float_array(self.B, "B", (A.shape[0], None))
        C = as_float_array(self.C, "C", (None, A.shape[0]))
        for name, value in (("A", A), ("B", B), ("C", C)):
            object.__setattr__(self, name, _readonly(value))

    @classmethod
    def from_reference_model(cls, model) -> "LinearModelGradient":
        """The closed loop as its reference model: one block per output, set-point -> value.

        For the reference channel around a controller that makes each output
        follow a linear reference model (the adaptive controller's
        :class:`~neurocontrol.reference.SecondOrderReferenceModel`, or a model
        fitted to a baseline's closed loop), ``r -> y`` is that model.

        Parameters
        ----------
        model : SecondOrderReferenceModel or similar
            Anything with ``transition_matrix`` (p, k, k) and ``input_matrix``
            (p, k) of per-output discrete models whose first state is the
            output value (rate and acceleration limits are ignored).

        Examples
        --------
        >>> from neurocontrol.reference import SecondOrderReferenceModel
        >>> g = LinearModelGradient.from_reference_model(
        ...     SecondOrderReferenceModel(bandwidth_rad_s=[4.0, 5.0], damping=1.0, dt=0.01))
        >>> g.A.shape, g.B.shape, g.C.shape
        ((4, 4), (4, 2), (2, 4))
        """
        if not (hasattr(model, "transition_matrix") and hasattr(model, "input_matrix")):
            raise ParameterError(f"`model` must have `transition_matrix` (p, k, k) and `input_matrix` (p, k) like "
                                 f"SecondOrderReferenceModel, got {type(model).__name__}.")
        Ad = as_float_array(model.transition_matrix, "transition_matrix", (None, None, None))
        p, k = Ad.shape[0], Ad.shape[1]
        Bd = as_float_array(model.input_matrix, "input_matrix", (p, k))
        A, B, C = np.zeros((p * k, p * k)), np.zeros((p * k, p)), np.zeros((p, p * k))
        for i in range(p):
            A[i * k:(i + 1) * k, i * k:(i + 1) * k] = Ad[i]
            B[i * k:(i + 1) * k, i] = Bd[i]
            C[i, i * k] = 1.0
        return cls(A, B, C)

    def lifted(self, n_steps: int) -> np.ndarray:
        """Explicit lifted matrix H, shape (T p, T c)."""
        T = _int_at_least(n_steps, "n_steps", 1)
        p, c = self.C.shape[0], self.B.shape[1]
        H = np.zeros((T * p, T * c))
        markov = self.B
        for d in range(T):            # block (t, j) with t - j = d holds C A^d B
            blk = self.C @ markov
            for j in range(T - d):
                t = j + d
                H[t * p:(t + 1) * p, j * c:(j + 1) * c] = blk
            markov = self.A @ markov
        return H

    def check(self, *, n_channels, n_outputs, n_steps, dt, channel, controller=None):
        if self.B.shape[1] != n_channels or self.C.shape[0] != n_outputs:
            raise ShapeError(f"the model maps {self.B.shape[1]} feedforward channels to {self.C.shape[0]} outputs, "
                             f"the loop has {n_channels} channels and {n_outputs} outputs; fix `B` or `C`.")

    def _adjoint_impl(self, error, context):
        if error.shape[1] != self.C.shape[0]:
            raise ShapeError(f"`error` must have {self.C.shape[0]} columns (outputs of `C`), got {error.shape[1]}.")
        T = error.shape[0]
        At, Bt, Ct = self.A.T, self.B.T, self.C.T
        out = np.empty((T, self.B.shape[1]))
        lam = np.zeros(self.A.shape[0])
        for j in range(T - 1, -1, -1):
            lam = At @ lam + Ct @ error[j]
            out[j] = Bt @ lam
        return out


@dataclass(frozen=True, eq=False)
class FunctionGradient(AbstractGradientModel):
    """H from a user function of the trial.

    Parameters
    ----------
    function : callable
        ``function(context) -> H``: the lifted Jacobian of the trial, shape
        (T p, T c), as a dense array, a scipy sparse matrix or a
        ``scipy.sparse.linalg.LinearOperator`` (only ``H.T @ x`` is used),
        time-major ordering (module notes).

    Examples
    --------
    >>> import numpy as np
    >>> g = FunctionGradient(lambda ctx: 2.0 * np.eye(3))
    >>> g.adjoint(np.ones((3, 1))).ravel().tolist()
    [2.0, 2.0, 2.0]
    """

    function: Callable

    def __post_init__(self):
        if not callable(self.function):
            raise ParameterError(f"`function` must be callable as function(context) -> H, "
                                 f"got {type(self.function).__name__}.")

    def _adjoint_impl(self, error, context):
        H = self.function(context)
        T, p = error.shape
        shape = getattr(H, "shape", None)
        if shape is None or len(shape) != 2 or shape[0] != T * p or shape[1] % T:
            raise ShapeError(f"the gradient function must return H of shape ({T * p}, T*c) for T = {T} steps and "
                             f"p = {p} outputs, got {shape}.")
        return np.asarray(H.T @ error.reshape(-1)).reshape(T, shape[1] // T)


@dataclass(frozen=True, eq=False)
class IdentifierGradient(AbstractGradientModel):
    r"""H from the adaptive controller's identifier network, linearised along the measured trial.

    Parameters
    ----------
    horizon : int, default 100
        Truncation of the input's influence in steps: ``H^T e`` at step j
        sums ``dy(t)/du(j)^T e(t)`` over at least ``horizon`` steps after j
        (1 s at 10 ms).
    stride : int or None, default None
        Window stride in steps (default: ``horizon``).

    Notes
    -----
    The identifier predicts ``y(t+1) = tanh(W [y(t); u(t); 1])`` in
    normalised units (``controller.identifier_weights``, structure
    ``RTRNConfig(n_outputs=n, n_inputs=m)``). H is never formed over the
    whole trial (T p x T m: 4000 x 4000 for a 20 s trial at 10 ms). Instead,
    windows start every ``stride`` steps at the *measured* state y(t0) and
    run the network free with the trial's applied inputs for ``stride +
    horizon`` steps; :func:`neurocontrol.rtrl.input_sensitivities` gives
    the window's lifted Jacobian ``dy(t0+h)/du(t0+j)``, and the window
    contributes the columns of its first ``stride`` inputs. So the
    linearisation follows the measured trajectory (re-anchored every
    ``stride`` steps, no drift of a long free run), each input sees the
    outputs of at least ``horizon`` steps after it (the truncation: a
    banded H), and the cost is ``T/stride`` windows of
    O((stride+horizon)^2 n^2 m), memory O((stride+horizon)^2 n m).
    Units: ``dy/du`` (physical) = ``dy_n/du_n * u_scale / y_scale`` from the
    controller's normalisers (``_obs_norm``, ``_in_norm``).

    The identifier models the open-loop plant ``u -> y``: this is the
    channel's Jacobian for the input channel with feedback weak on the
    time scale of the horizon (exact with a pure feedforward loop); it
    ignores the feedback's reaction to the feedforward otherwise. Measured
    on the helicopter with the adaptive controller (8 s altitude staircase
    1.0 -> 1.4 m, ``output_weights=(1, 1e4)``, step 0.3): the collective
    feedforward grew to 58 rad/s^2 over 4 trials while the altitude RMS
    error only went from 42 to 33 mm and stalled, because the feedback
    cancels an input feedforward it sees as a disturbance. Around a tight
    loop prefer the reference channel with
    :meth:`LinearModelGradient.from_reference_model` (same task, step 1, 2 Hz Q filter:
    42 -> 2.0 mm in 6 trials). The reference channel is refused here: the
    identifier does not model ``r -> y``.
    """

    horizon: int = 100
    stride: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "horizon", _int_at_least(self.horizon, "horizon", 1))
        stride = self.horizon if self.stride is None else _int_at_least(self.stride, "stride", 1)
        object.__setattr__(self, "stride", stride)

    @staticmethod
    def _parts(controller, *, weights: bool = True):
        # the weights exist only after the controller's reset: before the first trial check the class
        missing = [a for a in ("_obs_norm", "_in_norm") if not hasattr(controller, a)]
        if not hasattr(type(controller), "identifier_weights") and not hasattr(controller, "identifier_weights"):
            missing.insert(0, "identifier_weights")
        if missing:
            raise ParameterError(f"IdentifierGradient needs an AdaptiveController (with an identifier network), got "
                                 f"{type(controller).__name__} without {missing}; give GradientILC a `model` "
                                 "(LinearModelGradient or a function) instead.")
        if not weights:
            return None
        W = np.asarray(controller.identifier_weights, dtype=np.float64)
        return W, controller._obs_norm, controller._in_norm

    def check(self, *, n_channels, n_outputs, n_steps, dt, channel, controller=None):
        if not isinstance(channel, InputChannel):
            raise ParameterError("IdentifierGradient models the plant u -> y, so it needs channel='input'; for the "
                                 "reference channel give GradientILC a model of the closed loop r -> y.")
        self._parts(controller, weights=False)

    def _adjoint_impl(self, error, context):
        from neurocontrol.rtrl import input_sensitivities
        from neurocontrol.rtrn import RTRNConfig

        if context is None:
            raise ParameterError("IdentifierGradient needs the trial: pass a TrialContext (ILCRunner does).")
        self.check(n_channels=context.inputs.shape[1], n_outputs=error.shape[1], n_steps=error.shape[0],
                   dt=context.dt, channel=context.channel, controller=context.controller)
        W, obs_norm, in_norm = self._parts(context.controller)
        n = W.shape[0]
        m = W.shape[1] - n - 1
        cfg = RTRNConfig(n_outputs=n, n_inputs=m)
        out = np.asarray(context.output_indices, dtype=np.int64)
        T = error.shape[0]
        if context.inputs.shape != (T, m):
            raise ShapeError(f"the trial's inputs must have shape ({T}, {m}) for this identifier, "
                             f"got {context.inputs.shape}.")
        y_n = np.clip(context.observations * obs_norm.scale + obs_norm.offset, -0.99, 0.99)
        u_n = context.inputs * in_norm.scale + in_norm.offset
        e_n = error / obs_norm.scale[out]           # dy_phys = dy_n / y_scale
        g = np.zeros((T, m))
        for t0 in range(0, T, self.stride):
            length = min(self.stride + self.horizon, T - t0)
            cols = min(self.stride, length)
            sens = input_sensitivities(cfg, W, y_n[t0], u_n[t0:t0 + length])
            J = sens.jacobian[:, :cols][:, :, out, :]          # (length, cols, p, m): dy_n(t0+h+1)/du_n(t0+j)
            g[t0:t0 + cols] = np.einsum("hjia,hi->ja", J, e_n[t0:t0 + length])
        return g * in_norm.scale                      # du_n/du_phys


@dataclass(frozen=True, eq=False)
class GradientILC(AbstractILCLaw):
    r"""Gradient (steepest-descent) ILC: ``v_{k+1} = Q[v_k + beta H^T W e_k]``.

    Parameters
    ----------
    step : float
        beta > 0, in units of the inverse square of H's (feedforward per
        output unit, squared). Monotone error decrease for
        ``0 < beta < 2 / ||W^(1/2) H||_2^2`` (Notes).
    model : AbstractGradientModel or callable or None, default None
        Where H comes from: a gradient model, a function ``f(context) -> H``
        (wrapped in :class:`FunctionGradient`), or None for
        :class:`IdentifierGradient` (the adaptive controller's identifier;
        input channel only).
    output_weights : array_like, shape (p,), optional
        W = diag(output_weights) > 0 of the cost ``sum_t e^T W e / 2`` whose
        gradient the law follows (default: all ones). Outputs in different
        units need it: on the helicopter dy/du of the rotor speed (rad/s per
        rad/s^2) dwarfs that of the altitude (m per rad/s^2), so without
        weights the step that is safe for the rotor barely moves the
        altitude.
    q_cutoff_hz : float or None, default None
        Zero-phase Q filter as in :class:`PTypeILC` (None: Q = I).
    q_order : int, default 2

    Notes
    -----
    With Q = I and the exact H, the weighted error ``W^(1/2) E`` obeys
    ``W^(1/2) E_{k+1} = (I - beta G G^T) W^(1/2) E_k`` with ``G = W^(1/2) H``,
    whose eigenvalues ``1 - beta s_i^2`` lie in (-1, 1] for ``0 < beta < 2 /
    ||G||^2``: the (weighted) error norm never grows, for any plant (no
    relative-degree or sign condition), and it converges to the part of
    ``E_0`` that no feedforward can reach. (Owens, Hätönen & Daley, Int. J.
    Robust Nonlinear Control 19(10), 2009; Hätönen, PhD thesis, Oulu 2004.)

    Examples
    --------
    >>> import numpy as np
    >>> law = GradientILC(0.5, model=LinearModelGradient([[0.0]], [[1.0]], [[1.0]]))
    >>> law.update(np.zeros((3, 1)), np.ones((3, 1))).ravel().tolist()
    [0.5, 0.5, 0.5]
    """

    step: float
    _: KW_ONLY
    model: object = None
    output_weights: tuple[float, ...] | None = None
    q_cutoff_hz: float | None = None
    q_order: int = 2

    def __post_init__(self):
        object.__setattr__(self, "step", _positive_float(self.step, "step"))
        if self.output_weights is not None:
            w = as_float_array(self.output_weights, "output_weights", (None,))
            if w.size == 0 or np.any(w <= 0):
                raise ParameterError(f"`output_weights` must be positive (one per output), got {w.tolist()}.")
            object.__setattr__(self, "output_weights", tuple(w.tolist()))
        model = self.model
        if model is None:
            model = IdentifierGradient()
        elif not isinstance(model, AbstractGradientModel):
            if not callable(model):
                raise ParameterError(f"`model` must be a gradient model (LinearModelGradient, IdentifierGradient), "
                                     f"a function context -> H, or None, got {type(model).__name__}.")
            model = FunctionGradient(model)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "_q", _q_filter(self.q_cutoff_hz, self.q_order))
        object.__setattr__(self, "q_cutoff_hz", self._q.cutoff_hz)
        object.__setattr__(self, "q_order", self._q.order)

    def check(self, *, n_channels, n_outputs, n_steps, dt, channel, controller=None):
        self._weights(n_outputs)
        self._q.check(dt, n_steps)
        self.model.check(n_channels=n_channels, n_outputs=n_outputs, n_steps=n_steps, dt=dt, channel=channel,
                         controller=controller)

    def _weights(self, n_outputs: int):
        if self.output_weights is None:
            return None
        if len(self.output_weights) != n_outputs:
            raise ShapeError(f"`output_weights` must have shape ({n_outputs},) (one per output), "
                             f"got ({len(self.output_weights)},).")
        return np.asarray(self.output_weights)

    def _update_impl(self, feedforward, error, context):
        w = self._weights(error.shape[1])
        g = self.model.adjoint(error if w is None else error * w, context)
        if g.shape != feedforward.shape:
            raise ShapeError(f"the gradient model gives H^T e of shape {g.shape}, the feedforward has shape "
                             f"{feedforward.shape}; the model's inputs must be the feedforward channels.")
        return self._q(feedforward + self.step * g, None if context is None else context.dt)


# =========================================================================== result

@dataclass(frozen=True, kw_only=True, eq=False)
class ILCResult:
    """Outcome of an :class:`ILCRunner` run.

    Attributes
    ----------
    errors : numpy.ndarray, shape (K, p)
        RMS tracking error of each output in each trial run, over e(1)..e(T),
        output units; a NaN row marks a failed trial.
    max_errors : numpy.ndarray, shape (K, p)
        Largest ``|e|`` of each output in each trial.
    status : str
        One of :data:`ILC_STATUSES`.
    stop_reason : str
        ``"trials"`` (budget used), ``"tol"``, ``"callback"``,
        ``"terminated"``, ``"truncated"``, ``"nonfinite"`` or ``"diverged"``.
    feedforward : numpy.ndarray, shape (T, c)
        The learned feedforward for the next trial (the law's update after
        the last successful trial).
    last_feedforward : numpy.ndarray, shape (T, c)
        The feedforward applied in the last trial run.
    output_names : tuple of str
        Names of the p outputs.
    channel : str
        Name of the feedforward channel.
    first_trial, last_trial : Result or None
        The closed-loop records of the first and the last trial.
    trial_results : tuple of Result
        Every trial's record when the runner had ``keep_trials=True``, else empty.
    meta : dict
        Seed and its streams, dt, duration, law, controller, and how later
        trials started (``"start_trial"`` or ``"reset"``).
    """

    errors: np.ndarray
    max_errors: np.ndarray
    status: str
    stop_reason: str
    feedforward: np.ndarray
    last_feedforward: np.ndarray
    output_names: tuple[str, ...]
    channel: str
    first_trial: object = None
    last_trial: object = None
    trial_results: tuple = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in ILC_STATUSES:
            raise ParameterError(f"`status` must be one of {ILC_STATUSES}, got {self.status!r}.")
        for name in ("errors", "max_errors", "feedforward", "last_feedforward"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    @property
    def n_trials(self) -> int:
        """Number of trials run K (including a failed last one)."""
        return self.errors.shape[0]

    def plot(self, path=None, **kwargs):
        """Plot the RMS error per trial (log scale) via :func:`neurocontrol.plotting.plot_trials`.

        ``kwargs`` go to ``plot_trials`` (``unit``, ``title``, ``dpi``).
        Returns the matplotlib Figure (closed when ``path`` is given).
        """
        from neurocontrol.plotting import plot_trials

        kwargs.setdefault("title", f"ILC ({self.channel} channel): RMS tracking error per trial")
        return plot_trials(self.errors, path, names=self.output_names, **kwargs)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (lists, NaN -> None); the trial Results export themselves."""
        from neurocontrol.results import _jsonable

        return _jsonable({"errors": self.errors, "max_errors": self.max_errors, "status": self.status,
                          "stop_reason": self.stop_reason, "feedforward": self.feedforward,
                          "last_feedforward": self.last_feedforward, "output_names": list(self.output_names),
                          "channel": self.channel, "n_trials": self.n_trials, "meta": self.meta}, "ILCResult")

    def to_pandas(self):
        """Per-trial table: index ``trial`` (1..K), columns ``<output>_rms`` and ``<output>_max``."""
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError("ILCResult.to_pandas needs pandas: install it with `pip install pandas` "
                                      "or `pip install -e .[test]`.") from None
        data = {}
        for i, name in enumerate(self.output_names):
            data[f"{name}_rms"] = self.errors[:, i]
            data[f"{name}_max"] = self.max_errors[:, i]
        return pd.DataFrame(data, index=pd.Index(np.arange(1, self.n_trials + 1), name="trial"))


# =========================================================================== runner

def _names(env, output_indices):
    base = env.unwrapped
    obs_names = getattr(base, "observation_names", None)
    in_names = getattr(base, "input_names", None)
    try:
        from plants.helicopter import HelicopterEnv
        from plants.helicopter.params import INPUT_NAMES, STATE_NAMES

        if isinstance(base, HelicopterEnv):
            obs_names, in_names = STATE_NAMES, INPUT_NAMES
    except ImportError:  # pragma: no cover - plants ships with neurocontrol
        pass
    obs_names = None if obs_names is None else tuple(obs_names)
    out_names = tuple(obs_names[i] for i in output_indices) if obs_names is not None else \
        tuple(f"y{i}" for i in range(len(output_indices)))
    return obs_names, (None if in_names is None else tuple(in_names)), out_names


class ILCRunner:
    r"""Repeat a finite-horizon tracking task and learn a feedforward from trial to trial.

    Parameters
    ----------
    env : gymnasium.Env
        The plant, with a Box observation space (physical units), reset
        option ``"initial_state"`` and a control period ``env.unwrapped.dt``
        (else ``controller.dt``). Its time limit must allow ``duration``.
    controller : AbstractController
        Closed-loop controller (or a pure-feedforward one that returns
        zeros): ``output_indices``, ``reset(observation, reference,
        seed=...)``, ``step(observation, reference, feedforward=None)``, and
        optionally ``start_trial(observation, reference)`` (Notes).
    reference : MultiSignal or callable
        ``reference(timepts)`` -> (T+1, p) set-points of the controlled
        outputs, physical units.
    law : AbstractILCLaw
        :class:`PTypeILC`, :class:`GradientILC`, ...
    trials : int
        Largest number of trials (>= 1).
    duration : float
        Length of a trial in s, rounded to whole control periods.
    initial_state : array_like
        Plant state every trial starts from (``env.reset(options={"initial_state": ...})``).
    seed : int or None
        Root seed: ``SeedSequence(seed).spawn(2)`` seeds the plant and the
        controller. None draws fresh entropy (recorded in ``meta``).
    channel : {"reference", "input"} or AbstractChannel, default "reference"
        Where the feedforward enters (:data:`CHANNELS`).
    carry_weights : bool, default True
        Each trial continues from what the controller learned in the
        previous one (Notes); False resets the controller before every trial.
    tol : float or None, default None
        Stop with status ``"converged"`` once every output's RMS error changes
        by less than ``tol`` (relative) from one trial to the next.
    callback : callable, optional
        ``callback(trial, info) -> bool | None`` after each successful trial;
        ``False`` stops the run (status ``"converged"``, stop reason
        ``"callback"``). ``info``: ``rms`` (p,), ``max_abs`` (p,),
        ``feedforward`` (the next one), ``result`` (the trial's Result).
    initial_feedforward : array_like, shape (T, c), optional
        Feedforward of trial 1 (default zeros), e.g. a previous run's
        ``result.feedforward``.
    options : dict, optional
        More ``env.reset`` options (e.g. the helicopter's ``"setpoint"``).
    repeat_disturbances : bool, default False
        True reseeds the env with the same seed every trial (identical noise
        and gusts: the idealised repeatable task); False seeds it once, so
        noise and gusts are new each trial, as on a rig.
    keep_trials : bool, default False
        Keep every trial's :class:`~neurocontrol.results.Result` (the first
        and the last are always kept).

    Raises
    ------
    ParameterError
        On an invalid count, duration, seed, tol, callback, env/controller
        mismatch or a law that cannot run on this loop.
    ShapeError
        On a reference or feedforward of the wrong shape.

    Notes
    -----
    **Trial loop.** Step ``t``: ``r_c, v_in = channel.commands(r, v)``;
    ``u = controller.step(y(t), r_c(t), feedforward=v_in(t))``;
    ``y(t+1) = env.step(u)``. The plant integrates itself: its state is
    only ever set by ``env.reset`` to ``initial_state`` before a trial. After
    the trial, ``e = r - y`` over steps 1..T feeds ``law.update`` with a
    :class:`TrialContext`.

    **Controller contract between trials.** Before trial 1:
    ``controller.reset(y(0), r_c(0), seed=controller_seed)``. Before each
    later trial, with ``carry_weights=True``: ``controller.start_trial(y(0),
    r_c(0))`` if the controller has it, else the same ``reset`` as trial 1
    (baselines: integrators back to zero). ``start_trial`` must keep every
    learned quantity (network weights, learning-rule state such as RLS
    covariances), restart the per-episode state (step counter, previous
    input, reference-model state, integrators) from the new first
    measurement, skip warm-up excitation, and draw no random numbers, so a
    run is reproducible from its seed. With ``carry_weights=False`` every
    trial calls ``reset(..., seed=controller_seed)``: the same fresh
    controller each trial, only the feedforward carries over.

    Examples
    --------
    >>> import gymnasium as gym, plants
    >>> from neurocontrol.baselines import LQRController
    >>> from neurocontrol.reference import Constant, MultiSignal, Staircase
    >>> from plants.helicopter import trim
    >>> ref = MultiSignal(signals=(Constant(value=140.0),
    ...                            Staircase(times=[0.0, 0.5], levels=[1.0, 1.2], smoothing_time=1.0)))
    >>> x0 = trim(140.0, 1.0).x
    >>> runner = ILCRunner(gym.make("neurocontrol/Helicopter-v0"), LQRController.from_plant(), ref,
    ...                    law=PTypeILC([0.5, 0.5], lead=30, q_cutoff_hz=2.0), trials=3, duration=3.0,
    ...                    initial_state=x0, seed=0)
    >>> res = runner.run()
    >>> res.status, res.errors.shape, bool(res.errors[-1, 1] < res.errors[0, 1])
    ('running', (3, 2), True)
    """

    def __init__(self, env, controller, reference, *, law: AbstractILCLaw, trials: int, duration: float,
                 initial_state, seed=None, channel="reference", carry_weights: bool = True, tol: float | None = None,
                 callback: Callable | None = None, initial_feedforward=None, options: Mapping | None = None,
                 repeat_disturbances: bool = False, keep_trials: bool = False):
        import gymnasium as gym

        if not isinstance(env, gym.Env):
            raise ParameterError(f"`env` must be a gymnasium.Env (from gymnasium.make or an instance), "
                                 f"got {type(env).__name__}.")
        if not isinstance(env.observation_space, gym.spaces.Box):
            raise ParameterError(f"`env` must have a Box observation space, got "
                                 f"{type(env.observation_space).__name__}; flatten it with FlattenObservation.")
        for attr in ("output_indices", "reset", "step"):
            if not hasattr(controller, attr):
                raise ParameterError(f"`controller` must have `{attr}` like neurocontrol's AbstractController, "
                                     f"got {type(controller).__name__}.")
        if not isinstance(law, AbstractILCLaw):
            raise ParameterError(f"`law` must be an ILC law such as PTypeILC(gain) or GradientILC(step), "
                                 f"got {type(law).__name__}.")
        self.trials = _int_at_least(trials, "trials", 1)
        duration = _positive_float(duration, "duration", " in s")
        from neurocontrol.simulate import episode_steps

        dt, n_steps = episode_steps(env, controller, duration)
        self.initial_state = _readonly(as_float_array(initial_state, "initial_state", (None,)))
        if seed is None:
            self._root = np.random.SeedSequence()
        elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
            self._root = np.random.SeedSequence(int(seed))
        else:
            raise ParameterError(f"`seed` must be a non-negative int (or None for fresh entropy), got {seed!r}.")
        self.channel = resolve_channel(channel)
        for name, flag in (("carry_weights", carry_weights), ("repeat_disturbances", repeat_disturbances),
                           ("keep_trials", keep_trials)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ParameterError(f"`{name}` must be True or False, got {flag!r}.")
        self.tol = None if tol is None else _positive_float(tol, "tol", " (relative change), or None")
        if callback is not None and not callable(callback):
            raise ParameterError(f"`callback` must be callable as callback(trial, info), got "
                                 f"{type(callback).__name__}.")
        options = dict(options or {})
        if "initial_state" in options:
            raise ParameterError("give the initial state as `initial_state`, not in `options`.")

        output_indices = tuple(int(i) for i in controller.output_indices)
        n_obs = int(np.prod(env.observation_space.shape))
        if any(not 0 <= i < n_obs for i in output_indices):
            raise ParameterError(f"controller `output_indices` {list(output_indices)} must index the {n_obs} "
                                 "observations.")
        p = len(output_indices)
        timepts = np.arange(n_steps + 1) * dt
        if not callable(reference):
            raise ParameterError(f"`reference` must be callable as reference(timepts) -> (T+1, p), e.g. a "
                                 f"MultiSignal, got {type(reference).__name__}.")
        refs = np.asarray(reference(timepts), dtype=np.float64)
        if refs.ndim == 1 and p == 1:
            refs = refs[:, None]
        if refs.shape != (n_steps + 1, p):
            raise ShapeError(f"`reference` must give {p} set-points (one per controlled output) at each of the "
                             f"{n_steps + 1} times, got shape {refs.shape}.")
        if not np.all(np.isfinite(refs)):
            raise NonFiniteError("`reference` must be finite at every time of the trial.")
        m = getattr(controller, "n_inputs", None)
        if m is None:
            m = int(np.prod(env.action_space.shape))
        c = self.channel.n_channels(n_inputs=int(m), n_outputs=p)
        if initial_feedforward is None:
            v0 = np.zeros((n_steps, c))
        else:
            v0 = as_float_array(initial_feedforward, "initial_feedforward", (n_steps, c))
        law.check(n_channels=c, n_outputs=p, n_steps=n_steps, dt=dt, channel=self.channel, controller=controller)

        self.env, self.controller, self.reference, self.law = env, controller, reference, law
        self.duration, self.dt, self.n_steps = n_steps * dt, dt, n_steps
        self.carry_weights, self.repeat_disturbances = bool(carry_weights), bool(repeat_disturbances)
        self.keep_trials = bool(keep_trials)
        self.callback, self.options = callback, options
        self.output_indices = output_indices
        self.timepts = _readonly(timepts)
        self.references = _readonly(refs)
        self.initial_feedforward = _readonly(v0)
        self._names = _names(env, output_indices)
        space = env.action_space
        self._action_box = (np.asarray(space.low, float), np.asarray(space.high, float)) \
            if isinstance(space, gym.spaces.Box) else None

    # ----------------------------------------------------------------- one trial
    def _trial(self, k: int, v: np.ndarray, plant_seed, controller_seed):
        """Run trial k (1-based) with feedforward v; return (context or None, Result, stop_reason or None)."""
        env, ctrl, T = self.env, self.controller, self.n_steps
        refs = self.references
        r_c, v_in = self.channel.commands(refs[:-1], v)
        reseed = k == 1 or self.repeat_disturbances
        obs, _ = env.reset(seed=plant_seed if reseed else None,
                           options={**self.options, "initial_state": self.initial_state})
        obs = np.asarray(obs, dtype=np.float64).reshape(-1)
        n_obs = obs.shape[0]
        observations = np.full((T + 1, n_obs), np.nan)
        observations[0] = obs
        m = v_in.shape[1] if v_in is not None else int(getattr(ctrl, "n_inputs", np.prod(env.action_space.shape)))
        inputs = np.full((T, m), np.nan)
        if k == 1 or not self.carry_weights or not callable(getattr(ctrl, "start_trial", None)):
            ctrl.reset(obs, r_c[0], seed=controller_seed)
        else:
            ctrl.start_trial(obs, r_c[0])
        reason = None
        steps = T
        for t in range(T):
            try:
                u = ctrl.step(obs, r_c[t]) if v_in is None else ctrl.step(obs, r_c[t], feedforward=v_in[t])
            except (DivergenceError, NonFiniteError):
                reason, steps = "diverged", t
                break
            u = np.asarray(u, dtype=np.float64).reshape(-1)
            if self._action_box is not None:
                u = np.clip(u, *self._action_box)
            inputs[t] = u
            obs, _, terminated, truncated, _ = env.step(u)
            obs = np.asarray(obs, dtype=np.float64).reshape(-1)
            observations[t + 1] = obs
            if not np.all(np.isfinite(obs)):
                reason, steps = "nonfinite", t + 1
                break
            if terminated:
                reason, steps = "terminated", t + 1
                break
            if truncated and t + 1 < T:
                reason, steps = "truncated", t + 1
                break
        out = list(self.output_indices)
        result = self._result(k, observations[:steps + 1], refs[:steps + 1], inputs[:steps], ctrl,
                              "failed" if reason else "completed", reason)
        if reason is not None:
            return None, result, reason
        ctx = TrialContext(trial=k, dt=self.dt, observations=_readonly(observations),
                           outputs=_readonly(observations[:, out]), references=refs, inputs=_readonly(inputs),
                           feedforward=_readonly(v), channel=self.channel, controller=ctrl,
                           output_indices=self.output_indices)
        return ctx, result, None

    def _result(self, k, observations, refs, inputs, ctrl, status, reason):
        from neurocontrol.results import Result

        obs_names, in_names, out_names = self._names
        n = observations.shape[0]
        limits = getattr(ctrl, "input_limits", None)
        if limits is None or np.shape(limits) != (inputs.shape[1], 2):
            limits = None
        return Result(time=self.timepts[:n], observations=observations,
                      outputs=observations[:, list(self.output_indices)], references=refs, inputs=inputs,
                      output_names=out_names, input_names=in_names, observation_names=obs_names,
                      input_limits=limits, status=status,
                      meta={"trial": k, "dt": self.dt, "channel": self.channel.name,
                            **({"stop_reason": reason} if reason else {})})

    # ----------------------------------------------------------------- the run
    def run(self) -> ILCResult:
        """Run the trials and return an :class:`ILCResult` (each call starts again from trial 1)."""
        plant_ss, ctrl_ss = self._root.spawn(2)
        plant_seed = int(plant_ss.generate_state(1, dtype=np.uint32)[0])
        controller_seed = int(ctrl_ss.generate_state(1, dtype=np.uint32)[0])
        p = len(self.output_indices)
        v = self.initial_feedforward.copy()
        applied = v
        rms_rows, max_rows, kept = [], [], []
        first = last = None
        status, stop_reason = "running", "trials"
        started = "reset"
        for k in range(1, self.trials + 1):
            applied = v
            if k > 1 and self.carry_weights and callable(getattr(self.controller, "start_trial", None)):
                started = "start_trial"
            ctx, res, reason = self._trial(k, v, plant_seed, controller_seed)
            first = res if k == 1 else first
            last = res
            if self.keep_trials:
                kept.append(res)
            if reason is not None:
                rms_rows.append(np.full(p, np.nan))
                max_rows.append(np.full(p, np.nan))
                status, stop_reason = "failed", reason
                break
            e = ctx.references[1:] - ctx.outputs[1:]
            rms = np.sqrt(np.mean(e * e, axis=0))
            rms_rows.append(rms)
            max_rows.append(np.max(np.abs(e), axis=0))
            try:
                v = self.law.update(v, e, ctx)
            except (DivergenceError, NonFiniteError):
                status, stop_reason = "failed", "diverged"
                break
            if self.callback is not None:
                info = {"rms": rms.copy(), "max_abs": max_rows[-1].copy(), "feedforward": v.copy(), "result": res}
                if self.callback(k, info) is False:
                    status, stop_reason = "converged", "callback"
                    break
            if self.tol is not None and k > 1:
                prev = rms_rows[-2]
                change = np.abs(rms - prev) / np.where(prev > 0, prev, 1.0)
                if np.all(change < self.tol):
                    status, stop_reason = "converged", "tol"
                    break
        meta = {"seed_entropy": self._root.entropy, "plant_seed": plant_seed, "controller_seed": controller_seed,
                "dt": self.dt, "duration": self.duration, "n_steps": self.n_steps, "law": repr(self.law),
                "controller": type(self.controller).__name__, "carry_weights": self.carry_weights,
                "repeat_disturbances": self.repeat_disturbances, "tol": self.tol, "later_trials_start": started}
        return ILCResult(errors=np.array(rms_rows), max_errors=np.array(max_rows), status=status,
                         stop_reason=stop_reason, feedforward=v, last_feedforward=applied,
                         output_names=self._names[2], channel=self.channel.name, first_trial=first, last_trial=last,
                         trial_results=tuple(kept), meta=meta)


# =========================================================================== scenario files

def _law_from_spec(spec, output_names) -> AbstractILCLaw:
    """The ILC law of a scenario's ``[ilc]`` table.

    ``law = "p"``: :class:`PTypeILC` with ``gains`` keys ``gain`` (all
    outputs) or ``gain_<output>`` per output (default 1.0), ``lead`` (steps,
    default 30) and ``q_cutoff_hz`` (default 1.5; 0 disables the Q filter).
    """
    from neurocontrol.exceptions import ScenarioError

    gains = dict(spec.gains)
    allowed = {"gain", "lead", "q_cutoff_hz"} | {f"gain_{n}" for n in output_names}
    unknown = sorted(set(gains) - allowed)
    if unknown:
        raise ScenarioError(f"`ilc.gains` has unknown keys {unknown}; allowed: {sorted(allowed)}.")
    base = float(gains.get("gain", 1.0))
    per_output = [float(gains.get(f"gain_{n}", base)) for n in output_names]
    lead = gains.get("lead", 30)
    if float(lead) != int(lead) or int(lead) < 1:
        raise ScenarioError(f"`ilc.gains.lead` must be a whole number of steps >= 1, got {lead!r}.")
    cutoff = float(gains.get("q_cutoff_hz", 1.5))
    return PTypeILC(per_output, lead=int(lead), q_cutoff_hz=cutoff if cutoff > 0 else None)


def run_ilc_scenario(scenario, setup, *, duration, seed, options, tolerance, final_window_s, events=(),
                     callback=None, progress=False, meta=None):
    """Runner of scenarios with an ``[ilc]`` table: repeated trials from the same initial state.

    Returns the **last** trial's :class:`~neurocontrol.results.Result`, its
    metrics extended by ``metrics["ilc"]``: ``trials``, ``status``,
    ``rms_error`` (per output, one value per trial), ``max_error`` and
    ``last_over_first`` (per output, RMS of the last trial over the first).
    Timed events are not supported in ILC scenarios (every trial must be the
    same task).
    """
    from neurocontrol.exceptions import ScenarioError

    if events:
        raise ScenarioError(f"{scenario.source}: [[events]] cannot be combined with [ilc] (every trial must repeat "
                            "the same task); remove one of them.")
    spec = scenario.ilc
    if spec.law != "p":
        raise ScenarioError(f"{scenario.source}: `ilc.law` must be 'p' (P-type with Q-filter) in scenario files, "
                            f"got {spec.law!r}; use neurocontrol.ilc from Python for the gradient law.")
    opts = dict(options or {})
    x0 = opts.pop("initial_state", None)
    if x0 is None:
        obs, _ = setup.env.reset(seed=seed, options=opts or None)
        x0 = np.asarray(getattr(setup.env.unwrapped, "state", obs), dtype=float)
    from neurocontrol.simulate import signal_names

    names = tuple(signal_names(setup.env, setup.controller.output_indices)["output_names"] or
                  (f"y{i}" for i in range(len(setup.controller.output_indices))))
    law = _law_from_spec(spec, names)
    runner = ILCRunner(setup.env, setup.controller, setup.reference, law=law, trials=spec.trials, duration=duration,
                       initial_state=x0, seed=seed, channel="reference", options=opts or None, callback=None)
    res = runner.run()
    if isinstance(tolerance, Mapping):
        tolerance = [tolerance[n] for n in res.output_names]
    elif tolerance is None:
        tolerance = 0.01 * np.max(np.abs(res.last_trial.references), axis=0)
    last = res.last_trial.with_metrics(tolerance=tolerance, final_window_s=final_window_s)
    errors = np.asarray(res.errors)
    ilc = {"trials": int(errors.shape[0]), "status": res.status, "law": repr(law),
           "rms_error": {n: errors[:, i].tolist() for i, n in enumerate(res.output_names)},
           "max_error": {n: np.asarray(res.max_errors)[:, i].tolist() for i, n in enumerate(res.output_names)},
           "last_over_first": {n: float(errors[-1, i] / errors[0, i]) if errors[0, i] > 0 else None
                               for i, n in enumerate(res.output_names)}}
    metrics = dict(last.metrics)
    metrics["ilc"] = ilc
    new_meta = dict(last.meta)
    new_meta.update(dict(meta or {}))
    new_meta["ilc"] = ilc
    return dataclasses.replace(last, metrics=metrics, meta=new_meta)


def _register_kinds():
    from neurocontrol.scenario import register

    register("ilc_law", "p", None)
    register("runner", "ilc", None, run_ilc_scenario)


_register_kinds()
