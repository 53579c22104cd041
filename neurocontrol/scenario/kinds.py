"""The plant-independent built-in kinds: the set-point references, the adaptive, guarded and filtered controllers.

Plant-specific kinds (the helicopter plant, its PID and LQR baselines and the
warm-up PID) live with their plant and are listed in
:data:`neurocontrol.registry.BUILTIN`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from neurocontrol._validation import check_int, check_positive, env_dt, env_input_limits, env_setpoint
from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.guard import GUARDABLE, GuardedController, GuardSettings
from neurocontrol.controllers.prefilter import KalmanPrefilter, design_prefilter
from neurocontrol.exceptions import NeurocontrolError, ParameterError
from neurocontrol.reference import AbstractSignal, Constant, MultiSignal
from neurocontrol.registry import registered
from neurocontrol.scenario.decode import kind_field, registration_of

__all__ = [
    "SetpointReferenceConfig",
    "SignalsReferenceConfig",
    "AdaptiveScenarioConfig",
    "GuardedScenarioConfig",
    "build_setpoint",
    "build_signals",
    "build_adaptive",
    "build_guarded",
    "FilteredConfig",
    "build_filtered",
    "env_input_limits",
    "env_dt",
]

# ---------------------------------------------------------------- references


@dataclass(frozen=True, kw_only=True)
class SetpointReferenceConfig:
    """``[reference] kind = "setpoint"``: a constant set-point per controlled output.

    Parameters
    ----------
    values : dict of str to float
        One key per output name with its set-point, e.g. ``rotor_speed =
        140.0``, ``altitude = 1.0``; an output left out holds the plant's
        set-point.
    """

    kind: ClassVar[str] = "setpoint"
    values: dict[str, float] = field(default_factory=dict, metadata={"inline": True})


@dataclass(frozen=True, kw_only=True)
class SignalsReferenceConfig:
    """``[reference] kind = "signals"``: one signal per controlled output.

    Parameters
    ----------
    signals : dict of str to (float or AbstractSignal)
        One key per output name: a number (a constant) or a table with a
        signal ``kind`` (section ``signal``), e.g. ``[reference.altitude]
        kind = "staircase"``. An output left out holds the plant's set-point.
    """

    kind: ClassVar[str] = "signals"
    signals: dict[str, float | AbstractSignal] = field(default_factory=dict, metadata={"inline": True})


def _plant_setpoint(env, output_names) -> np.ndarray | None:
    names = list(getattr(env.unwrapped, "observation_names", ()) or ())
    if all(name in names for name in output_names):
        return env_setpoint(env, [names.index(name) for name in output_names])
    sp = getattr(env.unwrapped, "setpoint", None)        # outputs not named among the observations
    sp = None if sp is None else np.asarray(sp, dtype=np.float64).ravel()
    return sp if sp is not None and sp.shape == (len(output_names),) else None


def _per_output(values: Mapping, env, output_names) -> MultiSignal:
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


def build_setpoint(config: SetpointReferenceConfig, env, output_names) -> MultiSignal:
    """Make the constant set-points of a ``[reference] kind = "setpoint"`` table.

    Parameters
    ----------
    config : SetpointReferenceConfig
        The table.
    env : gymnasium.Env
        The plant; its ``unwrapped.setpoint`` fills outputs left out.
    output_names : sequence of str
        Names of the controlled outputs, in order.

    Returns
    -------
    MultiSignal
    """
    return _per_output(config.values, env, output_names)


def build_signals(config: SignalsReferenceConfig, env, output_names) -> MultiSignal:
    """Make the per-output signals of a ``[reference] kind = "signals"`` table.

    Parameters
    ----------
    config : SignalsReferenceConfig
        The table.
    env : gymnasium.Env
        The plant; its ``unwrapped.setpoint`` fills outputs left out.
    output_names : sequence of str
        Names of the controlled outputs, in order.

    Returns
    -------
    MultiSignal
    """
    return _per_output(config.signals, env, output_names)


# ---------------------------------------------------------------- the adaptive controller


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveScenarioConfig(AdaptiveControllerConfig):
    """``[controller] kind = "adaptive"``: every :class:`AdaptiveControllerConfig` key, plus two.

    Actuator limits come from the env's action space, the control period
    from ``env.unwrapped.dt``.

    Parameters
    ----------
    output_indices : tuple of int, default (0, 1)
        Controlled outputs within the observation (helicopter: rotor speed, altitude).
    warmup_pid : table, optional
        ``[controller.warmup_pid]``: the controller that flies the plant
        during the identification warm-up, a kind of section ``warmup``
        (its ``kind`` defaults to ``"pid"``); absent: open-loop excitation
        around ``nominal_input``.
    """

    kind: ClassVar[str] = "adaptive"
    output_indices: tuple[int, ...] = (0, 1)
    warmup_pid: object = kind_field("warmup", default_kind="pid", default=None)


def build_adaptive(config: AdaptiveScenarioConfig, env) -> AdaptiveController:
    """Make an :class:`AdaptiveController` for ``env`` from a scenario's ``[controller]`` table.

    Parameters
    ----------
    config : AdaptiveScenarioConfig
        The table.
    env : gymnasium.Env
        The plant: its action space gives the actuator limits, ``unwrapped.dt`` the control period.

    Returns
    -------
    AdaptiveController
    """
    base = {f.name: getattr(config, f.name) for f in dataclasses.fields(AdaptiveControllerConfig)}
    limits = env_input_limits(env)
    dt = env_dt(env, "the adaptive controller")
    warm = None
    if config.warmup_pid is not None:
        warm = registration_of("warmup", config.warmup_pid).build(config.warmup_pid, env)
    return AdaptiveController(AdaptiveControllerConfig(**base), input_limits=limits,
                              output_indices=config.output_indices, dt=dt, warmup_controller=warm)


# ---------------------------------------------------------------- the guarded controller


def _default_fallback():
    lqr = registered("controller").get("lqr")
    if lqr is None or lqr.config is None:
        raise ParameterError("the guarded controller's default fallback is the 'lqr' kind, which is not "
                             "registered; give [controller.fallback] with a registered controller `kind`.")
    return lqr.config()


@dataclass(frozen=True, kw_only=True)
class GuardedScenarioConfig(GuardSettings):
    """``[controller] kind = "guarded"``: every :class:`GuardSettings` key, plus two tables.

    Parameters
    ----------
    inner : table
        ``[controller.inner]``: the learning controller, every key of its kind: ``kind = "adaptive"`` (the
        default when ``kind`` is left out) or ``kind = "neural"``.
    fallback : table, default {kind = "lqr"}
        ``[controller.fallback]``: any registered controller kind, chosen by
        its ``kind`` key; absent: the ``lqr`` kind with its defaults.
    """

    kind: ClassVar[str] = "guarded"
    inner: object = kind_field("controller", default_kind="adaptive")
    fallback: object = kind_field("controller", default_factory=_default_fallback)


def build_guarded(config: GuardedScenarioConfig, env) -> GuardedController:
    """Make a :class:`GuardedController` for ``env`` from a scenario's ``[controller]`` table.

    Parameters
    ----------
    config : GuardedScenarioConfig
        The table.
    env : gymnasium.Env
        The plant.

    Returns
    -------
    GuardedController
    """
    inner_kind = registration_of("controller", config.inner)
    inner = inner_kind.build(config.inner, env)
    if not isinstance(inner, GUARDABLE):
        raise ParameterError(f"[controller.inner] must be a learning controller the guard can watch (kind "
                             f"'adaptive' or 'neural'), got kind {inner_kind.kind!r}; put a fixed controller in "
                             f"[controller.fallback] instead.")
    fallback_kind = registration_of("controller", config.fallback)
    try:
        fallback = fallback_kind.build(config.fallback, env)
    except (NeurocontrolError, ValueError) as exc:
        raise ParameterError(f"[controller.fallback] (kind {fallback_kind.kind!r}): {exc} For a plant with a "
                             f"python-control model, [controller.fallback] kind = \"lqr_i\" (LQR with integral "
                             f"action) fits any of them.") from None
    settings = GuardSettings(**{f.name: getattr(config, f.name) for f in dataclasses.fields(GuardSettings)})
    return GuardedController(inner, fallback, settings)


# ---------------------------------------------------------------- a Kalman filter in front of any controller


@dataclass(frozen=True, kw_only=True)
class FilteredConfig:
    """``[controller] kind = "filtered"``: any controller kind behind the env model's Kalman filter.

    The filter is :class:`~neurocontrol.controllers.prefilter.KalmanPrefilter`.

    Parameters
    ----------
    inner : table
        ``[controller.inner]``: the controller the filtered measurements go to, every key of its kind
        (``kind = "neural"`` when left out).
    measurement_noise : float or "estimate", default 0.01
        The sensors' noise standard deviation, relative to each observation's range; ``"estimate"``: estimated
        from the first ``noise_window`` measurements of each episode, filtered meanwhile as for a noise of 0.01.
    noise_window : int, default 50
        Measurements the noise is estimated from (with ``measurement_noise = "estimate"``), at least 10.
    process_noise : float, default 0.01
        The filter's white input noise, relative to each input's range.
    disturbance_noise : float, default 1e-4
        Each step of the filter's input-disturbance random walk, relative to each input's range.
    design_setpoint : tuple of float, optional
        The controlled outputs at the trim the model is linearised at; default the inner controller's
        ``design_setpoint`` where it has one (``lqr_i``, ``pid_auto``), else ``env.unwrapped.setpoint``.
    """

    kind: ClassVar[str] = "filtered"
    inner: object = kind_field("controller", default_kind="neural")
    measurement_noise: float | str = 0.01
    noise_window: int = 50
    process_noise: float = 0.01
    disturbance_noise: float = 1e-4
    design_setpoint: tuple[float, ...] | None = None

    def __post_init__(self):
        if isinstance(self.measurement_noise, str):
            if self.measurement_noise != "estimate":
                raise ParameterError(f"`measurement_noise` must be a positive number (the sensors' noise relative to "
                                     f"each observation's range) or \"estimate\", got {self.measurement_noise!r}.")
        else:
            check_positive(self.measurement_noise, "measurement_noise")
        check_int(self.noise_window, "noise_window", low=10)
        for name in ("process_noise", "disturbance_noise"):
            check_positive(getattr(self, name), name)


def build_filtered(config: FilteredConfig, env) -> KalmanPrefilter:
    """Build the inner controller for ``env`` and put the model's Kalman filter in front of it.

    Parameters
    ----------
    config : FilteredConfig
        The table.
    env : gymnasium.Env
        A plant with a python-control model.

    Returns
    -------
    KalmanPrefilter
    """
    inner_kind = registration_of("controller", config.inner)
    if inner_kind.kind == "filtered":
        raise ParameterError("[controller.inner] of a filtered controller must be another kind than 'filtered'.")
    inner = inner_kind.build(config.inner, env)
    setpoint = config.design_setpoint
    if setpoint is None:        # where the inner controller is designed, when it says (lqr_i, pid_auto)
        setpoint = getattr(config.inner, "design_setpoint", None)
    estimate = config.measurement_noise == "estimate"
    design = design_prefilter(env, inner.output_indices, process_noise=config.process_noise,
                              measurement_noise=0.01 if estimate else config.measurement_noise,   # until estimated
                              disturbance_noise=config.disturbance_noise, design_setpoint=setpoint)
    return KalmanPrefilter(inner, design, noise_window=config.noise_window if estimate else None)
