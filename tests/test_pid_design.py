"""``pid_auto``'s model method (``neurocontrol.controllers.pid_design``, ``pid_auto``): PI/PID loops designed on the
sampled linearisation for the largest integral gain under a bound on max(|S|, |T|).

Claims, each against a reference that shares no code with the design: the state-space and frequency-response forms
of the law are the law the controller runs (the controller itself, step by step); the closed loops are
python-control's feedback interconnection; a designed loop meets its bound on a grid 30 times finer than the
design's (python-control's frequency response), the bound is active, its closed loop is stable (python-control's
poles), and no PI with a larger integral gain meets the bound (a brute-force search written out here); random stable
plants with delays (Hypothesis) get loops that keep all three; the shipped tanks fly their tasks with it; bad settings
and plants are named.
"""

import json
import math

import control
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plants  # noqa: F401
from neurocontrol.controllers.pid_auto import ModelPIDController, PIDAutoConfig, build_pid_auto
from neurocontrol.controllers.pid_design import (
    TD_GRID,
    LoopDesign,
    _Loop,
    close_loops,
    design_loop,
    design_loops,
    frequency_grid,
    loop_sensitivities,
    pid_frequency_response,
    pid_state_space,
)
from neurocontrol.controllers.pid_gains import PIDGainsController
from neurocontrol.exceptions import ParameterError
from neurocontrol.plotting import plot_loop_shapes
from neurocontrol.scenario.core import Scenario, run_scenario

BOUND = 1.7


def _first_order_with_delay(a: float, b: float, delay: int, dt: float):
    """``y(k+1) = a y(k) + b u(k - delay)`` as (A, B, C): the state is y and the delayed inputs."""
    n = 1 + delay
    A = np.zeros((n, n))
    A[0, 0] = a
    B = np.zeros((n, 1))
    C = np.zeros((1, n))
    C[0, 0] = 1.0
    if delay == 0:
        B[0, 0] = b
    else:
        A[0, n - 1] = b             # the oldest held input drives y
        for k in range(n - 1, 1, -1):
            A[k, k - 1] = 1.0
        B[1, 0] = 1.0
    return A, B, C


def _tf_first_order_with_delay(a, b, delay, z):
    return b * z ** (-(delay + 1)) / (1.0 - a / z)


def _law(kc, ti, td, dt, n_filter, z):
    """``u = -K(z) y`` of the controller's law, written out from its difference equations (not the module's)."""
    k = kc + kc * dt / ti / (z - 1.0)          # I(k+1) = I(k) + Kc dt / Ti e(k): I = Kc dt / Ti e / (z - 1)
    if td > 0:
        tf = td / n_filter                     # (Tf + dt) D(k) = Tf D(k-1) - Kc Td (y(k) - y(k-1))
        k = k + kc * td * (1.0 - 1.0 / z) / (tf + dt - tf / z)
    return k


def _peak(P, K):
    L = P * K
    return np.max(np.maximum(np.abs(1.0 / (1.0 + L)), np.abs(L / (1.0 + L))))


def _python_control_loop(A, B, C, dt, lp: LoopDesign, n_filter=10.0):
    """The plant and the designed PI/PID as python-control systems, closed by python-control (positive feedback of
    the controller ``u = K_ss y``, whose feed-through carries the minus sign)."""
    plant = control.ss(A, B, C, np.zeros((C.shape[0], B.shape[1])), dt)
    Ac, Bc, Cc, Dc = pid_state_space(lp.kc, lp.ti, lp.td, dt, n_filter)
    ctrl = control.ss(Ac, Bc, Cc, Dc, dt)
    return plant, ctrl, control.feedback(plant, ctrl, sign=1)


# --------------------------------------------------------------------------- the law in its two forms

