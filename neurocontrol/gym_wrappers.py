"""Gymnasium envs and wrappers around neurocontrol controllers: an RL agent working with (or above) a controller.

- :class:`ResidualControlEnv`: the agent adds a residual to the controller's
  action every control step (residual RL on top of the adaptive controller).
- :class:`ReferenceSelectionEnv`: the agent chooses the set-points that the
  controller then tracks for a few steps (a learned reference governor).
- :class:`NormalizeObservation`: maps a finite Box observation affinely onto
  ``[-1, 1]`` (stateless, unlike ``gymnasium.wrappers.NormalizeObservation``).

All three are plain Gymnasium envs/wrappers: made with ``gym.make`` (the two
envs are registered as ``neurocontrol/ResidualControl-v0`` and
``neurocontrol/ReferenceSelection-v0``; the id
``"neurocontrol.gym_wrappers:neurocontrol/ResidualControl-v0"`` imports this
module first) they pass ``gymnasium.utils.env_checker.check_env``, including
re-creation from their spec; they work in ``SyncVectorEnv`` and
``AsyncVectorEnv`` (give top-level factory functions, which pickle) and with
``RecordEpisodeStatistics`` and ``RescaleAction``. The inner env is seeded
from the wrapper's ``np_random``, and so is the controller, so the same
``reset(seed=...)`` gives the same episode.

A reference is a callable in either of the two forms the package uses:
``reference(t) -> (p,)`` for a time ``t`` in s (a float), or the vectorised
``reference(t_array) -> (T, p)`` that :func:`neurocontrol.simulation.simulate`
takes (e.g. :class:`neurocontrol.reference.MultiSignal`, which is both). The
form is found once, at construction, by evaluating at t = 0: first with a
float (a (p,) or (1, p) result is the first form), else with a time array of
shape (1,).

Examples
--------
>>> import gymnasium as gym, plants
>>> from neurocontrol import PIDController
>>> from neurocontrol.reference import Constant, MultiSignal
>>> env = ResidualControlEnv(gym.make("neurocontrol/Helicopter-v0", max_episode_steps=100),
...                          PIDController.from_plant(),
...                          MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0))))
>>> obs, info = env.reset(seed=0)
>>> obs.shape, env.action_space.shape, env.dt
((7,), (2,), 0.01)
"""

from __future__ import annotations

import numbers

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from neurocontrol._validation import as_float_array, check_int, check_real
from neurocontrol.controllers.base import AbstractController
from neurocontrol.exceptions import DivergenceError, ParameterError, ShapeError

__all__ = ["ResidualControlEnv", "ReferenceSelectionEnv", "NormalizeObservation"]

#: Registered ids of the envs defined here (entry points in this module).
ENV_IDS = {"neurocontrol/ResidualControl-v0": "neurocontrol.gym_wrappers:ResidualControlEnv",
           "neurocontrol/ReferenceSelection-v0": "neurocontrol.gym_wrappers:ReferenceSelectionEnv"}


def _check_env(env):
    if not isinstance(env, gym.Env):
        raise ParameterError(f"`env` must be a gymnasium.Env, got {type(env).__name__}.")
    if not isinstance(env.observation_space, spaces.Box) or not isinstance(env.action_space, spaces.Box):
        raise ParameterError(f"`env` must have Box observation and action spaces, got "
                             f"{type(env.observation_space).__name__} and {type(env.action_space).__name__}.")
    dt = getattr(env.unwrapped, "dt", None)
    if not (isinstance(dt, numbers.Real) and dt > 0):
        raise ParameterError(f"`env` must expose its control period as `env.unwrapped.dt` (s); "
                             f"{type(env.unwrapped).__name__} has none.")
    return float(dt)


def _check_controller(controller, env):

    if callable(controller) and not isinstance(controller, AbstractController):
        controller = controller(env)
    if not isinstance(controller, AbstractController):
        raise ParameterError(f"`controller` must be an AbstractController or a factory env -> controller, "
                             f"got {type(controller).__name__}.")
    return controller


_PROBE_ERRORS = (TypeError, ValueError, IndexError, AttributeError)


