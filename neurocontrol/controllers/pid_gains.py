"""A decentralised PI/PID with the gains you give (a published design, or your own), on any plant.

The loops are those of :class:`~neurocontrol.controllers.autotune.PIDAutoController`
(the same PID law, derivative filter, conditional-integration anti-windup),
started with the given settings instead of relay experiments: from the first
step every loop runs ``u = I + Kc (r - y) + D``, its integral starting at the
loop's bias input (the trim input of the plant's python-control model, or
``bias``), so at zero error the plant gets the input that holds it.

Scenario kind ``[controller] kind = "pid_gains"`` (:class:`PIDGainsConfig`,
:func:`build_pid_gains`). Example, the decentralised PI of Johansson (2000,
IEEE TCST 8(3), section on decentralised control) for the quadruple tank at
its minimum-phase operating point, ``u_i = K_i (1 + 1 / (T_i s)) (r_i - y_i)``
in volts::

    [controller]
    kind = "pid_gains"
    gains = [[3.0, 30.0], [2.7, 40.0]]   # (Kc, Ti s) per controlled output
    pairing = [0, 1]                     # pump 1 -> y1, pump 2 -> y2
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocontrol._validation import as_float_array, check_positive, env_dt, env_input_limits
from neurocontrol.controllers.autotune import PIDAutoController, pair_by_rga, trim_gain
from neurocontrol.controllers.generic import has_model, trim_linearisation
from neurocontrol.exceptions import ParameterError

__all__ = ["PIDGainsController", "PIDGainsConfig", "build_pid_gains", "check_gains"]


def check_gains(gains, n_loops: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``(Kc, Ti)`` or ``(Kc, Ti, Td)`` per loop; return the arrays ``kc``, ``ti``, ``td``.

    ``Kc`` is finite and non-zero (its sign is the loop's sign), ``Ti`` in s is
    positive (``inf``: no integral action), ``Td`` in s is finite and >= 0 (0
    or left out: no derivative action).

    Parameters
    ----------
    gains : sequence of sequences of float
        One row per loop.
    n_loops : int
        Number of controlled outputs.

    Returns
    -------
    tuple of numpy.ndarray
        ``kc``, ``ti``, ``td``, each of shape (n_loops,).

    Examples
    --------
    >>> kc, ti, td = check_gains([[3.0, 30.0], [2.7, 40.0, 1.0]], 2)
    >>> kc.tolist(), ti.tolist(), td.tolist()
    ([3.0, 2.7], [30.0, 40.0], [0.0, 1.0])
    """
    rows = list(gains) if isinstance(gains, (list, tuple, np.ndarray)) else None
    if rows is None or len(rows) != n_loops:
        raise ParameterError(f"`gains` must have one row (Kc, Ti) or (Kc, Ti, Td) per controlled output "
                             f"({n_loops}), got {gains!r}.")
    kc, ti, td = np.zeros(n_loops), np.zeros(n_loops), np.zeros(n_loops)
    for i, row in enumerate(rows):
        vals = [float(v) for v in row] if isinstance(row, (list, tuple, np.ndarray)) else []
        if len(vals) not in (2, 3):
            raise ParameterError(f"`gains` row {i} must be (Kc, Ti) or (Kc, Ti, Td), got {row!r}.")
        kc[i], ti[i] = vals[0], vals[1]
        td[i] = vals[2] if len(vals) == 3 else 0.0
        if not (math.isfinite(kc[i]) and kc[i] != 0.0):
            raise ParameterError(f"`gains` row {i}: Kc must be finite and non-zero (its sign is the loop's sign), "
                                 f"got {kc[i]}.")
        if not ti[i] > 0.0:             # a NaN fails too; inf is allowed (no integral action)
            raise ParameterError(f"`gains` row {i}: Ti must be > 0 s (inf: no integral action), got {ti[i]}.")
        if not (math.isfinite(td[i]) and td[i] >= 0.0):
            raise ParameterError(f"`gains` row {i}: Td must be finite and >= 0 s, got {td[i]}.")
    return kc, ti, td


