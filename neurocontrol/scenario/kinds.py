"""Built-in kinds of scenario files: the config classes and builders of controllers, references and the ILC runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.guard import GuardedController, GuardSettings
from neurocontrol.exceptions import ParameterError
from neurocontrol.reference import AbstractSignal, Constant, MultiSignal
from neurocontrol.registry import registered
from neurocontrol.scenario.configs import _finite

# ---------------------------------------------------------------- references


@dataclass(frozen=True, kw_only=True)
class SetpointReferenceConfig:
    """``[reference] kind = "setpoint"``: a constant set-point per controlled output.

    Keys are output names with their set-points, e.g. ``rotor_speed = 140.0``,
    ``altitude = 1.0``; an output left out holds the plant's set-point.
    """

    kind: ClassVar[str] = "setpoint"
    values: dict[str, float] = field(default_factory=dict, metadata={"inline": True})


@dataclass(frozen=True, kw_only=True)
class SignalsReferenceConfig:
    """``[reference] kind = "signals"``: one signal per controlled output.

    Each key is an output name whose value is a number (constant) or a table
    with a signal ``kind``: ``constant`` (value), ``step`` (t0, before,
    after), ``staircase`` (times, levels, smoothing_time), ``ramp`` (slope,
    t0, initial, t1), ``sine`` (amplitude, frequency_hz, phase, offset), e.g.
    ``[reference.altitude] kind = "staircase"``. An output left out holds
    the plant's set-point.
    """

    kind: ClassVar[str] = "signals"
    signals: dict[str, float | AbstractSignal] = field(default_factory=dict, metadata={"inline": True})


def _plant_setpoint(env, output_names) -> np.ndarray | None:
    sp = getattr(env.unwrapped, "setpoint", None)
    if sp is None:
        return None
    sp = np.asarray(sp, dtype=np.float64).ravel()
    return sp if sp.shape == (len(output_names),) else None


def _per_output(config, values: Mapping, env, output_names) -> MultiSignal:
    unknown = [k for k in values if k not in output_names]
    if unknown:
        raise ParameterError(f"`reference.{unknown[0]}` is not a controlled output; the outputs are "
                             f"{', '.join(output_names)}.")
    default = _plant_setpoint(env, output_names)
    signals = []
    for i, name in enumerate(output_names):
        v = values.get(name)
        if v is None:
            if default is None:
                raise ParameterError(f"`reference.{name}` is missing and the plant has no default set-point; "
                                     "give one for every controlled output.")
            v = float(default[i])
        signals.append(v if isinstance(v, AbstractSignal) else Constant(value=float(v)))
    return MultiSignal(signals=tuple(signals))


def build_setpoint(config, env, output_names):
    return _per_output(config, config.values, env, output_names)


def build_signals(config, env, output_names):
    return _per_output(config, config.signals, env, output_names)


# ---------------------------------------------------------------- baseline controllers


@dataclass(frozen=True, kw_only=True)
class PIDConfig:
    """``[controller] kind = "pid"``: :class:`neurocontrol.controllers.baselines.PIDController` around the plant's trim.

    Parameters
    ----------
    design_rotor_speed, design_altitude : float, optional
        Trim point (rad/s, m) of the feedforward; default the plant's set-point.
    kp_rotor, ki_rotor, kp_alt, ki_alt, kd_alt, kp_pitch, kd_pitch : float
        Gains (>= 0), defaults those of ``PIDController``.
    """

    kind: ClassVar[str] = "pid"
    design_rotor_speed: float | None = None
    design_altitude: float | None = None
    kp_rotor: float = 10.0
    ki_rotor: float = 20.0
    kp_alt: float = 0.062
    ki_alt: float = 0.041
    kd_alt: float = 0.030
    kp_pitch: float = 1000.0
    kd_pitch: float = 20.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                _finite(v, f.name, low=0.0)


@dataclass(frozen=True, kw_only=True)
class LQRConfig:
    """``[controller] kind = "lqr"``: :class:`neurocontrol.controllers.baselines.LQRController` with integral action.

    Parameters
    ----------
    design_rotor_speed : float, optional
        Design rotor speed (rad/s); default the plant's set-point.
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
            _finite(self.design_rotor_speed, "design_rotor_speed", low=0.0, strict=True)
        for name, n in (("Q", 7), ("R", 2)):
            v = getattr(self, name)
            if v is not None:
                if len(v) != n:
                    raise ParameterError(f"`{name}` must hold {n} diagonal weights, got {len(v)}.")
                for x in v:
                    _finite(x, name, low=0.0, strict=name == "R")
        for x in self.integrator_limit:
            _finite(x, "integrator_limit", low=0.0, strict=True)


def _helicopter_only(env, kind: str):
    from plants.helicopter.env import HelicopterEnv

    if not isinstance(env.unwrapped, HelicopterEnv):
        raise ParameterError(f"the {kind!r} baseline is designed for the helicopter plant, got "
                             f"{type(env.unwrapped).__name__}; choose another controller kind.")
    return env.unwrapped


def build_pid(config: PIDConfig, env):
    from neurocontrol.controllers.baselines import PIDController

    base = _helicopter_only(env, "pid")
    sp = base.setpoint
    gains = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name.startswith("k")}
    return PIDController.from_plant(
        base.nominal_params, rotor_speed=sp[0] if config.design_rotor_speed is None else config.design_rotor_speed,
        altitude=sp[1] if config.design_altitude is None else config.design_altitude, dt=base.dt, **gains)


