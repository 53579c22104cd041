"""The fault wrappers for any Gymnasium plant: sensor bias, noise, dropout, delay, a stuck actuator, parameter drift.

Each wrapper models one fault between the plant and the controller and
leaves the plant's physics alone. They stack in the order a signal travels:
the plant's measurement gets a bias and noise, is delayed, then dropped on the way to
the controller (:func:`apply_faults` builds that chain); the controller's
action may be held by a stuck actuator before the plant sees it.

Timing: a wrapper counts its own control steps since the last ``reset``, so
``start`` and ``end`` (s) are ``steps * dt`` with ``dt = env.unwrapped.dt``
(1 when the env has none). Randomness (noise, dropout) comes from the wrapper's own
``numpy.random.Generator``, seeded from an explicit ``seed`` or, failing
that, from the seed passed to ``reset`` (a child of it, so the plant's own
stream is not shifted); no wrapper ever draws from ``env.np_random``.

Every wrapper records its constructor arguments
(:class:`gymnasium.utils.RecordConstructorArgs`), so an env built with
``gymnasium.make`` and wrapped can be recreated from its ``spec``.

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
from gymnasium.utils import RecordConstructorArgs

from neurocontrol._validation import as_float_array, check_int, check_memory, check_positive, check_real
from neurocontrol.exceptions import ParameterError

__all__ = ["SensorBias", "SensorNoise", "SensorDropout", "MeasurementDelay", "StuckActuator", "ParameterDrift",
           "apply_faults"]


def _window(start, end) -> tuple[float, float]:
    """Return the active window ``[start, end)`` in s, ``end=None`` meaning for good."""
    start = check_real(start, "start", low=0.0, unit="s")
    if end is None:
        return start, math.inf
    end = check_real(end, "end", low=0.0, unit="s")
    if end <= start:
        raise ParameterError(f"`end` must be after `start`, got start={start} s, end={end} s; "
                             "pass end=None for a fault that lasts.")
    return start, end


def _dt(env) -> float:
    """Return the env's control period in s (1 when it declares none)."""
    dt = getattr(env.unwrapped, "dt", None)
    return float(dt) if isinstance(dt, numbers.Real) and dt > 0 else 1.0


class _Seeded:
    """A wrapper's own generator: from an explicit seed, else from the seed given to ``reset``.

    Reseeded at reset from ``SeedSequence([reset_seed, _SALT])`` unless the wrapper has a seed of its own;
    fresh entropy at the first seedless reset; otherwise the stream goes on. No draw from ``env.np_random``.
    """

    _SALT: int

    def _init_seed(self, seed) -> None:
        self._seed = None if seed is None else check_int(seed, "seed", low=0)
        self._rng = None if seed is None else np.random.default_rng(self._seed)

    def _reset_seeded(self, seed, options):
        """Reseed, restart the wrapper's clock and reset the env; return its ``(obs, info)``."""
        if self._seed is None and seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), self._SALT]))
        elif self._rng is None:
            self._rng = np.random.default_rng()
        self._clock_reset()
        return self.env.reset(seed=seed, options=options)


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


class SensorBias(_Clock, gym.ObservationWrapper, RecordConstructorArgs):
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
        RecordConstructorArgs.__init__(self, bias=bias, start=start, end=end)
        gym.ObservationWrapper.__init__(self, env)
        n = int(np.prod(env.observation_space.shape))
        self.bias = as_float_array(bias, "bias", (n,)).copy()
        self.start, self.end = _window(start, end)
        self._wdt = _dt(env)
        self._low = np.asarray(env.observation_space.low, dtype=np.float64).ravel()
        self._high = np.asarray(env.observation_space.high, dtype=np.float64).ravel()
        self._k = 0

    def reset(self, **kwargs):
        """Restart the wrapper's clock and reset the env.

        Parameters
        ----------
        **kwargs
            ``seed`` and ``options``, passed on.
        """
        self._clock_reset()
        return super().reset(**kwargs)

    def step(self, action):
        """Step the env and bias the measurement if the fault is active.

        Parameters
        ----------
        action : array_like
            Passed on unchanged.
        """
        self._clock_tick()
        return super().step(action)

    def observation(self, observation):
        """Return the measurement plus the bias inside the window, clipped to the space.

        Parameters
        ----------
        observation : numpy.ndarray
            The env's measurement.
        """
        t = self.time
        if not (self.start <= t < self.end):
            return observation
        obs = np.asarray(observation, dtype=np.float64).ravel() + self.bias
        return np.clip(obs, self._low, self._high)


