"""Past measurements of the controlled outputs as extra signals of the neural controller's networks."""

from __future__ import annotations

import numpy as np

__all__ = ["OutputLags"]


class OutputLags:
    """The ``output_lags`` of :class:`~neurocontrol.controllers.neural.NeuralController` (a mixin).

    The networks' signals at step t are the measurement followed by the
    controlled outputs measured at t-1, ..., t-L (``self._lags``, (L, p), row
    0 the latest); with L = 0 they are the measurement itself.
    """

    def _start_lags(self, observation):
        """Take the present outputs as the past ones and return the networks' signals (see :meth:`_extended`)."""
        self._lags[:] = observation[list(self.output_indices)]
        return self._extended(observation)

    def _extended(self, observation):
        """Return the networks' signals for ``observation`` and advance the past outputs by one step."""
        if self._lags.shape[0] == 0:
            return observation
        ext = np.concatenate([observation, self._lags.ravel()])
        self._lags[1:] = self._lags[:-1]
        self._lags[0] = observation[self._out_idx]
        return ext
