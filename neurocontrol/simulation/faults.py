"""Faults in scenario files: the ``[plant.faults]`` table (sensor and actuator wrappers) and fault events.

Two ways to inject a fault, both seeded and reproducible:

* ``[plant.faults]`` (:class:`FaultsConfig`) wraps the plant in the
  Gymnasium wrappers of :mod:`plants.wrappers`: sensor bias, sensor noise, sensor dropout,
  measurement delay, a stuck actuator and a slow parameter drift, each with
  its own time window;
* ``[[events]]`` of kind ``actuator_fault`` (:class:`ActuatorFault`) set the
  actuators' effectiveness at a time (loss of effectiveness; a second event
  with ``effectiveness = [1.0, 1.0]`` ends it). Parameter jumps are the
  builtin ``parameter_change`` events.

Example scenario fragment::

    [plant.faults.sensor_bias]
    bias = [0.0, 0.0, 0.05, 0.0, 0.0]   # third observation reads 0.05 high
    start = 10.0

    [plant.faults.dropout]
    probability = 0.05                   # 5 % of samples lost (NaN)

    [[events]]
    kind = "actuator_fault"
    time = 15.0
    effectiveness = [1.0, 0.7]           # second input at 70 %

See docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_positive, check_real
from neurocontrol.exceptions import ParameterError
from neurocontrol.simulation.events import AbstractEvent
from plants.wrappers import apply_faults

__all__ = ["FaultsConfig", "SensorBiasConfig", "SensorNoiseConfig", "DropoutConfig", "StuckActuatorConfig",
           "DriftConfig", "ActuatorFault", "wrap_faults"]


def _window(start, end) -> None:
    """Check a fault's time window: ``start`` >= 0 s, ``end`` (None: open) after it."""
    check_real(start, "start", low=0.0, unit="s")
    if end is not None:
        check_real(end, "end", low=0.0, unit="s")
        if end <= start:
            raise ParameterError(f"`end` must be after `start`, got start={start} s, end={end} s.")


@dataclass(frozen=True, kw_only=True)
class SensorBiasConfig:
    """``[plant.faults.sensor_bias]``: a constant offset on the measurements (:class:`plants.wrappers.SensorBias`).

    Parameters
    ----------
    bias : tuple of float
        Offset per observation entry, observation units.
    start : float, default 0.0
        When the bias appears, s.
    end : float, optional
        When it disappears, s (absent: never).
    """

    bias: tuple[float, ...]
    start: float = 0.0
    end: float | None = None

    def __post_init__(self):
        if as_float_array(self.bias, "bias", (None,)).size == 0:
            raise ParameterError("`bias` must give one offset per observation entry, got none.")
        _window(self.start, self.end)


@dataclass(frozen=True, kw_only=True)
class SensorNoiseConfig:
    """``[plant.faults.sensor_noise]``: white Gaussian noise on the measurements (:class:`plants.wrappers.SensorNoise`).

    Parameters
    ----------
    std : sequence of float
        Standard deviation per observation entry, observation units (>= 0), on top of any noise of the plant.
    start : float, default 0.0
        When the noise starts, s.
    end : float, optional
        When it stops, s (absent: until the end).

    Notes
    -----
    Its generator is seeded by the run's plant seed. The run's metrics then also judge the true outputs
    (``metrics["noiseless"]``).
    """

    std: tuple[float, ...]
    start: float = 0.0
    end: float | None = None

    def __post_init__(self):
        std = as_float_array(self.std, "std", (None,))
        if np.any(std < 0):
            raise ParameterError(f"`std` must be >= 0 per observation entry, got {std.tolist()}.")
        object.__setattr__(self, "std", tuple(float(v) for v in std))
        _window(self.start, self.end)


@dataclass(frozen=True, kw_only=True)
class DropoutConfig:
    """``[plant.faults.dropout]``: lost samples, delivered as NaN (:class:`plants.wrappers.SensorDropout`).

    Parameters
    ----------
    probability : float in [0, 1]
        Chance that a sample is lost, per control step.
    start : float, default 0.0
        First time a sample can be lost, s (the reset measurement never is).
    end : float, optional
        Last time, s (absent: until the end).
    """

    probability: float
    start: float = 0.0
    end: float | None = None

    def __post_init__(self):
        check_real(self.probability, "probability", low=0.0, high=1.0)
        _window(self.start, self.end)


@dataclass(frozen=True, kw_only=True)
class StuckActuatorConfig:
    """``[plant.faults.stuck_actuator]``: one input frozen at its last value (:class:`plants.wrappers.StuckActuator`).

    Parameters
    ----------
    input : int
        Index of the stuck input in the action vector.
    start : float
        When it sticks, s.
    end : float, optional
        When it frees again, s (absent: stuck for good).
    value : float, optional
        Stuck at this value (a hard-over), physical units; absent: at the
        last command before ``start``.
    """

    input: int
    start: float
    end: float | None = None
    value: float | None = None

    def __post_init__(self):
        check_int(self.input, "input", low=0)
        _window(self.start, self.end)
        if self.value is not None:
            check_real(self.value, "value")