@pytest.mark.parametrize("td, ti", [(0.0, 1.3), (0.7, 1.3), (0.7, math.inf)])
def test_the_state_space_form_is_the_controllers_law(td, ti):
    dt, kc, n = 0.1, -2.5, 10.0
    ctrl = PIDGainsController(input_limits=[[-1e9, 1e9]], output_indices=[0], dt=dt, n_observations=1, pairing=[0],
                              bias=[0.4], gains=[[kc, ti, td]], derivative_filter=n)
    Ac, Bc, Cc, Dc = pid_state_space(kc, ti, td, dt, n)
    rng = np.random.default_rng(3)
    y = rng.normal(size=60)
    ctrl.reset([y[0]], [0.0])
    x = np.zeros(Ac.shape[0])
    if td > 0:
        x[2] = y[0]                           # y(k-1) at the first step: the reset's measurement
    for yk in y:
        u = ctrl.step([yk], [0.0])[0]
        u_ss = 0.4 + (Cc @ x)[0] + Dc[0, 0] * yk
        assert u == pytest.approx(u_ss, rel=1e-12, abs=1e-12)
        x = Ac @ x + Bc[:, 0] * yk


@pytest.mark.parametrize("td", [0.0, 0.25])
def test_the_frequency_response_is_the_state_space_forms(td):
    dt, kc, ti, n = 0.05, 3.0, 0.8, 8.0
    Ac, Bc, Cc, Dc = pid_state_space(kc, ti, td, dt, n)
    z = np.exp(1j * np.geomspace(1e-3, math.pi, 50))
    ss = np.array([(Cc @ np.linalg.solve(zz * np.eye(Ac.shape[0]) - Ac, Bc) + Dc)[0, 0] for zz in z])
    np.testing.assert_allclose(pid_frequency_response(kc, ti, td, dt, n, z), -ss, rtol=1e-12)
    np.testing.assert_allclose(_law(kc, ti, td, dt, n, z), -ss, rtol=1e-12)


def test_closed_loops_are_python_controls_feedback():
    rng = np.random.default_rng(7)
    A = np.diag([0.95, 0.9, 0.8]) + 0.02 * rng.normal(size=(3, 3))
    B = rng.normal(size=(3, 2))
    C = rng.normal(size=(2, 3))
    dt = 0.1
    loops = [LoopDesign(0, 1, 0.3, 2.0, 0.0, float("nan")), LoopDesign(1, 0, -0.2, 1.5, 0.3, float("nan"))]
    Acl, Bcl, Ccl = close_loops(A, B, C, loops, dt, 10.0)
    plant = control.ss(A, B, C, np.zeros((2, 2)), dt)
    blocks = [pid_state_space(lp.kc, lp.ti, lp.td, dt, 10.0) for lp in loops]
    # the decentralised controller y -> u: loop 0 reads y0 and drives u1, loop 1 reads y1 and drives u0
    k0 = control.ss(*blocks[0], dt)
    k1 = control.ss(*blocks[1], dt)
    K = control.append(k0, k1)                                     # inputs (y0, y1), outputs (u1, u0)
    K = control.ss(K.A, K.B, K.C[::-1], K.D[::-1], dt)             # outputs reordered to (u0, u1)
    cl = control.feedback(plant, K, sign=1)
    got = np.sort_complex(np.linalg.eigvals(Acl))
    want = np.sort_complex(cl.poles())
    np.testing.assert_allclose(got, want, atol=1e-9)
    # the same input/output paths: the closed loop's response to an added input
    z = np.exp(1j * 0.3)
    P_got = Ccl @ np.linalg.solve(z * np.eye(Acl.shape[0]) - Acl, Bcl)
    np.testing.assert_allclose(P_got, cl(z), rtol=1e-9)


# --------------------------------------------------------------------------- one loop against independent checks

