"""The quadruple tank against Johansson (2000): steady states, time constants, zeros, env vs python-control."""

import warnings

import control
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import plants
from neurocontrol.exceptions import ParameterError
from plants.quadtank import OPERATING_POINTS, QuadTankEnv, QuadTankParams, rhs, steady_state, to_iosys


@pytest.mark.parametrize("op", ["P-", "P+"])
def test_published_levels_are_a_steady_state_of_the_published_voltages(op):
    p = QuadTankParams.at(op)
    _, h0, v0 = OPERATING_POINTS[op]
    h = steady_state(v0, p)
    assert np.max(np.abs(rhs(0.0, h, v0, p))) < 1e-12
    # Table II gives levels to 0.1 cm and pump gains to 0.01: the closed-form levels agree within 0.2 cm
    np.testing.assert_allclose(h, h0, atol=0.2)
    # at the published levels the net flows are small against the outflows (rounding only)
    outflow = np.array([p.a1, p.a2, p.a3, p.a4]) * np.sqrt(2 * p.g * np.array(h0)) / [p.A1, p.A2, p.A3, p.A4]
    assert np.all(np.abs(rhs(0.0, h0, v0, p)) < 0.02 * outflow.max())


@pytest.mark.parametrize("op, published", [("P-", (62, 90, 23, 30)), ("P+", (63, 91, 39, 56))])
def test_linearisation_time_constants_match_the_paper(op, published):
    p = QuadTankParams.at(op)
    _, h0, v0 = OPERATING_POINTS[op]
    lin = to_iosys(p).linearize(np.array(h0), np.array(v0))
    T = -1.0 / np.diag(lin.A)
    np.testing.assert_allclose(T, published, rtol=0.04)   # the paper rounds to whole seconds
    # the python-control linearisation equals the paper's analytic one, T_i = A_i/a_i sqrt(2 h_i / g)
    analytic = np.array([p.A1 / p.a1, p.A2 / p.a2, p.A3 / p.a3, p.A4 / p.a4]) * np.sqrt(2 * np.array(h0) / p.g)
    np.testing.assert_allclose(T, analytic, rtol=1e-5)


def test_transmission_zeros_negative_at_p_minus_and_one_positive_at_p_plus():
    zeros = {}
    for op in ("P-", "P+"):
        p = QuadTankParams.at(op)
        _, h0, v0 = OPERATING_POINTS[op]
        zeros[op] = np.sort(np.real(control.zeros(to_iosys(p).linearize(np.array(h0), np.array(v0)))))
    assert zeros["P-"].shape == (2,) and np.all(zeros["P-"] < 0)
    assert np.sum(zeros["P+"] > 0) == 1
    assert zeros["P+"][-1] == pytest.approx(0.013, abs=0.002)
    assert QuadTankParams.at("P+").gamma1 + QuadTankParams.at("P+").gamma2 < 1 < \
        QuadTankParams.at("P-").gamma1 + QuadTankParams.at("P-").gamma2


def test_env_step_equals_input_output_response():
    rng = np.random.default_rng(0)
    env = QuadTankEnv(operating_point="P+", dt=2.0, substeps=40)
    obs, _ = env.reset(seed=0)
    sys = to_iosys(QuadTankParams.at("P+"))
    x = env.state
    for _ in range(15):
        u = rng.uniform(1.0, 6.0, 2)
        obs, *_ = env.step(u)
        resp = control.input_output_response(sys, [0.0, 2.0], np.column_stack([u, u]), x,
                                             solve_ivp_kwargs={"rtol": 1e-10, "atol": 1e-12})
        x = resp.states[:, -1]
        np.testing.assert_allclose(env.state, x, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(obs, resp.outputs[:, -1], rtol=1e-7)


def test_check_env_and_registration():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # physical (not normalised) action box
        check_env(QuadTankEnv(output_noise_std=0.01))
        env = gym.make(plants.QUADTANK_ID, operating_point="P+")
    assert env.spec.max_episode_steps == 1200
    assert env.unwrapped.observation_names == ("y1", "y2") and env.unwrapped.input_names == ("v1", "v2")
    assert env.unwrapped.units["y1"] == "V" and "rk4" in env.unwrapped.integrator
    assert np.all(np.isfinite(env.observation_space.low)) and np.all(np.isfinite(env.observation_space.high))


def test_seeded_noise_is_deterministic():
    runs = []
    for _ in range(2):
        env = QuadTankEnv(output_noise_std=0.05)
        obs = [env.reset(seed=7)[0]] + [env.step(np.array([3.0, 3.0]))[0] for _ in range(5)]
        runs.append(np.array(obs))
    assert np.array_equal(runs[0], runs[1])
    env = QuadTankEnv(output_noise_std=0.05)
    assert not np.array_equal(env.reset(seed=8)[0], runs[0][0])


def test_overflow_terminates():
    env = QuadTankEnv(dt=10.0)
    env.reset(seed=0, options={"initial_state": [19.9, 19.9, 19.9, 19.9]})
    *_, terminated, _, _ = env.step(np.array([10.0, 10.0]))
    assert terminated


def test_errors():
    with pytest.raises(ParameterError, match="`gamma1` must be"):
        QuadTankParams(gamma1=1.5)
    with pytest.raises(ParameterError, match="`operating_point` must be one of"):
        QuadTankParams.at("P0")
    with pytest.raises(ParameterError, match="`voltage_limits` must be finite with low < high"):
        QuadTankParams(voltage_limits=(10.0, 0.0))
    with pytest.raises(ParameterError, match="pumps cannot run backwards"):
        steady_state([-1.0, 3.0])
    with pytest.raises(ParameterError, match="unknown keys"):
        rhs(0.0, np.ones(4), np.ones(2), {"A5": 1.0})
    with pytest.raises(ParameterError, match="`operating_point` must be one of"):
        QuadTankEnv(params=QuadTankParams(), operating_point="P0")
