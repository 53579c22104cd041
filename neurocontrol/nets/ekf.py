r"""The (node-)decoupled extended Kalman filter over RTRL sensitivities, and the online identifier that applies it.

The weights are the state of a Kalman filter and the network's one-step
prediction its measurement (Williams 1992; Puskorius & Feldkamp 1994). With
:math:`H = \partial\hat y(t+1)/\partial\theta` from exact RTRL
(:func:`neurocontrol.nets.incremental.output_sensitivities`):

.. math::

    S = \sum_b H_b P_b H_b^T + R,\quad
    \theta_b \leftarrow \theta_b + P_b H_b^T S^{-1} e,\quad
    P_b \leftarrow P_b - P_b H_b^T S^{-1} H_b P_b + qI,

one block b per output row [A_i, V_i] and per hidden unit's incoming
weights W_k (node-decoupled), or one block for all weights (global EKF).
For a network without hidden units every block is one output row with the
regressor [y; u; 1]: the rule is recursive least squares.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive, check_real
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.nets import _incremental_kernels as _k
from neurocontrol.nets.incremental import (
    IncrementalConfig,
    check_network_memory,
    free_run,
    init_incremental_weights,
    input_jacobian,
    split_weights,
)

__all__ = ["DecoupledEKF", "GradientRule", "EKF_STATUS", "IncrementalIdentifier", "network_floats"]

#: Names of the update outcomes, by kernel status code.
EKF_STATUS = ("updated", "dead_zone", "outlier", "non_finite", "onset", "held")


class _ErrorModel:
    """What both rules share: R, the dead zone and the outlier gate (validation and R per output)."""

    def _check_error_model(self) -> None:
        r = as_float_array(self.measurement_noise, "measurement_noise")
        if r.ndim > 1 or np.any(r <= 0):
            raise ParameterError(f"`measurement_noise` must be a positive number or a vector of them, "
                                 f"got {np.array2string(r, threshold=10)}.")
        object.__setattr__(self, "measurement_noise", float(r) if r.ndim == 0 else tuple(r.tolist()))
        object.__setattr__(self, "dead_zone", check_positive(self.dead_zone, "dead_zone", allow_zero=True))
        object.__setattr__(self, "outlier_gate", check_real(self.outlier_gate, "outlier_gate", low=0.0,
                                                            low_open=True, allow_inf=True))

    def noise_vector(self, config: IncrementalConfig) -> np.ndarray:
        """R as a (p,) vector for ``config``.

        Parameters
        ----------
        config : IncrementalConfig
            The network the rule trains.
        """
        p = config.n_outputs
        if isinstance(self.measurement_noise, float):
            return np.full(p, self.measurement_noise)
        r = np.array(self.measurement_noise)
        if r.shape != (p,):
            raise ShapeError(f"`measurement_noise` must be a number or have shape ({p},) for this network, "
                             f"got {r.shape}.")
        return r


@dataclasses.dataclass(frozen=True, kw_only=True)
class DecoupledEKF(_ErrorModel):
    """The EKF learning rule: covariance prior, noise, and the guards against drift and blow-up.

    Parameters
    ----------
    measurement_noise : float or array_like of shape (p,), default 1e-4
        R, the variance of the one-step prediction error in normalised units
        (for an incremental model about twice the sensor noise variance: the
        measured y(t) and y(t+1) both carry noise).
    output_covariance : float, default 1.0
        Initial covariance of the output weights [A_i, V_i] (weak prior).
    hidden_covariance : float, default 0.01
        Initial covariance of the hidden weights W (tight prior: they start
        from a random draw that already makes useful features).
    process_noise : float, default 0.0
        q in P += q I after each update; 0 for a model evaluated frozen.
    change_gate : float or None, default None
        None or 0: q after every update. A number g >= 1: q only while the one-step
        errors signal a change of the plant: while the fast geometric mean of
        ``z = mean_i(e_i^2 / R_i)`` exceeds g times its slow geometric mean
        (exponential means of ``log z``, memories ``change_memory``);
        otherwise q = 0, so the covariance keeps closing and the weights fit
        all the data seen, not only the last seconds.
        Used by :class:`IncrementalIdentifier` (``counts["changing"]``: the
        update calls made while it was on).
    change_memory : tuple of int, default (10, 3000)
        Memories of the fast and slow means, in updates.
    max_trace : float or None, default None
        Bound on the trace of each covariance block (scaled back when
        exceeded); None: the block's initial trace.
    dead_zone : float, default 0.0
        No update while the RMS of e / sqrt(R) over the outputs is below this
        (in noise standard deviations).
    outlier_gate : float, default inf
        No update when e^T S^-1 e / p exceeds ``outlier_gate**2`` (an innovation
        of more than that many predicted standard deviations).
    decoupled : bool, default True
        One block per output row and per hidden unit (True) or one global block.

    Examples
    --------
    >>> from neurocontrol.nets.incremental import IncrementalConfig
    >>> rule = DecoupledEKF(measurement_noise=1e-4)
    >>> rule.initial_covariance(IncrementalConfig(n_outputs=2, n_inputs=1, n_hidden=3)).shape
    (5, 7, 7)
    """

    measurement_noise: float | np.ndarray = 1e-4
    output_covariance: float = 1.0
    hidden_covariance: float = 0.01
    process_noise: float = 0.0
    max_trace: float | None = None
    dead_zone: float = 0.0
    outlier_gate: float = math.inf
    decoupled: bool = True
    change_gate: float | None = None
    change_memory: tuple[int, int] = (10, 3000)

    def __post_init__(self):
        self._check_error_model()
        if self.change_gate is not None:
            gate = check_real(self.change_gate, "change_gate", low=0.0)
            if 0.0 < gate < 1.0:
                raise ParameterError(f"`change_gate` must be 0 (q at every update) or at least 1, got {gate}.")
            object.__setattr__(self, "change_gate", gate or None)
        mem = tuple(self.change_memory) if isinstance(self.change_memory, (tuple, list)) else ()
        if len(mem) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in mem) \
                or not 1 <= mem[0] < mem[1]:
            raise ParameterError(f"`change_memory` must be two whole numbers of updates, fast < slow, each at "
                                 f"least 1 (e.g. (10, 3000)), got {self.change_memory!r}.")
        object.__setattr__(self, "change_memory", (int(mem[0]), int(mem[1])))
        for name in ("output_covariance", "hidden_covariance"):
            object.__setattr__(self, name, check_positive(getattr(self, name), name))
        object.__setattr__(self, "process_noise", check_positive(self.process_noise, "process_noise",
                                                                 allow_zero=True))
        if self.max_trace is not None:
            object.__setattr__(self, "max_trace", check_positive(self.max_trace, "max_trace"))
        if not isinstance(self.decoupled, (bool, np.bool_)):
            raise ParameterError(f"`decoupled` must be True or False, got {self.decoupled!r}.")

    def initial_covariance(self, config: IncrementalConfig) -> np.ndarray:
        """Return the prior covariance blocks, (p + H, bs, bs) decoupled or (1, n, n) global.

        Parameters
        ----------
        config : IncrementalConfig
            The network the rule trains.
        """
        p, bs, n = config.n_outputs, config.block_size, config.n_weights
        diag = np.concatenate([np.full(p * bs, self.output_covariance),
                               np.full(n - p * bs, self.hidden_covariance)])
        if not self.decoupled:
            return np.diag(diag)[None, :, :].copy()
        P = np.zeros((config.n_blocks, bs, bs))
        for b in range(config.n_blocks):
            P[b] = np.diag(diag[b * bs:(b + 1) * bs])
        return P

    def trace_bounds(self, config: IncrementalConfig) -> np.ndarray:
        """Per-block trace bound: ``max_trace`` or each block's initial trace.

        Parameters
        ----------
        config : IncrementalConfig
            The network the rule trains.
        """
        P0 = self.initial_covariance(config)
        if self.max_trace is not None:
            return np.full(P0.shape[0], self.max_trace)
        return np.trace(P0, axis1=1, axis2=2).copy()

    def update(self, config: IncrementalConfig, theta: np.ndarray, covariance: np.ndarray, sensitivities,
               error) -> str:
        """Apply one EKF step in place to ``theta`` and ``covariance``; return the outcome's name.

        Parameters
        ----------
        config : IncrementalConfig
            The network's structure.
        theta : numpy.ndarray, shape (n_weights,)
            The weights, float64 C-contiguous, changed in place.
        covariance : numpy.ndarray
            From :meth:`initial_covariance` (or a previous update), changed in place; each block symmetric, as
            those are.
        sensitivities : array_like, shape (p, n_weights)
            d y_hat(t+1) / d theta.
        error : array_like, shape (p,)
            e = y(t+1) - y_hat(t+1), normalised units.

        Returns
        -------
        str
            One of :data:`EKF_STATUS`: "updated", or why nothing changed.
        """
        p, n = config.n_outputs, config.n_weights
        _check_inplace(theta, "theta", (n,))
        nblk = config.n_blocks if self.decoupled else 1
        bs = config.block_size if self.decoupled else n
        _check_inplace(covariance, "covariance", (nblk, bs, bs))
        Hm = np.ascontiguousarray(as_float_array(sensitivities, "sensitivities", (p, n), finite=False))
        e = np.ascontiguousarray(as_float_array(error, "error", (p,), finite=False))
        G, S, L, alpha, M = _ekf_buffers(p, n, bs)
        code = _k.ekf_kernel(theta, covariance, Hm, e, self.noise_vector(config), self.trace_bounds(config),
                             self.process_noise, self.dead_zone, self.outlier_gate, G, S, L, alpha, M)
        return EKF_STATUS[code]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientRule(_ErrorModel):
    r"""The RTRL gradient rule: a normalised gradient step on the one-step error over exact RTRL sensitivities.

    .. math::

        \theta \leftarrow \theta + \eta \frac{H^T R^{-1} e}{1 + \sum_i |H_i|^2 / R_i}

    with :math:`H = \partial\hat y(t+1)/\partial\theta` (the same sensitivities
    the EKF uses): normalised least mean squares, stable for a linear network
    with ``0 < learning_rate < 2``. No covariance: a first-order rule, the
    baseline the EKF is measured against.

    Parameters
    ----------
    learning_rate : float, default 0.5
        eta, in (0, 2).
    measurement_noise : float or array_like of shape (p,), default 1e-4
        R, weighting of each output's error (normalised units).
    dead_zone : float, default 0.0
        No update while the RMS of e / sqrt(R) is below this.
    outlier_gate : float, default inf
        No update when the RMS of e / sqrt(R) exceeds this.
    """

    learning_rate: float = 0.5
    measurement_noise: float | np.ndarray = 1e-4
    dead_zone: float = 0.0
    outlier_gate: float = math.inf

    def __post_init__(self):
        rate = check_positive(self.learning_rate, "learning_rate")
        if rate >= 2.0:
            raise ParameterError(f"`learning_rate` must lie in (0, 2) (normalised LMS), got {rate}.")
        object.__setattr__(self, "learning_rate", rate)
        self._check_error_model()

    def initial_covariance(self, config: IncrementalConfig) -> np.ndarray:
        """Return an empty placeholder (the rule keeps no covariance), shape (0, 0, 0).

        Parameters
        ----------
        config : IncrementalConfig
            The network the rule trains.
        """
        return np.zeros((0, 0, 0))

    def trace_bounds(self, config: IncrementalConfig) -> np.ndarray:
        """Return an empty placeholder (no covariance), shape (0,).

        Parameters
        ----------
        config : IncrementalConfig
            The network the rule trains.
        """
        return np.zeros(0)


def _check_inplace(arr, name, shape):
    if not (isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.flags.c_contiguous
            and arr.flags.writeable):
        raise ShapeError(f"`{name}` must be a writeable C-contiguous float64 array (it is updated in place), "
                         f"got {type(arr).__name__}.")
    if arr.shape != shape:
        raise ShapeError(f"`{name}` must have shape {shape}, got {arr.shape}.")


def _ekf_buffers(p, n, bs):
    """Return the scratch of :func:`~neurocontrol.nets._incremental_kernels.ekf_kernel`: G^T, S, L, alpha, M."""
    return np.empty((p, n)), np.empty((p, p)), np.empty((p, p)), np.empty(p + 1), np.empty((p + 1, bs))


def _covariance_floats(rule):
    """Return ``(n, bs) -> numbers`` of ``rule``'s covariance and the copy the growth check keeps (0: no covariance)."""
    if isinstance(rule, GradientRule):
        return lambda n, bs: 0.0
    return (lambda n, bs: 2.0 * n * bs) if rule.decoupled else (lambda n, bs: 2.0 * n * n)