def test_a_first_order_loop_with_delay_meets_an_active_bound_and_no_pi_does_better():
    a, b, delay, dt = 0.9, 0.25, 2, 1.0
    A, B, C = _first_order_with_delay(a, b, delay, dt)
    lp = design_loop(A, B, C, [], 0, 0, 1.0, dt, structure="pi", max_sensitivity=BOUND)
    assert lp is not None and lp.td == 0.0 and lp.kc > 0
    plant, ctrl, cl = _python_control_loop(A, B, C, dt, lp)
    assert np.max(np.abs(cl.poles())) < 1.0                                      # python-control's poles
    w = np.geomspace(1e-5, 1.0, 20000) * math.pi / dt                            # 33x finer than the design's grid
    P = control.frequency_response(plant, w).complex.squeeze()
    K = -control.frequency_response(ctrl, w).complex.squeeze()
    peak = _peak(P, K)
    assert BOUND * 0.99 <= peak <= BOUND * 1.002, peak                            # met, and active
    # brute force, written out: for each Kc the largest Ki whose loop stays within the bound on the fine grid
    z = np.exp(1j * w * dt)
    Pz = _tf_first_order_with_delay(a, b, delay, z)
    np.testing.assert_allclose(Pz, P, rtol=1e-9)
    best = 0.0
    for kc in np.geomspace(lp.kc / 4, lp.kc * 4, 81):
        lo, hi = 1e-9, 10.0
        for _ in range(50):
            mid = math.sqrt(lo * hi)
            if _peak(Pz, _law(kc, kc / mid, 0.0, dt, 10.0, z)) <= BOUND:
                lo = mid
            else:
                hi = mid
        best = max(best, lo)
    ki = lp.kc / lp.ti
    assert ki >= 0.99 * best, (ki, best)
    assert ki <= 1.01 * best, (ki, best)


def test_a_pid_beats_the_pi_where_the_plant_has_a_second_lag():
    # two lags of 10 s and 8 s: the derivative buys phase, so the integral gain more than doubles
    dt = 0.1
    A = np.array([[0.99, 0.01], [0.0, 0.9876]])
    B = np.array([[0.0], [0.0124]])
    C = np.array([[1.0, 0.0]])
    pi = design_loop(A, B, C, [], 0, 0, 1.0, dt, structure="pi")
    pid = design_loop(A, B, C, [], 0, 0, 1.0, dt, structure="pid")
    auto = design_loop(A, B, C, [], 0, 0, 1.0, dt, structure="auto")
    assert pid.td > 0 and pid.kc / pid.ti > 2.0 * pi.kc / pi.ti
    assert auto == pid
    # its derivative time is the grid's best (documented: TD_GRID control periods)
    assert np.any(np.isclose(pid.td, TD_GRID * dt, rtol=1e-12))
    loop = _Loop(A, B, C, [], 0, 0, 1.0, dt, 10.0, BOUND)
    assert pid.kc / pid.ti == pytest.approx(max(loop.search(float(td))[1] for td in TD_GRID * dt), rel=1e-12)
    # the reported peak is the loop's own, on the design's grid (python-control's responses there)
    w = frequency_grid(dt)
    plant, ctrl, _ = _python_control_loop(A, B, C, dt, pid)
    assert pid.sensitivity_peak == pytest.approx(_peak(control.frequency_response(plant, w).complex.squeeze(),
                                                       -control.frequency_response(ctrl, w).complex.squeeze()),
                                                 rel=1e-9)
    plant, ctrl, cl = _python_control_loop(A, B, C, dt, pid)
    assert np.max(np.abs(cl.poles())) < 1.0
    w = np.geomspace(1e-5, 1.0, 20000) * math.pi / dt
    peak = _peak(control.frequency_response(plant, w).complex.squeeze(),
                 -control.frequency_response(ctrl, w).complex.squeeze())
    assert peak <= BOUND * 1.002


@pytest.mark.parametrize("structure, b, cut", [("pi", 0.25, 0.3), ("auto", 0.25, 0.3), ("pi", 2.5e-4, 0.3),
                                               ("pi", 250.0, 0.3), ("pi", 0.25, 0.01)])
