"""The twin-rotor MIMO system against Chaudhary & Kumar (2019): its printed linearisation and transfer functions,
the equations written out here, trims, env vs python-control, parameter changes, env contract and errors."""

import dataclasses
import math
import warnings

import control
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from naive import plain_rk4

import plants
from neurocontrol.controllers.base import FunctionController
from neurocontrol.exceptions import ParameterError, ShapeError, TrimError
from neurocontrol.scenario.configs import RunConfig
from neurocontrol.simulation import ParameterChange, simulate
from plants.twin_rotor import TwinRotorEnv, TwinRotorParams, rhs, to_iosys, trim
from plants.twin_rotor.kinds import TwinRotorPlantConfig, build_twin_rotor

#: Table 1 of Chaudhary & Kumar (2019), typed in from the paper.
TABLE_1 = {"I1": 6.8e-2, "I2": 2e-2, "a1": 0.0135, "b1": 0.0924, "a2": 0.02, "b2": 0.09, "Mg": 0.32,
           "B1psi": 6e-3, "B2psi": 1e-3, "B1phi": 1e-1, "B2phi": 1e-2, "kgy": 0.05, "k1": 1.1, "k2": 0.8,
           "T11": 1.1, "T10": 1.0, "T21": 1.0, "T20": 1.0, "Tp": 2.0, "T0": 3.5, "kc": -0.2}

#: The paper's printed system and input matrices at rest (p. 214), state (psi, dpsi, phi, dphi, M_R, tau1, tau2).
A_PRINTED = np.array([[0, 1, 0, 0, 0, 0, 0],
                      [-4.7059, -0.088, 0, 0, 0, 1.359, 0],
                      [0, 0, 0, 1, 0, 0, 0],
                      [0, 0, 0, -5, -50, 0, 4.5],
                      [0, 0, 0, 0, -0.5, 0.22, 0],
                      [0, 0, 0, 0, 0, -0.909, 0],
                      [0, 0, 0, 0, 0, 0, -1]], dtype=float)
B_PRINTED = np.array([[0, 0], [0, 0], [0, 0], [0, 0], [-0.35, 0], [1, 0], [0, 0.8]], dtype=float)


def plain_rhs(x, u, p, sgn=np.sign):
    """Eqs. (1)-(4) of the paper written out plainly, ``sgn`` the Coulomb friction's sign function."""
    psi, dpsi, phi, dphi, mr, tau1, tau2 = x
    dtau1 = (p["k1"] * u[0] - p["T10"] * tau1) / p["T11"]
    dtau2 = (p["k2"] * u[1] - p["T20"] * tau2) / p["T21"]
    M1 = p["a1"] * tau1 ** 2 + p["b1"] * tau1
    M2 = p["a2"] * tau2 ** 2 + p["b2"] * tau2
    MFG = p["Mg"] * math.sin(psi)
    MBpsi = p["B1psi"] * dpsi + p["B2psi"] * sgn(dpsi)
    MG = p["kgy"] * M1 * dphi * math.cos(psi)
    MBphi = p["B1phi"] * dphi + p["B2phi"] * sgn(dphi)
    dmr = (p["kc"] * tau1 + p["kc"] * p["T0"] * dtau1 - mr) / p["Tp"]
    return np.array([dpsi, (M1 - MFG - MBpsi - MG) / p["I1"], dphi, (M2 - MBphi - mr) / p["I2"], dmr, dtau1, dtau2])


def smooth_sign(c):
    """The regularisation the plant documents: ``v |v| / (v^2 + c^2)``."""
    return lambda v: v * abs(v) / (v * v + c * c)


def analytic_jacobian(x, u, p):
    """A, B of eqs. (1)-(4) at a state with both rates zero (the Coulomb terms have zero slope there)."""
    psi, _, _, _, _, tau1, tau2 = x
    M1 = p["a1"] * tau1 ** 2 + p["b1"] * tau1
    A = np.zeros((7, 7))
    A[0, 1] = A[2, 3] = 1.0
    A[1, 0] = -p["Mg"] * math.cos(psi) / p["I1"]
    A[1, 1] = -p["B1psi"] / p["I1"]
    A[1, 3] = -p["kgy"] * M1 * math.cos(psi) / p["I1"]           # the gyroscopic coupling
    A[1, 5] = (2 * p["a1"] * tau1 + p["b1"]) / p["I1"]
    A[3, 3] = -p["B1phi"] / p["I2"]
    A[3, 4] = -1.0 / p["I2"]
    A[3, 6] = (2 * p["a2"] * tau2 + p["b2"]) / p["I2"]
    A[4, 4] = -1.0 / p["Tp"]
    A[4, 5] = p["kc"] * (1 - p["T0"] * p["T10"] / p["T11"]) / p["Tp"]
    A[5, 5] = -p["T10"] / p["T11"]
    A[6, 6] = -p["T20"] / p["T21"]
    B = np.zeros((7, 2))
    B[4, 0] = p["kc"] * p["T0"] * p["k1"] / (p["T11"] * p["Tp"])
    B[5, 0] = p["k1"] / p["T11"]
    B[6, 1] = p["k2"] / p["T21"]
    return A, B


