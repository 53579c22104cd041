"""The planar VTOL against python-control's examples/pvtol.py: the same arithmetic bit for bit, hover, env."""

import warnings
from math import cos, sin

import control
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import plants
from neurocontrol.exceptions import ParameterError
from plants.pvtol import PVTOLEnv, PVTOLParams, hover, rhs, to_iosys

EXAMPLE_PARAMS = {"m": 4.0, "J": 0.0475, "r": 0.25, "g": 9.8, "c": 0.05}


def example_update(t, x, u, params):
    """python-control's examples/pvtol.py ``_pvtol_update``, its equations written out plainly."""
    m = params.get("m", 4.0)
    J = params.get("J", 0.0475)
    r = params.get("r", 0.25)
    g = params.get("g", 9.8)
    c = params.get("c", 0.05)
    x, y, theta, xdot, ydot, thetadot = x
    F1, F2 = u
    F2 = np.clip(F2, 0, 1.5 * m * g)
    F1 = np.clip(F1, -0.1 * F2, 0.1 * F2)
    xddot = (F1 * cos(theta) - F2 * sin(theta) - c * xdot) / m
    yddot = (F1 * sin(theta) + F2 * cos(theta) - m * g - c * ydot) / m
    thddot = (r * F1) / J
    return np.array([xdot, ydot, thetadot, xddot, yddot, thddot])


def test_rhs_equals_the_example_to_the_last_bit():
    rng = np.random.default_rng(0)
    for params in (None, EXAMPLE_PARAMS, {"m": 3.0, "c": 0.1}):
        for _ in range(2000):
            x = rng.normal(0.0, 2.0, 6)
            u = rng.uniform([-10.0, -10.0], [10.0, 80.0])   # also beyond the model's own input constraint
            want = example_update(0.0, x, u, {} if params is None else params)
            assert np.array_equal(rhs(0.0, x, u, params), want)
    sys = to_iosys()
    assert sys.params == EXAMPLE_PARAMS


def test_hover_is_an_unstable_equilibrium():
    x, u = hover(1.0, 2.0)
    assert np.array_equal(rhs(0.0, x, u), np.zeros(6))
    lin = to_iosys().linearize(x, u)
    eig = np.linalg.eigvals(lin.A)
    assert np.max(eig.real) >= 0.0                       # not asymptotically stable
    # x <- theta <- thetadot is a chain of integrators: a brief lateral push makes x run away
    env = PVTOLEnv(dt=0.02)
    env.reset(seed=0)
    for k in range(150):
        obs, *_ = env.step(np.array([0.5 if k < 5 else 0.0, u[1]]))
    assert abs(obs[0]) > 0.5 and abs(obs[2]) > 0.01


def test_env_step_equals_input_output_response():
    rng = np.random.default_rng(1)
    env = PVTOLEnv(dt=0.05, substeps=20)
    env.reset(seed=0)
    sys = to_iosys()
    x = env.state
    for _ in range(20):
        u = np.array([rng.uniform(-1.0, 1.0), 39.2 + rng.uniform(-3.0, 3.0)])
        obs, *_ = env.step(u)
        resp = control.input_output_response(sys, [0.0, 0.05], np.column_stack([u, u]), x,
                                             solve_ivp_kwargs={"rtol": 1e-11, "atol": 1e-12})
        x = resp.states[:, -1]
        np.testing.assert_allclose(env.state, x, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(obs, resp.outputs[:, -1], rtol=1e-8, atol=1e-10)


def test_check_env_registration_and_signals():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # physical (not normalised) action box
        check_env(PVTOLEnv(output_noise_std=0.01))
        env = gym.make(plants.PVTOL_ID)
    assert env.spec.max_episode_steps == 1000
    base = env.unwrapped
    assert base.observation_names == ("x", "y", "theta", "xdot", "ydot", "thetadot")
    assert base.input_names == ("F1", "F2") and base.units["theta"] == "rad"
    np.testing.assert_allclose(env.action_space.high, [0.15 * 39.2, 1.5 * 39.2])


def test_seeded_noise_is_deterministic():
    runs = []
    for _ in range(2):
        env = PVTOLEnv(output_noise_std=0.01)
        runs.append(np.array([env.reset(seed=3)[0]] + [env.step(np.array([0.0, 39.2]))[0] for _ in range(4)]))
    assert np.array_equal(runs[0], runs[1])


def test_leaving_the_flight_box_terminates():
    env = PVTOLEnv()
    env.reset(seed=0, options={"initial_state": [9.99, 0.0, 0.0, 5.0, 0.0, 0.0]})
    assert env.step(np.array([0.0, 39.2]))[2]


def test_errors():
    with pytest.raises(ParameterError, match="`m` must be"):
        PVTOLParams(m=0.0)
    with pytest.raises(ParameterError, match="`c` must be"):
        PVTOLParams(c=-0.1)
    with pytest.raises(ParameterError, match="unknown keys"):
        rhs(0.0, np.zeros(6), np.zeros(2), {"mass": 4.0})
    with pytest.raises(ParameterError, match="must be a PVTOLParams"):
        rhs(0.0, np.zeros(6), np.zeros(2), 4.0)


def test_measured_pose_only_gives_the_named_state_entries():
    full, pose = PVTOLEnv(), PVTOLEnv(measured=("x", "y", "theta"), setpoint=(1.0, 0.5))
    x0 = [0.1, -0.2, 0.05, 0.3, 0.0, -0.1]
    a, _ = full.reset(seed=0, options={"initial_state": x0})
    b, _ = pose.reset(seed=0, options={"initial_state": x0})
    np.testing.assert_array_equal(b, a[:3])
    u = np.array([0.3, 40.0])
    for _ in range(20):
        a = full.step(u)[0]
        b = pose.step(u)[0]
    np.testing.assert_array_equal(b, a[:3])
    np.testing.assert_array_equal(pose.state, full.state)        # the same plant, fewer sensors
    assert pose.observation_names == ("x", "y", "theta") and pose.observation_space.shape == (3,)
    np.testing.assert_array_equal(pose.observation_space.high, full.observation_space.high[:3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # physical (not normalised) action box
        check_env(PVTOLEnv(measured=("x", "y", "theta"), output_noise_std=0.01))
    swap = PVTOLEnv(measured=["x", "y", "thetadot"])
    assert swap.observation_names == ("x", "y", "thetadot")


@pytest.mark.parametrize("measured", [("theta", "x", "y"), ("x", "y", "y"), ("x", "y", "alpha"), ("x",)])
def test_measured_errors(measured):
    with pytest.raises(ParameterError, match="`measured` must list distinct state entries"):
        PVTOLEnv(measured=measured)
