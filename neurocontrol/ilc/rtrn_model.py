r"""A recurrent network of the closed loop, trained by RTRL and an EKF over the trials, as the ILC's model.

:class:`ClosedLoopNetworkModel` is the network counterpart of
:class:`~neurocontrol.ilc.network.ClosedLoopFIRModel`: the model that
:class:`~neurocontrol.ilc.network.NormOptimalILC` inverts. It is the
incremental recurrent network of :mod:`neurocontrol.nets.incremental` (tanh
hidden units, linear incremental outputs) with the commanded set-points as
its inputs, trained online by the decoupled EKF over exact RTRL sensitivities
(:class:`~neurocontrol.nets.ekf.IncrementalIdentifier`) on every trial's
measured ``(r_c, y)``. Its weights and covariance carry over from trial to
trial: they are the trial memory.

The lifted Jacobian H of a trial is the network's free run linearised along
the trial just measured (:func:`~neurocontrol.nets.incremental.trajectory_jacobians`):
``H v`` is a forward (tangent) pass of the input change through the per-step
Jacobians and ``H^T e`` the matching backward (adjoint) pass, so H is never
formed. Because the linearisation is taken at the trial's own operating
points, H differs from trial to trial and along the trial: a nonlinear
closed loop is inverted where it was flown.

Inputs. The network steps once per block of control steps and sees the
block means of the set-point changes through a tapped delay line,
``u(k) = [dr(k); dr(k - s); ...; dr(k - (L-1) s)]`` (``L = taps``, ``s =
tap_spacing`` blocks, ``dr = r_c - y(0)``, zero before the trial), so its
linear part is a coarse impulse response and its hidden units add what
depends on the operating point (they see the outputs' changes too).

Examples
--------
>>> import numpy as np
>>> model = ClosedLoopNetworkModel(output_range=[[-1.0], [1.0]], n_hidden=2, taps=3, tap_spacing=1, seed=0)
>>> r = np.zeros((50, 1)); r[10:] = 0.5
>>> y = np.zeros((51, 1)); y[12:] = 0.5
>>> model.learn(r, y)
>>> model.matvec(np.ones((50, 1))).shape
(50, 1)
"""

from __future__ import annotations

import math

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.ilc.network import AbstractClosedLoopModel
from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier
from neurocontrol.nets.incremental import (
    IncrementalConfig,
    free_run,
    init_incremental_weights,
    split_weights,
    trajectory_jacobians,
)

__all__ = ["ClosedLoopNetworkModel"]