def central_differences(f, x, u, h=1e-8):
    fx = [(f(x + h * e, u) - f(x - h * e, u)) / (2 * h) for e in np.eye(7)]
    fu = [(f(x, u + h * e) - f(x, u - h * e)) / (2 * h) for e in np.eye(2)]
    return np.column_stack(fx), np.column_stack(fu)


def test_defaults_are_table_1():
    p = dataclasses.asdict(TwinRotorParams())
    assert {k: p[k] for k in TABLE_1} == TABLE_1
    assert set(p) - set(TABLE_1) == {"coulomb_velocity"}
    assert to_iosys().params == p


def test_rhs_is_the_published_equations():
    rng = np.random.default_rng(0)
    p = {**TABLE_1, "coulomb_velocity": 0.01}
    for _ in range(500):
        x = rng.normal(0.0, [0.5, 2.0, 1.0, 2.0, 0.2, 2.0, 2.0])
        u = rng.uniform(-2.5, 2.5, 2)
        np.testing.assert_allclose(rhs(0.0, x, u), plain_rhs(x, u, p, smooth_sign(0.01)), rtol=1e-12, atol=1e-15)
        # away from rest the regularised friction is the published sign to within B2 c^2 / rate^2
        x[[1, 3]] = np.where(np.abs(x[[1, 3]]) < 1.0, np.sign(x[[1, 3]]) + x[[1, 3]], x[[1, 3]])
        np.testing.assert_allclose(rhs(0.0, x, u), plain_rhs(x, u, p), rtol=0, atol=1e-2 * 1e-4 / 2e-2)


def test_linearisation_at_rest_is_the_printed_one():
    lin = to_iosys().linearize(np.zeros(7), np.zeros(2), eps=1e-8)
    np.testing.assert_allclose(lin.A, A_PRINTED, atol=2e-3)            # printed to 3-4 digits
    # python-control's default step (1e-6) sees a little of the Coulomb terms: B2 eps / c^2, 0.1 % of the damping
    coarse = to_iosys().linearize(np.zeros(7), np.zeros(2))
    np.testing.assert_allclose(coarse.A, lin.A, rtol=2e-3, atol=1e-7)
    np.testing.assert_allclose(lin.B, B_PRINTED, atol=1e-9)
    np.testing.assert_array_equal(lin.C, [[1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0]])
    assert lin.A[1, 0] == pytest.approx(-4.7059, abs=5e-5)
    # the paper's transfer functions (eqs. 9, 10): pitch from u1 and yaw from u2
    for (i, j), num, den in (((0, 0), [1.359], [1, 0.997, 4.786, 4.278]), ((1, 1), [3.6], [1, 6, 5, 0])):
        g = control.tf(control.ss(lin.A, lin.B[:, [j]], lin.C[[i]], 0)).minreal(1e-6)
        gnum, gden = g.num[0][0], g.den[0][0]
        gnum = gnum[np.argmax(np.abs(gnum) > 1e-9 * np.max(np.abs(gnum))):]     # drop round-off leading terms
        np.testing.assert_allclose(gden / gden[0], den, atol=2e-3)
        np.testing.assert_allclose(gnum / gden[0], num, rtol=1e-3)


