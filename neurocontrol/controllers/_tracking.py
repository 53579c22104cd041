"""What the neural controller's synthesiser tracks: the controlled outputs and, weighted, their rates."""

from __future__ import annotations

import numpy as np

from neurocontrol.controllers._kernels import count_at_least_kernel
from neurocontrol.exceptions import ParameterError

__all__ = ["RATE_WEIGHT_DEFAULT", "Tracking"]

#: The default ``rate_weights``: the tracking weight of each controlled output's measured rate (``rate_indices``).
RATE_WEIGHT_DEFAULT = 0.3


class Tracking:
    """The tracked entries and weights of :class:`~neurocontrol.controllers.neural.NeuralController` (a mixin).

    Each controlled output is tracked with its ``output_weights`` entry (1 by default) and, with a positive
    ``rate_weights`` entry, its rate against the reference model's rate: the measured rate (``rate_indices``) or,
    on a plant with rate lags, the output's backward difference (the first lag block). ``rate_weights`` None:
    :data:`RATE_WEIGHT_DEFAULT` on each output whose rate is measured, 0 on the others (docs/neural_controller.md,
    "Tracking the measured rates").
    """

    def _set_tracking(self, law, n_lags: int) -> None:
        """Set ``_tracked``, ``_weights`` (and ``_weights_off``, its rates at 0), ``_rate_rows``, ``_rate_cols``."""
        out, p = list(self.output_indices), len(self.output_indices)
        # each controlled output's rate among the networks' signals: the measured rate, else its backward
        # difference when the lags are rates, else none (-1)
        rate_sig = np.array([j if j >= 0 else (self._n_obs + o if self._lag_rates and n_lags > 0 else -1)
                             for o, j in zip(out, self._rate_idx)], dtype=np.int64)
        ow = np.ones(p) if law.output_weights is None else np.asarray(law.output_weights)
        rw = np.where(np.asarray(self._rate_idx) >= 0, RATE_WEIGHT_DEFAULT, 0.0) if law.rate_weights is None else \
            np.asarray(law.rate_weights)
        if ow.shape != (p,) or rw.shape != (p,):
            raise ParameterError(f"`output_weights` and `rate_weights` must have one entry per controlled output "
                                 f"({p}), got {law.output_weights!r} and {law.rate_weights!r}.")
        if np.any((rw > 0) & (rate_sig < 0)):
            raise ParameterError("a positive `rate_weights` entry needs the output's rate: its `rate_indices` entry "
                                 "(the observation holding it) or rate lags (`lag_signals = \"rates\"` with "
                                 "`output_lags` >= 1); set one, or give that output rate weight 0.")
        self._rate_rows = [i for i in range(p) if rw[i] > 0]
        self._tracked = np.array(out + [int(rate_sig[i]) for i in self._rate_rows], dtype=np.int64)
        self._weights = np.array(list(ow) + [rw[i] for i in self._rate_rows])
        self._weights_off = self._weights.copy()
        self._weights_off[p:] = 0.0
        self._rate_rows_a = np.array(self._rate_rows, dtype=np.int64)
        self._rate_cols = np.array([rate_sig[i] for i in self._rate_rows], dtype=np.int64)

    def _step_weights(self):
        """Return the tracking weights of this step: a rate's weight counts only once its signal is known noise-free.

        A tracked rate's weight is 0 until the noise estimate holds no warm-up step (a window of steps after the
        warm-up), and then while that signal's estimated sensor-noise variance is at or above the quiet level (a
        noisy rate would steer the plan by its noise): the rule of the bias walk.
        """
        cols = self._rate_cols
        if cols.size == 0:
            return self._weights
        if self._k - 1 < self._n_warmup + self.filter.window:
            return self._weights_off
        n_noisy = count_at_least_kernel(self.filter.noise_var, self._quiet, cols)
        if n_noisy == 0:
            return self._weights
        if n_noisy == cols.size:
            return self._weights_off
        noisy = self.filter.noise_var[cols] >= self._quiet[cols]
        weights = self._weights.copy()
        weights[len(self.output_indices):][noisy] = 0.0
        return weights

    def _rate_weight_setting(self) -> str:
        """Return the ``rate_weights`` line of ``derived_settings()``: each tracked rate's weight, and why."""
        given = "given" if self.law.rate_weights is not None else "automatic: the outputs' measured rates"
        names = [f"{self._weights[len(self.output_indices) + c]:g} on output {i}'s rate (signal {j})"
                 for c, (i, j) in enumerate(zip(self._rate_rows, self._rate_cols.tolist()))]
        when = "from a window of steps after the warm-up, while that signal is noise-free"
        return f"{', '.join(names)} ({given}; {when})"