def test_a_noise_gain_bound_is_met_and_active_by_python_controls_frequency_response(structure, b, cut):
    # b = 2.5e-4 and 250: the same loop in other input units (gains 1000 times larger and smaller); cut 0.01: a bound
    # that the proportional part alone breaks over most of the gains tried
    a, delay, dt = 0.9, 1, 1.0
    A, B, C = _first_order_with_delay(a, b, delay, dt)
    free = design_loop(A, B, C, [], 0, 0, 1.0, dt, structure=structure)
    w = np.geomspace(1e-5, 1.0, 20000) * math.pi / dt

    def noise_peak(lp):
        plant, ctrl, _ = _python_control_loop(A, B, C, dt, lp)
        P = control.frequency_response(plant, w).complex.squeeze()
        K = -control.frequency_response(ctrl, w).complex.squeeze()
        return np.max(np.abs(K / (1.0 + P * K)))

    g = cut * noise_peak(free)                                  # a bound the free design breaks
    lp = design_loop(A, B, C, [], 0, 0, 1.0, dt, structure=structure, max_noise_gain=g)
    assert lp is not None and lp.kc / lp.ti < free.kc / free.ti
    assert 0.98 * g <= noise_peak(lp) <= 1.002 * g
    plant, ctrl, cl = _python_control_loop(A, B, C, dt, lp)
    assert np.max(np.abs(cl.poles())) < 1.0


@settings(max_examples=25, deadline=None)
@given(a=st.floats(0.0, 0.995), b=st.floats(0.01, 5.0), delay=st.integers(0, 3), sign=st.sampled_from([-1.0, 1.0]),
       integrating=st.booleans())
def test_random_stable_and_integrating_plants_get_stable_loops_within_the_bound(a, b, delay, sign, integrating):
    dt = 0.5
    A, B, C = _first_order_with_delay(1.0 if integrating else a, sign * b, delay, dt)
    lp = design_loop(A, B, C, [], 0, 0, sign, dt, structure="auto", max_sensitivity=BOUND)
    assert lp is not None and np.sign(lp.kc) == sign and lp.ti > 0
    plant, ctrl, cl = _python_control_loop(A, B, C, dt, lp)
    assert np.max(np.abs(cl.poles())) < 1.0
    w = np.geomspace(1e-5, 1.0, 6000) * math.pi / dt
    peak = _peak(control.frequency_response(plant, w).complex.squeeze(),
                 -control.frequency_response(ctrl, w).complex.squeeze())
    assert peak <= BOUND * 1.01, peak


# --------------------------------------------------------------------------- several loops, the shipped plants

def test_the_tanks_loops_leave_a_stable_closed_loop_by_python_control():
    for name in ("quadtank_pminus", "quadtank_pplus"):
        env = Scenario.from_toml(f"scenarios/{name}.toml").build(0).env
        ctrl = build_pid_auto(PIDAutoConfig(), env)
        assert isinstance(ctrl, ModelPIDController)
        from neurocontrol.controllers.generic import trim_linearisation  # the test's own view of the model

        tr = trim_linearisation(env, (0, 1))
        Ad, Bd = tr.sampled(float(env.unwrapped.dt))
        Cd, _ = tr.controlled_rows()
        plant = control.ss(Ad, Bd, Cd, np.zeros((2, 2)), env.unwrapped.dt)
        K = None
        for lp in sorted(ctrl.design, key=lambda lp: lp.output):
            k = control.ss(*pid_state_space(lp.kc, lp.ti, lp.td, env.unwrapped.dt, 10.0), env.unwrapped.dt)
            K = k if K is None else control.append(K, k)
        order = [lp.input for lp in sorted(ctrl.design, key=lambda lp: lp.output)]
        rows = np.argsort(order)                                           # the K outputs (inputs of each loop)
        K = control.ss(K.A, K.B, K.C[rows], K.D[rows], env.unwrapped.dt)
        cl = control.feedback(plant, K, sign=1)
        assert np.max(np.abs(cl.poles())) < 1.0, name
        assert ctrl.pairing == ((0, 1) if name == "quadtank_pminus" else (1, 0))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_tank_at_p_minus_flies_its_task_with_the_default_method(seed):
    sc = Scenario.from_toml("scenarios/quadtank_pminus.toml").set("controller.kind", "pid_auto")
    res = run_scenario(sc, seed=seed)
    assert res.status == "completed" and res.metrics["success"], res.metrics["outputs"]
    assert [seg["mode"] for seg in res.meta["modes"]] == ["pid"]                 # no tuning phase in the run
    settings_ = res.meta["controller_settings"]
    assert set(settings_) == {"loop y1", "loop y2"}
    assert "Kc" in settings_["loop y1"] and "bound 1.7" in settings_["loop y1"]


