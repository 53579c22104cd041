r"""Norm-optimal ILC on the reference channel with a closed-loop model that keeps learning from the trials.

Around a feedback loop a correction added at the plant input is fought by
the feedback; a shift of the set-point is not. :class:`NormOptimalILC`
therefore acts on the reference channel and inverts a model of the closed
loop from the commanded set-point ``r_c`` to the controlled outputs ``y``.
The model, :class:`ClosedLoopFIRModel`, is identified from the recorded
``(r_c, y)`` of every trial and keeps its accumulated data from trial to
trial: its weights are the trial memory.

The model is linear (a finite impulse response fitted by regularised least
squares): it learns the closed loop as one linear system around the trial,
not a nonlinear network. :class:`AbstractClosedLoopModel` is the extension
point for a recurrent network of the closed loop.

Conventions as in :mod:`neurocontrol.ilc.laws`: ``e(t+1) = r(t+1) -
y(t+1)`` for ``t = 0..T-1``; lifted vectors stack time-major, so
``H[t p + i, j c + a] = d y_i(t+1) / d r_c,a(j)``; for a causal linear
time-invariant model that block is the Markov parameter ``M[t - j]``.

Examples
--------
>>> import numpy as np
>>> model = ClosedLoopFIRModel(n_taps=3, prior=np.array([[[1.0]], [[0.5]], [[0.25]]]))
>>> model.lifted(3)
array([[1.  , 0.  , 0.  ],
       [0.5 , 1.  , 0.  ],
       [0.25, 0.5 , 1.  ]])
>>> law = NormOptimalILC(model, regularization=0.0)
>>> law.step(np.array([[1.0], [1.5], [1.75]])).ravel().round(12).tolist()  # H^-1 e: the exact inverse
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import abc
import math
from dataclasses import KW_ONLY, dataclass

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_real
from neurocontrol.exceptions import DivergenceError, ParameterError, ShapeError
from neurocontrol.ilc.feedforward_net import FeedforwardNetwork
from neurocontrol.ilc.laws import AbstractChannel, AbstractILCLaw, ReferenceChannel, TrialContext, _q_filter

__all__ = ["AbstractClosedLoopModel", "ClosedLoopFIRModel", "NormOptimalILC"]


# =========================================================================== closed-loop models

class AbstractClosedLoopModel(abc.ABC):
    """A learned model of the closed loop ``r_c -> y`` that gives the lifted Jacobian H of a trial.

    The public :meth:`learn` validates the trial and calls the one hook
    :meth:`_learn_impl`; :meth:`matvec`, :meth:`rmatvec` and
    :meth:`norm_bound` give what the law needs of H (``H v``, ``H^T e``
    and an upper bound of ``||H||_2``) without forming H.
    """

    def learn(self, commands, outputs) -> None:
        """Update the model from one trial.

        Parameters
        ----------
        commands : array_like, shape (T, c)
            The set-points the controller was given, r_c(0)..r_c(T-1).
        outputs : array_like, shape (T+1, p)
            The controlled outputs y(0)..y(T).
        """
        r = as_float_array(commands, "commands", (None, None))
        y = as_float_array(outputs, "outputs", (r.shape[0] + 1, None))
        self._learn_impl(r, y)

    @abc.abstractmethod
    def _learn_impl(self, commands: np.ndarray, outputs: np.ndarray) -> None:
        """Update the model from validated (T, c) commands and (T+1, p) outputs."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every trial (back to the prior)."""

    @abc.abstractmethod
    def matvec(self, feedforward: np.ndarray) -> np.ndarray:
        """Return ``H v`` as (T, p).

        Parameters
        ----------
        feedforward : numpy.ndarray, shape (T, c)
            v(0)..v(T-1).
        """

    @abc.abstractmethod
    def rmatvec(self, error: np.ndarray) -> np.ndarray:
        """Return ``H^T e`` as (T, c).

        Parameters
        ----------
        error : numpy.ndarray, shape (T, p)
            e(1)..e(T).
        """

    @abc.abstractmethod
    def norm_bound(self, output_scale=None) -> float:
        """Return an upper bound of ``||S H||_2`` valid for every trial length.

        Parameters
        ----------
        output_scale : array_like, shape (p,), optional
            S = diag(output_scale) (default: S = I).
        """

    def check(self, *, n_channels: int, n_outputs: int) -> None:
        """Raise if the model does not map c channels to p outputs (default: accept).

        Parameters
        ----------
        n_channels, n_outputs : int
            Feedforward channels c and controlled outputs p of the loop.
        """