class SensorNoise(_Seeded, _Clock, gym.ObservationWrapper, RecordConstructorArgs):
    """Add white Gaussian noise to the measurements during ``[start, end)`` (a degraded sensor).

    Parameters
    ----------
    env : gymnasium.Env
        Plant with a Box observation space.
    std : array_like, shape (n,)
        Standard deviation per observation entry, observation units (>= 0).
    start, end : float
        Active window in s since reset (``end=None``: until the episode ends).
    seed : int, optional
        Seed of the wrapper's generator. Default: derived from the seed given
        to ``reset`` (``SeedSequence([seed, 0x5E0])``), else fresh entropy at the
        first reset; later seedless resets continue the stream.

    Notes
    -----
    Noisy measurements are clipped to the observation space. ``info["noiseless_observation"]`` is the
    measurement without this noise (or the env's own noiseless observation when it reports one), at every
    step and at reset, so a run's metrics judge the true outputs too.
    """

    _SALT = 0x5E0

    def __init__(self, env, std, *, start: float = 0.0, end: float | None = None, seed=None):
        RecordConstructorArgs.__init__(self, std=std, start=start, end=end, seed=seed)
        gym.ObservationWrapper.__init__(self, env)
        n = int(np.prod(env.observation_space.shape))
        self.std = as_float_array(std, "std", (n,)).copy()
        if np.any(self.std < 0):
            raise ParameterError(f"`std` must be >= 0 per observation entry, got {self.std.tolist()}.")
        self.start, self.end = _window(start, end)
        self._init_seed(seed)
        self._wdt = _dt(env)
        self._low = np.asarray(env.observation_space.low, dtype=np.float64).ravel()
        self._high = np.asarray(env.observation_space.high, dtype=np.float64).ravel()
        self._k = 0

    def reset(self, *, seed=None, options=None):
        """Reseed the wrapper's generator (see ``seed`` above), restart its clock and reset the env.

        Parameters
        ----------
        seed : int, optional
            Passed on; also seeds the wrapper's generator when it has no seed of its own.
        options : dict, optional
            Passed on.
        """
        return self._noisy(*self._reset_seeded(seed, options))

    def step(self, action):
        """Step the env and add the noise if the fault is active.

        Parameters
        ----------
        action : array_like
            Passed on unchanged.
        """
        self._clock_tick()
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs, info = self._noisy(obs, info)
        return obs, reward, terminated, truncated, info

    def _noisy(self, obs, info):
        clean = np.asarray(obs, dtype=np.float64).ravel()
        info = {**info, "noiseless_observation": np.array(info.get("noiseless_observation", clean), copy=True)}
        if not (self.start <= self.time < self.end):
            return obs, info
        noisy = clean + self.std * self._rng.standard_normal(clean.size)
        return np.clip(noisy, self._low, self._high).reshape(np.shape(obs)), info


class SensorDropout(_Seeded, _Clock, gym.ObservationWrapper, RecordConstructorArgs):
    """Lose whole measurement samples at random: the controller gets all-NaN observations with probability p.

    Parameters
    ----------
    env : gymnasium.Env
        The plant.
    probability : float in [0, 1]
        Chance that a sample (after ``start``) is lost, independently per step.
    start, end : float
        Active window in s since reset; the reset observation is never lost.
    seed : int, optional
        Seed of the wrapper's generator. Default: derived from the seed given
        to ``reset`` (``SeedSequence([seed, 0x5D0])``), else fresh entropy at
        the first reset; later seedless resets continue the stream.
    hold_last : bool, default False
        Deliver a lost sample as a copy of the last delivered measurement
        instead of NaN (a sample-and-hold receiver), so observations stay in
        the observation space; ``info["dropped"]`` tells which were lost.

    Notes
    -----
    By default a lost sample is NaN, which lies outside the Box observation
    space (so ``check_env`` rejects it): the consumer (a controller) must
    cope, e.g. by holding its last input, as
    :class:`neurocontrol.controllers.adaptive.AdaptiveController` does.
    ``info["dropped"]`` is set in both modes.
    """

    _SALT = 0x5D0

    def __init__(self, env, probability: float, *, start: float = 0.0, end: float | None = None, seed=None,
                 hold_last: bool = False):
        RecordConstructorArgs.__init__(self, probability=probability, start=start, end=end, seed=seed,
                                       hold_last=hold_last)
        gym.ObservationWrapper.__init__(self, env)
        self.probability = check_real(probability, "probability", low=0.0, high=1.0)
        self.start, self.end = _window(start, end)
        self._init_seed(seed)
        if not isinstance(hold_last, (bool, np.bool_)):
            raise ParameterError(f"`hold_last` must be True or False, got {hold_last!r}.")
        self.hold_last = bool(hold_last)
        self._last_obs = None
        self._dropped = False
        self._wdt = _dt(env)
        self._k = 0
        self.n_dropped = 0

    def reset(self, *, seed=None, options=None):
        """Reseed the wrapper's generator (see ``seed`` above) and reset the env; this sample is never lost.

        Parameters
        ----------
        seed : int, optional
            Passed on; also seeds the wrapper's generator when it has no seed of its own.
        options : dict, optional
            Passed on.
        """
        self.n_dropped = 0
        obs, info = self._reset_seeded(seed, options)
        self._last_obs = np.array(obs, copy=True)
        return obs, {**info, "dropped": False}     # the first measurement always arrives

    def step(self, action):
        """Step the env; the measurement may be lost.

        Parameters
        ----------
        action : array_like
            Passed on unchanged.
        """
        self._clock_tick()
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "dropped": self._dropped}

    def observation(self, observation):
        """Return the measurement, or the lost-sample value (NaN, or the last one with ``hold_last``).

        Parameters
        ----------
        observation : numpy.ndarray
            The env's measurement.
        """
        t = self.time
        self._dropped = bool(self.probability > 0 and self.start <= t < self.end
                             and self._rng.random() < self.probability)
        if self._dropped:
            self.n_dropped += 1
            if self.hold_last:
                return self._last_obs.copy()
            return np.full(np.shape(observation), np.nan)
        self._last_obs = np.array(observation, copy=True)
        return observation


