"""The generic LQR-I baseline: gains against python-control, observer against a plain Riccati recursion, closed loops.

Claim checked last: the LQR-I designed by ``build_lqr_i`` at the trim of each
new plant's python-control model completes that plant's shipped standard
task (quadtank P- and P+, PVTOL steps, CSTR set-point change) within the
scenario's tolerance, on seeds 0 and 1.
"""

import control
import gymnasium as gym
import numpy as np
import pytest

import plants  # noqa: F401
from neurocontrol.controllers.generic import (
    LQRIConfig,
    LQRIController,
    automatic_warmup,
    build_lqr_i,
    design_lqr_i,
    discretize_zoh,
    gain_sign_steps,
    kalman_gain,
    lqr_i_gains,
    trim_linearisation,
)
from neurocontrol.controllers.pid_auto import PIDAutoConfig, build_pid_auto
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario.core import Scenario, run_scenario


def random_plant(seed, n=4, m=2, p=2):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n)) - 2.0 * np.eye(n)
    return A, rng.normal(size=(n, m)), rng.normal(size=(p, n)), np.zeros((p, m))


def test_discretisation_equals_c2d():
    A, B, C, D = random_plant(0)
    Ad, Bd = discretize_zoh(A, B, 0.1)
    ref = control.c2d(control.ss(A, B, C, D), 0.1, method="zoh")
    np.testing.assert_allclose(Ad, ref.A, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Bd, ref.B, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lqr_i_gains_equal_dlqr_on_the_augmented_system(seed):
    A, B, C, D = random_plant(seed)
    dt = 0.05
    sysd = control.c2d(control.ss(A, B, C, D), dt, method="zoh")
    n, p = 4, 2
    Aa = np.block([[sysd.A, np.zeros((n, p))], [-dt * C, np.eye(p)]])
    Ba = np.vstack([sysd.B, np.zeros((p, 2))])
    Q = np.diag([1.0, 2.0, 0.5, 0.1, 3.0, 4.0])
    R = np.diag([0.3, 0.7])
    K_ref, _, _ = control.dlqr(Aa, Ba, Q, R)
    design = design_lqr_i(control.ss(A, B, C, D), dt=dt, Q=Q, R=R, output_indices=[0, 1])
    np.testing.assert_allclose(np.hstack([design.K, design.Ki]), K_ref, rtol=1e-7, atol=1e-9)


def test_kalman_gain_equals_the_riccati_recursion():
    A, B, C, _ = random_plant(4, p=1)
    Ad, Bd = discretize_zoh(A, B, 0.1)
    W, V = Bd @ Bd.T + 1e-3 * np.eye(4), np.array([[0.01]])
    P = np.eye(4)
    for _ in range(5000):   # plain prior-covariance recursion to its fixed point
        S = C @ P @ C.T + V
        P = Ad @ P @ Ad.T + W - Ad @ P @ C.T @ np.linalg.inv(S) @ C @ P @ Ad.T
    M_ref = P @ C.T @ np.linalg.inv(C @ P @ C.T + V)
    np.testing.assert_allclose(kalman_gain(Ad, C, W, V), M_ref, rtol=1e-8, atol=1e-12)


def test_integrators_freeze_while_the_input_saturates():
    sys = control.ss([[-1.0]], [[1.0]], [[1.0]], [[0.0]])
    design = design_lqr_i(sys, dt=0.1, Q=np.diag([1.0, 1.0]), R=[[0.1]], output_indices=[0])
    ctrl = LQRIController(design, input_limits=[[-0.1, 0.1]], output_indices=[0])
    ctrl.reset([0.0], [10.0])
    for _ in range(20):
        assert ctrl.step([0.0], [10.0])[0] == 0.1
    assert np.array_equal(ctrl.get_state()["integral"], [0.0])
    wide = LQRIController(design, input_limits=[[-1e6, 1e6]], output_indices=[0])
    wide.reset([0.0], [10.0])
    wide.step([0.0], [10.0])
    assert wide.get_state()["integral"][0] == pytest.approx(1.0)   # dt * error


def test_state_round_trip():
    design = design_lqr_i(random_plant(5), dt=0.1, Q=np.eye(6), R=np.eye(2), output_indices=[0, 1])
    a = LQRIController(design, input_limits=[[-5, 5]] * 2, output_indices=[0, 1])
    b = LQRIController(design, input_limits=[[-5, 5]] * 2, output_indices=[0, 1])
    for c in (a, b):
        c.reset([0.1, 0.2], [1.0, 0.0])
    for _ in range(3):
        a.step([0.1, 0.2], [1.0, 0.0])
    b.set_state(a.get_state())
    b._last_u = a._last_u
    assert np.array_equal(a.step([0.3, 0.1], [1.0, 0.0]), b.step([0.3, 0.1], [1.0, 0.0]))


def test_errors():
    A, B, C, D = random_plant(6)
    with pytest.raises(ParameterError, match="`output_indices` must index the plant's 2 outputs"):
        design_lqr_i((A, B, C, D), dt=0.1, Q=np.eye(6), R=np.eye(2), output_indices=[0, 5])
    with pytest.raises(ParameterError, match="no direct feedthrough"):
        design_lqr_i((A, B, C, np.ones((2, 2))), dt=0.1, Q=np.eye(6), R=np.eye(2), output_indices=[0, 1])
    with pytest.raises(ParameterError, match="Riccati equation has no stabilising solution"):
        # an uncontrollable integrator mode cannot be stabilised
        lqr_i_gains(np.array([[1.0]]), np.array([[0.0]]), np.array([[1.0]]), 0.1, np.eye(2), np.eye(1))
    with pytest.raises(ParameterError, match="`design` must be an LQRIDesign"):
        LQRIController("lqr", input_limits=[[0, 1]], output_indices=[0])
    with pytest.raises(ParameterError, match="needs the plant's python-control model"):
        build_lqr_i(LQRIConfig(output_indices=(0,)), gym.make("Pendulum-v1"))
    with pytest.raises(ParameterError, match="`input_weight` must be"):
        LQRIConfig(input_weight=0.0)


def test_a_plant_without_a_set_point_asks_for_the_design_set_point():
    from plants.iosys_env import IOSystemEnv

    sys = control.nlsys(lambda t, x, u, params: -x + u, None, states=["a", "b"], inputs=["u1", "u2"],
                        outputs=["a", "b"], name="two_lags")
    env = IOSystemEnv(sys, dt=0.1, input_limits=[[-1.0, 1.0]] * 2, observation_low=[-2.0, -2.0],
                      observation_high=[2.0, 2.0])
    with pytest.raises(ParameterError, match=r"declares none \(a `setpoint` of one value per controlled output or "
                       r"per observation\): give `design_setpoint` \(2 values"):
        build_lqr_i(LQRIConfig(), env)
    ctrl = build_lqr_i(LQRIConfig(design_setpoint=(0.5, -0.5)), env)      # given: designed at that trim
    assert np.allclose(ctrl.design.u_trim, [0.5, -0.5])


def test_a_set_point_given_to_iosystemenv_is_the_design_set_point_of_the_controlled_outputs():
    # IOSystemEnv's `setpoint` has one value per observation (it also sets the reward); the generic baselines design
    # at its controlled entries, and the scenario's reference takes its left-out outputs from it.
    from neurocontrol.scenario.kinds import SetpointReferenceConfig, build_setpoint
    from plants.iosys_env import IOSystemEnv

    sys = control.nlsys(lambda t, x, u, params: -x + np.array([u[0], u[1], 0.5 * (u[0] + u[1])]), None,
                        states=["a", "b", "c"], inputs=["u1", "u2"], outputs=["a", "b", "c"], name="three_lags")
    kw = dict(dt=0.1, input_limits=[[-1.0, 1.0]] * 2, observation_low=[-2.0] * 3, observation_high=[2.0] * 3)
    env = IOSystemEnv(sys, setpoint=[0.4, -0.2, 0.1], **kw)
    np.testing.assert_array_equal(env.unwrapped.setpoint, [0.4, -0.2, 0.1])
    for idx, u_trim in (((0, 1), [0.4, -0.2]), ((1, 2), [0.4, -0.2]), ((2, 0), [0.4, -0.2])):   # the one trim
        ctrl = build_lqr_i(LQRIConfig(output_indices=idx), env)
        np.testing.assert_allclose(ctrl.design.u_trim, u_trim, atol=1e-9)
        np.testing.assert_allclose(ctrl.design.y_trim[list(idx)], np.array([0.4, -0.2, 0.1])[list(idx)], atol=1e-9)
    ref = build_setpoint(SetpointReferenceConfig(values={"b": 0.3}), env, ["c", "b"])
    np.testing.assert_array_equal(ref(0.0), [0.1, 0.3])          # c from the env's set-point, b given
    assert build_lqr_i(LQRIConfig(design_setpoint=(0.0, 0.0)), env).design.u_trim == pytest.approx([0.0, 0.0])
    with pytest.raises(ParameterError, match=r"declares none"):   # one per observation, or per controlled output
        env.unwrapped.setpoint = np.array([0.1, 0.2, 0.3, 0.4])
        build_lqr_i(LQRIConfig(), env)


def _lags_env(rhs, n_in, *, dt=0.1, setpoint, discrete=False, **kw):
    from plants.iosys_env import IOSystemEnv

    n = len(setpoint)
    names = [f"y{i}" for i in range(n)]
    sys = control.nlsys(rhs, None, states=names, inputs=[f"u{j}" for j in range(n_in)], outputs=names,
                        dt=dt if discrete else 0, name="lags")
    return IOSystemEnv(sys, dt=dt, setpoint=setpoint, observation_low=[-5.0] * n, observation_high=[5.0] * n, **kw)


def test_a_trim_the_search_starts_near_is_found():
    # MINPACK reports "not making good progress" when it starts where the residuals are already ~0; the trim is judged
    # by its residuals. Two carts on hardening springs (examples/custom_plant.py), positions held at (0.5, -0.4).
    import importlib.util
    from pathlib import Path

    from plants.iosys_env import IOSystemEnv

    path = Path(__file__).resolve().parents[1] / "examples" / "custom_plant.py"
    spec = importlib.util.spec_from_file_location("custom_plant", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    env = IOSystemEnv(module.make_plant(), dt=0.01, input_limits=[[-10.0, 10.0]] * 2, observation=["x1", "x2"],
                      setpoint=[0.5, -0.4])
    tr = trim_linearisation(env, (0, 1))
    p = module.PARAMS       # the forces that hold the springs there, at rest
    x1, x2 = 0.5, -0.4
    np.testing.assert_allclose(tr.inputs, [p["k1"] * x1 + p["kn"] * x1 ** 3 + p["kc"] * (x1 - x2),
                                           p["k2"] * x2 + p["kn"] * x2 ** 3 + p["kc"] * (x2 - x1)], atol=1e-9)
    np.testing.assert_allclose(tr.states, [x1, x2, 0.0, 0.0], atol=1e-9)


def test_a_discrete_time_model_is_trimmed_at_a_fixed_point_and_not_sampled_again():
    Ad = np.array([[0.9, 0.05], [0.0, 0.8]])
    Bd = np.array([[0.1, 0.0], [0.05, 0.2]])
    env = _lags_env(lambda t, x, u, params: Ad @ x + Bd @ u, 2, setpoint=[1.0, 0.5], discrete=True,
                    input_limits=[[-2.0, 2.0]] * 2)
    tr = trim_linearisation(env, (0, 1))
    assert tr.discrete and tr.stable()
    u = np.linalg.solve(Bd, (np.eye(2) - Ad) @ [1.0, 0.5])          # x = Ad x + Bd u at x = (1, 0.5)
    np.testing.assert_allclose(tr.inputs, u, atol=1e-12)
    A_s, B_s = tr.sampled(0.1)       # python-control linearises by finite differences: within 1e-8
    np.testing.assert_allclose(A_s, Ad, atol=1e-8)
    np.testing.assert_allclose(B_s, Bd, atol=1e-8)
    ctrl = build_lqr_i(LQRIConfig(), env)
    np.testing.assert_allclose(ctrl.design.Ad, Ad, atol=1e-8)         # the model's own matrices, not held again
    np.testing.assert_allclose(ctrl.design.Bd, Bd, atol=1e-8)
    assert automatic_warmup(env, (0, 1)) is None                     # a stable discrete plant needs no warm-up LQR-I
    # its gains bring the plant to the set-point (the default weights are soft: 300 s)
    obs, _ = env.reset(seed=0)
    r = np.array([1.0, 0.5])
    ctrl.reset(obs, r)
    for _ in range(3000):
        obs, *_ = env.step(ctrl.step(obs, r))
    np.testing.assert_allclose(obs, [1.0, 0.5], atol=1e-4)
    with pytest.raises(ParameterError, match=r"'pid_auto' \(its relay experiments are sized from the model's poles\) "
                                             r"needs a continuous-time model, and lags is a discrete-time system"):
        build_pid_auto(PIDAutoConfig(method="relay"), env)


def test_gain_sign_steps_of_a_discrete_model_against_python_controls_step_response():
    # A discrete 2x2 plant whose step-response determinant changes sign (the fast direct paths against slower,
    # larger cross paths), checked against python-control's step response of the same matrices.
    Ad = np.diag([0.5, 0.95, 0.5, 0.95])
    Bd = np.array([[1.0, 0.0], [0.0, 0.12], [0.0, 1.0], [0.12, 0.0]])
    Cd = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    env = _lags_env(lambda t, x, u, params: Ad @ x + Bd @ u, 2, setpoint=[0.0, 0.0, 0.0, 0.0], discrete=True,
                    input_limits=[[-1.0, 1.0]] * 2, observation=["y0", "y1", "y2", "y3"])
    tr = trim_linearisation(env, (0, 2))
    tr = tr._replace(lin=control.ss(Ad, Bd, np.vstack([Cd[0], np.zeros(4), Cd[1], np.zeros(4)]), 0, 0.1))
    k = gain_sign_steps(tr, 0.1)
    resp = control.step_response(control.ss(Ad, Bd, Cd, 0, 0.1), T=np.arange(0, 60) * 0.1).outputs   # (2, 2, T)
    dets = np.array([np.linalg.det(resp[:, :, t]) for t in range(1, 60)])     # after t held steps
    final = np.linalg.det(Cd @ np.linalg.solve(np.eye(4) - Ad, Bd))
    wrong = np.flatnonzero(dets * final <= 0)
    assert wrong.size and k == wrong[-1] + 2                         # the first k from which the sign is kept


def test_an_over_actuated_plant_is_trimmed_with_its_extra_inputs_held():
    env = _lags_env(lambda t, x, u, params: -x + np.array([u[0] + 0.5 * u[2], u[1] + 0.5 * u[2]]), 3,
                    setpoint=[0.4, -0.2], input_limits=[[-1.0, 1.0], [-1.0, 1.0], [0.0, 2.0]])
    tr = trim_linearisation(env, (0, 1))
    np.testing.assert_allclose(tr.inputs, [0.4 - 0.5, -0.2 - 0.5, 1.0], atol=1e-9)   # u3 at its limits' middle
    build_lqr_i(LQRIConfig(), env)
    under = _lags_env(lambda t, x, u, params: -x + np.array([u[0], 0.5 * u[0]]), 1, setpoint=[0.4, -0.2],
                      input_limits=[[-1.0, 1.0]])
    with pytest.raises(ParameterError, match=r"holds 2 controlled outputs at a set-point with 1 input: a trim needs "
                                             r"at least as many inputs as controlled outputs"):
        build_lqr_i(LQRIConfig(), under)


@pytest.mark.parametrize("name", ["quadtank_pminus", "quadtank_pplus", "pvtol_steps", "cstr_setpoint"])
def test_lqr_i_completes_each_new_plants_standard_task(name):
    sc = Scenario.from_toml(f"scenarios/{name}.toml")
    assert sc.to_dict()["controller"]["kind"] == "lqr_i"
    for seed in (0, 1):
        res = run_scenario(sc, seed=seed)
        assert res.status == "completed" and res.metrics["success"], (name, seed, res.metrics["outputs"])


def _closed_loop_output_variance(design, V, n_out):
    """Stationary variance of the true controlled outputs under white sensor noise ``V``, from a Lyapunov equation.

    Written from the control law's equations (plain numpy, no controller code): state ``[x, x_prior, z]``, reference
    and trims zero, no saturation; without an observer the estimate is ``C^-1 y``.
    """
    import scipy.linalg

    Ad, Bd, C, Cc, K, Ki, M, dt = design.Ad, design.Bd, design.C, design.Cc, design.K, design.Ki, design.M, design.dt
    n, q, p = Ad.shape[0], C.shape[0], Cc.shape[0]
    if M is None:   # x_post = C^-1 (C x + v)
        Px, Pp, Pv = np.eye(n), np.zeros((n, n)), np.linalg.inv(C)
    else:           # x_post = (I - M C) x_prior + M (C x + v)
        Px, Pp, Pv = M @ C, np.eye(n) - M @ C, M
    # u = -K x_post - Ki z; x' = Ad x + Bd u; x_prior' = Ad x_post + Bd u; z' = z - dt (Cc x + Cc C^-1... ) measured
    sel = np.eye(q)[:p]     # the controlled outputs are the first p measurements here
    rows_u = np.hstack([-K @ Px, -K @ Pp, -Ki])
    F = np.vstack([
        np.hstack([Ad, np.zeros((n, n)), np.zeros((n, p))]) + Bd @ rows_u,
        np.hstack([Ad @ Px, Ad @ Pp, np.zeros((n, p))]) + Bd @ rows_u,
        np.hstack([-dt * Cc, np.zeros((p, n)), np.eye(p)]),
    ])
    G = np.vstack([-Bd @ K @ Pv, Ad @ Pv - Bd @ K @ Pv, -dt * sel])
    S = scipy.linalg.solve_discrete_lyapunov(F, G @ V @ G.T)
    return np.diag(Cc @ S[:n, :n] @ Cc.T)[:n_out]


@pytest.mark.parametrize("observer", [False, True])
def test_noisy_closed_loop_variance_matches_the_lyapunov_equation(observer):
    """Every state measured with white noise: the controller's simulated true-output variance is the analytic one."""
    A, B, _, _ = random_plant(7, n=3, m=2)
    C = np.eye(3)
    dt, sigma = 0.05, 0.05
    Ad, Bd = discretize_zoh(A, B, dt)
    V = sigma ** 2 * np.eye(3)
    design = design_lqr_i(control.ss(A, B, C, np.zeros((3, 2))), dt=dt, Q=np.diag([10.0, 10.0, 0.1, 1.0, 1.0]),
                          R=0.1 * np.eye(2), output_indices=[0, 1], W=0.01 * Bd @ Bd.T + 1e-9 * np.eye(3), V=V,
                          observer=observer)
    assert (design.M is not None) == observer
    want = _closed_loop_output_variance(design, V, 2)
    ctrl = LQRIController(design, input_limits=[[-1e6, 1e6]] * 2, output_indices=[0, 1])
    rng = np.random.default_rng(11)
    x = np.zeros(3)
    ctrl.reset(C @ x + sigma * rng.standard_normal(3), [0.0, 0.0])
    out = []
    for _ in range(60000):
        u = ctrl.step(C @ x + sigma * rng.standard_normal(3), [0.0, 0.0])
        x = Ad @ x + Bd @ u
        out.append(x[:2].copy())
    got = np.var(np.asarray(out)[1000:], axis=0)
    np.testing.assert_allclose(got, want, rtol=0.1)


def test_observer_always_filters_noise_a_state_inverse_passes():
    """The same plant and weights: the Kalman filter on every measurement leaves the true outputs less noise."""
    A, B, _, _ = random_plant(7, n=3, m=2)
    C, dt = np.eye(3), 0.05
    Ad, Bd = discretize_zoh(A, B, dt)
    V = 0.05 ** 2 * np.eye(3)
    var = {}
    for observer in (False, True):
        d = design_lqr_i(control.ss(A, B, C, np.zeros((3, 2))), dt=dt, Q=np.diag([10.0, 10.0, 0.1, 1.0, 1.0]),
                         R=0.1 * np.eye(2), output_indices=[0, 1], W=0.01 * Bd @ Bd.T + 1e-9 * np.eye(3), V=V,
                         observer=observer)
        var[observer] = _closed_loop_output_variance(d, V, 2)
    assert np.all(var[True] < 0.5 * var[False]), var


def test_observer_key_builds_the_filter_and_names_a_bad_value():
    env = Scenario.from_toml("scenarios/pvtol_steps.toml").build(0).env
    assert build_lqr_i(LQRIConfig(), env).design.M is None            # every state measured: C inverted
    d = build_lqr_i(LQRIConfig(observer="always", measurement_noise=0.01), env).design
    assert d.M is not None and d.M.shape == (6, 6)
    with pytest.raises(ParameterError, match='`observer` must be "always"'):
        LQRIConfig(observer="on")
