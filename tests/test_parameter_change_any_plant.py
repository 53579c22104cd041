"""Parameter-change events on the plants built on IOSystemEnv (a mapping of parameters), checked independently.

The references are plain classical RK4 integrations of each plant's published
equations, written here (no package kernel), with the changed value from the
event's time on; and, for the CSTR, the same plant built with the changed value.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from naive import plain_rk4

from neurocontrol.controllers.base import AbstractController
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario import Scenario, run_scenario
from neurocontrol.simulation import ParameterChange, simulate
from plants.cstr.env import CSTREnv
from plants.cstr.params import CSTRParams
from plants.pvtol.env import PVTOLEnv
from plants.quadtank.env import QuadTankEnv
from plants.quadtank.params import QuadTankParams

ROOT = Path(__file__).resolve().parents[1]


class Hold(AbstractController):
    """Applies one constant input."""

    def __init__(self, u, limits, dt, p):
        super().__init__(input_limits=limits, output_indices=range(p), dt=dt)
        self.u = np.asarray(u, dtype=float)

    def _reset_impl(self, observation, reference, seed):
        pass

    def _step_impl(self, observation, reference):
        return self.u.copy()


def _const(value):
    """A constant reference ``r(t)``."""
    return lambda t: np.asarray(value, dtype=float)


def _quadtank_rhs(h, v, p):
    """Johansson (2000), eq. (1): the four levels, cm/s."""
    q = [p[f"a{i}"] * math.sqrt(2 * p["g"] * max(h[i - 1], 0.0)) for i in range(1, 5)]
    return np.array([(-q[0] + q[2] + p["gamma1"] * p["k1"] * v[0]) / p["A1"],
                     (-q[1] + q[3] + p["gamma2"] * p["k2"] * v[1]) / p["A2"],
                     (-q[2] + (1 - p["gamma2"]) * p["k2"] * v[1]) / p["A3"],
                     (-q[3] + (1 - p["gamma1"]) * p["k1"] * v[0]) / p["A4"]])


def _pvtol_rhs(x, u, p):
    """The planar VTOL with viscous drag (Astrom & Murray), the thrust limits of the model."""
    F2 = min(max(u[1], 0.0), 1.5 * p["m"] * p["g"])
    F1 = min(max(u[0], -0.1 * F2), 0.1 * F2)
    th, xd, yd, thd = x[2], x[3], x[4], x[5]
    return np.array([xd, yd, thd,
                     (F1 * math.cos(th) - F2 * math.sin(th) - p["c"] * xd) / p["m"],
                     (F1 * math.sin(th) + F2 * math.cos(th) - p["m"] * p["g"] - p["c"] * yd) / p["m"],
                     p["r"] * F1 / p["J"]])


def test_quadtank_outlet_change_matches_a_plain_rk4_with_the_new_value():
    env = QuadTankEnv(operating_point="P-")
    p0 = dataclasses.asdict(QuadTankParams.at("P-"))
    x0, u, dt, n, k_c = np.array([12.0, 13.0, 1.6, 1.3]), np.array([3.1, 2.9]), 1.0, 60, 20
    ev = ParameterChange(time=k_c * dt, factors={"a1": 1.5, "gamma2": 0.9})
    res = simulate(env, Hold(u, [[0, 10], [0, 10]], dt, 2), _const([6.0, 6.0]), duration=n * dt, seed=0,
                   options={"initial_state": x0}, events=[ev])
    changed = {**p0, "a1": 1.5 * p0["a1"], "gamma2": 0.9 * p0["gamma2"]}
    ref = plain_rk4(_quadtank_rhs, x0, u, dt, 4, n, lambda k: p0 if k < k_c else changed)
    np.testing.assert_allclose(res.observations, p0["kc"] * ref[:, :2], rtol=1e-12, atol=1e-12)
    nominal = plain_rk4(_quadtank_rhs, x0, u, dt, 4, n, lambda k: p0)
    assert np.max(np.abs(p0["kc"] * nominal[k_c + 1:, :2] - res.observations[k_c + 1:])) > 0.05   # it acted
    (record,) = res.meta["events"]
    assert record["step"] == k_c and record["after"]["a1"] == pytest.approx(1.5 * record["before"]["a1"])
    # the change lasts until the next reset, which restores the constructor's parameters
    assert env.params["a1"] == 1.5 * p0["a1"]
    env.reset(seed=0)
    assert env.params == p0


def test_pvtol_mass_change_matches_a_plain_rk4_with_the_new_value():
    env = PVTOLEnv()
    p0 = {"m": 4.0, "J": 0.0475, "r": 0.25, "g": 9.8, "c": 0.05}
    assert {k: env.params[k] for k in p0} == p0          # the published constants (Astrom & Murray)
    dt, n, k_c = 0.02, 60, 25
    x0 = np.array([0.1, -0.2, 0.01, 0.0, 0.0, 0.0])
    u = np.array([0.3, 4.0 * 9.8 * 1.01])
    ev = ParameterChange(time=k_c * dt, factors={"m": 1.25, "c": 4.0})
    lim = env.action_space
    res = simulate(env, Hold(u, np.column_stack([lim.low, lim.high]), dt, 2), _const([0.0, 0.0]), duration=n * dt,
                   seed=0, options={"initial_state": x0}, events=[ev])
    changed = {**p0, "m": 5.0, "c": 0.2}
    ref = plain_rk4(_pvtol_rhs, x0, u, dt, 2, n, lambda k: p0 if k < k_c else changed)
    np.testing.assert_allclose(res.observations, ref, rtol=1e-11, atol=1e-12)
    nominal = plain_rk4(_pvtol_rhs, x0, u, dt, 2, n, lambda k: p0)
    assert np.max(np.abs(nominal[-1] - res.observations[-1])) > 1e-2


def test_cstr_change_at_time_zero_equals_the_plant_built_with_the_new_value():
    p = CSTRParams()
    env_a, env_b = CSTREnv(), CSTREnv(params=dataclasses.replace(p, k10=1.1 * p.k10, T_in=0.98 * p.T_in))
    x0 = env_a.operating_point[0] * np.array([1.02, 0.97, 1.0, 1.0])
    u = env_a.operating_point[1]
    lim = env_a.action_space
    ctrl = Hold(u, np.column_stack([lim.low, lim.high]), env_a.dt, 2)
    ref = _const(env_a.setpoint)
    changed = simulate(env_a, ctrl, ref, duration=30 * env_a.dt, seed=0, options={"initial_state": x0},
                       events=[ParameterChange(time=0.0, factors={"k10": 1.1, "T_in": 0.98})])
    built = simulate(env_b, ctrl, ref, duration=30 * env_a.dt, seed=0, options={"initial_state": x0})
    np.testing.assert_array_equal(changed.observations, built.observations)
    unchanged = simulate(env_a, ctrl, ref, duration=30 * env_a.dt, seed=0, options={"initial_state": x0})
    assert not np.array_equal(unchanged.observations[1:], built.observations[1:])


def test_set_params_validates_and_acts_from_the_next_step():
    env = QuadTankEnv()
    x0 = np.array([12.0, 13.0, 1.6, 1.3])
    env.reset(seed=0, options={"initial_state": x0})
    with pytest.raises(ParameterError, match=r"unknown parameter 'a9'; the system's parameters are \['A1'"):
        env.set_params({"a9": 1.0})
    with pytest.raises(ParameterError, match=r"'voltage_limits' is not a number .*numeric parameters: A1, A2"):
        env.set_params({"voltage_limits": (0.0, 5.0)})
    with pytest.raises(ParameterError, match=r"`params\['a1'\]` must be a finite number, got nan"):
        env.set_params({"a1": math.nan, "a2": 0.1})
    with pytest.raises(ParameterError, match=r"`params` must be a mapping"):
        env.set_params([("a1", 0.1)])
    assert env.params == dataclasses.asdict(env.nominal_params)           # nothing changed by a failed call
    env.set_params({"a1": 0.1})
    obs, *_ = env.step(np.array([3.0, 3.0]))
    other = QuadTankEnv(params=dataclasses.replace(env.nominal_params, a1=0.1))
    other.reset(seed=0, options={"initial_state": x0})
    assert np.array_equal(obs, other.step(np.array([3.0, 3.0]))[0])


def test_a_plant_without_declared_parameters_gets_a_named_error():
    class P(AbstractController):
        def _reset_impl(self, o, r, s):
            pass

        def _step_impl(self, o, r):
            return np.zeros(1)

    env = gym.make("Pendulum-v1")
    env.unwrapped.dt = 0.05
    with pytest.raises(ParameterError, match=r"needs a plant that declares its parameters: `params`.*PendulumEnv has not"):
        simulate(env, P(input_limits=[[-2.0, 2.0]], output_indices=[2], dt=0.05), _const([0.0]), duration=0.2,
                 events=[ParameterChange(time=0.1, factors={"m": 1.1})])


def test_a_scenario_parameter_change_event_on_the_quadtank():
    base = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pminus.toml").set("run.duration", "200")
    sc = base.set("events", '[{kind = "parameter_change", time = 100.0, factors = {a1 = 1.3}}]')
    assert Scenario.from_toml_text(sc.to_toml()) == sc
    with_event, without = run_scenario(sc, seed=0), run_scenario(base, seed=0)
    (record,) = with_event.meta["events"]
    assert record["kind"] == "parameter_change" and record["step"] == 100
    assert record["after"]["a1"] == pytest.approx(1.3 * record["before"]["a1"])
    np.testing.assert_array_equal(with_event.observations[:101], without.observations[:101])
    assert np.max(np.abs(with_event.observations[101:] - without.observations[101:])) > 1e-3
    bad = sc.set("events.0.factors", "{a9 = 1.3}")
    with pytest.raises(ParameterError, match=r"unknown or non-numeric plant parameters \['a9'\]; valid names: A1"):
        run_scenario(bad, seed=0)


def test_quadtank_parameter_drift_matches_a_plain_rk4_with_the_ramped_value():
    """ParameterDrift on a plant whose parameters are a mapping: a1 ramps to 1.4x over 10 s from t = 20 s."""
    from plants.wrappers import ParameterDrift

    p0 = dataclasses.asdict(QuadTankParams.at("P-"))
    dt, n, start, duration, f = 1.0, 60, 20.0, 10.0, 1.4
    env = ParameterDrift(QuadTankEnv(operating_point="P-"), {"a1": f}, start=start, duration=duration)
    x0, u = np.array([12.0, 13.0, 1.6, 1.3]), np.array([3.1, 2.9])
    res = simulate(env, Hold(u, [[0, 10], [0, 10]], dt, 2), _const([6.0, 6.0]), duration=n * dt, seed=0,
                   options={"initial_state": x0})

    def params_at(k):                 # the wrapper sets the value of period k before stepping it
        s = min(1.0, max(0.0, (k * dt - start) / duration))
        return {**p0, "a1": p0["a1"] * (1.0 + (f - 1.0) * s)}

    ref = plain_rk4(_quadtank_rhs, x0, u, dt, 4, n, params_at)
    np.testing.assert_allclose(res.observations, p0["kc"] * ref[:, :2], rtol=1e-12, atol=1e-12)
    assert env.unwrapped.params["a1"] == pytest.approx(f * p0["a1"])
    with pytest.raises(ParameterError, match="unknown or non-numeric plant parameter 'a9'"):
        ParameterDrift(QuadTankEnv(operating_point="P-"), {"a9": 1.1})
