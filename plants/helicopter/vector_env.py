"""The helicopter's vector env: many helicopters in one ``VectorEnv``, stepped by one compiled batch kernel."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from neurocontrol._validation import as_float_array, check_int
from neurocontrol.exceptions import DivergenceError, NonFiniteError, ParameterError
from plants.helicopter import _kernels
from plants.helicopter.env import HelicopterEnv

__all__ = ["HelicopterVectorEnv"]


class HelicopterVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` independent helicopters on stands (the vector entry point of ``neurocontrol/Helicopter-v0``).

    Each sub-environment behaves like :class:`HelicopterEnv` without
    disturbances: same spaces (batched), dynamics, reward, termination and
    ``info`` keys (as arrays with a leading ``num_envs`` axis). All plants are
    advanced by one call of the batched RK4 kernel, so a sub-environment's
    step is bit-identical to :class:`HelicopterEnv`'s from the same state.

    Parameters
    ----------
    num_envs : int, default 1
        Number of helicopters.
    max_episode_steps : int, default 3000
        Truncation after this many steps (``gym.make_vec`` passes the registered limit).
    params, dt, substeps, setpoint, reward_weights
        As for :class:`HelicopterEnv`.

    Attributes
    ----------
    observation_names, input_names : tuple of str
        Names of the entries of one sub-environment's observation and action.
    units : dict of str to str
        Unit of every signal, by name.

    Notes
    -----
    Autoreset mode ``NEXT_STEP``: a sub-environment that terminated or was
    truncated is reset on the following :meth:`step`, which ignores its action
    and returns its first observation with reward 0. Disturbances (gusts,
    sensor noise, parameter perturbation) are not supported here; use
    ``gym.make_vec(id, num_envs, vectorization_mode="sync", ...)`` for them.

    Examples
    --------
    >>> import gymnasium as gym, numpy as np, plants
    >>> envs = gym.make_vec("neurocontrol/Helicopter-v0", num_envs=4)
    >>> obs, info = envs.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = envs.step(np.tile([173.5, -96.0], (4, 1)))
    >>> obs.shape, info["saturated"].shape
    ((4, 5), (4, 2))
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 3000, params=None, *, dt: float = 0.01,
                 substeps: int = 5, setpoint=(140.0, 1.0), reward_weights=(1.0, 1.0), render_mode=None, **kwargs):
        num_envs = check_int(num_envs, "num_envs", low=1)
        max_episode_steps = check_int(max_episode_steps, "max_episode_steps", low=1)
        unsupported = {k: v for k, v in kwargs.items() if v not in (None, 0, 0.0, ())}
        if unsupported or set(kwargs) - {"gust_rate", "gust_amplitude", "gust_duration", "gust_schedule",
                                          "sensor_noise_std", "param_perturbation"}:
            raise ParameterError(f"HelicopterVectorEnv does not support {sorted(kwargs)}; use "
                                 "gym.make_vec(..., vectorization_mode='sync') for disturbances.")
        if render_mode is not None:
            raise ParameterError(f"HelicopterVectorEnv cannot render, got render_mode={render_mode!r}.")
        # One single env holds the validated configuration, spaces and reset logic.
        self._single = HelicopterEnv(params, dt=dt, substeps=substeps, setpoint=setpoint,
                                     reward_weights=reward_weights)
        self.num_envs = int(num_envs)
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = None
        self.dt = self._single.dt
        self.observation_names = self._single.observation_names
        self.input_names = self._single.input_names
        self.units = dict(self._single.units)
        self.substeps = self._single.substeps
        self.single_action_space = self._single.action_space
        self.single_observation_space = self._single.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        n = self.num_envs
        self._p = self._single.params.to_vector()
        self._lo = self._single._limits[:, 0].copy()
        self._hi = self._single._limits[:, 1].copy()
        self._obs_lo, self._obs_hi = self._single._obs_bounds
        self._rotor_lo, self._rotor_hi = self._single.params.rotor_speed_range
        self._x = np.zeros((n, 5))
        self._x_next = np.zeros((n, 5))
        self._u = np.zeros((n, 2))
        self._accel = np.zeros(n)
        self._setpoint = np.tile(self._single.setpoint, (n, 1))
        self._steps = np.zeros(n, dtype=np.int64)
        self._done = np.zeros(n, dtype=bool)
        self._sat = np.zeros((n, 2), dtype=bool)

    def _reset_one(self, i: int, options=None) -> None:
        self._single._np_random = self.np_random        # every draw from the vector env's generator
        if options and options.get("initial_state") is not None and np.ndim(options["initial_state"]) == 2:
            x0 = as_float_array(options["initial_state"], "initial_state", (self.num_envs, 5))
            options = {**options, "initial_state": x0[i]}
        _, info = self._single.reset(options=options)
        self._x[i] = info["state"]
        self._setpoint[i] = info["setpoint"]
        self._steps[i] = 0
        self._sat[i] = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset all sub-environments.

        ``options`` as for :class:`HelicopterEnv`, applied to every
        sub-environment; ``"initial_state"`` may also have shape (num_envs, 5).

        Parameters
        ----------
        seed : int, optional
            Seeds the vector env's generator, from which every sub-environment draws.
        options : dict, optional
            ``"initial_state"`` and ``"setpoint"``.
        """
        super().reset(seed=seed)
        for i in range(self.num_envs):
            self._reset_one(i, options)
        self._done[:] = False
        return self._observe(), self._infos()

    def step(self, actions):
        """Step every sub-environment; ``actions`` has shape (num_envs, 2) in physical units.

        Parameters
        ----------
        actions : array_like, shape (num_envs, 2)
            One action per sub-environment, rad/s^2; clipped to the action space.
        """
        a = as_float_array(actions, "actions", (self.num_envs, 2), finite=False)
        if not np.all(np.isfinite(a)):
            raise NonFiniteError(f"`actions` must be finite, got NaN or inf in rows "
                                 f"{np.flatnonzero(~np.isfinite(a).all(axis=1)).tolist()}; nothing was stepped.")
        np.clip(a, self._lo, self._hi, out=self._u)
        np.not_equal(a, self._u, out=self._sat)
        _kernels.step_batch_kernel(self._x, self._u, self._p, self._accel, self.dt, self.substeps, self._x_next)
        if not np.all(np.isfinite(self._x_next)):
            raise DivergenceError("a plant state became non-finite; check the plant parameters.")
        self._x, self._x_next = self._x_next, self._x
        self._steps += 1
        w = self._x[:, 0]
        terminated = (w < self._rotor_lo) | (w > self._rotor_hi)
        truncated = self._steps >= self.max_episode_steps
        ew = self._x[:, 0] - self._setpoint[:, 0]
        ez = self._x[:, 1] - self._setpoint[:, 1]
        cw, cz = self._single._reward_coef
        reward = -(cw * ew * ew + cz * ez * ez)
        for i in np.flatnonzero(self._done):            # NEXT_STEP autoreset
            self._reset_one(i)
            reward[i] = 0.0
            terminated[i] = truncated[i] = False
        self._done = terminated | truncated
        return self._observe(), reward, terminated, truncated, self._infos()

    def _observe(self) -> np.ndarray:
        return np.clip(self._x, self._obs_lo, self._obs_hi)

    def _infos(self) -> dict:
        return {"saturated": self._sat.copy(), "time": self._steps * self.dt, "setpoint": self._setpoint.copy(),
                "state": self._x.copy(), "action": self._u.copy()}