@pytest.mark.parametrize("pitch, yaw", [(0.0, 0.0), (0.1, 0.5), (-0.12, -1.0)])
def test_linearisation_at_a_trim_three_ways(pitch, yaw):
    x, u = trim(pitch, yaw)
    p = {**TABLE_1, "coulomb_velocity": 0.01}
    A, B = analytic_jacobian(x, u, p)
    lin = to_iosys().linearize(x, u, eps=1e-8)
    np.testing.assert_allclose(lin.A, A, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.B, B, rtol=1e-5, atol=1e-5)
    Afd, Bfd = central_differences(lambda x, u: plain_rhs(x, u, p, smooth_sign(0.01)), x, u)
    np.testing.assert_allclose(Afd, A, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(Bfd, B, rtol=1e-5, atol=1e-6)
    if pitch != 0.0:
        assert abs(A[1, 3]) > 0.01                 # the gyroscopic coupling is there off rest


def test_trims_are_equilibria_and_a_held_voltage_settles_the_pitch_there():
    x, u = trim(0.1, 0.5)
    assert np.max(np.abs(rhs(0.0, x, u))) < 1e-14
    assert x[4] == pytest.approx(-0.2 * x[5])             # M_R settles at its DC gain kc tau1
    env = TwinRotorEnv(dt=0.05, substeps=5)
    env.reset(seed=0)
    for _ in range(1200):                                  # 60 s from rest under the trim's voltages
        obs, *_ = env.step(u)
    assert obs[0] == pytest.approx(0.1, abs=1e-4)          # gravity balanced by M1(tau1): pitch as in the trim
    assert abs(env.state[3]) < 1e-4 and obs[1] > 0.0       # the yaw comes to rest (wherever the transient left it)


def test_the_published_model_holds_at_most_about_0155_rad_of_pitch():
    assert np.all(np.abs(trim(0.155)[1]) <= 2.5) and np.all(np.abs(trim(-0.3)[1]) <= 2.5)
    with pytest.raises(TrimError, match=r"needs motor voltages .* outside \+-2.5 V"):
        trim(0.156)
    with pytest.raises(TrimError, match=r"tail rotor cannot cancel the cross reaction moment .* stays above -0.1012"):
        trim(0.2)
    with pytest.raises(TrimError, match="no main-rotor momentum carries the gravity moment"):
        trim(-1.5)                                          # M1 = a1 tau^2 + b1 tau >= -0.158 N m


def test_the_main_rotor_turns_the_beam_in_yaw():
    env = TwinRotorEnv()
    env.reset(seed=0)
    for _ in range(40):
        obs, *_ = env.step(np.array([1.0, 0.0]))
    assert obs[0] > 0.05 and obs[1] > 0.05                  # kc < 0: the reaction moment turns the yaw positive


def test_env_step_equals_input_output_response():
    rng = np.random.default_rng(1)
    env = TwinRotorEnv(dt=0.1, substeps=400)       # fine sub-steps: the friction changes over 0.01 rad/s
    env.reset(seed=0, options={"initial_state": [0.05, 0.0, -0.2, 0.0, 0.0, 0.0, 0.0]})
    sys = to_iosys()
    x = env.state
    for _ in range(30):
        u = rng.uniform(-1.5, 1.5, 2)
        obs, *_ = env.step(u)
        resp = control.input_output_response(sys, [0.0, 0.1], np.column_stack([u, u]), x,
                                             solve_ivp_kwargs={"rtol": 1e-11, "atol": 1e-13})
        x = resp.states[:, -1]
        np.testing.assert_allclose(env.state, x, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(obs, resp.outputs[:, -1], rtol=1e-7, atol=1e-9)
    assert np.max(np.abs(x[[1, 3]])) > 0.05                # the rates really moved (and crossed the friction)


def test_a_parameter_change_matches_a_plain_rk4_with_the_new_values():
    env = TwinRotorEnv()
    p0 = {**TABLE_1, "coulomb_velocity": 0.01}
    assert {k: env.params[k] for k in p0} == p0
    dt, n, k_c = 0.05, 80, 30
    x0, u = np.array([0.02, 0.0, 0.1, 0.0, 0.0, 0.3, -0.4]), np.array([0.3, -1.15])
    hold = FunctionController(lambda obs, ref: u.copy(), input_limits=[[-2.5, 2.5]] * 2, output_indices=[0, 1],
                              dt=dt)
    res = simulate(env, hold, lambda t: np.zeros(2), duration=n * dt, seed=0, options={"initial_state": x0},
                   events=[ParameterChange(time=k_c * dt, factors={"kc": 1.5, "Mg": 0.8})])
    changed = {**p0, "kc": -0.3, "Mg": 0.256}
    def f(x, u, p):
        return plain_rhs(x, u, p, smooth_sign(p["coulomb_velocity"]))

    ref = plain_rk4(f, x0, u, dt, 5, n, lambda k: p0 if k < k_c else changed)
    np.testing.assert_allclose(res.observations, ref[:, [0, 2]], rtol=1e-11, atol=1e-12)
    nominal = plain_rk4(f, x0, u, dt, 5, n, lambda k: p0)
    assert np.max(np.abs(nominal[-1, [0, 2]] - res.observations[-1])) > 1e-2      # the change acted
    env.reset(seed=0)
    assert {k: env.params[k] for k in p0} == p0                                      # reset restores


def test_check_env_registration_and_signals():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # physical (not normalised) action box
        check_env(TwinRotorEnv(output_noise_std=0.01))
        env = gym.make(plants.TWIN_ROTOR_ID)
    assert env.spec.max_episode_steps == 800
    base = env.unwrapped
    assert base.observation_names == ("pitch", "yaw") and base.input_names == ("u1", "u2")
    assert base.units["pitch"] == "rad" and base.units["u1"] == "V" and "rk4" in base.integrator
    np.testing.assert_array_equal(env.action_space.low, [-2.5, -2.5])
    np.testing.assert_array_equal(env.action_space.high, [2.5, 2.5])
    np.testing.assert_allclose(env.observation_space.high, [np.pi / 2, np.pi])
    assert np.all(np.isfinite(env.observation_space.low))


def test_seeded_noise_is_deterministic():
    runs = []
    for _ in range(2):
        env = TwinRotorEnv(output_noise_std=0.01)
        runs.append(np.array([env.reset(seed=5)[0]] + [env.step(np.array([0.5, -0.5]))[0] for _ in range(5)]))
    assert np.array_equal(runs[0], runs[1])
    env = TwinRotorEnv(output_noise_std=0.01)
    assert not np.array_equal(env.reset(seed=6)[0], runs[0][0])
    assert np.std(runs[0][:, 1]) > 0.0


def test_leaving_the_pitch_range_terminates():
    env = TwinRotorEnv()
    env.reset(seed=0, options={"initial_state": [1.5, 2.0, 0.0, 0.0, 0.0, 2.75, 0.0]})
    terminated = False
    for _ in range(20):
        *_, terminated, _, _ = env.step(np.array([2.5, 0.0]))
        if terminated:
            break
    assert terminated and env.state[0] > np.pi / 2


def test_scenario_kind_builds_the_env():
    env, options = build_twin_rotor(TwinRotorPlantConfig(initial_spread=0.02), RunConfig(duration=10.0),
                                    np.random.default_rng(0))
    assert env.spec.max_episode_steps == 200 and env.unwrapped.dt == 0.05
    x0 = options["initial_state"]
    assert np.all(np.abs(x0[[0, 2]]) <= 0.02) and np.all(x0[[1, 3, 4, 5, 6]] == 0.0) and np.any(x0 != 0.0)


def test_errors():
    with pytest.raises(ParameterError, match="`I1` must be a finite number > 0"):
        TwinRotorParams(I1=0.0)
    with pytest.raises(ParameterError, match="`B2phi` must be a finite number >= 0"):
        TwinRotorParams(B2phi=-0.01)
    with pytest.raises(ParameterError, match="`coulomb_velocity` must be a finite number > 0"):
        TwinRotorParams(coulomb_velocity=0.0)
    with pytest.raises(ParameterError, match="`kc` must be a finite number"):
        TwinRotorParams(kc=math.nan)
    with pytest.raises(ParameterError, match="unknown keys"):
        rhs(0.0, np.zeros(7), np.zeros(2), {"I3": 1.0})
    with pytest.raises(ParameterError, match="must be a TwinRotorParams"):
        rhs(0.0, np.zeros(7), np.zeros(2), 0.068)
    with pytest.raises(ParameterError, match="`pitch` must be a finite number"):
        trim(math.inf)
    with pytest.raises(ParameterError, match="`initial_spread` must be a finite number >= 0 and <= 0.5 rad"):
        TwinRotorPlantConfig(initial_spread=1.0)
    with pytest.raises(ShapeError, match="`setpoint` must have shape"):
        TwinRotorEnv(setpoint=(0.1,))


def test_docstring_examples_run():
    import doctest

    import plants.twin_rotor.dynamics
    import plants.twin_rotor.env
    import plants.twin_rotor.params

    for module in (plants.twin_rotor.params, plants.twin_rotor.dynamics, plants.twin_rotor.env):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__