def test_a_discrete_time_model_is_designed_at_its_own_period():
    from plants.iosys_env import IOSystemEnv

    Ad = np.array([[0.9, 0.05], [0.0, 0.8]])
    Bd = np.array([[0.1, 0.0], [0.05, 0.2]])
    sys = control.nlsys(lambda t, x, u, params: Ad @ x + Bd @ u, None, states=["y0", "y1"], inputs=["u0", "u1"],
                        outputs=["y0", "y1"], dt=0.1, name="lags")
    env = IOSystemEnv(sys, dt=0.1, setpoint=[1.0, 0.5], observation_low=[-5.0] * 2, observation_high=[5.0] * 2,
                      input_limits=[[-2.0, 2.0]] * 2)
    ctrl = build_pid_auto(PIDAutoConfig(), env)
    obs, _ = env.reset(seed=0)
    r = np.array([1.0, 0.5])
    ctrl.reset(obs, r)
    for _ in range(400):
        obs, *_ = env.step(ctrl.step(obs, r))
    np.testing.assert_allclose(obs, r, atol=1e-6)
    env.unwrapped.dt = 0.2             # an env whose own period disagrees with its model's (IOSystemEnv refuses one)
    with pytest.raises(ParameterError, match=r"steps every 0.1 s and the env every 0.2 s"):
        build_pid_auto(PIDAutoConfig(), env)


@pytest.mark.parametrize("name", ["quadtank_pplus", "twin_rotor_steps"])
def test_each_loops_sensitivity_with_the_others_closed_is_python_controls_input_sensitivity(name):
    # broken at its input with every other loop closed, loop i's S is the transfer from a disturbance added at its
    # input to that input, in the whole closed loop: I + K(z) G_cl(z), diagonal entry of the loop's input
    env = Scenario.from_toml(f"scenarios/{name}.toml").build(0).env
    ctrl = build_pid_auto(PIDAutoConfig(), env)
    Ad, Bd, Cd = ctrl.model
    dt = float(env.unwrapped.dt)
    w = np.array([1e-3, 0.02, 0.1, 0.5, 2.0]) / dt
    _, S, T = loop_sensitivities(Ad, Bd, Cd, ctrl.design, dt, w=w)
    plant = control.ss(Ad, Bd, Cd, np.zeros((2, 2)), dt)
    K = None
    for lp in ctrl.design:                                   # in the order of the outputs: K's inputs are (y1, y2)
        k = control.ss(*pid_state_space(lp.kc, lp.ti, lp.td, dt, 10.0), dt)
        K = k if K is None else control.append(K, k)
    rows = np.argsort([lp.input for lp in ctrl.design])
    K = control.ss(K.A, K.B, K.C[rows], K.D[rows], dt)        # outputs in the order of the inputs
    cl = control.feedback(plant, K, sign=1)
    for n, ww in enumerate(w):
        z = np.exp(1j * ww * dt)
        U = np.eye(2) + K(z) @ cl(z)
        for k, lp in enumerate(ctrl.design):
            assert S[k, n] == pytest.approx(abs(U[lp.input, lp.input]), rel=1e-7)
            assert T[k, n] == pytest.approx(abs(1.0 - U[lp.input, lp.input]), rel=1e-7)
    if name == "quadtank_pplus":
        shapes = ctrl.loop_shapes()
        assert max(shapes["T"][1]) > 1.8 > BOUND       # the P+ tank's second loop: 1.9 once the first is closed too
        assert "1.9 with every other loop closed" in ctrl.derived_settings()["loop y2"]


