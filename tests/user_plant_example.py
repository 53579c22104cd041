"""A user's plant module, outside the package, named in scenario files as ``kind = "user_plant_example:..."``.

Importable because tests/ is on ``sys.path`` (pytest puts it there; a
subprocess gets ``PYTHONPATH``). :func:`coupled_lags` and :func:`three_lags` are env factories (a
python-control system in an ``IOSystemEnv``), :class:`LeakyTankEnv` a plain
Gymnasium ``Env`` subclass that declares its parameters (a mapping and
``set_params``); the rest are deliberately broken plants for the error tests.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from plants.iosys_env import IOSystemEnv


def coupled_lags(*, gain: float = 1.0, tau1: float = 2.0, tau2: float = 3.0, coupling: float = 0.3, dt: float = 0.1,
                 substeps: int = 2, setpoint=(1.0, 0.5)):
    """Two coupled first-order lags, ``tau_i dy_i/dt = -y_i + gain (u_i + coupling u_j)``, inputs in [-5, 5]."""
    import control

    def rhs(t, x, u, p):
        return np.array([(-x[0] + p["gain"] * (u[0] + p["coupling"] * u[1])) / p["tau1"],
                         (-x[1] + p["gain"] * (u[1] + p["coupling"] * u[0])) / p["tau2"]])

    sys = control.nlsys(rhs, None, states=["y1", "y2"], inputs=["u1", "u2"], outputs=["y1", "y2"], dt=0,
                        params={"gain": gain, "tau1": tau1, "tau2": tau2, "coupling": coupling}, name="lags")
    env = IOSystemEnv(sys, dt=dt, substeps=substeps, x0=lambda rng: rng.uniform(-0.1, 0.1, 2),
                      input_limits=[[-5.0, 5.0]] * 2, observation_low=[-10.0, -10.0], observation_high=[10.0, 10.0],
                      setpoint=setpoint)
    env.setpoint = np.asarray(setpoint, dtype=float)
    return env


def three_lags(*, dt: float = 0.05):
    """Three coupled first-order lags driven by three inputs in [-2, 2] (a plant of another size than 2x2)."""
    import control

    A = np.array([[-1.0, 0.2, 0.0], [0.1, -0.8, 0.3], [0.0, 0.2, -1.2]])
    B = np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0]])
    sys = control.nlsys(lambda t, x, u, p: A @ x + B @ u, None, states=["a", "b", "c"], inputs=["u1", "u2", "u3"],
                        outputs=["a", "b", "c"], name="three_lags")
    return IOSystemEnv(sys, dt=dt, input_limits=[[-2.0, 2.0]] * 3, observation_low=[-2.0] * 3,
                       observation_high=[2.0] * 3)


class LeakyTankEnv(gym.Env):
    """One tank, ``area dh/dt = inflow - leak h``, stepped exactly (zero-order hold); parameters ``area``, ``leak``."""

    observation_names = ("level",)
    input_names = ("inflow",)
    units = {"level": "m", "inflow": "m^3/s"}

    def __init__(self, *, area: float = 2.0, leak: float = 0.5, dt: float = 0.5, level0: float = 0.0):
        self.dt = dt
        self.action_space = spaces.Box(0.0, 4.0, (1,), np.float64)
        self.observation_space = spaces.Box(0.0, 100.0, (1,), np.float64)
        self._params0 = {"area": float(area), "leak": float(leak)}
        self._params = dict(self._params0)
        self._level0 = float(level0)
        self._h = self._level0

    @property
    def params(self) -> dict:
        return dict(self._params)

    def set_params(self, params) -> None:
        unknown = set(params) - set(self._params)
        if unknown:
            raise ValueError(f"unknown tank parameters {sorted(unknown)}")
        self._params.update({k: float(v) for k, v in params.items()})

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._params = dict(self._params0)
        self._h = self._level0
        return np.array([self._h]), {}

    def step(self, action):
        q = float(np.clip(action, 0.0, 4.0)[0])
        a = math.exp(-self._params["leak"] / self._params["area"] * self.dt)
        self._h = a * self._h + (1.0 - a) * q / self._params["leak"]
        return np.array([self._h]), 0.0, False, False, {}


NOT_A_PLANT = 42


class NotAnEnv:
    """A class that is not a gymnasium.Env."""


def returns_a_list():
    """A factory that returns something other than an env."""
    return [1, 2]


class NoPeriodEnv(LeakyTankEnv):
    """An env without a control period."""

    def __init__(self):
        super().__init__()
        del self.dt


def unbounded_actions():
    """An env whose action space has no finite bounds."""
    env = LeakyTankEnv()
    env.action_space = spaces.Box(-np.inf, np.inf, (1,), np.float64)
    return env


def misnamed_outputs():
    """An env that declares two observation names for its one observation."""
    env = LeakyTankEnv()
    env.observation_names = ("level", "extra")
    return env


def needs_positional(size, /):
    """A factory with a positional-only argument."""
    return LeakyTankEnv()