class ClosedLoopFIRModel(AbstractClosedLoopModel):
    r"""Closed loop ``r_c -> y`` as a finite impulse response learned by regularised least squares over trials.

    Parameters
    ----------
    n_taps : int
        Length n of the impulse response in control steps: it must cover the
        closed loop's settling time (the law cannot see effects further
        away).
    prior : array_like, shape (n, p, c), or LinearModelGradient, optional
        Markov parameters the estimate starts from and is pulled towards (a
        linear model ``A, B, C`` gives ``C A^j B``), e.g. the controller's
        reference model. Default: zeros with p = c taken from the first
        trial.
    ridge : float, default 1e-3
        Weight of the prior relative to the data: ``mu = ridge *
        trace(R) / dim(R)`` with R the accumulated information matrix.
    forgetting : float, default 1.0
        Factor in (0, 1] applied to the accumulated data before a new trial
        is added (1: every trial counts equally; below 1 older trials fade,
        for a loop that changes from trial to trial).
    learn : bool, default True
        False keeps the prior and ignores the trials (a fixed model).

    Notes
    -----
    The loop is taken to rest at ``y(0)`` before the trial with its set-point
    there, so in deviations ``dr(s) = r_c(s) - y(0)`` (zero for ``s < 0``) and
    ``dy(t+1) = y(t+1) - y(0)``:

    .. math:: dy(t+1) = \sum_{j=0}^{n-1} M_j\, dr(t-j) + b

    with a constant b for offsets the loop does not remove. All outputs share
    the regressor ``phi(t) = [dr(t); ...; dr(t-n+1); 1]``; trial k adds
    ``R <- f R + Phi^T Phi``, ``S <- f S + Phi^T dY`` and the weights are
    ``theta = (R + mu I)^{-1} (S + mu theta_0)``, the ridge estimate centred
    on the prior. ``||H||_2 <= max_w ||sum_j M_j e^{-i w j}||_2`` (the H-infinity
    norm of the FIR), evaluated on a 4096-point frequency grid plus 1 % margin.
    """

    def __init__(self, n_taps: int, *, prior=None, ridge: float = 1e-3, forgetting: float = 1.0, learn: bool = True):
        self.n_taps = check_int(n_taps, "n_taps", low=1)
        self.ridge = check_real(ridge, "ridge", low=0.0)
        self.forgetting = check_real(forgetting, "forgetting", low=0.0, high=1.0, low_open=True)
        if not isinstance(learn, (bool, np.bool_)):
            raise ParameterError(f"`learn` must be True or False, got {learn!r}.")
        self.learns = bool(learn)
        if prior is None:
            self._prior = None
        else:
            if all(hasattr(prior, name) for name in ("A", "B", "C")) and not isinstance(prior, np.ndarray):
                A, B, C = (np.asarray(getattr(prior, name), dtype=np.float64) for name in ("A", "B", "C"))
                taps, x = [], B
                for _ in range(self.n_taps):
                    taps.append(C @ x)
                    x = A @ x
                prior = np.array(taps)
            M = as_float_array(prior, "prior", (self.n_taps, None, None))
            self._prior = M.copy()
            self._prior.setflags(write=False)
        if not learn and self._prior is None:
            raise ParameterError("a model with `learn=False` needs a `prior` (it never learns one).")
        self.reset()

    def __repr__(self):
        prior = "None" if self._prior is None else f"<{self._prior.shape[0]} Markov parameters>"
        return (f"{type(self).__name__}(n_taps={self.n_taps}, prior={prior}, ridge={self.ridge}, "
                f"forgetting={self.forgetting}, learn={self.learns})")

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget every trial: back to the prior (zeros before the first trial if there is none)."""
        self._R = None
        self._S = None
        self.n_trials = 0
        self._markov = None if self._prior is None else self._prior
        #: Learned constant b (p,) of the last fit (None before the first trial).
        self.offset = None

    @property
    def markov(self) -> np.ndarray:
        """The current Markov parameters M, shape (n, p, c) (read-only).

        Raises
        ------
        ParameterError
            Before the first trial of a model without a prior.
        """
        if self._markov is None:
            raise ParameterError("the model has neither a `prior` nor a trial to learn from yet; give a prior or "
                                 "call `learn` first.")
        return self._markov

    def check(self, *, n_channels, n_outputs):
        """Raise a ShapeError unless the prior maps c channels to p outputs (and c = p without a prior).

        Parameters
        ----------
        n_channels, n_outputs : int
            Feedforward channels c and controlled outputs p of the loop.
        """
        if n_channels != n_outputs:
            raise ShapeError(f"the closed-loop model needs one set-point per output, got {n_channels} channels "
                             f"and {n_outputs} outputs.")
        if self._prior is not None and self._prior.shape[1:] != (n_outputs, n_channels):
            raise ShapeError(f"`prior` maps {self._prior.shape[2]} channels to {self._prior.shape[1]} outputs, the "
                             f"loop has {n_channels} channels and {n_outputs} outputs; fix the prior's shape "
                             f"to ({self.n_taps}, {n_outputs}, {n_channels}).")

    # ----------------------------------------------------------------- learning
    def regressors(self, commands, initial_output) -> np.ndarray:
        """Return the regressor matrix Phi of a trial, shape (T, n c + 1).

        Parameters
        ----------
        commands : array_like, shape (T, c)
            r_c(0)..r_c(T-1).
        initial_output : array_like, shape (c,)
            y(0), where the loop rested before the trial.

        Returns
        -------
        numpy.ndarray
        """
        r = as_float_array(commands, "commands", (None, None))
        y0 = as_float_array(initial_output, "initial_output", (r.shape[1],))
        T, c = r.shape
        dr = r - y0
        phi = np.zeros((T, self.n_taps * c + 1))
        for j in range(min(self.n_taps, T)):
            phi[j:, j * c:(j + 1) * c] = dr[:T - j]
        phi[:, -1] = 1.0
        return phi

    def learn(self, commands, outputs) -> None:
        """Add one trial to the accumulated data and refit the impulse response.

        Parameters
        ----------
        commands : array_like, shape (T, c)
            The set-points the controller was given, r_c(0)..r_c(T-1).
        outputs : array_like, shape (T+1, p)
            The controlled outputs y(0)..y(T).

        Raises
        ------
        ShapeError
            If c differs from p or from the prior's shape.
        ParameterError
            If the accumulated data do not determine the weights (``ridge = 0``).
        """
        super().learn(commands, outputs)

    def _learn_impl(self, commands, outputs):
        T, c = commands.shape
        p = outputs.shape[1]
        self.check(n_channels=c, n_outputs=p)
        if not self.learns:
            return
        phi = self.regressors(commands, outputs[0])
        dy = outputs[1:] - outputs[0]
        f = self.forgetting
        gram, cross = phi.T @ phi, phi.T @ dy
        self._R = gram if self._R is None else f * self._R + gram
        self._S = cross if self._S is None else f * self._S + cross
        self.n_trials += 1
        dim = self._R.shape[0]
        theta0 = np.zeros((dim, p))
        if self._prior is not None:        # M[j, i, a] = theta[j c + a, i]
            theta0[:-1] = self._prior.transpose(0, 2, 1).reshape(self.n_taps * c, p)
        mu = self.ridge * np.trace(self._R) / dim
        from scipy.linalg import LinAlgError, solve

        try:
            theta = solve(self._R + mu * np.eye(dim), self._S + mu * theta0, assume_a="pos")
        except LinAlgError:
            raise ParameterError(f"the trials so far do not determine the {dim} weights of the closed-loop model "
                                 "(singular least-squares problem); set `ridge` > 0 or excite the loop more.") \
                from None
        markov = theta[:-1].reshape(self.n_taps, c, p).transpose(0, 2, 1).copy()
        markov.setflags(write=False)
        self._markov = markov
        self.offset = theta[-1].copy()

    # ----------------------------------------------------------------- the lifted Jacobian
    def matvec(self, feedforward):
        """Return ``H v``: the causal convolution of v with the Markov parameters.

        Parameters
        ----------
        feedforward : array_like, shape (T, c)

        Returns
        -------
        numpy.ndarray, shape (T, p)
        """
        M = self.markov
        v = as_float_array(feedforward, "feedforward", (None, M.shape[2]))
        T = v.shape[0]
        out = np.zeros((T, M.shape[1]))
        for j in range(min(self.n_taps, T)):
            out[j:] += v[:T - j] @ M[j].T
        return out

    def rmatvec(self, error):
        """Return ``H^T e``: the anti-causal correlation of e with the Markov parameters.

        Parameters
        ----------
        error : array_like, shape (T, p)

        Returns
        -------
        numpy.ndarray, shape (T, c)
        """
        M = self.markov
        e = as_float_array(error, "error", (None, M.shape[1]))
        T = e.shape[0]
        out = np.zeros((T, M.shape[2]))
        for j in range(min(self.n_taps, T)):
            out[:T - j] += e[j:] @ M[j]
        return out

    def lifted(self, n_steps: int) -> np.ndarray:
        """Return the explicit lifted matrix H, shape (T p, T c) (for tests and small trials).

        Parameters
        ----------
        n_steps : int
            Steps T of the trial (>= 1).

        Returns
        -------
        numpy.ndarray
        """
        T = check_int(n_steps, "n_steps", low=1)
        M = self.markov
        p, c = M.shape[1:]
        H = np.zeros((T * p, T * c))
        for t in range(T):
            for j in range(max(0, t - self.n_taps + 1), t + 1):
                H[t * p:(t + 1) * p, j * c:(j + 1) * c] = M[t - j]
        return H

    def norm_bound(self, output_scale=None):
        """Return the H-infinity norm of the FIR (+1 %), an upper bound of ``||S H||_2`` for any T.

        Parameters
        ----------
        output_scale : array_like, shape (p,), optional
            Row scaling S = diag(output_scale) of the outputs (default: none).

        Returns
        -------
        float
        """
        M = self.markov
        if output_scale is not None:
            M = M * as_float_array(output_scale, "output_scale", (M.shape[1],))[None, :, None]
        G = np.fft.fft(M, n=max(4096, 2 * self.n_taps), axis=0)       # (F, p, c)
        return 1.01 * float(np.max(np.linalg.svd(G, compute_uv=False)))


# =========================================================================== the law

@dataclass(frozen=True, eq=False)
class NormOptimalILC(AbstractILCLaw):
    r"""Norm-optimal ILC on the reference channel with a learned closed-loop model.

    .. math:: v_{k+1} = Q\,[\,v_k + (H^T W H + \lambda I)^{-1} H^T W e_k\,]

    Parameters
    ----------
    model : AbstractClosedLoopModel
        The learned closed loop ``r_c -> y`` (:class:`ClosedLoopFIRModel`);
        it learns from every trial before the update and is reset at trial 1
        of a run, so a run is reproducible.
    regularization : float, default 0.1
        lambda relative to the model's gain: ``lambda = regularization *
        ||H||^2`` with :meth:`AbstractClosedLoopModel.norm_bound`. Larger is
        slower and more robust to model error (Notes); 0 inverts the model.
        With output weights, ``||W^(1/2) H||^2``.
    output_weights : array_like, shape (p,), optional
        W = diag(output_weights) > 0 of the cost ``e^T W e`` (default: all
        ones); outputs in different units need it, as for
        :class:`GradientILC`.
    q_cutoff_hz : float or None, default None
        Zero-phase Butterworth Q filter as in :class:`PTypeILC` (None: Q = I).
    q_order : int, default 2
        Order of the Q filter.
    cg_rtol : float, default 1e-10
        Relative residual at which the conjugate-gradient solve stops.
    cg_maxiter : int, default 1000
        Largest number of conjugate-gradient iterations; a truncated solve is
        still a descent step on the regularised cost.
    change_threshold : float or None, default 3.0
        Skip the update after a trial the model did not foresee: when
        ``||W^(1/2) (e_k - ê_k)|| > change_threshold * ||W^(1/2) e_{k-1}||``
        with ``ê_k = e_{k-1} - H (v_k - v_{k-1})`` the model's prediction of
        trial k from trial k-1, the feedforward is kept as it is (the model
        still learns the trial). A loop that changed, or a trial hit by a
        disturbance that will not repeat, then does not drive a correction
        for the next trial; a lasting change is consistent from the next
        trial on and learning resumes. None: never skip.
    gain_adaptation : bool, default True
        Scale the step by a learning gain g in ``[gain_floor, 1]`` that the
        trials themselves set, a trust region in the iteration domain: after
        trial k the model's predicted reduction of the weighted error energy,
        ``||e_{k-1}||^2 - ||ê_k||^2``, is compared with the achieved one,
        ``||e_{k-1}||^2 - ||e_k||^2``; their ratio rho below 0.25 halves g,
        above 0.75 doubles it (at most 1). Where the error is repeatable and
        the model right, rho is near 1 and g stays 1; where it is mostly noise
        or disturbances that differ between trials, the update cannot remove
        it, rho scatters around 0 and g falls, so trial-varying errors are not
        accumulated into the feedforward. False: g = 1 always.
    gain_floor : float, default 1/32
        Least learning gain (in (0, 1]); a loop that becomes repeatable again
        (e.g. a lasting plant change) gets back to g = 1 in at most
        ``log2(1 / gain_floor)`` consistent trials.
    feedforward_network : FeedforwardNetwork, optional
        Where the correction is kept between trials. None: a time-indexed
        signal (the runner replays the returned feedforward). A
        :class:`~neurocontrol.ilc.feedforward_net.FeedforwardNetwork`: the
        update starts from the network's output along the trial's reference
        (``v_k``, what it gave the trial just run; at trial 1 the run's
        initial feedforward), its result is fitted into the network's weights,
        and the network's output along the reference is returned; the network
        is reset at trial 1 of a run and, with its ``memory`` off, before every
        later update.

    Notes
    -----
    With the true lifted map ``E_k = E_0 - H_true V_k`` and ``L = (H^T H +
    lambda I)^{-1} H^T`` from the learned H, the feedforward obeys ``V_{k+1}
    = Q (I - L H_true) V_k + Q L E_0``; it converges when ``rho(Q (I - L
    H_true)) < 1`` and monotonically in the 2-norm when ``||Q (I - L
    H_true)||_2 < 1``, and the error follows as ``E_k - E_inf = -H_true (V_k
    - V_inf)``. With Q = I and an exact model, ``I - H L = lambda (H H^T +
    lambda I)^{-1}``: every error direction shrinks by ``lambda / (s_i^2 +
    lambda)`` per trial (s_i the singular values of H), monotonically, for
    any lambda > 0. A model off by a factor g > 0 in gain keeps ``1 - g s^2 /
    (g^2 s^2 + lambda)`` in (-1, 1) for g > 0 when lambda is large enough;
    an error of sign or phase beyond 90 degrees breaks it, which the Q filter
    removes where the model is unreliable (Amann, Owens & Rogers, IEE Proc.
    Control Theory Appl. 143(2), 1996; docs/ilc.md).

    The step ``(H^T W H + lambda I)^{-1} H^T W e`` is solved matrix-free by
    conjugate gradients with ``H v`` and ``H^T e`` from the model.
    """

    model: AbstractClosedLoopModel
    _: KW_ONLY
    regularization: float = 0.1
    output_weights: tuple[float, ...] | None = None
    q_cutoff_hz: float | None = None
    q_order: int = 2
    cg_rtol: float = 1e-10
    cg_maxiter: int = 1000
    change_threshold: float | None = 3.0
    gain_adaptation: bool = True
    gain_floor: float = 1.0 / 32.0
    feedforward_network: FeedforwardNetwork | None = None

    def __post_init__(self):
        if not isinstance(self.model, AbstractClosedLoopModel):
            raise ParameterError(f"`model` must be a closed-loop model such as ClosedLoopFIRModel(n_taps), "
                                 f"got {type(self.model).__name__}.")
        object.__setattr__(self, "regularization", check_real(self.regularization, "regularization", low=0.0))
        if self.output_weights is not None:
            w = as_float_array(self.output_weights, "output_weights", (None,))
            if w.size == 0 or np.any(w <= 0):
                raise ParameterError(f"`output_weights` must be positive (one per output), got {w.tolist()}.")
            object.__setattr__(self, "output_weights", tuple(w.tolist()))
        object.__setattr__(self, "cg_rtol", check_real(self.cg_rtol, "cg_rtol", low=0.0, low_open=True))
        object.__setattr__(self, "cg_maxiter", check_int(self.cg_maxiter, "cg_maxiter", low=1))
        if self.change_threshold is not None:
            object.__setattr__(self, "change_threshold", check_real(self.change_threshold, "change_threshold",
                                                                    low=0.0, low_open=True))
        if not isinstance(self.gain_adaptation, (bool, np.bool_)):
            raise ParameterError(f"`gain_adaptation` must be True or False, got {self.gain_adaptation!r}.")
        object.__setattr__(self, "gain_adaptation", bool(self.gain_adaptation))
        object.__setattr__(self, "gain_floor", check_real(self.gain_floor, "gain_floor", low=0.0, high=1.0,
                                                          low_open=True))
        if self.feedforward_network is not None and not isinstance(self.feedforward_network, FeedforwardNetwork):
            raise ParameterError(f"`feedforward_network` must be a FeedforwardNetwork or None, "
                                 f"got {type(self.feedforward_network).__name__}.")
        object.__setattr__(self, "_last", {})
        object.__setattr__(self, "_q", _q_filter(self.q_cutoff_hz, self.q_order))
        object.__setattr__(self, "q_cutoff_hz", self._q.cutoff_hz)
        object.__setattr__(self, "q_order", self._q.order)
        object.__setattr__(self, "_info", {})

    @property
    def last_update(self) -> dict:
        """What the last update used.

        ``trial``, ``lam`` (lambda), ``cg_iterations``, ``cg_residual``,
        ``mismatch`` (the change test's ratio, None at trial 1), ``skipped``,
        ``rho`` (achieved / predicted error-energy reduction of the last
        step, None when it was not measurable) and ``gain`` (the learning
        gain applied).
        """
        return dict(self._info)

    def check(self, *, n_channels, n_outputs, n_steps, dt, channel: AbstractChannel, controller=None):
        """Raise unless the channel is the reference channel and the model and Q filter fit the loop.

        Parameters
        ----------
        n_channels, n_outputs, n_steps : int
            Feedforward channels c, controlled outputs p and steps T of a trial.
        dt : float
            Control period, s.
        channel : AbstractChannel
            Where the feedforward enters.
        controller : object, optional
            The trial's controller (not used).

        Raises
        ------
        ParameterError
            If the channel is not the reference channel or the Q filter does not fit.
        ShapeError
            If the model does not map the channels to the outputs.
        """
        if not isinstance(channel, ReferenceChannel):
            raise ParameterError("NormOptimalILC learns the closed loop from set-point to output, so it needs "
                                 "channel='reference'.")
        self._q.check(dt, n_steps)
        self.model.check(n_channels=n_channels, n_outputs=n_outputs)
        self._weights(n_outputs)
        net = self.feedforward_network
        if net is not None and net.n_outputs != n_outputs:
            raise ShapeError(f"the feedforward network reads {net.n_outputs} reference channels (its "
                             f"`output_range`); the loop has {n_outputs} controlled outputs.")

    def _weights(self, n_outputs: int) -> np.ndarray:
        if self.output_weights is None:
            return np.ones(n_outputs)
        if len(self.output_weights) != n_outputs:
            raise ShapeError(f"`output_weights` must have shape ({n_outputs},) (one per output), "
                             f"got ({len(self.output_weights)},).")
        return np.asarray(self.output_weights)

    def step(self, error) -> np.ndarray:
        """Return ``(H^T W H + lambda I)^{-1} H^T W e`` for the model's current H.

        Parameters
        ----------
        error : array_like, shape (T, p)
            e(1)..e(T).

        Returns
        -------
        numpy.ndarray, shape (T, c)

        Raises
        ------
        DivergenceError
            If the model's gain is not finite.
        """
        from scipy.sparse.linalg import LinearOperator, cg

        e = as_float_array(error, "error", (None, None))
        T = e.shape[0]
        w = self._weights(e.shape[1])
        b = self.model.rmatvec(e * w)
        c = b.shape[1]
        with np.errstate(over="ignore"):
            lam = float(self.regularization * np.float64(self.model.norm_bound(np.sqrt(w))) ** 2)
        if not np.isfinite(lam):
            raise DivergenceError(f"the closed-loop model's gain is not finite ({type(self.model).__name__} "
                                  "diverged); reset it or raise its `ridge`.")
        n_iter = [0]

        def normal(x):
            xv = x.reshape(T, c)
            return (self.model.rmatvec(self.model.matvec(xv) * w) + lam * xv).ravel()

        def count(_):
            n_iter[0] += 1

        op = LinearOperator((T * c, T * c), matvec=normal, dtype=np.float64)
        x, _ = cg(op, b.ravel(), rtol=self.cg_rtol, atol=0.0, maxiter=self.cg_maxiter, callback=count)
        residual = float(np.linalg.norm(normal(x) - b.ravel()) / max(np.linalg.norm(b), np.finfo(float).tiny))
        self._info.clear()
        self._info.update(lam=lam, cg_iterations=n_iter[0], cg_residual=residual)
        return x.reshape(T, c)

    def _update_impl(self, feedforward, error, context: TrialContext | None):
        if context is None:
            raise ParameterError("NormOptimalILC learns from the trial: pass a TrialContext (ILCRunner does).")
        net = self.feedforward_network
        refs = np.asarray(context.references[:-1])
        if context.trial == 1:
            self.model.reset()
            self._last.clear()
            if net is not None:
                net.reset()                 # trial 1's update starts from the feedforward the run was given
        elif net is not None:
            net.start_trial()
            feedforward = net.predict(refs, feedforward.shape[1])   # the correction the network holds
        w = np.sqrt(self._weights(error.shape[1]))
        mismatch, rho, gain = None, None, self._last.get("gain", 1.0)
        if "error" in self._last and self._last["error"].shape == error.shape:
            # the model (as of the last update) predicts this trial from the last one
            predicted = self._last["error"] - self.model.matvec(feedforward - self._last["feedforward"])
            scale = float(np.linalg.norm(self._last["error"] * w))
            miss = float(np.linalg.norm((error - predicted) * w))
            # Python floats: an overflowing ratio is inf, not a warning; a last trial without error: any miss is inf
            mismatch = miss / scale if scale > 0.0 else (math.inf if miss > 0.0 else 0.0)
            mismatch = mismatch if math.isfinite(mismatch) else math.inf
            rho = _reduction_ratio(scale, float(np.linalg.norm(predicted * w)), float(np.linalg.norm(error * w)))
        skip = mismatch is not None and self.change_threshold is not None and mismatch > self.change_threshold
        if self.gain_adaptation and rho is not None and not skip:
            gain = max(self.gain_floor, 0.5 * gain) if rho < 0.25 else (min(1.0, 2.0 * gain) if rho > 0.75 else gain)
        self._last.update(error=np.array(error), feedforward=np.array(feedforward), gain=gain)
        commands, _ = context.channel.commands(context.references[:-1], context.feedforward)
        self.model.learn(commands, context.outputs)
        if skip:
            self._info.clear()
            self._info.update(trial=context.trial, mismatch=mismatch, skipped=True, rho=rho, gain=gain)
            return np.array(feedforward)
        dv = self.step(error)
        self._info.update(trial=context.trial, mismatch=mismatch, skipped=False, rho=rho, gain=gain)
        target = self._q(feedforward + gain * dv, context.dt)
        if net is None:
            return target
        return net.fit(refs, target)              # the network's correction along the reference


def _reduction_ratio(before: float, predicted: float, achieved: float) -> float | None:
    """Return achieved / predicted reduction of the error energy, or None when the step predicted none.

    ``before``, ``predicted`` and ``achieved`` are the weighted error norms of
    the last trial, of the model's prediction of this trial and of this trial.
    """
    want = before ** 2 - predicted ** 2
    if not math.isfinite(want) or want <= 1e-12 * before ** 2:
        return None
    got = before ** 2 - achieved ** 2
    return got / want if math.isfinite(got) else -math.inf