@dataclass(frozen=True, kw_only=True)
class DriftConfig:
    """``[plant.faults.drift]``: plant parameters ramped by factors (:class:`plants.wrappers.ParameterDrift`).

    Parameters
    ----------
    factors : dict of str to float
        Final factor per plant parameter, e.g. ``{a8 = 1.3, a9 = 1.3}``.
    start : float, default 0.0
        When the drift begins, s.
    duration : float, default 10.0
        How long the ramp takes, s (> 0).
    """

    factors: dict[str, float]
    start: float = 0.0
    duration: float = 10.0

    def __post_init__(self):
        if not self.factors:
            raise ParameterError("`factors` must name at least one plant parameter, e.g. {a8 = 1.3}.")
        for name, f in self.factors.items():
            check_real(f, f"factors[{name!r}]", low=0.0)
        check_real(self.start, "start", low=0.0, unit="s")
        check_positive(self.duration, "duration", unit="s")


@dataclass(frozen=True, kw_only=True)
class FaultsConfig:
    """``[plant.faults]``: sensor and actuator faults, each an optional sub-table (absent: healthy).

    Parameters
    ----------
    sensor_bias : SensorBiasConfig, optional
    sensor_noise : SensorNoiseConfig, optional
    delay_steps : int, default 0
        Measurement delay in control steps (:class:`plants.wrappers.MeasurementDelay`).
    dropout : DropoutConfig, optional
    stuck_actuator : StuckActuatorConfig, optional
    drift : DriftConfig, optional

    Notes
    -----
    The wrappers stack in signal order: drift and stuck actuator next to the
    plant, then bias, noise, delay, and dropout next to the controller. Noise and dropout
    draw from their own generators seeded by the run's plant seed.
    """

    sensor_bias: SensorBiasConfig | None = None
    sensor_noise: SensorNoiseConfig | None = None
    delay_steps: int = 0
    dropout: DropoutConfig | None = None
    stuck_actuator: StuckActuatorConfig | None = None
    drift: DriftConfig | None = None

    def __post_init__(self):
        check_int(self.delay_steps, "delay_steps", low=0)


def wrap_faults(env, faults: FaultsConfig | None):
    """Wrap ``env`` in the wrappers of a :class:`FaultsConfig` (None or all absent: ``env`` unchanged).

    Parameters
    ----------
    env : gymnasium.Env
        The plant.
    faults : FaultsConfig or None
        The faults to inject.

    Returns
    -------
    gymnasium.Env
        ``env`` inside the fault wrappers of :mod:`plants.wrappers`.

    Raises
    ------
    ParameterError
        If a fault does not fit the env (e.g. a bias of the wrong length).
    """
    if faults is None:
        return env
    kw = {}
    if faults.sensor_bias is not None:
        kw["sensor_bias"] = dataclasses.asdict(faults.sensor_bias)
    if faults.sensor_noise is not None:
        kw["sensor_noise"] = dataclasses.asdict(faults.sensor_noise)
    if faults.dropout is not None:
        kw["dropout"] = dataclasses.asdict(faults.dropout)
    if faults.stuck_actuator is not None:
        kw["stuck_actuator"] = dataclasses.asdict(faults.stuck_actuator)
    if faults.drift is not None:
        kw["drift"] = dataclasses.asdict(faults.drift)
    return apply_faults(env, delay_steps=faults.delay_steps, **kw)


@dataclass(frozen=True, kw_only=True)
class ActuatorFault(AbstractEvent):
    """Set the actuators' effectiveness (loss-of-effectiveness fault), until the next such event or reset.

    Calls ``env.unwrapped.set_actuator_effectiveness(effectiveness)``: the
    plant then receives ``effectiveness * clip(action)``. A later event with
    all ones ends the fault.

    Parameters
    ----------
    time : float
        When it acts, s.
    effectiveness : tuple of float
        Fraction per input in [0, 1], in action order.

    Examples
    --------
    >>> ActuatorFault(time=15.0, effectiveness=(1.0, 0.7))
    ActuatorFault(time=15.0, effectiveness=(1.0, 0.7))
    """

    kind: ClassVar[str] = "actuator_fault"
    effectiveness: tuple[float, ...]

    def __post_init__(self):
        super().__post_init__()
        eff = tuple(self.effectiveness) if isinstance(self.effectiveness, (tuple, list, np.ndarray)) else None
        if not eff:
            raise ParameterError(f"`effectiveness` must give a fraction in [0, 1] per input, got "
                                 f"{self.effectiveness!r}.")
        eff = tuple(check_real(e, f"effectiveness[{i}]", low=0.0, high=1.0) for i, e in enumerate(eff))
        object.__setattr__(self, "effectiveness", eff)

    def _check_impl(self, env) -> None:
        if not callable(getattr(env, "set_actuator_effectiveness", None)):
            raise ParameterError(f"an actuator fault needs an env with `set_actuator_effectiveness`; "
                                 f"{type(env).__name__} has none.")
        m = int(np.prod(env.action_space.shape))
        if len(self.effectiveness) != m:
            raise ParameterError(f"`effectiveness` must have one entry per input ({m}), "
                                 f"got {len(self.effectiveness)}.")

    def _apply_impl(self, env) -> dict:
        before = [float(v) for v in getattr(env, "actuator_effectiveness", [math.nan] * len(self.effectiveness))]
        env.set_actuator_effectiveness(self.effectiveness)
        return {"before": before, "after": list(self.effectiveness)}