def build_lqr(config: LQRConfig, env):
    from neurocontrol.controllers.baselines import LQRController

    base = _helicopter_only(env, "lqr")
    rotor = base.setpoint[0] if config.design_rotor_speed is None else config.design_rotor_speed
    return LQRController.from_plant(base.nominal_params, rotor_speed=rotor, dt=base.dt, Q=config.Q, R=config.R,
                                    integrator_limit=config.integrator_limit)


# =========================================================================== scenario files

@dataclasses.dataclass(frozen=True, kw_only=True)
class WarmupPIDConfig:
    """A rough, user-configured PID that flies the helicopter during the identification warm-up.

    Rough hover values suffice (the adaptive controller takes over after
    ``warmup_duration``); they are the user's knowledge of the stand, not the
    model's trim: the shipped scenarios use rounded figures.

    Parameters
    ----------
    trim_input : (float, float)
        Approximate hover throttle and collective-servo input, rad/s^2.
    trim_collective : float
        Approximate hover collective, rad.
    servo_gain : float
        Approximate static servo gain d u1 / d theta, rad/s^2 per rad.
    kp_rotor, ki_rotor, kp_alt, ki_alt, kd_alt, kp_pitch, kd_pitch : float
        Gains of :class:`neurocontrol.controllers.baselines.PIDController`.
    """

    trim_input: tuple[float, float] = (170.0, -100.0)
    trim_collective: float = 0.12
    servo_gain: float = 2700.0
    kp_rotor: float = 10.0
    ki_rotor: float = 20.0
    kp_alt: float = 0.062
    ki_alt: float = 0.041
    kd_alt: float = 0.030
    kp_pitch: float = 1000.0
    kd_pitch: float = 20.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveScenarioConfig(AdaptiveControllerConfig):
    """``[controller] kind = "adaptive"``: every :class:`AdaptiveControllerConfig` key, plus:

    Parameters
    ----------
    output_indices : tuple of int, default (0, 1)
        Controlled outputs within the observation (helicopter: rotor speed, altitude).
    warmup_pid : WarmupPIDConfig or None
        ``[controller.warmup_pid]``: the warm-up controller (None: open-loop
        excitation around ``nominal_input``).

    Actuator limits come from the env's action space, the control period
    from ``env.unwrapped.dt``.
    """

    kind: ClassVar[str] = "adaptive"
    output_indices: tuple[int, ...] = (0, 1)
    warmup_pid: WarmupPIDConfig | None = None


def build_adaptive(config: AdaptiveScenarioConfig, env) -> AdaptiveController:
    """Make an :class:`AdaptiveController` for ``env`` from a scenario's ``[controller]`` table."""
    from neurocontrol.controllers.baselines import PIDController

    base = {f.name: getattr(config, f.name) for f in dataclasses.fields(AdaptiveControllerConfig)}
    space = env.action_space
    limits = np.column_stack([np.asarray(space.low, dtype=float), np.asarray(space.high, dtype=float)])
    dt = float(getattr(env.unwrapped, "dt", 0.0) or 0.0)
    if dt <= 0:
        raise ParameterError(f"the adaptive controller needs the env's control period `env.unwrapped.dt` in s; "
                             f"{type(env.unwrapped).__name__} has none.")
    warm = None
    if config.warmup_pid is not None:
        w = config.warmup_pid
        warm = PIDController(input_limits=limits, dt=dt,
                             **{f.name: getattr(w, f.name) for f in dataclasses.fields(WarmupPIDConfig)})
    return AdaptiveController(AdaptiveControllerConfig(**base), input_limits=limits,
                              output_indices=config.output_indices, dt=dt, warmup_controller=warm)


__all__ = [
    "SetpointReferenceConfig",
    "SignalsReferenceConfig",
    "PIDConfig",
    "LQRConfig",
    "WarmupPIDConfig",
    "AdaptiveScenarioConfig",
    "GuardedScenarioConfig",
    "build_setpoint",
    "build_signals",
    "build_pid",
    "build_lqr",
    "build_adaptive",
    "build_guarded",
]


@dataclass(frozen=True, kw_only=True)
class GuardedScenarioConfig(GuardSettings):
    """``[controller] kind = "guarded"``: every :class:`GuardSettings` key, plus two tables.

    Parameters
    ----------
    inner : AdaptiveScenarioConfig
        ``[controller.inner]``: the adaptive controller, every key of
        ``kind = "adaptive"`` (its ``kind`` may be left out).
    fallback : PIDConfig or LQRConfig
        ``[controller.fallback]`` with ``kind = "lqr"`` (default) or ``"pid"``.
    """

    kind: ClassVar[str] = "guarded"
    inner: AdaptiveScenarioConfig
    fallback: PIDConfig | LQRConfig = field(default_factory=LQRConfig)


def build_guarded(config: GuardedScenarioConfig, env) -> GuardedController:
    """Make a :class:`GuardedController` for ``env`` from a scenario's ``[controller]`` table."""
    inner = registered("controller")["adaptive"].build(config.inner, env)
    fb_kind = type(config.fallback).kind
    fallback = registered("controller")[fb_kind].build(config.fallback, env)
    settings = GuardSettings(**{f.name: getattr(config, f.name) for f in dataclasses.fields(GuardSettings)})
    return GuardedController(inner, fallback, settings)