class ClosedLoopNetworkModel(AbstractClosedLoopModel):
    r"""The closed loop ``r_c -> y`` as an incremental RTRN trained by RTRL + EKF, kept over the trials.

    Parameters
    ----------
    output_range : array_like, shape (2, p)
        Declared ``[low, high]`` of each controlled output, physical units:
        the network's normalisation of the outputs and of the set-points (one
        set-point per output).
    n_hidden : int, default 8
        Number of tanh hidden units (0: a linear incremental model).
    block_steps : int, default 10
        The network steps once per ``block_steps`` control steps (>= 1): its
        input is the mean set-point over the block, its outputs the measured
        outputs at the blocks' ends (Notes).
    taps : int, default 15
        Length L of the set-points' tapped delay line (>= 1).
    tap_spacing : int, default 1
        Blocks s between taps (>= 1); L s blocks should cover the loop's settling time.
    measurement_noise : float, default 1e-6
        R of the EKF (normalised units): the variance of the one-step error
        it expects.
    output_covariance : float, default 1e-4
        Prior covariance of the output weights [A, V]. With R it sets the
        ridge of the fit: the EKF of a linear network is recursive least
        squares with ridge ``R / output_covariance`` (0.01 here). A weak prior
        (1.0) let the taps of a smooth set-point take large alternating
        values in the first trial (Notes).
    hidden_covariance : float, default 1e-3
        Prior covariance of the hidden weights.
    input_init_std : float, default 0.1
        Standard deviation of the hidden units' initial input weights: small,
        so that a set-point channel no trial has moved yet starts with
        nearly no path to the outputs.
    process_noise : float, default 0.0
        q of the EKF (added to the covariance after every update): above 0
        the network keeps adapting, so a loop that changes between trials
        is re-learned instead of averaged with the old trials.
    prior_lag : float or array_like of shape (p,), optional
        Time constant, in control steps, of a first-order lag per output
        that the network starts from (and is pulled towards by
        ``output_covariance``): "each output follows its own set-point",
        e.g. from the controller's reference model. It gives a set-point
        channel that no trial has moved yet a plausible path to its own
        output, instead of none (Notes). None: no prior (zero output weights).
    seed : int or numpy.random.Generator, default 0
        Draw of the initial hidden weights (a reset draws the same again).
    memory : bool, default True
        False forgets the weights before every trial (the network learns
        each trial from scratch): the ablation without trial memory.

    Attributes
    ----------
    n_trials : int
        Trials learned since the last reset.
    counts : dict
        The EKF's update counters (:attr:`IncrementalIdentifier.counts`).

    Notes
    -----
    *Blocks.* With ``b = block_steps`` the network's step k maps the mean
    set-point change over steps ``k b .. (k+1) b - 1`` to the measured output
    at step ``(k+1) b``, both relative to the rest output ``y(0)`` (so a
    channel no trial moves feeds exact zeros and keeps its prior). The lifted map of the control steps
    is ``H = I_b H_net A_b``: ``A_b`` takes block means, ``H_net`` is the
    linearised network over the blocks and ``I_b`` interpolates linearly
    between block ends (zero change at step 0, held after the last whole
    block); ``H^T = A_b^T H_net^T I_b^T``. At 100 Hz the one-step increments
    of a smooth closed loop are of the order of the sensor noise, and a
    network trained on them predicted the next trial's output change worse
    than "no change"; at 10 steps per block it predicts it as well as the
    150-tap FIR (docs/ilc.md).

    *Prior.* With ``prior_lag`` the output weights start from ``y_i(k+1) =
    y_i(k) + a_i (dr_i(k) - y_i(k))``, ``a_i = 1 - exp(-b / lag_i)``, and the
    EKF pulls the estimate towards it with ``output_covariance``. Without it
    a set-point channel that never moved has no path to any output, and after
    a change of the loop the law could correct that channel's output only
    through another channel's coupling.

    *Training.* One online pass of the decoupled EKF over the blocks of each
    trial, teacher forced (the measured output at the block start is the
    network's y(t)), with the hidden state restarted at every trial. The
    weights and covariance carry over; with ``memory=False`` they are drawn
    afresh before each trial. A pass whose weights free-run the trial just
    learned worse than the weights before it (or diverge) is undone: the
    weights and covariance go back, ``rejected`` counts it, and the trial is
    linearised with the kept weights. Without this guard, a closed loop that
    follows its set-points within a block taught the network an unstable
    output recursion on some seeds, and the law's step collapsed.
    """

    def __init__(self, output_range, *, n_hidden: int = 8, block_steps: int = 10, taps: int = 15, tap_spacing: int = 1,
                 measurement_noise: float = 1e-6, output_covariance: float = 1e-4, hidden_covariance: float = 1e-3,
                 input_init_std: float = 0.1, process_noise: float = 0.0, prior_lag=None, seed=0,
                 memory: bool = True, lead_taps: int = 0):
        rng = as_float_array(output_range, "output_range", (2, None))
        if np.any(rng[1] <= rng[0]):
            raise ParameterError(f"`output_range` must have low < high for every output, got low={rng[0].tolist()}, "
                                 f"high={rng[1].tolist()}.")
        self.output_range = rng
        self.n_hidden = check_int(n_hidden, "n_hidden", low=0)
        self.block_steps = check_int(block_steps, "block_steps", low=1)
        self.taps = check_int(taps, "taps", low=1)
        self.tap_spacing = check_int(tap_spacing, "tap_spacing", low=1)
        self.lead_taps = check_int(lead_taps, "lead_taps", low=0)
        self.measurement_noise = check_positive(measurement_noise, "measurement_noise")
        self.output_covariance = check_positive(output_covariance, "output_covariance")
        self.hidden_covariance = check_positive(hidden_covariance, "hidden_covariance")
        self.input_init_std = check_positive(input_init_std, "input_init_std", allow_zero=True)
        self.process_noise = check_positive(process_noise, "process_noise", allow_zero=True)
        if not isinstance(memory, (bool, np.bool_)):
            raise ParameterError(f"`memory` must be True or False, got {memory!r}.")
        self.memory = bool(memory)
        if seed is None:
            raise ParameterError("`seed` must be an int or a numpy Generator (every draw from an explicit seed), "
                                 "got None.")
        self._seed_state = np.random.default_rng(seed).bit_generator.state
        p = rng.shape[1]
        if prior_lag is None:
            self.prior_lag = None
        else:
            lag = as_float_array(prior_lag, "prior_lag")
            lag = np.broadcast_to(lag, (p,)) if lag.ndim == 0 else lag
            if lag.shape != (p,) or np.any(lag <= 0):
                raise ParameterError(f"`prior_lag` must be a positive number of control steps, or one per output "
                                     f"({p}), got {np.array2string(np.asarray(prior_lag))}.")
            self.prior_lag = tuple(float(v) for v in lag)
        half = 0.5 * (rng[1] - rng[0]) * np.array([[-1.0], [1.0]])      # changes: centred on zero
        n_taps = self.taps + self.lead_taps
        self.config = IncrementalConfig(n_outputs=p, n_inputs=p * n_taps, n_hidden=self.n_hidden,
                                        input_init_std=self.input_init_std, output_range=half,
                                        input_range=np.tile(half, (1, n_taps)))
        self.reset()

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget every trial: fresh weights (the same draw as at construction) and the prior covariance."""
        gen = np.random.default_rng()
        gen.bit_generator.state = self._seed_state
        rule = DecoupledEKF(measurement_noise=self.measurement_noise, output_covariance=self.output_covariance,
                            hidden_covariance=self.hidden_covariance, process_noise=self.process_noise)
        theta = init_incremental_weights(self.config, gen)
        if self.prior_lag is not None:              # y(k+1) = y(k) + a (dr(k) - y(k)) per output, in blocks
            C, _ = split_weights(self.config, theta)
            p = self.config.n_outputs
            for i, lag in enumerate(self.prior_lag):
                a = 1.0 - np.exp(-self.block_steps / lag)
                C[i, i] -= a                        # on y_i (z starts with y)
                C[i, p + i] += a                    # on the newest tap of set-point i
        self.network = IncrementalIdentifier(self.config, rule, weights=theta)
        self.n_trials = 0
        self.rejected = 0
        self._F = self._G = None
        self._T, self._interp = 0, None
        self._norm_cache = {}

    def __repr__(self):
        lo, hi = self.output_range
        return (f"{type(self).__name__}(output_range=[{lo.tolist()}, {hi.tolist()}], n_hidden={self.n_hidden}, "
                f"block_steps={self.block_steps}, taps={self.taps}, tap_spacing={self.tap_spacing}, "
                f"lead_taps={self.lead_taps}, "
                f"prior_lag={self.prior_lag}, memory={self.memory})")

    @property
    def counts(self) -> dict:
        """The EKF's update counters, a copy."""
        return self.network.counts

    def check(self, *, n_channels, n_outputs):
        """Raise a ShapeError unless there is one set-point per output and the range matches.

        Parameters
        ----------
        n_channels, n_outputs : int
            Feedforward channels c and controlled outputs p of the loop.
        """
        p = self.output_range.shape[1]
        if n_channels != n_outputs or n_outputs != p:
            raise ShapeError(f"the closed-loop network needs one set-point per output and `output_range` for "
                             f"each, got {n_channels} channels, {n_outputs} outputs and ranges for {p}.")

    # ----------------------------------------------------------------- inputs through the delay line
    def tapped(self, commands, rest=None) -> np.ndarray:
        """Return the network's inputs for a trial's set-points: the tapped delay line, shape (T, p (L + F)).

        Columns ``j p .. (j + 1) p`` hold the set-points ``j s`` blocks back
        (j < L), then ``1 s, ..., F s`` blocks ahead (F = ``lead_taps``; the
        last row held beyond the end of the trial, as a previewing
        controller holds it).

        Parameters
        ----------
        commands : array_like, shape (T, p)
            r_c(0)..r_c(T-1), or a change of them.
        rest : array_like, shape (p,), optional
            The set-point before the trial (default zeros: a change of the
            set-points is zero before the trial).

        Returns
        -------
        numpy.ndarray
        """
        r = as_float_array(commands, "commands", (None, self.output_range.shape[1]))
        T, p = r.shape
        s, L = self.tap_spacing, self.taps
        before = np.zeros(p) if rest is None else as_float_array(rest, "rest", (p,))
        padded = np.vstack([np.repeat(before[None, :], (L - 1) * s, axis=0), r])
        start = (L - 1) * s
        cols = [padded[start - j * s:start - j * s + T] for j in range(L)]
        if self.lead_taps:
            ahead = np.vstack([r, np.repeat(r[-1:], self.lead_taps * s, axis=0)])
            cols += [ahead[j * s:j * s + T] for j in range(1, self.lead_taps + 1)]
        return np.hstack(cols)

    def _fold(self, g: np.ndarray) -> np.ndarray:
        """Adjoint of :meth:`tapped` for a change: (T, p (L + F)) gradients on the taps -> (T, p) on the set-points."""
        T = g.shape[0]
        p = self.output_range.shape[1]
        out = np.zeros((T, p))
        for j in range(self.taps):
            lag = j * self.tap_spacing
            if lag < T:
                out[:T - lag] += g[lag:, j * p:(j + 1) * p]
        for j in range(1, self.lead_taps + 1):        # column L - 1 + j: the set-points j s blocks ahead
            lead, col = j * self.tap_spacing, (self.taps - 1 + j) * p
            gj = g[:, col:col + p]
            if lead < T:
                out[lead:] += gj[:T - lead]
            out[T - 1] += gj[max(T - lead, 0):].sum(axis=0)    # beyond the end: the last row, held
        return out

    # ----------------------------------------------------------------- blocks
    def blocks(self, n_steps: int) -> int:
        """Return the number of whole blocks in a trial of ``n_steps`` control steps (>= 1).

        Parameters
        ----------
        n_steps : int
            Control steps T of the trial.

        Returns
        -------
        int

        Raises
        ------
        ShapeError
            If the trial is shorter than one block.
        """
        nb = check_int(n_steps, "n_steps", low=1) // self.block_steps
        if nb < 1:
            raise ShapeError(f"a trial of {n_steps} steps is shorter than one block of the closed-loop network "
                             f"({self.block_steps} steps); lower `block_steps`.")
        return nb

    def block_means(self, signal) -> np.ndarray:
        """Return the mean of each whole block, shape (T // block_steps, p) (a trailing part block is dropped).

        Parameters
        ----------
        signal : array_like, shape (T, p)
        """
        x = as_float_array(signal, "signal", (None, None))
        nb, b = self.blocks(x.shape[0]), self.block_steps
        return x[:nb * b].reshape(nb, b, x.shape[1]).mean(axis=1)

    def _interpolation(self, n_steps: int):
        """Sparse (T, nb) map from the changes at the block ends y(b), y(2b), ... to y(1)..y(T).

        Linear between block ends (the change at y(0) is zero), held after the last.
        """
        from scipy.sparse import csr_matrix

        nb, b = self.blocks(n_steps), self.block_steps
        tau = np.arange(1, n_steps + 1)
        j = np.minimum(tau // b, nb)                       # block end at or before tau
        w = np.where(j < nb, (tau - j * b) / b, 0.0)       # weight of the next block end
        rows, cols, vals = [], [], []
        has_prev = j >= 1
        rows.append(tau[has_prev] - 1), cols.append(j[has_prev] - 1), vals.append(1.0 - w[has_prev])
        has_next = w > 0
        rows.append(tau[has_next] - 1), cols.append(j[has_next]), vals.append(w[has_next])
        return csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n_steps, nb))

    # ----------------------------------------------------------------- learning (learn: the base class)
    def _learn_impl(self, commands, outputs):
        """Train the network on one trial (one online RTRL + EKF pass) and linearise it along the trial."""
        T, c = commands.shape
        self.check(n_channels=c, n_outputs=outputs.shape[1])
        if not self.memory and self.n_trials:
            self.reset()
        nb, b = self.blocks(T), self.block_steps
        u = self.tapped(self.block_means(commands) - outputs[0])       # set-points relative to the rest output
        y = outputs[:nb * b + 1:b] - outputs[0]                        # outputs too
        net, cfg = self.network, self.config
        before = net.snapshot()
        net.reset_hidden()
        net.fit(y, u)
        self.n_trials += 1
        yn, un = cfg.normalize_outputs(y), cfg.normalize_inputs(u)
        if not self._free_run_error(net.weights, yn, un) <= self._free_run_error(before[0], yn, un):
            net.restore(before)                 # the pass made the free run worse on its own trial: keep the old
            self.rejected += 1
        self._F, self._G = trajectory_jacobians(cfg, net.weights, cfg.normalize_outputs(y[:-1]),
                                                cfg.normalize_inputs(u))
        self._T = T
        self._interp = self._interpolation(T)
        self._norm_cache = {}

    def _free_run_error(self, theta, y, u) -> float:
        """RMS error of the free run with weights ``theta`` on a trial's normalised (y, u); inf if it diverges."""
        with np.errstate(all="ignore"):
            out, _ = free_run(self.config, theta, y[0], u)
            err = float(np.sqrt(np.mean((out - y[1:]) ** 2)))
        return err if math.isfinite(err) else math.inf

    def _linearisation(self):
        if self._F is None:
            raise ParameterError("the closed-loop network has not learned a trial yet; call `learn` first "
                                 "(NormOptimalILC does before its first update).")
        return self._F, self._G

    # ----------------------------------------------------------------- the lifted Jacobian
    def matvec(self, feedforward):
        """Return ``H v``: the change of the outputs y(1)..y(T) for a change v of the set-points.

        Parameters
        ----------
        feedforward : array_like, shape (T, p)
            v(0)..v(T-1), with T the length of the trial learned last.

        Returns
        -------
        numpy.ndarray, shape (T, p)
        """
        F, G = self._linearisation()
        p = self.config.n_outputs
        v = as_float_array(feedforward, "feedforward", (self._T, p))
        u = self.tapped(self.block_means(v)) / self.config.input_half
        s = np.zeros(F.shape[1])
        out = np.empty((F.shape[0], p))
        for t in range(F.shape[0]):
            s = F[t] @ s + G[t] @ u[t]
            out[t] = s[:p]
        return self._interp @ (out * self.config.output_half)

    def rmatvec(self, error):
        """Return ``H^T e``, the adjoint pass (backward through the trial).

        Parameters
        ----------
        error : array_like, shape (T, p)
            e(1)..e(T).

        Returns
        -------
        numpy.ndarray, shape (T, p)
        """
        F, G = self._linearisation()
        p = self.config.n_outputs
        e = (self._interp.T @ as_float_array(error, "error", (self._T, p))) * self.config.output_half
        lam = np.zeros(F.shape[1])
        g = np.empty((F.shape[0], G.shape[2]))
        for t in range(F.shape[0] - 1, -1, -1):
            lam[:p] += e[t]
            g[t] = G[t].T @ lam
            lam = F[t].T @ lam
        gb = self._fold(g / self.config.input_half) / self.block_steps       # on the block means
        out = np.zeros((self._T, p))
        nb = gb.shape[0]
        out[:nb * self.block_steps] = np.repeat(gb, self.block_steps, axis=0)
        return out

    def norm_bound(self, output_scale=None):
        """Return ``||S H||_2`` of the current linearisation, estimated by 30 power iterations, +5 %.

        An estimate for the trial learned last (H changes with the trial),
        not a bound for every trial length; the law uses it only to scale
        its regularisation.

        Parameters
        ----------
        output_scale : array_like, shape (p,), optional
            S = diag(output_scale) (default: S = I).

        Returns
        -------
        float
        """
        F, _ = self._linearisation()
        p = self.config.n_outputs
        scale = np.ones(p) if output_scale is None else as_float_array(output_scale, "output_scale", (p,))
        key = tuple(scale.tolist())
        if key not in self._norm_cache:
            x = np.random.default_rng(0).normal(size=(self._T, p))
            sigma = 0.0
            for _ in range(30):
                x /= max(np.linalg.norm(x), np.finfo(float).tiny)
                y = self.matvec(x) * scale
                sigma = float(np.linalg.norm(y))
                x = self.rmatvec(y * scale)
            self._norm_cache[key] = 1.05 * sigma
        return self._norm_cache[key]