class MeasurementDelay(gym.ObservationWrapper, RecordConstructorArgs):
    """Deliver each measurement ``steps`` control periods late (transport or processing delay).

    Parameters
    ----------
    env : gymnasium.Env
        The plant.
    steps : int >= 0
        Delay in control steps; the first ``steps`` observations after reset
        repeat the reset measurement.
    """

    def __init__(self, env, steps: int):
        RecordConstructorArgs.__init__(self, steps=steps)
        gym.ObservationWrapper.__init__(self, env)
        self.steps = check_int(steps, "steps", low=0)
        n = int(np.prod(env.observation_space.shape or (1,)))
        check_memory((self.steps + 1.0) * (n + 14.0), f"a measurement delay of {self.steps} steps",   # an array each
                     "the delay line holds one measurement per step of delay: give a delay shorter than the run.")
        self._buffer: deque = deque(maxlen=self.steps + 1)

    def reset(self, **kwargs):
        """Reset the env and fill the delay line with the reset measurement.

        Parameters
        ----------
        **kwargs
            ``seed`` and ``options``, passed on.
        """
        obs, info = self.env.reset(**kwargs)
        self._buffer.clear()
        for _ in range(self.steps + 1):
            self._buffer.append(np.array(obs, dtype=np.float64, copy=True))
        return obs, info

    def observation(self, observation):
        """Return the measurement of ``steps`` periods ago (a copy) and store this one.

        Parameters
        ----------
        observation : numpy.ndarray
            The env's measurement.
        """
        self._buffer.append(np.array(observation, dtype=np.float64, copy=True))
        return self._buffer[0].copy()