def test_a_saved_pid_run_holds_its_loop_shapes_and_their_plot(tmp_path):
    sc = Scenario.from_toml("scenarios/quadtank_pminus.toml").set("controller.kind", "pid_auto") \
        .set("run.duration", 20.0)
    res = run_scenario(sc, seed=0, out=tmp_path / "run")
    assert set(res.meta["loop_shapes"]) == {"frequency", "S", "T", "outputs", "inputs", "bound"}
    assert (tmp_path / "run" / "loop_shapes.png").stat().st_size > 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["controller_settings"] == res.meta["controller_settings"] and "loop y1" in manifest["controller_settings"]
    with pytest.raises(ParameterError, match="lacks 'bound'"):
        plot_loop_shapes({k: v for k, v in res.meta["loop_shapes"].items() if k != "bound"})


# --------------------------------------------------------------------------- bad settings and plants

@pytest.mark.parametrize("kw, match", [
    ({"method": "ziegler"}, "method"), ({"structure": "pd"}, "structure"), ({"max_sensitivity": 1.0}, "above 1"),
    ({"method": "relay", "structure": "auto"}, "needs `method = 'model'`"), ({"noise_gain": 0.0}, "noise_gain"),
    ({"method": "relay", "noise_gain": 3.0}, "relay method has none"), ({"plant_model": "fitted"}, "plant_model"),
    ({"plant_model": "identified", "method": "relay"}, "needs `method = 'model'`"),
    ({"plant_model": "identified", "design_setpoint": (1.0, 2.0)}, "no `design_setpoint`"),
])
def test_bad_settings_are_named(kw, match):
    with pytest.raises(ParameterError, match=match):
        PIDAutoConfig(**kw)


def test_a_plant_one_loop_per_output_cannot_hold_is_refused_with_the_reason():
    env = Scenario.from_toml("scenarios/pvtol_steps.toml").build(0).env
    with pytest.raises(ParameterError, match=r"no PI or PID setting keeps the loop of x .*chain of integrators"):
        build_pid_auto(PIDAutoConfig(), env)


def test_a_noise_gain_in_ranges_needs_declared_output_ranges():
    from plants.iosys_env import IOSystemEnv

    sys = control.nlsys(lambda t, x, u, params: -x + u, None, states=["y"], inputs=["u"], outputs=["y"], name="lag")
    env = IOSystemEnv(sys, dt=0.1, setpoint=[0.5], input_limits=[[-2.0, 2.0]])
    build_pid_auto(PIDAutoConfig(output_indices=(0,)), env)                   # no bound: no range needed
    with pytest.raises(ParameterError, match=r"`noise_gain` is in ranges.*declare finite observation bounds"):
        build_pid_auto(PIDAutoConfig(output_indices=(0,), noise_gain=3.0), env)
    env = IOSystemEnv(sys, dt=0.1, setpoint=[0.5], input_limits=[[-2.0, 2.0]], observation_low=[-1.0],
                      observation_high=[1.0])
    ctrl = build_pid_auto(PIDAutoConfig(output_indices=(0,), noise_gain=3.0), env)
    assert "noise gain at most 3 in ranges" in ctrl.derived_settings()["loop y"]


