"""Sensor noise in the neural controller: R from the noise estimate, the onset hold and the quiet signals (a mixin).

docs/neural_controller.md, "Sensor noise", "Long runs under sensor noise" and "The onset of sensor noise".
"""

from __future__ import annotations

import numpy as np

from neurocontrol.controllers._kernels import count_below_kernel, set_walk_kernel

__all__ = ["SensorNoise", "WALK_QUIET", "ONSET_FACTOR", "ONSET_COUNT", "ONSET_COOLDOWN", "ONSET_SIGNALS"]

#: A signal counts as noise-free for the bias walk (``disturbance_walk``) and the onset test (``onset_hold``) while
#: its estimated sensor-noise variance is below this fraction of the EKF's R floor (docs/neural_controller.md, "Gusts").
WALK_QUIET = 2e-3

#: The onset of sensor noise (``onset_hold``): the mean normalised one-step error must exceed the change detector's
#: slow level by this factor, once the detector has seen ``ONSET_COUNT`` errors; after a hold that ends without a
#: rise of the noise, no new one starts for ``ONSET_COOLDOWN`` steps (docs/neural_controller.md, "The onset of
#: sensor noise").
ONSET_FACTOR = 100.0
ONSET_COUNT = 50
ONSET_COOLDOWN = 200
#: The onset test needs at least this many measured signals: with fewer, a plant change moves most of them at once too.
ONSET_SIGNALS = 3


class SensorNoise:
    """The neural controller's handling of sensor noise.

    A mixin of :class:`~neurocontrol.controllers.neural.NeuralController`: its filter, identifier, R floor and
    counters.
    """

    def _noise_r_step(self, k) -> None:
        """Set the EKF's R from the noise estimate once the noise window holds no warm-up step (step ``k``).

        A rise of the noise is no plant change: the change detector restarts. At the first such step the
        updates made before at R's floor are reweighed to the R measured
        (:meth:`~neurocontrol.nets.ekf.IncrementalIdentifier.reweigh_past`): the rows whose R was still at the
        floor, so not again at a later trial's start, where R is the one the trials before measured.
        """
        f, ident = self.filter, self.identifier
        if self._noise_r > 0.0 and k >= self._n_warmup + f.window:
            first = k == self._n_warmup + f.window
            before = ident._R.copy() if first else None
            if f._scaled_r(self._R0, self._noise_r, ident._R):
                ident.restart_change_detector()
            if first:
                floor = before <= self._R0
                if np.any(floor & (ident._R > before)):
                    ident.reweigh_past(np.where(floor, before, ident._R))

    def _onset_plan(self, k):
        """Return ``(hold, onset_factor)`` of this step's update (``onset_hold``), advancing the hold's counters.

        During a hold nothing is learned. When the filter finds the noise risen, the hold lasts until the rise is
        over (the window's noise estimate has caught up, and R with it); when the hold's steps are over first, it
        was a change of the plant: learning goes on and a cool-down follows, in which no hold starts. Otherwise
        the update tests for an onset once the noise window holds no warm-up step, no rise is on and most signals
        count as noise-free (their estimated noise variance below ``WALK_QUIET`` of the R floor): under noise R
        already follows the noise, and a gust moves most signals' errors at once.
        """
        hold = self._hold
        rise = self.filter.rising
        if hold[0] < 0.0:                  # the rise was seen: held until it is over (R then from the new noise)
            if rise:
                return True, None
            hold[0] = 0.0
            return False, None
        if hold[0] > 0.0:
            if rise:
                hold[0] = -1.0
                return True, None
            hold[0] -= 1.0
            if hold[0] == 0.0:
                hold[1] = ONSET_COOLDOWN
            return True, None
        if hold[1] > 0.0:
            hold[1] -= 1.0
            return False, None
        armed = not rise and k - 1 >= self._n_warmup + self.filter.window and \
            2 * count_below_kernel(self.filter.noise_var, self._quiet) > self._quiet.size
        return False, (ONSET_FACTOR if armed else None)

    def _set_walk(self, ready, noise_var, walk):
        """Set the bias walk of the next update: the walk rows whose estimated noise is below the quiet level.

        No walk while the filter finds the noise risen (its estimate lags a rise; the walked bias would follow it).
        """
        set_walk_kernel(ready and not self.filter.rising, self._walk_rows, noise_var, self._walk_quiet, self._walk_q,
                        walk)

    def _noise_free(self, k) -> bool:
        """Whether every signal's noise estimate, once it holds no warm-up step (at step ``k``), is below quiet."""
        return k >= self._n_warmup + self.filter.window and bool(np.all(self.filter.noise_var < self._quiet))
