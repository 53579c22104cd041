"""The helicopter's scenario-file kinds: the plant, its PID and LQR baselines and the warm-up PID.

``[plant] kind = "helicopter"``, ``[controller] kind = "pid"`` / ``"lqr"`` and
the adaptive controller's ``[controller.warmup_pid]`` (section ``warmup``,
kind ``"pid"``); all are listed in :data:`neurocontrol.registry.BUILTIN`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

import plants  # noqa: F401  (registers the env ids)
from neurocontrol._validation import as_float_array, check_positive, check_real, check_substeps
from neurocontrol.exceptions import NeurocontrolError, ParameterError
from neurocontrol.scenario.configs import RunConfig
from neurocontrol.scenario.kinds import env_dt, env_input_limits
from neurocontrol.simulation.faults import FaultsConfig, wrap_faults
from plants.helicopter.baselines import LQRController, PIDController, PIDGains, check_gain
from plants.helicopter.dynamics import trim
from plants.helicopter.env import HelicopterEnv
from plants.helicopter.params import HelicopterParams

__all__ = ["InitialStateConfig", "DisturbanceConfig", "HelicopterPlantConfig", "build_helicopter", "PIDConfig",
           "LQRConfig", "WarmupPIDConfig", "build_pid", "build_lqr", "build_warmup_pid"]

#: Most control steps of one run: beyond it the episode length and the result arrays cannot be allocated.
_MAX_STEPS = 1e9
#: Longest control period, s: the collective servo's time constant is about 15 ms, so any sensible period is far below.
_MAX_DT = 1.0

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
            lo, hi = (check_real(v, name) for v in getattr(self, name))
            if lo > hi:
                raise ParameterError(f"`{name}` must be a range [low, high] with low <= high, got {[lo, hi]}.")
        if self.state is not None:
            if len(self.state) != 5:
                raise ParameterError(f"`state` must hold the 5 helicopter states (rotor_speed, altitude, climb_rate, "
                                     f"collective, collective_rate), got {len(self.state)} values.")
            for v in self.state:
                check_real(v, "state")


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
            check_positive(getattr(self, name), name, allow_zero=True)
        check_positive(self.gust_duration, "gust_duration", unit="s")
        if self.param_perturbation > 0.25:
            raise ParameterError(f"`param_perturbation` must be a relative std in [0, 0.25], "
                                 f"got {self.param_perturbation!r}.")
        if len(self.sensor_noise_std) != 5:
            raise ParameterError(f"`sensor_noise_std` must hold 5 values (one per measured state), "
                                 f"got {len(self.sensor_noise_std)}.")
        for v in self.sensor_noise_std:
            check_positive(v, "sensor_noise_std", allow_zero=True)



@dataclass(frozen=True, kw_only=True)
class HelicopterPlantConfig:
    """``[plant] kind = "helicopter"``: the helicopter on a stand (``neurocontrol/Helicopter-v0``).

    Parameters
    ----------
    gym_id : str, default "neurocontrol/Helicopter-v0"
        Gymnasium id passed to ``gymnasium.make`` (with the episode length
        set to the run's duration).
    dt : float, default 0.01
        Control period, s (at most 1 s: the model's fastest modes need far shorter periods).
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
        check_real(self.dt, "dt", low=0.0, low_open=True, high=_MAX_DT, unit="s")
        check_substeps(self.substeps)


def build_helicopter(config: HelicopterPlantConfig, run: RunConfig, rng: np.random.Generator):
    """Make the helicopter env of a ``[plant]`` table and draw its initial state.

    Parameters
    ----------
    config : HelicopterPlantConfig
        The table.
    run : RunConfig
        The run (its duration sets the episode length).
    rng : numpy.random.Generator
        The run's spare stream: draws the initial state from ``config.initial``.

    Returns
    -------
    env : gymnasium.Env
    options : dict
        Reset options with the ``initial_state``.
    """
    import gymnasium as gym

    prm = config.params
    d = config.disturbances
    steps = run.duration / config.dt
    if not steps <= _MAX_STEPS:
        raise ParameterError(f"`run.duration` / `plant.dt` gives {steps:.3g} control steps; at most {_MAX_STEPS:.0e}: "
                             "shorten the run or lengthen `plant.dt`.")
    n_steps = max(1, int(round(steps)))
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

        env = wrap_faults(env, config.faults)
    return env, {"initial_state": x0}


# ---------------------------------------------------------------- the baselines and the warm-up PID


@dataclass(frozen=True, kw_only=True)
class PIDConfig(PIDGains):
    """``[controller] kind = "pid"``: :class:`plants.helicopter.baselines.PIDController` around the plant's trim.

    Parameters
    ----------
    design_rotor_speed : float, optional
        Rotor speed of the trim the feedforward is designed at, rad/s; default the plant's set-point.
    design_altitude : float, optional
        Altitude of that trim, m; default the plant's set-point.
    """

    kind: ClassVar[str] = "pid"
    design_rotor_speed: float | None = None
    design_altitude: float | None = None

    def __post_init__(self):
        super().__post_init__()
        for name in ("design_rotor_speed", "design_altitude"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), name, allow_zero=True)


@dataclass(frozen=True, kw_only=True)
class LQRConfig:
    """``[controller] kind = "lqr"``: :class:`plants.helicopter.baselines.LQRController` with integral action.

    Parameters
    ----------
    design_rotor_speed : float, optional
        Design rotor speed, rad/s; default the plant's set-point.
    Q : tuple of 7 floats, optional
        Diagonal state weight on (rotor, altitude, climb rate, collective,
        collective rate, int rotor error, int altitude error); default Bryson.
    R : tuple of 2 floats, optional
        Diagonal input weight; default ``(1/50^2, 1/150^2)``.
    integrator_limit : (float, float), default (20.0, 2.0)
        Clamp on the integrators (rad, m s).
    """

    kind: ClassVar[str] = "lqr"
    design_rotor_speed: float | None = None
    Q: tuple[float, ...] | None = None
    R: tuple[float, ...] | None = None
    integrator_limit: tuple[float, float] = (20.0, 2.0)

    def __post_init__(self):
        if self.design_rotor_speed is not None:
            check_positive(self.design_rotor_speed, "design_rotor_speed")
        for name, n in (("Q", 7), ("R", 2)):
            v = getattr(self, name)
            if v is not None:
                if len(v) != n:
                    raise ParameterError(f"`{name}` must hold {n} diagonal weights, got {len(v)}.")
                for x in v:
                    check_positive(x, name, allow_zero=name == "Q")
        for x in self.integrator_limit:
            check_positive(x, "integrator_limit")


@dataclass(frozen=True, kw_only=True)
class WarmupPIDConfig(PIDGains):
    """``[controller.warmup_pid]``: a rough PID that flies the helicopter during the identification warm-up.

    Rough hover values suffice (the adaptive controller takes over after
    ``warmup_duration``); they are the user's knowledge of the stand, not the
    model's trim: the shipped scenarios use rounded figures.

    Parameters
    ----------
    trim_input : (float, float), default (170.0, -100.0)
        Approximate hover throttle and collective-servo input, rad/s^2.
    trim_collective : float, default 0.12
        Approximate hover collective, rad.
    servo_gain : float, default 2700.0
        Approximate static servo gain d u1 / d theta, rad/s^2 per rad.
    start_duration : float or None, default None
        Seconds after the start flown with ``start_gains`` in place of the gains above (a quick pull from the
        initial offset), rounded to control steps; None or 0: none. See
        :class:`~plants.helicopter.baselines.PIDController`.
    start_gains : dict of str to float or None, default None
        The start's gains by name (``kp_rotor``, ``ki_rotor``, ``kp_alt``, ``ki_alt``, ``kd_alt``, ``kp_pitch``,
        ``kd_pitch``); a gain not named keeps its value above.
    """

    kind: ClassVar[str] = "pid"
    trim_input: tuple[float, float] = (170.0, -100.0)
    trim_collective: float = 0.12
    servo_gain: float = 2700.0
    start_duration: float | None = None
    start_gains: dict[str, float] | None = None

    def __post_init__(self):
        super().__post_init__()
        as_float_array(self.trim_input, "trim_input", (2,))
        check_real(self.trim_collective, "trim_collective")
        check_gain(self.servo_gain, "servo_gain", allow_zero=False)
        if self.start_duration is not None:
            check_positive(self.start_duration, "start_duration", unit="s", allow_zero=True)
        if self.start_gains is not None and not isinstance(self.start_gains, dict):
            raise ParameterError(f"`start_gains` must be a table of gains by name (e.g. {{kp_rotor = 20.0}}), "
                                 f"got {self.start_gains!r}.")
        names = [f.name for f in dataclasses.fields(PIDGains)]
        unknown = sorted(set(self.start_gains or ()) - set(names))
        if unknown:
            raise ParameterError(f"`start_gains` names unknown gains {unknown}; the gains are {names}.")
        for name, value in (self.start_gains or {}).items():
            check_gain(value, f"start_gains.{name}")
        if self.start_duration and not self.start_gains:
            raise ParameterError(f"`start_duration` ({self.start_duration:g} s) needs `start_gains`, the gains that "
                                 f"differ at the start (e.g. {{kp_rotor = 20.0}}); or leave it 0.")
        if self.start_gains and not self.start_duration:
            raise ParameterError("`start_gains` needs `start_duration`, the seconds they fly after the start "
                                 "(e.g. 0.3); without it they are never used.")

    def start(self) -> PIDGains | None:
        """Return the start's seven gains (the named ones, the others as above), or None without a start."""
        if not self.start_duration:
            return None
        return dataclasses.replace(self.gains, **{k: float(v) for k, v in self.start_gains.items()})


def _helicopter(env, kind: str) -> HelicopterEnv:
    if not isinstance(env.unwrapped, HelicopterEnv):
        raise ParameterError(f"the {kind!r} baseline is designed for the helicopter plant, got "
                             f"{type(env.unwrapped).__name__}; choose another controller kind.")
    return env.unwrapped


def build_pid(config: PIDConfig, env) -> PIDController:
    """Make the PID baseline of a ``[controller] kind = "pid"`` table around the plant's trim.

    Parameters
    ----------
    config : PIDConfig
        The table.
    env : gymnasium.Env
        The helicopter env (its nominal parameters, set-point and ``dt``).

    Returns
    -------
    PIDController
    """
    base = _helicopter(env, "pid")
    sp = base.setpoint
    return PIDController.from_plant(
        base.nominal_params, rotor_speed=sp[0] if config.design_rotor_speed is None else config.design_rotor_speed,
        altitude=sp[1] if config.design_altitude is None else config.design_altitude, dt=base.dt, gains=config.gains)


def build_lqr(config: LQRConfig, env) -> LQRController:
    """Make the LQR baseline of a ``[controller] kind = "lqr"`` table at the plant's trim.

    Parameters
    ----------
    config : LQRConfig
        The table.
    env : gymnasium.Env
        The helicopter env (its nominal parameters, set-point and ``dt``).

    Returns
    -------
    LQRController
    """
    base = _helicopter(env, "lqr")
    rotor = base.setpoint[0] if config.design_rotor_speed is None else config.design_rotor_speed
    return LQRController.from_plant(base.nominal_params, rotor_speed=rotor, dt=base.dt, Q=config.Q, R=config.R,
                                    integrator_limit=config.integrator_limit)


def build_warmup_pid(config: WarmupPIDConfig, env) -> PIDController:
    """Make the adaptive controller's warm-up PID from the user's rough trim values.

    Parameters
    ----------
    config : WarmupPIDConfig
        The ``[controller.warmup_pid]`` table.
    env : gymnasium.Env
        The plant: its action space gives the actuator limits, ``unwrapped.dt`` the control period.

    Returns
    -------
    PIDController
    """
    return PIDController(input_limits=env_input_limits(env), dt=env_dt(env, "the warm-up PID"),
                         trim_input=config.trim_input, trim_collective=config.trim_collective,
                         servo_gain=config.servo_gain, gains=config.gains, start_gains=config.start(),
                         start_duration=config.start_duration or 0.0)
