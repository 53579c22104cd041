"""The neural controller's warm-up: its excitation, and the check that ends it once the identifier predicts it.

With ``NeuralController(..., warmup_check=c)``, ``c > 0``, the warm-up does not end after a fixed time.
At its planned end, and every :data:`CHECK_EVERY` steps after it, the
identifier's free runs over the synthesiser's horizon, started every half
horizon along the warm-up so far from the recorded states and fed the inputs
that were applied, are compared with what was measured; the predictive law
takes over when their pooled RMS error is at most ``c`` times that of "every
signal stays where it was" over the same stretches (both in the identifier's
normalised units), and at the latest after ``warmup_max_duration``. A model that learned one-step transitions in
a tight loop without learning how the inputs move the plant fails it; so
does a model whose free run grows without bound.

With ``warmup_replay = n``, ``n > 0``, the identifier learns the warm-up's recorded transitions ``n`` more times
at the hand-over (:meth:`WarmupHandover._replay_warmup`): one online pass of the EKF over a few time constants of
data leaves a slow plant's long-run gains far from converged, and further passes move them nearer.

A warm-up flown without a warm-up controller (the nominal input plus excitation, open loop) holds its excitation
back, at the nominal input, on every step at which a controlled output is beyond :data:`EXCITATION_BACKOFF` of its
declared half range from the middle of the range.
"""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import check_positive
from neurocontrol.controllers.generic import has_model
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets.incremental import free_run
from neurocontrol.reference import aprbs

__all__ = ["CHECK_EVERY", "EXCITATION_BACKOFF", "WarmupHandover", "recorded_transitions", "unchecked_reason"]

#: Steps between two checks once the planned warm-up has ended.
CHECK_EVERY = 10
#: An open-loop warm-up's excitation is held back while a controlled output is beyond this fraction of its
#: declared half range from the middle (normalised units).
EXCITATION_BACKOFF = 0.8


def recorded_transitions(states, inputs, learn, k: int) -> list:
    """Return the recorded transitions ``(states[t-1], inputs[t-1], states[t], learn[t])``, t = 1..``k``, to replay.

    Only those whose three rows are finite: the ones the online pass took in (a lost sample, or a non-finite rate
    lag, left a NaN row, and the online pass skipped that transition). The warm-up's replays and re-identification's
    hand-back (:mod:`neurocontrol.controllers._reidentify`) take them to
    :meth:`~neurocontrol.nets.ekf.IncrementalIdentifier.relearn`.
    """
    return [(states[t - 1], inputs[t - 1], states[t], bool(learn[t])) for t in range(1, k + 1)
            if np.isfinite(states[t - 1]).all() and np.isfinite(inputs[t - 1]).all() and np.isfinite(states[t]).all()]