def network_floats(n_outputs: int, n_inputs: int, n_hidden: int, rule) -> float:
    """Return about how many float64 numbers an :class:`IncrementalIdentifier` of this size trained by ``rule`` holds.

    Its covariance and the copy the growth check keeps (none for the gradient rule), the hidden and output
    sensitivities and the EKF's scratch, the weights (what :func:`~neurocontrol.nets.incremental.check_network_memory`
    checks).

    Parameters
    ----------
    n_outputs, n_inputs, n_hidden : int
        p, m and H of :class:`~neurocontrol.nets.incremental.IncrementalConfig`.
    rule : DecoupledEKF or GradientRule
        The rule (node-decoupled or global covariance, or none).
    """
    p, H = float(n_outputs), float(n_hidden)
    bs = H + p + n_inputs + 1.0
    n = (p + H) * bs
    return _covariance_floats(rule)(n, bs) + (2.0 * H + 2.0 * p + 3.0) * n


def _vec(x, name, n):
    if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (n,) and x.flags.c_contiguous:
        return x
    return np.ascontiguousarray(as_float_array(x, name, (n,), finite=False))


class IncrementalIdentifier:
    """An incremental recurrent network trained online by the EKF rule over exact RTRL sensitivities.

    Owns the weights, the hidden state and its sensitivities, the covariance
    blocks and the update counters; :meth:`update` is one compiled call that
    allocates nothing.

    Parameters
    ----------
    config : IncrementalConfig
        Structure and declared signal ranges (physical units in, physical out).
    rule : DecoupledEKF or GradientRule, optional
        The learning rule; default ``DecoupledEKF()``.
    rng : numpy.random.Generator or int, optional
        Seed of the initial hidden weights (needed unless ``weights`` is given).
    weights : array_like, shape (n_weights,), optional
        Initial weights, e.g. a prior model (default: a draw of
        :func:`~neurocontrol.nets.incremental.init_incremental_weights`).
        The EKF starts from them, so its estimate is pulled towards them
        with the prior covariance of the rule.
    growth_limit : float, optional
        Largest spectral radius allowed for the network's one-step state
        Jacobian ``d(y(t+1), h(t+1)) / d(y(t), h(t))`` at the latest
        transition (:meth:`spectral_radius`). Checked after every
        ``check_every``-th update; above it, the weights and covariance go
        back to those of the last check that passed (``counts["unstable"]``).
        None (default): no check.
    check_every : int, default 10
        Updates between two checks of ``growth_limit``.

    Attributes
    ----------
    bias_walk : numpy.ndarray, shape (p,)
        Variance (normalised units) added to each output row's bias weight before every EKF update: a random
        walk of an additive disturbance on that output, so the bias can follow one that comes and goes (zeros,
        the default: none). Set by the owner between updates (the neural controller sets it per step,
        docs/neural_controller.md, "Gusts"); not used by the gradient rule.

    Notes
    -----
    *Why the growth check.* An equation-error model fed noisy regressors is
    biased, and under sensor noise with little excitation the bias moves the
    weights slowly. On the helicopter in a noisy hover the one-step spectral
    radius of the neural controller's identifier crept from 1.001 to 1.04
    over 26 s (a mode growing 7x over the controller's 0.5 s horizon, where
    the plant's own is about 1.000), the predictive law's plan turned wild
    and the plant was lost. The check keeps the model from predicting such
    growth; learning goes on from the last model that passed.

    Examples
    --------
    >>> import numpy as np
    >>> cfg = IncrementalConfig(n_outputs=1, n_inputs=1, n_hidden=2)
    >>> ident = IncrementalIdentifier(cfg, rng=0)
    >>> ident.update([0.1], [0.5], [0.12])
    'updated'
    >>> ident.predict([0.1], [[0.5], [0.5]]).shape
    (2, 1)
    """

    def __init__(self, config: IncrementalConfig, rule: DecoupledEKF | GradientRule | None = None, *, rng=None,
                 weights=None, growth_limit: float | None = None, check_every: int = 10):
        if not isinstance(config, IncrementalConfig):
            raise ParameterError(f"`config` must be an IncrementalConfig, got {type(config).__name__}.")
        rule = DecoupledEKF() if rule is None else rule
        if not isinstance(rule, (DecoupledEKF, GradientRule)):
            raise ParameterError(f"`rule` must be a DecoupledEKF or a GradientRule, got {type(rule).__name__}.")
        self.config, self.rule = config, rule
        p, m, H, n = config.n_outputs, config.n_inputs, config.n_hidden, config.n_weights
        check_network_memory(p, m, H, _covariance_floats(rule))
        if weights is None:
            self._theta = init_incremental_weights(config, rng)
        else:
            self._theta = config.check_weights(weights, "weights").copy()
        self._C, self._W = split_weights(config, self._theta)
        self._P = rule.initial_covariance(config)
        self._R = rule.noise_vector(config)
        self._max_trace = rule.trace_bounds(config)
        self._h, self._h_new = np.zeros(H), np.zeros(H)
        self._Sh, self._Sh_new, self._Sy = np.zeros((H, n)), np.zeros((H, n)), np.zeros((p, n))
        self._yn, self._un, self._yn_next, self._y_hat = np.empty(p), np.empty(m), np.empty(p), np.empty(p)
        self._x, self._phi, self._d, self._e = (np.empty(config.block_size), np.empty(config.block_size),
                                                np.empty(H), np.empty(p))
        self._ekf = _ekf_buffers(p, n, max(1, self._P.shape[-1]))
        self._counts = dict.fromkeys(EKF_STATUS, 0)
        self._counts["bounded"] = 0
        self._counts["frozen"] = 0
        self._counts["unstable"] = 0
        self._counts["changing"] = 0
        # a random walk on the output rows' biases (an additive disturbance per output), variance per update
        self.bias_walk = np.zeros(p)
        self._walk_at = self._bias_positions()
        # the change detector's [fast, slow, on, updates] (DecoupledEKF.change_gate)
        self._change = np.zeros(4)
        self._onset = np.zeros(3)      # [mode, log factor, least detector count] of train_step_kernel
        self._onset_args = None        # the (onset_factor, onset_count) that _onset[1:] holds
        gate = getattr(rule, "change_gate", None)
        self._gate = None if gate is None else (math.log(gate), 1.0 / rule.change_memory[0],
                                                1.0 / rule.change_memory[1])
        self.growth_limit = None if growth_limit is None else check_positive(growth_limit, "growth_limit")
        self.check_every = check_int(check_every, "check_every", low=1)
        self._good_theta, self._good_P = self._theta.copy(), self._P.copy()   # the model of the last passed check

    # ------------------------------------------------------------------ state views
    @property
    def weights(self) -> np.ndarray:
        """All weights (n_weights,), a read-only view (layout: :func:`split_weights`)."""
        v = self._theta.view()
        v.setflags(write=False)
        return v

    @property
    def hidden(self) -> np.ndarray:
        """The hidden state h(t), a copy."""
        return self._h.copy()

    @property
    def covariance(self) -> np.ndarray:
        """The covariance blocks, a read-only view."""
        v = self._P.view()
        v.setflags(write=False)
        return v

    @property
    def last_prediction(self) -> np.ndarray:
        """One-step prediction y_hat(t+1) of the last :meth:`update` (before its weight change), physical units.

        Undefined (whatever the buffer holds) after an update that returned ``"non_finite"``.
        """
        return self._y_hat * self.config.output_half + self.config.output_mid

    @property
    def counts(self) -> dict:
        """Update counts by outcome, a copy.

        Keys: :data:`EKF_STATUS`, ``frozen`` steps, ``bounded`` blocks, growth-check reverts (``unstable``), and
        the update calls made while the change detector was on (``changing``).
        """
        return dict(self._counts)

    @property
    def changing(self) -> bool:
        """Whether the change detector is on (the next update adds the rule's process noise); False without one."""
        return self._gate is not None and self._change[2] == 1.0

    def snapshot(self) -> tuple:
        """Return copies of the weights, the covariance blocks and the counters (see :meth:`restore`)."""
        return self._theta.copy(), self._P.copy(), dict(self._counts)

    def restore(self, snapshot: tuple) -> None:
        """Put back the weights, covariance and counters of a :meth:`snapshot` of this network, in place.

        Parameters
        ----------
        snapshot : tuple
            What :meth:`snapshot` returned.
        """
        theta, P, counts = snapshot
        self._theta[...] = theta                 # in place: the kernels hold views of these buffers
        self._P[...] = P
        self._counts.update(counts)

    def restart_change_detector(self) -> None:
        """Start the change detector's means afresh at the next update, its signal off.

        For a new regime of the one-step errors that is not a change of the plant, e.g. a rise of the sensor
        noise that R follows.
        """
        self._change[:] = 0.0

    def reweigh_past(self, R_before) -> None:
        """Scale the covariance as if the updates so far had been made with today's R instead of ``R_before``.

        With no process noise the EKF's covariance is R times the inverse of the information the updates
        gathered, so updates made under an R k times too small left it k times too small, and every later
        sample counts k times less than each of them. Output row ``i``'s block is scaled by
        ``R[i] / R_before[i]``, the hidden units' blocks (their weights learn from every output) by the mean of
        those ratios, a single global block by that mean; each block stays within its trace bound.

        Parameters
        ----------
        R_before : array_like, shape (p,)
            The R the past updates used, normalised units.
        """
        if self._P.size == 0:
            return
        p = self.config.n_outputs
        ratio = self._R / as_float_array(R_before, "R_before", (p,))
        P = self._P
        if P.shape[0] == 1 and P.shape[-1] != self.config.block_size:      # one global block
            P *= float(np.mean(ratio))
        else:
            P[:p] *= ratio[:, None, None]
            P[p:] *= float(np.mean(ratio))
        trace = np.trace(P, axis1=1, axis2=2)
        over = trace > self._max_trace
        P[over] *= (self._max_trace[over] / trace[over])[:, None, None]

    def relearn(self, transitions, passes: int) -> None:
        """Learn recorded transitions again, ``passes`` times, moving the weights only.

        Each pass restarts the hidden state and its sensitivities and calls :meth:`update` on every
        ``(y, u, y_next, learn)`` of ``transitions`` in order, with no bias walk between them; afterwards the
        covariance, the counters and the change detector's means are put back as they were, so the information
        the covariance holds is that of the pass that first took the transitions in. The hidden state is the one
        the last transition leaves.

        Parameters
        ----------
        transitions : sequence of tuple
            ``(y, u, y_next, learn)`` as :meth:`update` takes them (``learn`` False: the hidden state only moves on).
        passes : int
            How many times (0: nothing).
        """
        if passes <= 0:
            return
        _, P, counts = self.snapshot()
        change, walk = self._change.copy(), self.bias_walk.copy()
        self.bias_walk[:] = 0.0
        for _ in range(passes):
            self.reset_hidden()
            for y, u, y_next, learn in transitions:
                self.update(y, u, y_next, learn=learn)
        self._P[...], self._change[...], self.bias_walk[:] = P, change, walk
        self._counts.update(counts)

    def reset_hidden(self) -> None:
        """Zero the hidden state and its sensitivities (e.g. at a new episode); weights are kept."""
        self._h[:] = 0.0
        self._Sh[:] = 0.0

    # ------------------------------------------------------------------ learning
    def update(self, y, u, y_next, *, learn: bool = True, hold: bool = False, onset_factor: float | None = None,
               onset_count: int = 50) -> str:
        """Learn from one measured transition and advance the hidden state.

        Parameters
        ----------
        y : array_like, shape (p,)
            Measured output y(t), physical units.
        u : array_like, shape (m,)
            Applied input u(t), physical units.
        y_next : array_like, shape (p,)
            Measured output y(t+1).
        learn : bool, default True
            False: only advance the hidden state (teacher forced) with the
            weights and covariance frozen; the hidden sensitivities restart
            from zero, so learning may resume later.
        hold : bool, default False
            True: compute the one-step error (it feeds the change detector,
            if any) and advance the hidden state and its sensitivities, but
            leave the weights and covariance as they are (status ``"held"``);
            EKF rule only.
        onset_factor : float, optional
            Test for the onset of sensor noise before the weight update: when
            more than half of the signals' normalised errors exceed one
            (``e_i^2 > R_i``) and their mean ``e^T R^-1 e / p`` is above
            ``onset_factor`` times the change detector's slow (geometric)
            level, nothing is learned (status ``"onset"``, as ``hold``). Needs the
            rule's change detector (``change_gate``) and at least
            ``onset_count`` errors seen by it; EKF rule only.
        onset_count : int, default 50
            See ``onset_factor``.

        Returns
        -------
        str
            The outcome (:data:`EKF_STATUS`, or ``"frozen"`` when ``learn`` is
            False); on non-finite data nothing changes.
        """
        cfg = self.config
        y = _vec(y, "y", cfg.n_outputs)
        u = _vec(u, "u", cfg.n_inputs)
        y_next = _vec(y_next, "y_next", cfg.n_outputs)
        if not learn:
            if not (math.isfinite(y.sum()) and math.isfinite(u.sum()) and math.isfinite(y_next.sum())):
                self._counts["non_finite"] += 1
                return "non_finite"
            np.subtract(y, cfg.output_mid, out=self._yn)
            self._yn /= cfg.output_half
            np.subtract(u, cfg.input_mid, out=self._un)
            self._un /= cfg.input_half
            _k.step_kernel(self._C, self._W, self._yn, self._un, self._h, self._y_hat, self._h_new, self._x,
                           self._phi)
            self._h[:] = self._h_new
            self._Sh[:] = 0.0
            self._counts["frozen"] += 1
            return "frozen"
        if hold and isinstance(self.rule, GradientRule):
            raise ParameterError("`hold` needs the EKF rule (DecoupledEKF); the gradient rule has no held update.")
        if onset_factor is not None and (isinstance(self.rule, GradientRule) or self._gate is None):
            raise ParameterError("`onset_factor` needs the EKF rule with its change detector "
                                 "(DecoupledEKF with change_gate).")
        if isinstance(self.rule, GradientRule):
            code = _k.gradient_train_step_kernel(
                self._theta, self._C, self._W, y, u, y_next, cfg.output_mid, cfg.output_half, cfg.input_mid,
                cfg.input_half, self._h, self._Sh, self._h_new, self._Sh_new, self._Sy, self._yn, self._un,
                self._yn_next, self._y_hat, self._x, self._phi, self._d, self._e, self._R, self.rule.learning_rate,
                self.rule.dead_zone, self.rule.outlier_gate)
            self._counts[EKF_STATUS[code]] += 1
            return EKF_STATUS[code]
        G, S, L, alpha, M = self._ekf
        onset = self._onset
        onset[0] = 2.0 if hold else (1.0 if onset_factor is not None else 0.0)
        if onset[0] == 1.0 and (onset_factor, onset_count) != self._onset_args:   # checked once per new pair
            onset[1] = math.log(check_positive(onset_factor, "onset_factor"))
            onset[2] = check_int(onset_count, "onset_count", low=0)
            self._onset_args = (onset_factor, onset_count)
        if not hold and self._walk_at is not None:     # predict: the biases may have moved (if any walk is set)
            _k.bias_walk_kernel(self._P, *self._walk_at, self.bias_walk)
        q = self.rule.process_noise
        if self._gate is not None:             # q only while the last innovations signalled a change
            if self._change[2] == 1.0:
                self._counts["changing"] += 1
            else:
                q = 0.0
        code = _k.train_step_kernel(self._theta, self._C, self._W, y, u, y_next, cfg.output_mid, cfg.output_half,
                                    cfg.input_mid, cfg.input_half, self._h, self._Sh, self._h_new, self._Sh_new,
                                    self._Sy, self._yn, self._un, self._yn_next, self._y_hat, self._x, self._phi,
                                    self._d, self._e, self._P, self._R, self._max_trace, q,
                                    self.rule.dead_zone, self.rule.outlier_gate, G, S, L, alpha, M, onset,
                                    self._change)
        self._counts[EKF_STATUS[code]] += 1
        if self._gate is not None and code != _k.SKIP_NON_FINITE:
            _k.change_kernel(self._e, self._R, self._change, self._gate[1], self._gate[2], self._gate[0])
        if code == _k.UPDATED:
            self._counts["bounded"] += int(alpha[-1])
            if self.growth_limit is not None and self._counts["updated"] % self.check_every == 0:
                self._check_growth()
        return EKF_STATUS[code]

    def _bias_positions(self):
        """Index of each output row's bias variance in the covariance blocks (None without a covariance)."""
        cfg = self.config
        if self._P.size == 0:
            return None
        p, bs, a = cfg.n_outputs, cfg.block_size, cfg.n_z - 1      # z = [y; u; 1]: the bias is z's last entry
        if self._P.shape[-1] != bs:                                 # one global block over every weight
            idx = np.arange(p) * bs + a
            return (np.zeros(p, dtype=np.intp), idx, idx)
        return (np.arange(p), np.full(p, a), np.full(p, a))

    def state_jacobian(self) -> np.ndarray:
        """Return ``d(y(t+1), h(t+1)) / d(y(t), h(t))`` at the latest transition, normalised, (p + H, p + H).

        With ``D = diag(1 - h(t+1)^2)``, ``C = [C_y C_u C_1 | C_h]`` and
        ``W = [W_h | W_y W_u W_1]`` (:func:`~neurocontrol.nets.incremental.split_weights`):
        ``[[I + C_y + C_h D W_y, C_h D W_h], [D W_y, D W_h]]``.
        """
        p, H = self.config.n_outputs, self.config.n_hidden
        nz = self.config.n_z
        d = 1.0 - self._h * self._h
        DW = d[:, None] * self._W                 # D [W_h | W_y ...]
        J = np.empty((p + H, p + H))
        Ch = self._C[:, nz:]
        J[:p, :p] = np.eye(p) + self._C[:, :p] + Ch @ DW[:, H:H + p]
        J[:p, p:] = Ch @ DW[:, :H]
        J[p:, :p] = DW[:, H:H + p]
        J[p:, p:] = DW[:, :H]
        return J

    def spectral_radius(self) -> float:
        """Return the largest eigenvalue modulus of :meth:`state_jacobian` (> 1: a mode that grows)."""
        with np.errstate(all="ignore"):
            J = self.state_jacobian()
            if not np.all(np.isfinite(J)):
                return math.inf
            return float(np.max(np.abs(np.linalg.eigvals(J))))

    def _check_growth(self) -> None:
        """Keep the model if its spectral radius is within the limit, else go back to the last one that was."""
        if self.spectral_radius() <= self.growth_limit:
            np.copyto(self._good_theta, self._theta)
            np.copyto(self._good_P, self._P)
            return
        np.copyto(self._theta, self._good_theta)     # in place: C and W are views of theta
        np.copyto(self._P, self._good_P)
        self._counts["unstable"] += 1

    def fit(self, outputs, inputs) -> dict:
        """One online pass over a recorded episode; returns :attr:`counts`.

        Parameters
        ----------
        outputs : array_like, shape (T + 1, p)
            Measured outputs y(0), ..., y(T).
        inputs : array_like, shape (T, m)
            Applied inputs u(0), ..., u(T-1).
        """
        cfg = self.config
        inputs = np.ascontiguousarray(as_float_array(inputs, "inputs", (None, cfg.n_inputs), finite=False))
        outputs = np.ascontiguousarray(as_float_array(outputs, "outputs", (inputs.shape[0] + 1, cfg.n_outputs),
                                                      finite=False))
        for t in range(inputs.shape[0]):
            self.update(outputs[t], inputs[t], outputs[t + 1])
        return self.counts

    # ------------------------------------------------------------------ prediction
    def predict(self, y0, inputs, hidden=None) -> np.ndarray:
        """Free-run prediction y(t+1..t+N) in physical units from the measured y(t), weights as they are.

        Parameters
        ----------
        y0 : array_like, shape (p,)
            Measured output y(t).
        inputs : array_like, shape (N, m)
            Inputs u(t), ..., u(t+N-1).
        hidden : array_like, shape (H,), optional
            h(t); default the identifier's current hidden state.

        Returns
        -------
        numpy.ndarray, shape (N, p)
        """
        out, _ = self.predict_with_jacobian(y0, inputs, hidden, jacobian=False)
        return out

    def predict_with_jacobian(self, y0, inputs, hidden=None, *, jacobian: bool = True):
        """Free-run prediction and its input Jacobian dy(t+i+1)/du(t+j), physical units.

        Parameters
        ----------
        y0 : array_like, shape (p,)
            Measured output y(t).
        inputs : array_like, shape (N, m)
            Inputs u(t), ..., u(t+N-1).
        hidden : array_like, shape (H,), optional
            h(t); default the current hidden state.
        jacobian : bool, default True
            Also compute the Jacobian (else None is returned in its place).

        Returns
        -------
        outputs : numpy.ndarray, shape (N, p)
        jacobian : numpy.ndarray, shape (N, p, N, m) or None
        """
        cfg = self.config
        yn = cfg.normalize_outputs(as_float_array(y0, "y0", (cfg.n_outputs,)))
        un = cfg.normalize_inputs(as_float_array(inputs, "inputs", (None, cfg.n_inputs)))
        h = self._h if hidden is None else hidden
        if jacobian:
            out, J = input_jacobian(cfg, self._theta, yn, un, h)
            J = J * (cfg.output_half[None, :, None, None] / cfg.input_half[None, None, None, :])
        else:
            out, _ = free_run(cfg, self._theta, yn, un, h)
            J = None
        return cfg.denormalize_outputs(out), J
