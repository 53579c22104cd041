"""Gradient ILC and its models of the trial's lifted Jacobian: a linear model, a function or the identifier."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.ilc.laws import (
    AbstractChannel,
    AbstractILCLaw,
    InputChannel,
    TrialContext,
    _q_filter,
    _readonly,
)
from neurocontrol.nets.rtrl import input_sensitivities
from neurocontrol.nets.rtrn import RTRNConfig

__all__ = ["AbstractGradientModel", "LinearModelGradient", "FunctionGradient", "IdentifierGradient", "GradientILC"]


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

        Returns
        -------
        numpy.ndarray, shape (T, c)
        """
        e = as_float_array(error, "error", (None, None))
        g = np.asarray(self._adjoint_impl(e, context), dtype=np.float64)
        if g.ndim != 2 or g.shape[0] != e.shape[0]:
            raise ShapeError(f"{type(self).__name__} returned H^T e of shape {g.shape}, expected ({e.shape[0]}, c).")
        return g

    def check(self, *, n_channels: int, n_outputs: int, n_steps: int, dt: float, channel: AbstractChannel,
              controller=None) -> None:
        """Raise if the model cannot describe this loop (default: accept).

        Parameters
        ----------
        n_channels, n_outputs, n_steps : int
            Feedforward channels c, controlled outputs p and steps T of a trial.
        dt : float
            Control period, s.
        channel : AbstractChannel
            Where the feedforward enters.
        controller : object, optional
            The trial's controller.
        """

    @abc.abstractmethod
    def _adjoint_impl(self, error: np.ndarray, context: TrialContext | None) -> np.ndarray:
        """Return H^T e, shape (T, c)."""


@dataclass(frozen=True, eq=False)
class LinearModelGradient(AbstractGradientModel):
    r"""Gradient of a discrete LTI model ``x(t+1) = A x(t) + B v(t)``, ``y(t) = C x(t)``.

    Parameters
    ----------
    A : array_like, shape (nx, nx)
        State transition over one control period.
    B : array_like, shape (nx, c)
        Feedforward to state.
    C : array_like, shape (p, nx)
        State to controlled outputs.

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
        """Model the closed loop by its reference model: one block per output, set-point -> value.

        For the reference channel around a controller that makes each output
        follow a linear reference model (the adaptive controller's
        :class:`~neurocontrol.reference_model.SecondOrderReferenceModel`, or a model
        fitted to a baseline's closed loop), ``r -> y`` is that model.

        Parameters
        ----------
        model : SecondOrderReferenceModel or similar
            Anything with ``transition_matrix`` (p, k, k) and ``input_matrix``
            (p, k) of per-output discrete models whose first state is the
            output value (rate and acceleration limits are ignored).

        Examples
        --------
        >>> from neurocontrol.reference_model import SecondOrderReferenceModel
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
        """Return the explicit lifted matrix H, shape (T p, T c).

        Parameters
        ----------
        n_steps : int
            Steps T of the trial (>= 1).
        """
        T = check_int(n_steps, "n_steps", low=1)
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
        """Raise a ShapeError unless ``B`` has c columns and ``C`` has p rows.

        Parameters
        ----------
        n_channels, n_outputs, n_steps : int
            Feedforward channels c, controlled outputs p and steps T of a trial.
        dt : float
            Control period, s.
        channel : AbstractChannel
            Where the feedforward enters.
        controller : object, optional
            The trial's controller.
        """
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
    whole trial (T p x T m entries, large for long trials). Instead,
    windows start every ``stride`` steps at the *measured* state y(t0) and
    run the network free with the trial's applied inputs for ``stride +
    horizon`` steps; :func:`neurocontrol.nets.rtrl.input_sensitivities` gives
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
    ignores the feedback's reaction to the feedforward otherwise: a tight
    feedback loop cancels an input feedforward it sees as a disturbance, so
    the error stalls. Around a tight loop prefer the reference channel with
    :meth:`LinearModelGradient.from_reference_model`. The reference channel
    is refused here: the identifier does not model ``r -> y``.
    """

    horizon: int = 100
    stride: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "horizon", check_int(self.horizon, "horizon", low=1))
        stride = self.horizon if self.stride is None else check_int(self.stride, "stride", low=1)
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
        """Raise a ParameterError unless the channel is the input channel and the controller has an identifier.

        Parameters
        ----------
        n_channels, n_outputs, n_steps : int
            Feedforward channels c, controlled outputs p and steps T of a trial.
        dt : float
            Control period, s.
        channel : AbstractChannel
            Where the feedforward enters.
        controller : object, optional
            The trial's controller.
        """
        if not isinstance(channel, InputChannel):
            raise ParameterError("IdentifierGradient models the plant u -> y, so it needs channel='input'; for the "
                                 "reference channel give GradientILC a model of the closed loop r -> y.")
        self._parts(controller, weights=False)

    def _adjoint_impl(self, error, context):

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
        units need it: when dy/du of one output dwarfs another's, the step
        that is safe for the first barely moves the second.
    q_cutoff_hz : float or None, default None
        Zero-phase Q filter as in :class:`PTypeILC` (None: Q = I).
    q_order : int, default 2
        Order of the Butterworth Q filter.

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
        object.__setattr__(self, "step", check_positive(self.step, "step"))
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
        """Raise if the output weights, the Q filter or the gradient model do not fit the loop.

        Parameters
        ----------
        n_channels, n_outputs, n_steps : int
            Feedforward channels c, controlled outputs p and steps T of a trial.
        dt : float
            Control period, s.
        channel : AbstractChannel
            Where the feedforward enters.
        controller : object, optional
            The trial's controller.
        """
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


