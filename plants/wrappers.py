"""Fault wrappers for any Gymnasium plant: sensor bias, dropout, delay, a stuck actuator, slow parameter drift.

Each wrapper models one fault between the plant and the controller and
leaves the plant's physics alone. They stack in the order a signal travels:
the plant's measurement gets a bias, is delayed, then dropped on the way to
the controller (:func:`apply_faults` builds that chain); the controller's
action may be held by a stuck actuator before the plant sees it.

Timing: a wrapper counts its own control steps since the last ``reset``, so
``start`` and ``end`` (s) are ``steps * dt`` with ``dt = env.unwrapped.dt``
(1 when the env has none). Randomness (dropout) comes from the wrapper's own
``numpy.random.Generator``, seeded from an explicit ``seed`` or, failing
that, from the seed passed to ``reset`` (a child of it, so the plant's own
stream is not shifted); no wrapper ever draws from ``env.np_random``.

Examples
--------
>>> import gymnasium as gym, numpy as np, plants
>>> from plants.wrappers import SensorBias, SensorDropout
>>> env = SensorDropout(SensorBias(gym.make("neurocontrol/Helicopter-v0"), bias=[0, 0.05, 0, 0, 0]),
...                     probability=1.0, start=0.01)
>>> obs, _ = env.reset(seed=0, options={"initial_state": [140.0, 1.0, 0.0, 0.12301, 0.0]})
>>> round(float(obs[1]), 3)                      # the reset measurement is never dropped
1.05
>>> obs, *_ = env.step(env.unwrapped.trim_action)
>>> bool(np.isnan(obs).all())
True
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Mapping

import gymnasium as gym
import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import ParameterError

__all__ = ["SensorBias", "SensorDropout", "MeasurementDelay", "StuckActuator", "ParameterDrift", "apply_faults"]


def _time_arg(value, name: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0
    if not ok:
        raise ParameterError(f"`{name}` must be a finite time >= 0 s{' or None' if allow_none else ''}, got {value!r}.")
    return float(value)


def _window(start, end) -> tuple[float, float]:
    start = _time_arg(start, "start")
    end = _time_arg(end, "end", allow_none=True)
    if end is not None and end <= start:
        raise ParameterError(f"`end` must be after `start`, got start={start} s, end={end} s.")
    return start, math.inf if end is None else end


def _dt(env) -> float:
    dt = getattr(env.unwrapped, "dt", None)
    return float(dt) if isinstance(dt, numbers.Real) and dt > 0 else 1.0


class _Clock:
    """Step counter of a wrapper: the time (s) of the observation about to be returned."""

    def _clock_reset(self):
        self._k = 0

    def _clock_tick(self):
        self._k += 1

    @property
    def time(self) -> float:
        """Time of the latest observation since reset, s."""
        return self._k * self._wdt


class SensorBias(_Clock, gym.ObservationWrapper):
    """Add a constant offset to the measurements during ``[start, end)`` (a miscalibrated sensor).

    Parameters
    ----------
    env : gymnasium.Env
        Plant with a Box observation space.
    bias : array_like, shape (n,)
        Offset per observation entry, observation units.
    start, end : float
        Active window in s since reset (``end=None``: until the episode ends).

    Notes
    -----
    Biased measurements are clipped to the observation space (the sensor
    saturates), so observations stay in the space.
    """

    def __init__(self, env, bias, *, start: float = 0.0, end: float | None = None):
        super().__init__(env)
        n = int(np.prod(env.observation_space.shape))
        self.bias = as_float_array(bias, "bias", (n,)).copy()
        self.start, self.end = _window(start, end)
        self._wdt = _dt(env)
        self._low = np.asarray(env.observation_space.low, dtype=np.float64).ravel()
        self._high = np.asarray(env.observation_space.high, dtype=np.float64).ravel()
        self._k = 0

    def reset(self, **kwargs):
        self._clock_reset()
        return super().reset(**kwargs)

    def step(self, action):
        self._clock_tick()
        return super().step(action)

    def observation(self, observation):
        t = self.time
        if not (self.start <= t < self.end):
            return observation
        obs = np.asarray(observation, dtype=np.float64).ravel() + self.bias
        return np.clip(obs, self._low, self._high)


class SensorDropout(_Clock, gym.ObservationWrapper):
    """Lose whole measurement samples at random: the controller gets all-NaN observations with probability p.

    Parameters
    ----------
    env : gymnasium.Env
    probability : float in [0, 1]
        Chance that a sample (after ``start``) is lost, independently per step.
    start, end : float
        Active window in s since reset; the reset observation is never lost.
    seed : int, optional
        Seed of the wrapper's generator. Default: derived from the seed given
        to ``reset`` (``SeedSequence([seed, 0x5D0])``), else fresh entropy at
        the first reset; later seedless resets continue the stream.

    Notes
    -----
    A lost sample is NaN, which lies outside the Box observation space: the
    consumer (a controller) must cope, e.g. by holding its last input, as
    :class:`neurocontrol.controllers.adaptive.AdaptiveController` does.
    """

    def __init__(self, env, probability: float, *, start: float = 0.0, end: float | None = None, seed=None):
        super().__init__(env)
        ok = not isinstance(probability, bool) and isinstance(probability, numbers.Real) and 0 <= probability <= 1
        if not ok:
            raise ParameterError(f"`probability` must be in [0, 1], got {probability!r}.")
        self.probability = float(probability)
        self.start, self.end = _window(start, end)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ParameterError(f"`seed` must be a non-negative integer or None, got {seed!r}.")
        self._seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._wdt = _dt(env)
        self._k = 0
        self.n_dropped = 0

    def reset(self, *, seed=None, options=None):
        if self._seed is None and seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5D0]))
        elif self._rng is None:
            self._rng = np.random.default_rng()
        self._clock_reset()
        self.n_dropped = 0
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, info                     # the first measurement always arrives

    def step(self, action):
        self._clock_tick()
        return super().step(action)

    def observation(self, observation):
        t = self.time
        if self.probability > 0 and self.start <= t < self.end and self._rng.random() < self.probability:
            self.n_dropped += 1
            return np.full(np.shape(observation), np.nan)
        return observation


class MeasurementDelay(gym.ObservationWrapper):
    """Deliver each measurement ``steps`` control periods late (transport or processing delay).

    Parameters
    ----------
    env : gymnasium.Env
    steps : int >= 0
        Delay in control steps; the first ``steps`` observations after reset
        repeat the reset measurement.
    """

    def __init__(self, env, steps: int):
        super().__init__(env)
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ParameterError(f"`steps` must be a non-negative integer (control periods), got {steps!r}.")
        self.steps = int(steps)
        self._buffer: deque = deque(maxlen=self.steps + 1)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._buffer.clear()
        for _ in range(self.steps + 1):
            self._buffer.append(np.array(obs, dtype=np.float64, copy=True))
        return obs, info

    def observation(self, observation):
        self._buffer.append(np.array(observation, dtype=np.float64, copy=True))
        return self._buffer[0]


class StuckActuator(_Clock, gym.ActionWrapper):
    """Hold one input at the value it had when the fault started, during ``[start, end)`` (a jammed servo).

    Parameters
    ----------
    env : gymnasium.Env
    input : int
        Index of the stuck input.
    start, end : float
        Fault window in s since reset (``end=None``: stuck for good).
    value : float, optional
        Hold this value instead of the last command before ``start``.

    Notes
    -----
    The controller is not told: ``info["action"]`` (what the plant got)
    shows the held value, so a runner records it.
    """

    def __init__(self, env, input: int, *, start: float = 0.0, end: float | None = None, value: float | None = None):
        super().__init__(env)
        m = int(np.prod(env.action_space.shape))
        if isinstance(input, bool) or not isinstance(input, numbers.Integral) or not 0 <= input < m:
            raise ParameterError(f"`input` must be an input index in [0, {m}), got {input!r}.")
        self.input = int(input)
        self.start, self.end = _window(start, end)
        if value is not None and not (isinstance(value, numbers.Real) and math.isfinite(value)):
            raise ParameterError(f"`value` must be a finite input value or None, got {value!r}.")
        self.value = None if value is None else float(value)
        self._wdt = _dt(env)
        self._k = 0
        self._held = math.nan
        self._last = math.nan

    def reset(self, **kwargs):
        self._clock_reset()
        self._held = self._last = math.nan
        return super().reset(**kwargs)

    def step(self, action):
        out = super().step(action)
        self._clock_tick()
        return out

    def action(self, action):
        t = self.time                        # time at which this action starts to act
        a = np.array(action, dtype=np.float64, copy=True).ravel()
        if self.start <= t < self.end:
            if math.isnan(self._held):
                self._held = self.value if self.value is not None else \
                    (self._last if math.isfinite(self._last) else float(a[self.input]))
            a[self.input] = self._held
        else:
            self._held = math.nan
            self._last = float(a[self.input])
        return a


class ParameterDrift(_Clock, gym.Wrapper):
    """Ramp plant parameters linearly by factors over ``[start, start + duration]`` (wear, heating, icing).

    Needs an env whose ``unwrapped`` has ``params`` (with ``.replace``) and
    ``set_params`` (as :class:`plants.helicopter.HelicopterEnv`). Each step
    sets ``p = p_start * (1 + (factor - 1) * s)``, ``s`` rising from 0 to 1,
    where ``p_start`` is the value at the first drifting step; afterwards the
    parameters keep their final values until the next reset.

    Parameters
    ----------
    env : gymnasium.Env
    factors : dict of str to float
        Final factor per parameter (finite, >= 0), e.g. ``{"a8": 1.3}``.
    start : float
        When the drift starts, s.
    duration : float > 0
        How long it takes, s.
    """

    def __init__(self, env, factors: Mapping[str, float], *, start: float = 0.0, duration: float = 10.0):
        super().__init__(env)
        base = env.unwrapped
        params = getattr(base, "params", None)
        if params is None or not hasattr(params, "replace") or not callable(getattr(base, "set_params", None)):
            raise ParameterError(f"a parameter drift needs an env with `params` (having .replace) and `set_params`; "
                                 f"{type(base).__name__} has not.")
        if not isinstance(factors, Mapping) or not factors:
            raise ParameterError(f"`factors` must be a non-empty dict {{parameter name: factor}}, got {factors!r}.")
        clean = {}
        for name, f in factors.items():
            if not isinstance(getattr(params, str(name), None), numbers.Real):
                raise ParameterError(f"`factors` names an unknown or non-numeric plant parameter {name!r}.")
            if isinstance(f, bool) or not isinstance(f, numbers.Real) or not math.isfinite(f) or f < 0:
                raise ParameterError(f"`factors[{name!r}]` must be a finite factor >= 0, got {f!r}.")
            clean[str(name)] = float(f)
        self.factors = clean
        self.start = _time_arg(start, "start")
        d = _time_arg(duration, "duration")
        if d <= 0:
            raise ParameterError(f"`duration` must be positive, got {duration!r}.")
        self.duration = d
        self._wdt = _dt(env)
        self._k = 0
        self._p0: dict | None = None
        self._done = False

    def reset(self, **kwargs):
        self._clock_reset()
        self._p0 = None
        self._done = False
        return self.env.reset(**kwargs)

    def step(self, action):
        t = self.time
        if t >= self.start:
            base = self.env.unwrapped
            if self._p0 is None:
                self._p0 = {n: float(getattr(base.params, n)) for n in self.factors}
            if not self._done:
                s = min(1.0, (t - self.start) / self.duration)
                base.set_params(base.params.replace(**{n: v * (1.0 + (self.factors[n] - 1.0) * s)
                                                       for n, v in self._p0.items()}))
                self._done = s >= 1.0
        out = self.env.step(action)
        self._clock_tick()
        return out


def apply_faults(env, *, sensor_bias=None, delay_steps: int = 0, dropout=None, stuck_actuator=None, drift=None):
    """Wrap ``env`` in the fault wrappers given, in signal order.

    Parameters
    ----------
    env : gymnasium.Env
    sensor_bias : dict, optional
        Keyword arguments of :class:`SensorBias` (``bias``, ``start``, ``end``).
    delay_steps : int, default 0
        :class:`MeasurementDelay` steps (0: none).
    dropout : dict, optional
        Keyword arguments of :class:`SensorDropout`.
    stuck_actuator : dict, optional
        Keyword arguments of :class:`StuckActuator`.
    drift : dict, optional
        Keyword arguments of :class:`ParameterDrift`.

    Returns
    -------
    gymnasium.Env
        ``Dropout(Delay(Bias(StuckActuator(Drift(env)))))`` with the absent ones left out.
    """
    if drift:
        env = ParameterDrift(env, **drift)
    if stuck_actuator:
        env = StuckActuator(env, **stuck_actuator)
    if sensor_bias:
        env = SensorBias(env, **sensor_bias)
    if delay_steps:
        env = MeasurementDelay(env, delay_steps)
    if dropout:
        env = SensorDropout(env, **dropout)
    return env
