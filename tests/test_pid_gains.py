"""The decentralised PI/PID with given gains (kind "pid_gains"): its loops against a plain PI written here, the
anti-windup, the bias and pairing from the model, the errors, and Johansson's published PI on the quadruple tank.
"""

import math

import numpy as np
import pytest

import plants  # noqa: F401
from neurocontrol.controllers.pid_gains import PIDGainsConfig, PIDGainsController, build_pid_gains, check_gains
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.scenario.core import Scenario, run_scenario
from plants.pvtol.env import PVTOLEnv
from plants.quadtank.env import QuadTankEnv

#: Johansson (2000), decentralised PI at the minimum-phase operating point P-: (K, Ti s) per loop, pump i -> y_i
JOHANSSON_PMINUS = [[3.0, 30.0], [2.7, 40.0]]


def plain_pi(kc, ti, dt, bias, e_seq, lo, hi):
    """A discrete PI written out here: u = I + Kc e, I += Kc dt / Ti e unless the input is clipped further out."""
    integral, out = bias, []
    for e in e_seq:
        u = integral + kc * e
        applied = min(max(u, lo), hi)
        step = kc * dt / ti * e
        if applied == u or (applied - u) * step > 0:
            integral += step
        out.append(applied)
    return np.array(out)


def test_one_loop_equals_a_plain_pi_on_a_first_order_plant():
    """Closed loop on y' = (-y + u) / 5, Euler at 0.5 s: the controller's inputs equal the plain PI's, step by step."""
    dt, kc, ti = 0.5, 1.7, 8.0
    ctrl = PIDGainsController(input_limits=[[-2.0, 2.0]], output_indices=[0], dt=dt, n_observations=1, pairing=[0],
                              bias=[0.3], gains=[[kc, ti]])
    r = np.where(np.arange(200) < 10, 0.3, 1.5)                   # a step that saturates the input for a while
    y, got, errors = 0.3, [], []
    ctrl.reset([y], [r[0]])
    for k in range(200):
        u = float(ctrl.step([y], [r[k]])[0])
        got.append(u)
        errors.append(r[k] - y)
        y += dt * (-y + u) / 5.0
    want = plain_pi(kc, ti, dt, 0.3, errors, -2.0, 2.0)
    assert np.max(np.abs(np.array(got) - want)) < 1e-12
    assert np.any(np.array(got) == 2.0)                          # the limit was reached: anti-windup exercised
    assert abs(y - 1.5) < 0.01                                   # and the loop settles on the set-point


def test_two_loops_follow_the_pairing_and_a_negative_gain():
    """Loop 0 drives input 1, loop 1 input 0 with Kc < 0; inputs without error stay at the bias."""
    ctrl = PIDGainsController(input_limits=[[0.0, 10.0], [0.0, 10.0]], output_indices=[0, 1], dt=1.0,
                              n_observations=3, pairing=[1, 0], bias=[4.0, 6.0], gains=[[2.0, 20.0], [-0.5, 50.0]])
    ctrl.reset([0.0, 0.0, 9.0], [0.0, 0.0])
    assert ctrl.step([0.0, 0.0, 9.0], [0.0, 0.0]).tolist() == [4.0, 6.0]
    u = ctrl.step([0.0, 0.0, 9.0], [1.0, 2.0])
    assert u.tolist() == [4.0 - 0.5 * 2.0, 6.0 + 2.0 * 1.0]
    assert ctrl.diagnostics()["mode"] == "pid" and ctrl.bias.tolist() == [4.0, 6.0]


