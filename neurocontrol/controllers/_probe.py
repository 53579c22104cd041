"""Probing after the warm-up: a small APRBS on the inputs while a steady tracking offset persists (``probe``).

Near a steady state the one-step data of a closed loop say little about the inputs' long-run effect, and a
predictive law over a model with the wrong input gains converges to a steady offset slowly or never
(docs/neural_controller.md, "The CSTR's misses"). The probe adds an amplitude-modulated pseudo-random binary
sequence to the synthesised input while the mean tracking error over the last horizon is not near zero:

- each input's level is such that the identifier's response at the horizon to a held step of that size is
  ``effect`` of the outputs' half range (at most :data:`PROBE_CAP` of the input's half range), scaled by
  ``min(1, offset / (PROBE_OFFSET effect))``, ``offset`` the largest mean normalised tracking error over the last
  horizon; so the probe's own expected effect on the outputs is at most a fifth of the offset that calls it, and
  it fades as the offset does;
- only once the set-points have held still for a whole horizon (an offset, not a transient after a step; a
  moving reference is never probed);
- each level is held for a random number of steps between a fifth of the horizon and the horizon, with a random
  sign and a magnitude of 0.5-1 times the level;
- no probe while any measured signal shows sensor noise (its offset is then not what calls for probing), nor
  once the identifier has stopped learning (``learning_until``: there is nothing left to inform);
- the probe is kept out of the input the next plan starts from (the controller subtracts it from the applied
  input), while the identifier learns from the input actually applied.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PROBE_CAP", "PROBE_DEFAULT", "PROBE_OFFSET", "Probe"]

#: The default ``probe``: the probe's response at the horizon, fraction of the outputs' half range.
PROBE_DEFAULT = 3e-3
#: The largest probe level, fraction of each input's half range.
PROBE_CAP = 0.03
#: The probe has its full level while the offset is at least this many times ``effect``.
PROBE_OFFSET = 5.0


class Probe:
    """The probe's state and its level per step (normalised input units).

    Parameters
    ----------
    effect : float
        Target response at the horizon, fraction of the outputs' half range (> 0).
    n_inputs, n_outputs : int
        Inputs and controlled outputs.
    horizon : int
        The synthesiser's horizon, control steps: the window of the offset and the longest hold.
    """

    def __init__(self, effect: float, n_inputs: int, n_outputs: int, horizon: int):
        self.effect = float(effect)
        self.n_inputs, self.window = int(n_inputs), int(horizon)
        #: [steps the level is held still, levels drawn, ring position, errors held, the level per input (m),
        #: the last step's set-points (p; NaN: none yet)]
        self.state = np.zeros(4 + self.n_inputs + int(n_outputs))
        #: The last ``horizon`` normalised tracking errors (a ring).
        self.err = np.zeros((self.window, int(n_outputs)))
        #: Four 32-bit words drawn from the reset's seed; level i is drawn from ``default_rng([*key, i])``.
        self.key = np.zeros(4)

    def reset(self, seed: np.random.SeedSequence) -> None:
        """Start again with no level and no errors; the levels' draws come from ``seed``."""
        self.key[:] = np.random.default_rng(seed).integers(0, 2 ** 32, 4)
        self.state[:] = 0.0
        self.state[4 + self.n_inputs:] = np.nan
        self.err[:] = 0.0

    def restart(self) -> None:
        """Forget the errors and draw a new level at the next step (a new trial); the draws go on.

        The last level stays in :attr:`level` until then, so the next plan still starts from the law's input.
        """
        self.state[0] = self.state[2] = self.state[3] = 0.0
        self.state[4 + self.n_inputs:] = np.nan
        self.err[:] = 0.0

    def at_rest(self) -> bool:
        """Whether the set-points have held for a whole window and every mean error over it is below ``effect``."""
        return bool(self.state[3] >= self.window and self._offset() < self.effect)

    def _offset(self) -> float:
        """Return the largest absolute mean error over the window."""
        return float(np.max(np.abs(self.err.mean(axis=0))))

    @property
    def level(self) -> np.ndarray:
        """The level applied at the last step, per input (normalised: a fraction of the input's half range)."""
        return self.state[4:4 + self.n_inputs]

    def step(self, error: np.ndarray, reference: np.ndarray, on: bool, horizon_gain) -> np.ndarray:
        """Record this step's tracking error and return the probe level to add (normalised units, shape (m,)).

        Parameters
        ----------
        error : numpy.ndarray, shape (p,)
            Measured (blended) output minus set-point, each over its half range.
        reference : numpy.ndarray, shape (p,)
            This step's set-points: when any differs from the last step's, the errors start again.
        on : bool
            Whether probing may go on (the controller: every measured signal counts as noise-free and the
            identifier learns the next transition).
        horizon_gain : callable
            Returns the identifier's response at the horizon to a held unit step of each input (normalised
            units, shape (p, m)); called only when a level is drawn (no level from a non-finite one).
        """
        s, w, m = self.state, self.window, self.n_inputs
        last = s[4 + m:]
        if not np.array_equal(reference, last):      # a set-point moved (NaN at the start: always)
            s[2] = s[3] = 0.0
            last[:] = reference
        pos = int(s[2])
        self.err[pos] = error
        s[2] = (pos + 1) % w
        s[3] = min(s[3] + 1.0, w)
        if not on or s[3] < w:
            s[0] = 0.0
            s[4:4 + m] = 0.0
            return s[4:4 + m]
        if s[0] <= 0.0:
            gain = np.max(np.abs(horizon_gain()), axis=0)
            if not np.all(np.isfinite(gain)):
                s[4:4 + m] = 0.0
                return s[4:4 + m]
            offset = self._offset()                                     # the window is full here
            top = np.minimum(PROBE_CAP, self.effect / np.maximum(gain, 1e-9))
            amp = top * min(1.0, offset / (PROBE_OFFSET * self.effect))
            rng = np.random.default_rng([*self.key.astype(np.int64).tolist(), int(s[1])])
            s[1] += 1.0
            sign = np.where(rng.random(m) < 0.5, -1.0, 1.0)
            s[4:4 + m] = amp * sign * rng.uniform(0.5, 1.0, m)
            s[0] = float(rng.integers(max(1, w // 5), w + 1))
        s[0] -= 1.0
        return s[4:4 + m]