class WarmupHandover:
    """Warm-up excitation and hand-over check of :class:`~neurocontrol.controllers.neural.NeuralController` (a mixin).

    Uses the controller's config, identifier, input limits and taps;
    ``_warmup_steps`` is the planned warm-up and ``_warmup_max`` the longest
    (equal without the check).
    """

    #: The last check's ratio (free-run error over persistence error), None before a check.
    warmup_fit: float | None = None

    def _set_warmup_check(self, check: float, longest: float | None) -> None:
        """Validate the check's settings and size the longest warm-up (at construction)."""
        self.warmup_check = check_positive(check, "warmup_check", allow_zero=True)
        planned = self._warmup_steps * self.dt
        if longest is not None and not check_positive(longest, "warmup_max_duration", unit="s") >= planned - 1e-12:
            raise ParameterError(f"`warmup_max_duration` ({longest} s) must be at least the warm-up's "
                                 f"{planned:g} s, or None (5 times it).")
        longest = 5.0 * planned if longest is None else longest
        self._warmup_max = max(self._warmup_steps, int(round(longest / self.dt))) if self.warmup_check > 0 \
            else self._warmup_steps

    def _start_warmup(self, rng) -> None:
        """Draw the excitation for the longest warm-up and clear the check's records (at reset)."""
        cfg, m = self.config, self.n_inputs

        def draw(n):
            return np.column_stack([aprbs(n, low=-self._amp[a] - 1e-12, high=self._amp[a] + 1e-12,
                                          min_hold=int(cfg.excitation_min_hold[a]),
                                          max_hold=int(cfg.excitation_max_hold[a]), rng=rng, n_channels=1)[:, 0]
                                    for a in range(m)])

        # the planned warm-up's draws first: without the check (or when it passes at once) the run is unchanged
        parts = [draw(self._n_warmup)] if self._n_warmup > 0 else [np.zeros((0, m))]
        if self._warmup_max > self._n_warmup:
            parts.append(draw(self._warmup_max - self._n_warmup))
        self._excitation = np.vstack(parts)
        rows = self._warmup_max + 1 if self._warmup_max > self._warmup_steps or self._replay > 0 else 0
        self._wu_x = np.full((rows, self._n_sig), np.nan)
        self._wu_u = np.full((rows, m * self._taps), np.nan)
        self._wu_h = np.zeros((rows, self._id_cfg.n_hidden))
        self.warmup_fit = None

    def _warmup_goes_on(self, k: int, x: np.ndarray) -> bool:
        """Whether step ``k`` (state ``x``) is still warm-up; records it and, at the planned end, checks the model."""
        if self._mode == "warmup" and k < self._wu_x.shape[0]:
            self._wu_x[k] = x
            self._wu_h[k] = self.identifier._h
            if k > 0:
                self._wu_u[k - 1] = self._u_prev            # the input taps applied at step k - 1
            if self._n_warmup <= k < self._warmup_max:      # the planned end (or the first finite step after it)
                self.warmup_fit = self._warmup_fit(k)
                if not self.warmup_fit <= self.warmup_check:      # a NaN fit fails too
                    self._n_warmup = min(k + CHECK_EVERY, self._warmup_max)
        return k < self._n_warmup

    def _replay_warmup(self, k: int) -> None:
        """Learn the warm-up's transitions 1..``k`` again, ``warmup_replay`` times (at the hand-over, step ``k``).

        Each pass restarts the identifier's hidden state and sensitivities and takes in, in order, every
        transition the online pass took in (the finite ones; those ``learning_until`` froze only advance the
        hidden state, as they did online), so the last pass ends with the hidden state at step ``k``
        (:meth:`~neurocontrol.nets.ekf.IncrementalIdentifier.relearn`: the replays move the weights only). Nothing is
        replayed when the hand-over comes after the records end (a lost sample at the end of the longest warm-up).
        """
        if self._replay <= 0 or k >= self._wu_x.shape[0]:
            return
        learn = [self._learning(t) for t in range(k + 1)]
        self.identifier.relearn(recorded_transitions(self._wu_x, self._wu_u, learn, k), self._replay)

    def _open_loop_input(self, k: int, x: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Return the input of open-loop warm-up step ``k``, state ``x``.

        The nominal input (moved with the reference by the feed-forward gain, within the limits) plus the
        excitation, held back while a controlled output is near the end of its declared range.
        """
        nominal = self._nominal if self._ff_gain is None else np.clip(
            self._nominal + self._ff_gain @ (reference - self._ff_r0), self.input_limits[:, 0], self.input_limits[:, 1])
        return self._held_back(x, nominal, k)

    def _held_back(self, x: np.ndarray, nominal: np.ndarray, j: int) -> np.ndarray:
        """Return ``nominal`` plus the excitation's row ``j``, held back near the end of a controlled output's range.

        Held back while a controlled output of ``x`` is beyond :data:`EXCITATION_BACKOFF` of its declared half range
        (the open-loop warm-up's rule, and re-identification's).
        """
        cfg, o = self._id_cfg, self._out_idx
        near = np.max(np.abs(x[o] - cfg.output_mid[o]) / cfg.output_half[o]) > EXCITATION_BACKOFF
        return nominal + (0.0 if near else 1.0) * self._excitation[j]

    def _warmup_fit(self, k: int) -> float:
        """Horizon-long free runs over the warm-up: their RMS error over persistence's (inf: too few finite steps).

        Free runs of the synthesiser's horizon N (shorter if the records are)
        start every N/2 steps from the first step after the last non-finite
        record, each from its recorded state and hidden state with the applied
        inputs; the errors and the persistence errors are pooled over all.
        """
        X, U = self._wu_x[:k + 1], self._wu_u[:k]
        bad = ~np.isfinite(X).all(axis=1)
        bad[1:] |= ~np.isfinite(U).all(axis=1)             # y(t+1) needs u(t)
        s = int(np.flatnonzero(bad)[-1]) + 1 if bad.any() else 0
        if k - s < CHECK_EVERY:
            return float("inf")
        cfg = self._id_cfg
        xs, us = cfg.normalize_outputs(X), cfg.normalize_inputs(U)
        n = min(self.law.horizon, k - s)
        err = base = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for a in range(s, k - n + 1, max(n // 2, 1)):
                pred, _ = free_run(cfg, self.identifier.weights, xs[a], us[a:a + n], self._wu_h[a])
                err += float(np.sum((pred - xs[a + 1:a + n + 1]) ** 2))
                base += float(np.sum((xs[a + 1:a + n + 1] - xs[a]) ** 2))
        return float(np.sqrt(err / base)) if base > 0.0 else float("inf")

    def _check_settings(self) -> dict:
        """Return the check's entries of ``derived_settings()`` (none without the check)."""
        if self._warmup_max == self._warmup_steps:
            return {}
        return {"warmup_max_steps": self._warmup_max, "warmup_check": self.warmup_check}


def unchecked_reason(config, env, trim) -> str | None:
    """Return why the plant's stability was not checked for a warm-up flown without feedback (None: checked, stable).

    Parameters
    ----------
    config : NeuralControllerConfig
        The settings :func:`~neurocontrol.controllers.neural.build_neural` built the controller with.
    env : gymnasium.Env
        The plant.
    trim : Trim or None
        The trim of the env's python-control model it read (None: none).
    """
    if config.warmup_duration <= 0:
        return "no warm-up: `warmup_duration = 0`"
    if not config.auto_warmup:
        return "`auto_warmup = false`"
    if config.plant_model == "identified":
        return None if trim is not None and trim.stable() else "the identification experiment gave no stable model"
    if not config.reads_plant_model:
        return "`plant_model = false`"
    if not has_model(env):
        return "the env has no python-control model"
    if trim is None:
        return "the env's python-control model has no trim that holds the set-point"
    return None