def _reference_form(reference, p: int) -> bool:
    """Return True if ``reference`` is the vectorised form ``reference(t_array (T,)) -> (T, p)``, False if scalar.

    Probes once at t = 0: a float argument giving shape (p,) or (1, p) (or a scalar when p = 1) is the
    scalar form; otherwise a (1,) time array must give (1, p) (or (1,) when p = 1).
    """
    if not callable(reference):
        raise ParameterError(f"`reference` must be callable as reference(t) -> ({p},) or "
                             f"reference(t_array) -> (T, {p}) set-points (e.g. a MultiSignal), "
                             f"got {type(reference).__name__}.")
    try:
        shape = np.shape(reference(0.0))
        scalar = f"shape {shape}"
    except _PROBE_ERRORS as exc:
        shape, scalar = None, f"{type(exc).__name__}: {exc}"
    if shape in ((p,), (1, p)) or (p == 1 and shape == ()):
        return False
    try:
        vshape = np.shape(reference(np.zeros(1)))
        vector = f"shape {vshape}"
    except _PROBE_ERRORS as exc:
        vshape, vector = None, f"{type(exc).__name__}: {exc}"
    if vshape == (1, p) or (p == 1 and vshape == (1,)):
        return True
    raise ShapeError(f"`reference` must map a time t (s) to {p} set-points or a time array (T,) to (T, {p}), "
                     f"got {scalar} for t = 0.0 and {vector} for t = [0.0]; give one set-point per "
                     "controlled output in either form.")


def _int_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2 ** 31 - 1))


class _ControllerEnv(gym.Env[np.ndarray, np.ndarray]):
    """Shared parts: inner env, controller, seeding, reference bounds."""

    metadata = {"render_modes": []}

    def __init__(self, env, controller, *, failure_reward: float):
        self.dt = _check_env(env)
        self.env = env
        self.controller = _check_controller(controller, env)
        self.failure_reward = check_real(failure_reward, "failure_reward")
        self._idx = list(self.controller.output_indices)
        inner = env.observation_space
        self._ref_low = np.asarray(inner.low, dtype=np.float64)[self._idx]
        self._ref_high = np.asarray(inner.high, dtype=np.float64)[self._idx]
        self._obs = np.zeros(inner.shape, dtype=np.float64)
        self.render_mode = None

    def _reset_inner(self, seed, options):
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=_int_seed(self.np_random), options=options)
        self._obs = np.asarray(obs, dtype=np.float64).ravel()
        return info

    def close(self):
        self.env.close()