def test_an_env_without_a_model_gets_loops_designed_on_an_identification_experiment():
    # the held-out plant of examples/identified_model.py: a plain gymnasium.Env, no python-control model
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "identified_model.py"
    spec = importlib.util.spec_from_file_location("identified_model_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(ParameterError, match=r"SlowNonMinimumPhase has none.*plant_model = 'identified'"):
        build_pid_auto(PIDAutoConfig(), mod.SlowNonMinimumPhase())
    ctrl = build_pid_auto(PIDAutoConfig(plant_model="identified"), mod.SlowNonMinimumPhase())
    assert ctrl.derived_settings()["plant_model"].startswith("an identification experiment of 175 steps")
    res, _ = mod.fly(0, "identified", "pid_auto")
    assert res.status == "completed" and res.metrics["success"]
    # a plant the experiment cannot fit is refused with the experiment's reason
    env = Scenario.from_toml("scenarios/pvtol_steps.toml").build(0).env
    with pytest.raises(ParameterError, match=r"plant_model = 'identified'`: an identification experiment .* gave no "
                                             r"model: the env ended the experiment"):
        build_pid_auto(PIDAutoConfig(plant_model="identified"), env)


def test_where_the_bound_allows_an_unstable_loop_the_largest_stable_ki_is_found_by_bisection(monkeypatch):
    # a stability boundary the bound does not see, put in by hand: the search must stop just below it
    A, B, C = _first_order_with_delay(0.9, 0.25, 1, 1.0)
    loop = _Loop(A, B, C, [], 0, 0, 1.0, 1.0, 10.0, BOUND)
    kp = 0.5
    free = loop.best_ki(kp, 0.0)
    edge = 0.3 * free
    monkeypatch.setattr(loop, "stable", lambda kp_, ki, td: ki < edge)
    assert loop.best_ki(kp, 0.0) == pytest.approx(edge, rel=1e-6) and loop.best_ki(kp, 0.0) < edge


def test_design_loops_gives_pi_loops_when_asked():
    env = Scenario.from_toml("scenarios/quadtank_pplus.toml").build(0).env
    ctrl = build_pid_auto(PIDAutoConfig(structure="pi"), env)
    assert all(lp.td == 0.0 for lp in ctrl.design)
    Ad, Bd, Cd = ctrl.model
    loops = design_loops(Ad, Bd, Cd, ctrl.pairing, np.sign([lp.kc for lp in ctrl.design]), 1.0, structure="pi")
    assert tuple(loops) == ctrl.design


def test_design_loops_names_a_bad_structure():
    with pytest.raises(ParameterError, match=r"^`structure` must be 'pi', 'pid' or 'auto', got 'p'\.$"):
        design_loops(np.eye(1) * 0.5, np.ones((1, 1)), np.ones((1, 1)), [0], [1.0], 0.1, structure="p")
    with pytest.raises(ParameterError, match=r"^`structure` must be 'pi', 'pid' or 'auto', got 'pd'\.$"):
        design_loop(np.eye(1) * 0.5, np.ones((1, 1)), np.ones((1, 1)), [], 0, 0, 1.0, 0.1, structure="pd")


def test_a_mode_no_loop_reaches_is_named():
    # an integrator the input does not drive: the loop is designed, the whole loop keeps the mode on the circle
    A, B, C = np.diag([0.9, 1.0]), np.array([[1.0], [0.0]]), np.array([[1.0, 0.0]])
    assert design_loop(A, B, C, [], 0, 0, 1.0, 0.1) is not None
    with pytest.raises(ParameterError, match=r"^the designed loops leave a mode of modulus 1 on or outside the unit "
                                             r"circle \(the plant has a mode that no loop stabilises\); choose a "
                                             r"multivariable kind such as 'lqr_i'\.$"):
        design_loops(A, B, C, [0], [1.0], 0.1)


def test_a_loop_with_no_setting_within_its_bounds_is_named_with_them():
    env = Scenario.from_toml("scenarios/pvtol_steps.toml").build(0).env
    with pytest.raises(ParameterError, match=r"^no PI or PID setting keeps the loop of x \(input 0\) within a "
                                             r"sensitivity peak of 1.7 and its noise gain with 1 other loop\(s\) "
                                             r"closed; raise `max_sensitivity` or `noise_gain`, or choose a "
                                             r"multivariable kind such as 'lqr_i'\. The linearisation"):
        build_pid_auto(PIDAutoConfig(noise_gain=3.0), env)
