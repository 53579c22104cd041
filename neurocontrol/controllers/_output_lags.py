"""Past measurements of the controlled outputs as extra signals of the neural controller's networks."""

from __future__ import annotations

import numpy as np

__all__ = ["OutputLags"]


class OutputLags:
    """The ``output_lags`` of :class:`~neurocontrol.controllers.neural.NeuralController` (a mixin).

    The networks' signals at step t are the measurement followed by the
    controlled outputs measured at t-1, ..., t-L (``self._lags``, (L, p), row
    0 the latest); with L = 0 they are the measurement itself. With
    ``self._lag_rates`` the extra signals are the backward differences per
    second of every measured signal x over the last L steps instead,
    ``(x(t) - x(t-1)) / dt, ..., (x(t-L+1) - x(t-L)) / dt`` (``self._lags``
    then holds the past measurements, (L, n)). ``self._lag_idx`` names the
    observation entries kept.
    """

    def _start_lags(self, observation):
        """Take the present outputs as the past ones and return the networks' signals (see :meth:`_extended`)."""
        self._lags[:] = observation[self._lag_idx]
        return self._extended(observation)

    def _extended(self, observation):
        """Return the networks' signals for ``observation`` and advance the past outputs by one step."""
        if self._lags.shape[0] == 0:
            return observation
        if self._lag_rates:
            past = np.concatenate([observation[self._lag_idx][None, :], self._lags])
            ext = np.concatenate([observation, ((past[:-1] - past[1:]) / self.dt).ravel()])
        else:
            ext = np.concatenate([observation, self._lags.ravel()])
        self._lags[1:] = self._lags[:-1]
        self._lags[0] = observation[self._lag_idx]
        return ext

    def _lag_settings(self) -> str:
        """One line on the lagged signals for ``derived_settings()``: kind, steps, observation entries, ranges."""
        line = (f"{'backward differences per second' if self._lag_rates else 'past values'} of observation entries "
                f"{self._lag_idx.tolist()} over {self._lags.shape[0]} steps"
                + (" (automatic: the plant measures only its controlled outputs)" if self._lags_auto else ""))
        if self._lag_rates:
            hi = self._id_cfg.output_range[1, self._n_obs:self._n_obs + len(self._lag_idx)]
            line += f", normalised by +-{np.round(hi, 4).tolist()}"
        return line