class ResidualControlEnv(_ControllerEnv):
    r"""An env in which the agent adds a residual to a controller's action.

    Each step: ``u = controller.step(y, r, feedforward=scale * a)`` (the
    controller adds the residual before its limits and learns from the input
    actually applied), then ``env.step(u)``.

    Parameters
    ----------
    env : gymnasium.Env
        The plant: Box spaces in physical units and ``env.unwrapped.dt``.
        Its time limit ends the episode.
    controller : AbstractController or callable
        The controller, or a factory ``controller(env)`` (recommended for
        vector envs: each copy gets its own controller). Reset at every
        episode with a seed drawn from this env's ``np_random``.
    reference : callable
        Set-points of the controlled outputs, physical units: either
        ``reference(t) -> (p,)`` for a time ``t`` in s, or the vectorised
        ``reference(t_array) -> (T, p)`` of :func:`neurocontrol.simulation.simulate`
        (e.g. :class:`neurocontrol.reference.MultiSignal`); see the module notes.
    residual_scale : float or array_like (m,), optional
        Physical size of a residual action of 1. Default: 10 % of each
        input's range.
    failure_reward : float, default -1.0
        Reward of a step on which the controller or the plant diverged (the
        episode then terminates with ``info["diverged"] = True``).

    Notes
    -----
    Spaces: action ``Box(-1, 1, (m,))``; observation ``[y (n), r (p)]`` with
    the inner observation bounds (and the controlled outputs' bounds for
    ``r``). Reward: the inner env's. ``info`` is the inner env's plus
    ``controller_action`` (before the residual) and ``residual``
    (physical units).
    """

    def __init__(self, env, controller, reference, *, residual_scale=None, failure_reward: float = -1.0):
        super().__init__(env, controller, failure_reward=failure_reward)
        p = len(self._idx)
        self._ref_vectorised = _reference_form(reference, p)
        self.reference = reference
        a_low = np.asarray(env.action_space.low, dtype=np.float64)
        a_high = np.asarray(env.action_space.high, dtype=np.float64)
        m = a_low.size
        if residual_scale is None:
            scale = 0.1 * (a_high - a_low)
        else:
            scale = as_float_array(residual_scale, "residual_scale")
            scale = np.full(m, float(scale)) if scale.ndim == 0 else as_float_array(scale, "residual_scale", (m,))
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ParameterError(f"`residual_scale` must be positive and finite per input (physical units), "
                                 f"got {np.asarray(scale).tolist()}.")
        self.residual_scale = scale
        self.action_space = spaces.Box(-1.0, 1.0, (m,), dtype=np.float64)
        inner = env.observation_space
        self.observation_space = spaces.Box(np.concatenate([inner.low, self._ref_low]),
                                            np.concatenate([inner.high, self._ref_high]), dtype=np.float64)
        self._t = 0.0
        self._r = np.zeros(p)

    def _ref(self, t: float) -> np.ndarray:
        arg = np.array([t]) if self._ref_vectorised else t
        r = np.asarray(self.reference(arg), dtype=np.float64).reshape(-1)
        return np.clip(r, self._ref_low, self._ref_high)

    def _observation(self) -> np.ndarray:
        return np.concatenate([self._obs, self._r])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the inner env (``options`` passed on) and the controller.

        Parameters
        ----------
        seed : int, optional
            Seeds this env's ``np_random``, from which the inner env and the controller are seeded.
        options : dict, optional
            Passed to the inner env's ``reset``.
        """
        info = self._reset_inner(seed, options)
        self._t = 0.0
        self._r = self._ref(0.0)
        self.controller.reset(self._obs, self._r, seed=_int_seed(self.np_random))
        return self._observation(), info

    def step(self, action):
        """Apply the controller's action plus ``residual_scale * action`` for one control period.

        Parameters
        ----------
        action : array_like, shape (m,)
            The residual in ``[-1, 1]`` per input (clipped).
        """
        a = np.clip(as_float_array(action, "action", self.action_space.shape), -1.0, 1.0)
        residual = self.residual_scale * a
        try:
            u = self.controller.step(self._obs, self._r, feedforward=residual)
            obs, reward, terminated, truncated, info = self.env.step(u)
        except DivergenceError as exc:
            return self._observation(), self.failure_reward, True, False, {"diverged": True, "error": str(exc)}
        self._obs = np.asarray(obs, dtype=np.float64).ravel()
        self._t += self.dt
        self._r = self._ref(self._t)
        info = dict(info)
        info.update(controller_action=u - residual, residual=residual, diverged=False)
        return self._observation(), float(reward), bool(terminated), bool(truncated), info


class ReferenceSelectionEnv(_ControllerEnv):
    r"""An env in which the agent chooses the set-points that a controller tracks.

    Each agent step maps ``a`` in ``[-1, 1]^p`` onto ``[reference_low,
    reference_high]`` and lets the controller track that set-point for
    ``hold_steps`` control periods; the reward is the sum of the inner env's
    rewards over them.

    Parameters
    ----------
    env : gymnasium.Env
    controller : AbstractController or callable
        As in :class:`ResidualControlEnv`.
    reference_low, reference_high : array_like (p,)
        Range of the set-points, units of the controlled outputs.
    hold_steps : int, default 10
        Control periods per agent step (``self.dt = hold_steps * env dt``).
    failure_reward : float, default -1.0

    Notes
    -----
    Observation: ``[y (n), r (p)]`` (the last chosen set-point), bounds as in
    :class:`ResidualControlEnv`. At reset the set-point is the middle of the
    range.
    """

    def __init__(self, env, controller, *, reference_low, reference_high, hold_steps: int = 10,
                 failure_reward: float = -1.0):
        super().__init__(env, controller, failure_reward=failure_reward)
        p = len(self._idx)
        lo = as_float_array(reference_low, "reference_low", (p,))
        hi = as_float_array(reference_high, "reference_high", (p,))
        if np.any(lo >= hi):
            raise ParameterError(f"`reference_low` must be below `reference_high`, got {lo.tolist()} and "
                                 f"{hi.tolist()}.")
        self.hold_steps = check_int(hold_steps, "hold_steps", low=1)
        self.control_dt = self.dt
        self.dt = self.dt * self.hold_steps
        self._lo, self._hi = lo, hi
        self.action_space = spaces.Box(-1.0, 1.0, (p,), dtype=np.float64)
        inner = env.observation_space
        self.observation_space = spaces.Box(np.concatenate([inner.low, lo]), np.concatenate([inner.high, hi]),
                                            dtype=np.float64)
        self._r = 0.5 * (lo + hi)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the inner env and the controller; the set-point starts mid-range.

        Parameters
        ----------
        seed : int, optional
            Seeds this env's ``np_random``, from which the inner env and the controller are seeded.
        options : dict, optional
            Passed to the inner env's ``reset``.
        """
        info = self._reset_inner(seed, options)
        self._r = 0.5 * (self._lo + self._hi)
        self.controller.reset(self._obs, self._r, seed=_int_seed(self.np_random))
        return np.concatenate([self._obs, self._r]), info

    def step(self, action):
        """Track the chosen set-point for ``hold_steps`` control periods.

        Parameters
        ----------
        action : array_like, shape (p,)
            The set-point, ``[-1, 1]`` mapped onto ``[reference_low, reference_high]`` (clipped).
        """
        a = np.clip(as_float_array(action, "action", self.action_space.shape), -1.0, 1.0)
        self._r = self._lo + 0.5 * (a + 1.0) * (self._hi - self._lo)
        total, terminated, truncated, info = 0.0, False, False, {}
        for _ in range(self.hold_steps):
            try:
                u = self.controller.step(self._obs, self._r)
                obs, reward, terminated, truncated, info = self.env.step(u)
            except DivergenceError as exc:
                return (np.concatenate([self._obs, self._r]), self.failure_reward, True, False,
                        {"diverged": True, "error": str(exc)})
            self._obs = np.asarray(obs, dtype=np.float64).ravel()
            total += float(reward)
            if terminated or truncated:
                break
        info = dict(info)
        info["diverged"] = False
        return np.concatenate([self._obs, self._r]), total, bool(terminated), bool(truncated), info


class NormalizeObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Map a finite Box observation affinely from ``[low, high]`` onto ``[-1, 1]`` (values outside are clipped).

    Stateless (no running statistics), so training and evaluation see the
    same map, and picklable for ``AsyncVectorEnv``. It records its
    constructor arguments, so a wrapped ``gym.make`` env can be re-created
    from its ``spec`` (``check_env`` does this).

    Parameters
    ----------
    env : gymnasium.Env
    low, high : array_like, optional
        The physical range; default the observation space's bounds (which
        must then be finite).
    """

    def __init__(self, env, low=None, high=None):
        gym.utils.RecordConstructorArgs.__init__(self, low=low, high=high)
        gym.ObservationWrapper.__init__(self, env)
        box = env.observation_space
        lo = np.asarray(box.low if low is None else as_float_array(low, "low", box.shape), dtype=np.float64)
        hi = np.asarray(box.high if high is None else as_float_array(high, "high", box.shape), dtype=np.float64)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or np.any(lo >= hi):
            raise ParameterError("NormalizeObservation needs finite `low` < `high` per entry (give them when the "
                                 f"observation space is unbounded), got {lo.tolist()} and {hi.tolist()}.")
        self._lo, self._hi = lo, hi
        self.observation_space = spaces.Box(-1.0, 1.0, box.shape, dtype=np.float64)

    def observation(self, observation):
        """Return the observation mapped onto ``[-1, 1]``.

        Parameters
        ----------
        observation : array_like
            The inner env's observation, physical units.
        """
        y = 2.0 * (np.asarray(observation, dtype=np.float64) - self._lo) / (self._hi - self._lo) - 1.0
        return np.clip(y, -1.0, 1.0)


for _id, _entry_point in ENV_IDS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry_point)
