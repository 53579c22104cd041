"""The Van de Vusse CSTR against Klatt & Engell (1998): operating point, input multiplicity, env vs python-control."""

import math
import warnings

import control
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import plants
from neurocontrol.exceptions import ParameterError, TrimError
from plants.cstr import OPERATING_POINT, SECONDS_PER_HOUR, CSTREnv, CSTRParams, rhs, steady_state, to_iosys


def test_published_operating_point_is_the_steady_state_of_the_published_inputs():
    x = steady_state(OPERATING_POINT[1])
    assert np.max(np.abs(rhs(0.0, x, OPERATING_POINT[1]))) < 1e-9
    assert np.all(np.abs(x - OPERATING_POINT[0]) <= [0.005, 0.005, 0.05, 0.05])   # the published rounding


def closed_form_c_B(F, T, p):
    """Steady c_B at dilution rate F (1/h) and reactor temperature T (degC): c_A from the quadratic balance."""
    K = T + 273.15
    k1, k2, k3 = (k0 * math.exp(E / K) for k0, E in ((p.k10, p.E1), (p.k20, p.E2), (p.k30, p.E3)))
    cA = (-(F + k1) + math.sqrt((F + k1) ** 2 + 4 * k3 * F * p.c_A0)) / (2 * k3)
    return k1 * cA / (F + k2)


def test_input_multiplicity_of_c_B_versus_dilution_rate():
    # at the operating temperature, two dilution rates give the same c_B: the yield has an interior maximum
    p = CSTRParams()
    sys = to_iosys(p)
    T = OPERATING_POINT[0][2]
    rates = np.linspace(5.0, 35.0, 13)
    c_B = []
    x_guess, q_guess = np.array(OPERATING_POINT[0]), OPERATING_POINT[1][1]
    for F in rates:   # the model's steady state with F fixed and Q_K free to hold T
        op = control.find_operating_point(sys, x_guess, [F, q_guess], [1.0, T], input_indices=[0],
                                          output_indices=[1], return_result=True)
        assert op.result.success
        c_B.append(op.states[1])
        assert c_B[-1] == pytest.approx(closed_form_c_B(F, T, p), rel=1e-8)
    c_B = np.array(c_B)
    peak = int(np.argmax(c_B))
    assert 0 < peak < len(rates) - 1
    assert np.diff(c_B[: peak + 1]).min() > 0 and np.diff(c_B[peak:]).max() < 0   # gain changes sign once
    level = 0.5 * (c_B[peak] + max(c_B[0], c_B[-1]))
    assert c_B[0] < level and c_B[-1] < level          # so every level between has two dilution rates


def test_linear_time_scale_is_hours():
    lin = to_iosys().linearize(steady_state(OPERATING_POINT[1]), OPERATING_POINT[1])
    eig = np.linalg.eigvals(lin.A)
    assert np.all(eig.real < 0)                        # the operating point is stable
    slowest = 1.0 / np.min(-eig.real)                  # s; concentrations relax within F/V's time scale
    assert 60.0 < slowest < SECONDS_PER_HOUR / OPERATING_POINT[1][0] * 2


def test_env_step_equals_input_output_response():
    rng = np.random.default_rng(2)
    env = CSTREnv(dt=10.0, substeps=10)
    env.reset(seed=0)
    sys = to_iosys()
    x = env.state
    for _ in range(15):
        u = np.array([rng.uniform(8.0, 25.0), rng.uniform(-3000.0, -200.0)])
        obs, *_ = env.step(u)
        resp = control.input_output_response(sys, [0.0, 10.0], np.column_stack([u, u]), x,
                                             solve_ivp_kwargs={"rtol": 1e-11, "atol": 1e-12})
        x = resp.states[:, -1]
        np.testing.assert_allclose(env.state, x, rtol=1e-8)
        np.testing.assert_allclose(obs, resp.outputs[:, -1], rtol=1e-8)


def test_check_env_registration_and_signals():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # physical (not normalised) action box
        check_env(CSTREnv(output_noise_std=0.001))
        env = gym.make(plants.CSTR_ID)
    assert env.spec.max_episode_steps == 360
    base = env.unwrapped
    assert base.observation_names == ("c_B", "T") and base.input_names == ("dilution_rate", "jacket_heat")
    assert base.units["jacket_heat"] == "kJ/h" and base.units["T"] == "degC"


def test_seeded_noise_is_deterministic():
    runs = []
    for _ in range(2):
        env = CSTREnv(output_noise_std=0.01)
        runs.append(np.array([env.reset(seed=5)[0]] + [env.step(np.array([14.19, -1113.5]))[0] for _ in range(4)]))
    assert np.array_equal(runs[0], runs[1])


def test_errors():
    with pytest.raises(ParameterError, match="`k_w` must be"):
        CSTRParams(k_w=-1.0)
    with pytest.raises(ParameterError, match="`heat_limits` must be finite with low < high"):
        CSTRParams(heat_limits=(0.0, -8500.0))
    with pytest.raises(ParameterError, match="a flow cannot run backwards"):
        CSTRParams(dilution_limits=(-1.0, 35.0))
    with pytest.raises(ParameterError, match="unknown keys"):
        rhs(0.0, np.ones(4), np.ones(2), {"k4": 1.0})
    with pytest.raises(TrimError, match="no steady state found"):
        steady_state([14.19, -1113.5], guess=[1e6, 1e6, 1e6, 1e6])