class PIDGainsController(PIDAutoController):
    """Decentralised PI/PID loops with given settings, in the PID phase from the first step.

    Parameters
    ----------
    input_limits : array_like, shape (m, 2)
        Actuator limits.
    output_indices : sequence of int
        Controlled outputs within the observation (p of them).
    dt : float
        Control period, s.
    n_observations : int
        Length of the observation vector.
    pairing : sequence of int
        Input driven by each loop (distinct).
    bias : array_like, shape (m,)
        Input at zero error: each loop's integral starts at its input's bias,
        inputs without a loop stay at theirs.
    gains : sequence of sequences of float
        ``(Kc, Ti)`` or ``(Kc, Ti, Td)`` per loop (:func:`check_gains`).
    derivative_filter : float, default 10.0
        ``N``: the derivative filter's time constant is ``Td / N``.

    Examples
    --------
    >>> ctrl = PIDGainsController(input_limits=[[0.0, 10.0]], output_indices=[0], dt=1.0, n_observations=1,
    ...                           pairing=[0], bias=[3.0], gains=[[2.0, 10.0]])
    >>> ctrl.reset([1.0], [1.5])
    >>> ctrl.step([1.0], [1.5]).tolist()           # 3 + 2 * 0.5
    [4.0]
    >>> ctrl.step([1.0], [1.5]).tolist()           # the integral grew by 2 * 1 / 10 * 0.5
    [4.1]
    """

    def __init__(self, *, input_limits, output_indices, dt: float, n_observations: int, pairing, bias, gains,
                 derivative_filter: float = 10.0):
        p = len(list(output_indices))
        kc, ti, td = check_gains(gains, p)
        self._given = (kc, ti, td)
        # the relay settings are never used: these loops start tuned
        super().__init__(input_limits=input_limits, output_indices=output_indices, dt=dt,
                         n_observations=n_observations, pairing=pairing, signs=np.sign(kc), trim_input=bias,
                         relay_amplitude=np.ones(p), hysteresis_floor=np.zeros(p),
                         derivative_filter=derivative_filter)

    def _reset_episode(self) -> None:
        super()._reset_episode()
        kc, ti, td = self._given
        self.kc[:], self.ti[:], self.td[:] = kc, ti, td
        self._tuned[:] = True
        self._integral[:] = self.trim_input[list(self.pairing)]
        self._phase = "pid"

    @property
    def bias(self) -> np.ndarray:
        """The input at zero error (each loop's starting integral), a copy."""
        return self.trim_input.copy()


@dataclass(frozen=True, kw_only=True)
class PIDGainsConfig:
    """``[controller] kind = "pid_gains"``: :class:`PIDGainsController` with the settings of the table.

    Parameters
    ----------
    gains : tuple of tuples of float
        ``(Kc, Ti)`` or ``(Kc, Ti, Td)`` per controlled output, in the plant's
        output and input units and seconds.
    output_indices : tuple of int, default (0, 1)
        Controlled outputs within the observation.
    pairing : tuple of int, optional
        Input driven by each loop; default: by the relative gain array of the
        steady-state gain of the python-control model at the trim.
    bias : tuple of float, optional
        Input at zero error; default: the trim input of the plant's
        python-control model (then a plant without one needs ``bias`` and ``pairing``).
    design_setpoint : tuple of float, optional
        Controlled-output values of the trim; default ``env.unwrapped.setpoint``.
    derivative_filter : float, default 10.0
        ``N`` of the derivative filter.
    """

    kind: ClassVar[str] = "pid_gains"
    gains: tuple[tuple[float, ...], ...]
    output_indices: tuple[int, ...] = (0, 1)
    pairing: tuple[int, ...] | None = None
    bias: tuple[float, ...] | None = None
    design_setpoint: tuple[float, ...] | None = None
    derivative_filter: float = 10.0

    def __post_init__(self):
        check_gains(self.gains, len(self.output_indices))
        check_positive(self.derivative_filter, "derivative_filter")


def build_pid_gains(config: PIDGainsConfig, env) -> PIDGainsController:
    """Make the loops of a ``pid_gains`` table for ``env``: bias and pairing from the model unless given.

    Parameters
    ----------
    config : PIDGainsConfig
        The table.
    env : gymnasium.Env
        The plant: its action space gives the input limits, ``unwrapped.dt``
        the control period; its python-control model (if any) the trim.

    Returns
    -------
    PIDGainsController

    Raises
    ------
    ParameterError
        If the plant has no python-control model and ``bias`` or ``pairing`` is not given.
    """
    base = env.unwrapped
    lim = env_input_limits(env)
    n_obs = int(np.prod(env.observation_space.shape))
    idx = list(config.output_indices)
    bias, pairing = config.bias, config.pairing
    if bias is None or pairing is None:
        if not has_model(env):
            raise ParameterError(f"'pid_gains' takes the bias input and the pairing from the plant's python-control "
                                 f"model, and {type(base).__name__} has none: give `bias` (the input at zero error, "
                                 f"{lim.shape[0]} values) and `pairing` (the input of each loop).")
        tr = trim_linearisation(env, idx, config.design_setpoint, who="pid_gains")
        if bias is None:
            bias = tr.inputs
        if pairing is None:
            pairing = pair_by_rga(trim_gain(tr))
    bias = as_float_array(bias, "bias", (lim.shape[0],))
    dt = env_dt(env, "'pid_gains'")
    return PIDGainsController(input_limits=lim, output_indices=idx, dt=dt, n_observations=n_obs,
                              pairing=pairing, bias=bias, gains=config.gains,
                              derivative_filter=config.derivative_filter)
