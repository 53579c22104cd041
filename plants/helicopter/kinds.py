"""The helicopter as a scenario-file plant kind: ``[plant] kind = "helicopter"``."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from neurocontrol.exceptions import NeurocontrolError, ParameterError
from neurocontrol.scenario.configs import RunConfig, _finite
from neurocontrol.simulation.faults import FaultsConfig
from plants.helicopter.params import HelicopterParams

# ---------------------------------------------------------------- the helicopter plant


@dataclass(frozen=True, kw_only=True)
class InitialStateConfig:
    """``[plant.initial]``: the helicopter's initial state, drawn from the run's spare seed stream.

    Parameters
    ----------
    rotor_speed : (float, float), default (120.0, 160.0)
        Uniform range of the initial rotor speed, rad/s (equal ends fix it).
    altitude : (float, float), default (0.2, 1.5)
        Uniform range of the initial altitude, m.
    state : tuple of 5 floats, optional
        A fixed full state (rotor_speed, altitude, climb_rate, collective,
        collective_rate) instead of the ranges.

    Notes
    -----
    With ranges the helicopter starts at rest (climb rate and collective
    rate 0) with the collective at the hover trim of the nominal plant for
    the drawn rotor speed (on the lower stop where no hover exists).
    """

    rotor_speed: tuple[float, float] = (120.0, 160.0)
    altitude: tuple[float, float] = (0.2, 1.5)
    state: tuple[float, ...] | None = None

    def __post_init__(self):
        for name in ("rotor_speed", "altitude"):
            lo, hi = (_finite(v, name) for v in getattr(self, name))
            if lo > hi:
                raise ParameterError(f"`{name}` must be a range [low, high] with low <= high, got {[lo, hi]}.")
        if self.state is not None:
            if len(self.state) != 5:
                raise ParameterError(f"`state` must hold the 5 helicopter states (rotor_speed, altitude, climb_rate, "
                                     f"collective, collective_rate), got {len(self.state)} values.")
            for v in self.state:
                _finite(v, "state")


@dataclass(frozen=True, kw_only=True)
class DisturbanceConfig:
    """``[plant.disturbances]``: gusts, sensor noise and a random plant per episode.

    Parameters
    ----------
    gust_rate : float, default 0.0
        Mean rate of random vertical gusts (Poisson), 1/s.
    gust_amplitude : float, default 0.0
        Standard deviation of a random gust's acceleration, m/s^2.
    gust_duration : float, default 0.5
        Duration of each random gust, s.
    gust_schedule : array of [t_start s, duration s, accel m/s^2], default []
        Deterministic gusts.
    sensor_noise_std : tuple of 5 floats, default all 0
        Standard deviation of the noise on each measured state.
    param_perturbation : float, default 0.0
        Relative standard deviation (<= 0.25) of a random factor on each of
        a1..a15 at every reset.
    """

    gust_rate: float = 0.0
    gust_amplitude: float = 0.0
    gust_duration: float = 0.5
    gust_schedule: tuple[tuple[float, float, float], ...] = ()
    sensor_noise_std: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    param_perturbation: float = 0.0

    def __post_init__(self):
        for name in ("gust_rate", "gust_amplitude", "param_perturbation"):
            _finite(getattr(self, name), name, low=0.0)
        _finite(self.gust_duration, "gust_duration", low=0.0, strict=True, unit="s")
        if self.param_perturbation > 0.25:
            raise ParameterError(f"`param_perturbation` must be a relative std in [0, 0.25], "
                                 f"got {self.param_perturbation!r}.")
        if len(self.sensor_noise_std) != 5:
            raise ParameterError(f"`sensor_noise_std` must hold 5 values (one per measured state), "
                                 f"got {len(self.sensor_noise_std)}.")
        for v in self.sensor_noise_std:
            _finite(v, "sensor_noise_std", low=0.0)



__all__ = ["InitialStateConfig", "DisturbanceConfig", "HelicopterPlantConfig", "build_helicopter"]


@dataclass(frozen=True, kw_only=True)
class HelicopterPlantConfig:
    """``[plant] kind = "helicopter"``: the helicopter on a stand (``neurocontrol/Helicopter-v0``).

    Parameters
    ----------
    gym_id : str, default "neurocontrol/Helicopter-v0"
        Gymnasium id passed to ``gymnasium.make`` (with the episode length
        set to the run's duration).
    dt : float, default 0.01
        Control period, s.
    substeps : int, default 5
        RK4 sub-steps per control period.
    params : HelicopterParams
        ``[plant.params]``: the model constants, actuator limits and state
        envelope (:class:`plants.helicopter.HelicopterParams`); keys left out
        keep the published values, e.g. ``params = {a8 = -0.91}``.
    setpoint : (float, float), default (140.0, 1.0)
        The env's set-point (rad/s, m): reward, ``info["setpoint"]``, the
        baselines' design point and the default of unset reference outputs.
    reward_weights : (float, float), default (1.0, 1.0)
        Weights of rotor-speed and altitude errors in the env's reward.
    initial : InitialStateConfig
        ``[plant.initial]``.
    disturbances : DisturbanceConfig
        ``[plant.disturbances]``.
    faults : FaultsConfig, optional
        ``[plant.faults]``: sensor bias, dropout, delay, stuck actuator,
        parameter drift (:mod:`neurocontrol.simulation.faults`, docs/reliability.md).
    """

    kind: ClassVar[str] = "helicopter"
    gym_id: str = "neurocontrol/Helicopter-v0"
    dt: float = 0.01
    substeps: int = 5
    params: HelicopterParams = field(default_factory=HelicopterParams)
    setpoint: tuple[float, float] = (140.0, 1.0)
    reward_weights: tuple[float, float] = (1.0, 1.0)
    initial: InitialStateConfig = field(default_factory=InitialStateConfig)
    disturbances: DisturbanceConfig = field(default_factory=DisturbanceConfig)
    faults: FaultsConfig | None = None

    def __post_init__(self):
        _finite(self.dt, "dt", low=0.0, strict=True, unit="s")
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, numbers.Integral) or self.substeps < 1:
            raise ParameterError(f"`substeps` must be a positive integer, got {self.substeps!r}.")


def build_helicopter(config: HelicopterPlantConfig, run: RunConfig, rng: np.random.Generator):
    import gymnasium as gym

    import plants  # noqa: F401  (registers the env ids)
    from plants.helicopter import trim

    prm = config.params
    d = config.disturbances
    n_steps = max(1, int(round(run.duration / config.dt)))
    env = gym.make(config.gym_id, max_episode_steps=n_steps, params=prm, dt=config.dt, substeps=config.substeps,
                   setpoint=config.setpoint, reward_weights=config.reward_weights, gust_rate=d.gust_rate,
                   gust_amplitude=d.gust_amplitude, gust_duration=d.gust_duration,
                   gust_schedule=[list(g) for g in d.gust_schedule], sensor_noise_std=list(d.sensor_noise_std),
                   param_perturbation=d.param_perturbation)
    ini = config.initial
    ranges = prm.state_ranges
    if ini.state is not None:
        x0 = np.array(ini.state, dtype=np.float64)
        for i, name in enumerate(("rotor_speed", "altitude", "climb_rate", "collective", "collective_rate")):
            if not ranges[i, 0] <= x0[i] <= ranges[i, 1]:
                raise ParameterError(f"`plant.initial.state[{i}]` ({name}) must be in [{ranges[i, 0]}, "
                                     f"{ranges[i, 1]}], got {x0[i]}.")
    else:
        for i, name in ((0, "rotor_speed"), (1, "altitude")):
            lo, hi = getattr(ini, name)
            if lo < ranges[i, 0] or hi > ranges[i, 1]:
                raise ParameterError(f"`plant.initial.{name}` must lie within [{ranges[i, 0]}, {ranges[i, 1]}], "
                                     f"got {[lo, hi]}.")
        omega = float(rng.uniform(*ini.rotor_speed))
        z = float(rng.uniform(*ini.altitude))
        try:
            th = trim(omega, z, prm).collective
        except NeurocontrolError:
            th = prm.collective_range[0]  # no hover at this rotor speed: rest on the lower stop
        x0 = np.array([omega, z, 0.0, th, 0.0])
    if config.faults is not None:
        from neurocontrol.simulation.faults import wrap_faults

        env = wrap_faults(env, config.faults)
    return env, {"initial_state": x0}