class StuckActuator(_Clock, gym.ActionWrapper, RecordConstructorArgs):
    """Hold one input at the value it had when the fault started, during ``[start, end)`` (a jammed servo).

    Parameters
    ----------
    env : gymnasium.Env
        Plant with a Box action space.
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
        RecordConstructorArgs.__init__(self, input=input, start=start, end=end, value=value)
        gym.ActionWrapper.__init__(self, env)
        m = int(np.prod(env.action_space.shape))
        self.input = check_int(input, "input", low=0, high=m - 1)
        self.start, self.end = _window(start, end)
        self.value = None if value is None else check_real(value, "value")
        self._wdt = _dt(env)
        self._k = 0
        self._held = math.nan
        self._last = math.nan

    def reset(self, **kwargs):
        """Restart the wrapper's clock, release the input and reset the env.

        Parameters
        ----------
        **kwargs
            ``seed`` and ``options``, passed on.
        """
        self._clock_reset()
        self._held = self._last = math.nan
        return super().reset(**kwargs)

    def step(self, action):
        """Step the env with the input held if the fault is active.

        Parameters
        ----------
        action : array_like
            The controller's command.
        """
        out = super().step(action)
        self._clock_tick()
        return out

    def action(self, action):
        """Return the command with the stuck input replaced by its held value inside the window.

        Parameters
        ----------
        action : array_like
            The controller's command.
        """
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


class ParameterDrift(_Clock, gym.Wrapper, RecordConstructorArgs):
    """Ramp plant parameters linearly by factors over ``[start, start + duration]`` (wear, heating, icing).

    Needs an env whose ``unwrapped`` has ``params`` and ``set_params``: a
    parameter object with ``.replace`` (as :class:`plants.helicopter.HelicopterEnv`)
    or a mapping of numbers (as :class:`plants.IOSystemEnv`, whose
    ``set_params`` takes the changed entries). Each step
    sets ``p = p_start * (1 + (factor - 1) * s)``, ``s`` rising from 0 to 1,
    where ``p_start`` is the value at the first drifting step; afterwards the
    parameters keep their final values until the next reset.

    Parameters
    ----------
    env : gymnasium.Env
        Plant whose unwrapped env has ``params`` and ``set_params``.
    factors : dict of str to float
        Final factor per parameter (finite, >= 0), e.g. ``{"a8": 1.3}``.
    start : float
        When the drift starts, s.
    duration : float > 0
        How long it takes, s.
    """

    def __init__(self, env, factors: Mapping[str, float], *, start: float = 0.0, duration: float = 10.0):
        RecordConstructorArgs.__init__(self, factors=factors, start=start, duration=duration)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        params = getattr(base, "params", None)
        if params is None or not (hasattr(params, "replace") or isinstance(params, Mapping)) \
                or not callable(getattr(base, "set_params", None)):
            raise ParameterError(f"a parameter drift needs an env with `params` (a mapping of numbers, or an object "
                                 f"with .replace) and `set_params`; {type(base).__name__} has not.")
        if not isinstance(factors, Mapping) or not factors:
            raise ParameterError(f"`factors` must be a non-empty dict {{parameter name: factor}}, got {factors!r}.")
        clean = {}
        for name, f in factors.items():
            value = params.get(str(name)) if isinstance(params, Mapping) else getattr(params, str(name), None)
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise ParameterError(f"`factors` names an unknown or non-numeric plant parameter {name!r}.")
            clean[str(name)] = check_real(f, f"factors[{name!r}]", low=0.0)
        self.factors = clean
        self.start = check_real(start, "start", low=0.0, unit="s")
        self.duration = check_positive(duration, "duration", unit="s")
        self._wdt = _dt(env)
        self._k = 0
        self._p0: dict | None = None
        self._done = False

    def reset(self, **kwargs):
        """Restart the wrapper's clock and reset the env (which restores its nominal parameters).

        Parameters
        ----------
        **kwargs
            ``seed`` and ``options``, passed on.
        """
        self._clock_reset()
        self._p0 = None
        self._done = False
        return self.env.reset(**kwargs)

    def step(self, action):
        """Move the parameters along the ramp, then step the env.

        Parameters
        ----------
        action : array_like
            Passed on unchanged.
        """
        t = self.time
        if t >= self.start:
            base = self.env.unwrapped
            params = base.params
            mapping = isinstance(params, Mapping)
            if self._p0 is None:
                self._p0 = {n: float(params[n] if mapping else getattr(params, n)) for n in self.factors}
            if not self._done:
                s = min(1.0, (t - self.start) / self.duration)
                new = {n: v * (1.0 + (self.factors[n] - 1.0) * s) for n, v in self._p0.items()}
                base.set_params(new if mapping else params.replace(**new))
                self._done = s >= 1.0
        out = self.env.step(action)
        self._clock_tick()
        return out


def apply_faults(env, *, sensor_bias=None, delay_steps: int = 0, dropout=None, stuck_actuator=None, drift=None,
                 sensor_noise=None):
    """Wrap ``env`` in the fault wrappers given, in signal order.

    Parameters
    ----------
    env : gymnasium.Env
        The plant.
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
    sensor_noise : dict, optional
        Keyword arguments of :class:`SensorNoise`.

    Returns
    -------
    gymnasium.Env
        ``Dropout(Delay(Noise(Bias(StuckActuator(Drift(env))))))`` with the absent ones left out.
    """
    if drift:
        env = ParameterDrift(env, **drift)
    if stuck_actuator:
        env = StuckActuator(env, **stuck_actuator)
    if sensor_bias:
        env = SensorBias(env, **sensor_bias)
    if sensor_noise:
        env = SensorNoise(env, **sensor_noise)
    if delay_steps:
        env = MeasurementDelay(env, delay_steps)
    if dropout:
        env = SensorDropout(env, **dropout)
    return env