def test_derivative_acts_on_the_filtered_measurement():
    """Td > 0: D = (Tf D - Kc Td (y - y_prev)) / (Tf + dt), Tf = Td / N, written out here."""
    kc, ti, td, n, dt = 2.0, math.inf, 3.0, 10.0, 0.1
    ctrl = PIDGainsController(input_limits=[[-100.0, 100.0]], output_indices=[0], dt=dt, n_observations=1,
                              pairing=[0], bias=[0.0], gains=[[kc, ti, td]], derivative_filter=n)
    ys = [0.0, 0.1, 0.3, 0.35]
    ctrl.reset([ys[0]], [0.0])
    d, prev, tf = 0.0, ys[0], td / n
    for y in ys:
        u = float(ctrl.step([y], [0.0])[0])
        d = (tf * d - kc * td * (y - prev)) / (tf + dt)
        prev = y
        assert u == pytest.approx(kc * (0.0 - y) + d, abs=1e-12)  # Ti = inf: no integral action


@pytest.mark.parametrize("gains, match", [
    ([[3.0, 30.0]], "one row"),
    ([[3.0], [2.7, 40.0]], "row 0 must be"),
    ([[0.0, 30.0], [2.7, 40.0]], "Kc must be finite and non-zero"),
    ([[3.0, -1.0], [2.7, 40.0]], "Ti must be > 0"),
    ([[3.0, float("nan")], [2.7, 40.0]], "Ti must be > 0"),
    ([[3.0, 30.0], [2.7, 40.0, -1.0]], "Td must be finite and >= 0"),
])
def test_bad_gains_are_named(gains, match):
    with pytest.raises(ParameterError, match=match):
        check_gains(gains, 2)
    with pytest.raises(ParameterError, match=match):
        PIDGainsConfig(gains=gains)


def test_missing_gains_and_a_plant_without_a_model_are_named():
    data = Scenario.from_toml("scenarios/quadtank_pminus.toml").to_dict()
    data["controller"] = {"kind": "pid_gains"}
    with pytest.raises(ScenarioError, match="missing key `controller.gains`"):
        Scenario.from_dict(data, source="test", default_name="x")


class _NoModel:
    """A plant that hides the quadruple tank's python-control model (its `to_iosys`)."""

    def __init__(self, env):
        self.env = env
        self.unwrapped = self
        self.dt = env.unwrapped.dt
        self.action_space, self.observation_space = env.action_space, env.observation_space


def test_bias_and_pairing_from_the_model_and_given_without_one():
    env = QuadTankEnv(operating_point="P-")
    ctrl = build_pid_gains(PIDGainsConfig(gains=JOHANSSON_PMINUS), env)
    assert ctrl.pairing == (0, 1)                                  # gamma1, gamma2 > 1/2: the diagonal pairing
    assert np.allclose(ctrl.bias, [3.0, 3.0], atol=1e-6)           # the published voltages of P-
    with pytest.raises(ParameterError, match="give `bias`"):
        build_pid_gains(PIDGainsConfig(gains=JOHANSSON_PMINUS), _NoModel(env))
    ctrl = build_pid_gains(PIDGainsConfig(gains=JOHANSSON_PMINUS, bias=(2.0, 2.5), pairing=(1, 0)), _NoModel(env))
    assert ctrl.pairing == (1, 0) and ctrl.bias.tolist() == [2.0, 2.5]


def test_pvtol_refuses_a_wrong_number_of_rows():
    with pytest.raises(ParameterError, match="one row"):
        build_pid_gains(PIDGainsConfig(gains=[[1.0, 10.0]] * 3, output_indices=(0, 1)), PVTOLEnv())


@pytest.mark.parametrize("seed", [0, 1])
def test_johanssons_pi_holds_the_tank_at_pminus(seed):
    """The published PI on the shipped P- task meets the scenario's tolerances (0.05 V on both levels)."""
    sc = Scenario.from_toml("scenarios/quadtank_pminus.toml")
    data = sc.to_dict()
    data["controller"] = {"kind": "pid_gains", "gains": JOHANSSON_PMINUS, "pairing": [0, 1]}
    res = run_scenario(Scenario.from_dict(data, source="test", default_name=sc.name), seed)
    assert res.status == "completed" and res.metrics["success"]
