r"""Trial-to-trial laws of iterative learning control (ILC), the feedforward channels and the trial context.

A finite-horizon tracking task is repeated from the same initial state. After
trial ``k`` an ILC law turns the trial's tracking error ``e_k = r - y_k`` into
the feedforward signal ``v_{k+1}`` of the next trial; the feedback controller
stays in the loop (and, for the adaptive controller, keeps what it learned).

The package has three kinds of objects (laws and channels here, gradient
models in :mod:`neurocontrol.ilc.gradient`, the runner in
:mod:`neurocontrol.ilc.runner`):

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
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.exceptions import DivergenceError, ParameterError, ShapeError

__all__ = [
    "AbstractILCLaw",
    "PTypeILC",
    "AbstractChannel",
    "ReferenceChannel",
    "InputChannel",
    "CHANNELS",
    "resolve_channel",
    "TrialContext",
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
    order = check_int(q_order, "q_order", low=1)
    if q_cutoff_hz is None:
        return _QFilter(None, order)
    return _QFilter(check_positive(q_cutoff_hz, "q_cutoff_hz", unit="Hz (or None for no Q filter)"), order)


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
    excluded : numpy.ndarray of bool, shape (T,), optional
        Rows of the trial's error that the next trial will not repeat (the
        controller's warm-up excitation, which later trials skip); the runner
        passes the law an error that is zero in these rows. None: every row
        counts.
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
    excluded: np.ndarray | None = None

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
        """Return the number c of feedforward signals (columns of the feedforward).

        Parameters
        ----------
        n_inputs : int
            Number m of plant inputs.
        n_outputs : int
            Number p of controlled outputs.

        Returns
        -------
        int
        """

    def commands(self, references, feedforward):
        """Return what the controller is given at each step of a trial.

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
        """Return p: one set-point shift per controlled output.

        Parameters
        ----------
        n_inputs : int
            Number m of plant inputs.
        n_outputs : int
            Number p of controlled outputs.

        Returns
        -------
        int
        """
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
        """Return m: one feedforward per plant input.

        Parameters
        ----------
        n_inputs : int
            Number m of plant inputs.
        n_outputs : int
            Number p of controlled outputs.

        Returns
        -------
        int
        """
        return n_inputs

    def _commands_impl(self, references, feedforward):
        return references, feedforward


#: Registry of channels by name (strings in scenario files resolve here).
CHANNELS: Mapping[str, type[AbstractChannel]] = {"reference": ReferenceChannel, "input": InputChannel}


def resolve_channel(channel) -> AbstractChannel:
    """Return a channel object for ``channel`` (a name in :data:`CHANNELS` or an :class:`AbstractChannel`).

    Parameters
    ----------
    channel : str or AbstractChannel
        ``"reference"``, ``"input"`` or a channel instance (returned as is).

    Returns
    -------
    AbstractChannel

    Raises
    ------
    ParameterError
        On an unknown name or another type.

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

        Parameters
        ----------
        n_channels, n_outputs, n_steps : int
            Feedforward channels c, controlled outputs p and steps T of a trial.
        dt : float
            Control period, s.
        channel : AbstractChannel
            Where the feedforward enters.
        controller : object, optional
            The trial's controller (for laws that read its model).

        Raises
        ------
        ParameterError, ShapeError
            If the law does not fit the loop.
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
        object.__setattr__(self, "lead", check_int(self.lead, "lead", low=1))
        object.__setattr__(self, "_q", _q_filter(self.q_cutoff_hz, self.q_order))
        object.__setattr__(self, "q_cutoff_hz", self._q.cutoff_hz)
        object.__setattr__(self, "q_order", self._q.order)

    def gain_matrix(self, n_channels: int, n_outputs: int) -> np.ndarray:
        """Return the gain as a (c, p) matrix.

        Parameters
        ----------
        n_channels : int
            Feedforward channels c.
        n_outputs : int
            Controlled outputs p.

        Returns
        -------
        numpy.ndarray, shape (c, p)

        Raises
        ------
        ShapeError
            If the gain does not fit c and p.
        """
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
        """Raise if the gain, the Q filter or the lead do not fit trials of this shape.

        Parameters
        ----------
        n_channels, n_outputs, n_steps : int
            Feedforward channels c, controlled outputs p and steps T of a trial.
        dt : float
            Control period, s.
        channel : AbstractChannel
            Where the feedforward enters.
        controller : object, optional
            The trial's controller (for laws that read its model).

        Raises
        ------
        ParameterError, ShapeError
            If the law does not fit the loop.
        """
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


