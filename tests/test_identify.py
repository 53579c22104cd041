"""``plant_model = "identified"``: a linear model fitted to an identification experiment flown before the run.

References that share no code with :mod:`neurocontrol.controllers._identify`: a plain recursion of the ARX
equations, python-control's simulation of the fitted state-space model, and python-control's linearisation of
the env's own model (time constant, zeros) for the quadruple tank at P+.
"""

from __future__ import annotations

import math
from pathlib import Path

import control
import numpy as np
import pytest

from neurocontrol.controllers import _identify
from neurocontrol.controllers._identify import FIT_MIN, _normalised, _theta, fit_arx, free_run_fit, identified_trim
from neurocontrol.controllers._long_run import DISCRETE_ZERO_LIMIT, slowest_rhp_zero
from neurocontrol.controllers.generic import Trim, gain_sign_steps
from neurocontrol.controllers.neural_config import NeuralControllerConfig
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.scenario import Scenario
from plants.quadtank.env import QuadTankEnv

ROOT = Path(__file__).resolve().parents[1]


def _arx_data(rng, T=400):
    """Data of a known stable two-lag, two-input, two-output ARX system with an offset: (Y, U, A1, A2, B1, B2)."""
    A1 = np.array([[1.2, 0.1], [-0.05, 0.9]])
    A2 = np.array([[-0.35, 0.0], [0.02, -0.1]])
    B1 = np.array([[0.5, 0.1], [0.0, 0.3]])
    B2 = np.array([[0.2, -0.1], [0.1, 0.05]])
    c = np.array([0.3, -0.2])
    U = rng.uniform(-1.0, 1.0, size=(T, 2))
    Y = np.zeros((T + 1, 2))
    for t in range(1, T):
        Y[t + 1] = A1 @ Y[t] + A2 @ Y[t - 1] + B1 @ U[t] + B2 @ U[t - 1] + c
    return Y, U, A1, A2, B1, B2


def test_fit_arx_recovers_a_known_system_as_python_control_simulates_it():
    """Noise-free data of a two-lag ARX system: the fitted model's step response (python-control) is the plain
    recursion's without the offset, in physical units, also when the fit is made in other normalised units."""
    Y, U, A1, A2, B1, B2 = _arx_data(np.random.default_rng(3))
    model = fit_arx(Y[1:], U[1:], 2, 0.5, mid=[1.0, -2.0], half=[3.0, 0.5], input_mid=[0.2, 0.0],
                    input_half=[2.0, 4.0], ridge=0.0)
    assert model.isdtime(strict=True) and model.dt == 0.5
    n = 30
    steps = np.zeros((n + 1, 2))
    u = np.array([1.0, -0.5])
    for t in range(n):                                         # the recursion from rest, the step held from t = 0
        prev = steps[t - 1] if t >= 1 else np.zeros(2)
        steps[t + 1] = A1 @ steps[t] + A2 @ prev + B1 @ u + (B2 @ u if t >= 1 else 0.0)
    resp = control.forced_response(model, T=np.arange(n + 1) * 0.5, U=np.tile(u, (n + 1, 1)).T)
    np.testing.assert_allclose(np.asarray(resp.outputs).T, steps, atol=1e-9)


def test_episodes_are_fitted_without_a_transition_across_them():
    """Two stretches of the same system's data, 100 steps apart, as two episodes give the model of the whole; glued
    into one array (a transition that never happened) they do not."""
    Y, U, *_ = _arx_data(np.random.default_rng(5))
    ranges = dict(mid=[0.0, 0.0], half=[1.0, 1.0], input_mid=[0.0, 0.0], input_half=[1.0, 1.0], ridge=0.0)
    whole = fit_arx(Y[1:], U[1:], 2, 1.0, **ranges)
    cut = fit_arx([Y[1:201], Y[300:]], [U[1:200], U[300:]], 2, 1.0, **ranges)
    np.testing.assert_allclose(cut.A, whole.A, atol=1e-8)
    np.testing.assert_allclose(cut.B, whole.B, atol=1e-8)
    glued = np.vstack([Y[1:201], Y[300:]])        # one array across the cut: transitions that never happened
    bad = fit_arx(glued, np.vstack([U[1:200], U[299:]]), 2, 1.0, **ranges)
    assert np.max(np.abs(np.asarray(bad.A) - np.asarray(whole.A))) > 1e-3


def test_the_free_run_fit_is_one_for_the_true_model_and_less_for_another():
    """free_run_fit against a plain check: the exact coefficients reproduce the data (1 to rounding); halving the
    input gains leaves a fit well below FIT_MIN's 0.5 on one output."""
    Y, U, *_ = _arx_data(np.random.default_rng(7))
    episodes = _normalised(Y[1:], U[1:], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0])
    theta = _theta(episodes, 2, 0.0)
    assert free_run_fit(theta, episodes, 2, [0, 1]) == pytest.approx(1.0, abs=1e-9)
    worse = theta.copy()
    worse[:, 4:8] *= 0.5
    y, u = episodes[0]
    ys = y.copy()
    for t in range(1, u.shape[0]):                 # the free run written out
        ys[t + 1] = worse @ np.concatenate([ys[t], ys[t - 1], u[t], u[t - 1], [1.0]])
    want = min(1.0 - np.linalg.norm(y[2:, i] - ys[2:, i]) / np.linalg.norm(y[2:, i] - y[2:, i].mean())
               for i in range(2))
    assert free_run_fit(worse, episodes, 2, [0, 1]) == pytest.approx(want, rel=1e-12)
    assert want < FIT_MIN


def test_slowest_rhp_zero_of_a_discrete_model_is_python_controls_mapped_to_rad_per_s():
    """A discrete model's right-half-plane zero counts as ``ln|z| / T`` (python-control's zeros are the reference)
    when slower than DISCRETE_ZERO_LIMIT per period; a faster one and a minimum-phase model give None."""
    T = 1.0
    slow = control.c2d(control.ss(control.tf([-20.0, 1.0], [100.0, 20.0, 1.0])), T)      # zero at s = 0.05
    want = [math.log(abs(z)) / T for z in control.zeros(slow) if abs(z) > 1 and z.real > 0]
    assert slowest_rhp_zero(Trim(slow, [0], [0], None, None, slow)) == pytest.approx(min(want), rel=1e-9)
    assert min(want) == pytest.approx(0.05, rel=0.02)
    fast = control.c2d(control.ss(control.tf([-1.0, 2.0], [1.0, 2.0])), 0.1)                # 0.2 rad per period
    assert 2.0 * 0.1 > DISCRETE_ZERO_LIMIT
    assert slowest_rhp_zero(Trim(fast, [0], [0], None, None, fast)) is None
    minimum = control.c2d(control.ss(control.tf([20.0, 1.0], [100.0, 20.0, 1.0])), T)
    assert slowest_rhp_zero(Trim(minimum, [0], [0], None, None, minimum)) is None


def _pplus():
    env = QuadTankEnv(operating_point="P+")
    limits = np.array(env.action_space.low).reshape(-1, 1)
    limits = np.hstack([limits, np.array(env.action_space.high).reshape(-1, 1)])
    return env, limits


def test_the_experiment_at_p_plus_finds_the_plants_time_constant_zero_and_sign_change():
    """At P+ the fit's slowest time constant, right-half-plane zero and the steps after which the gains take
    their steady-state sign are within 15, 5 and 5 % of those of python-control's linearisation of the env's own
    model (92 s, 0.0128 rad/s, 90 steps)."""
    env, limits = _pplus()
    got = identified_trim(env, [0, 1], limits, 1.0, env.observation_space.low, env.observation_space.high)
    assert got.trim is not None and got.trim.stable() and "identification experiment" in got.note
    x0, u0 = env.operating_point
    lin = control.linearize(env.sys, x0, u0)
    tau = -1.0 / np.log(np.max(np.abs(control.c2d(lin, 1.0).poles())))
    zero = min(float(z.real) for z in lin.zeros() if z.real > 0)
    fitted_tau = -1.0 / np.log(np.max(np.abs(np.linalg.eigvals(np.asarray(got.trim.lin.A)))))
    assert fitted_tau == pytest.approx(tau, rel=0.15)
    assert slowest_rhp_zero(got.trim) == pytest.approx(zero, rel=0.05)
    resp = control.step_response(control.c2d(lin, 1.0), T=np.arange(301))
    g = np.asarray(resp.outputs)
    dets = np.array([np.linalg.det(g[:, :, k]) for k in range(301)])
    want = int(np.flatnonzero(dets * dets[-1] <= 0)[-1]) + 1
    assert gain_sign_steps(got.trim, 1.0) == pytest.approx(want, rel=0.05)


def test_an_experiment_the_env_ends_gives_no_model_and_says_why():
    """The planar VTOL falls within seconds open loop: no model, and the note names the end."""
    env = Scenario.from_toml(ROOT / "scenarios" / "pvtol_steps.toml").build(0).env
    limits = np.column_stack([env.action_space.low, env.action_space.high])
    got = identified_trim(env, [0, 1], limits, env.unwrapped.dt, env.observation_space.low,
                          env.observation_space.high)
    assert got.trim is None and "gave no model" in got.note and "ended the experiment" in got.note


def test_a_noisy_experiment_gives_no_model_and_says_why():
    """Under sensor noise as large as the tank's success band (0.1 V) the least-squares fit's free run misses the
    levels (fit below FIT_MIN): no model, and the note gives the figure."""
    env = QuadTankEnv(operating_point="P+", output_noise_std=0.1)
    limits = np.column_stack([env.action_space.low, env.action_space.high])
    got = identified_trim(env, [0, 1], limits, 1.0, env.observation_space.low, env.observation_space.high)
    assert got.trim is None and "free run reproduces the controlled outputs to" in got.note


def test_the_experiment_goes_on_after_the_episodes_time_limit():
    """The CSTR's episode ends at 1800 s (900 steps) before the fit settles: the experiment goes on in a new
    episode and the note counts them."""
    env = Scenario.from_toml(ROOT / "scenarios" / "cstr_setpoint.toml").build(0).env
    limits = np.column_stack([env.action_space.low, env.action_space.high])
    got = identified_trim(env, [0, 1], limits, env.unwrapped.dt, env.observation_space.low,
                          env.observation_space.high)
    assert got.steps > 900 and "over 2 episodes" in got.note


def _built(name, **changes):
    data = Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml").to_dict()
    data["controller"] = {"kind": "neural", **changes}
    return Scenario.from_dict(data, source=name, default_name=name).build(0).controller


def test_build_neural_derives_the_p_plus_settings_from_the_identified_model():
    """Without reading the env's model, the P+ tank gets the long-run signals from the fit: a horizon of twice its
    time constant (capped at 200), two input taps, the identification warm-up; the settings say where from.
    Built twice, the same."""
    ctrl = _built("quadtank_pplus", plant_model="identified")
    assert ctrl.law.horizon == 200 and ctrl.config.input_taps == 2 and ctrl._warmup_steps > 250
    settings = ctrl.derived_settings()
    assert "identification experiment" in settings["plant_model"]
    assert "the identified model" in settings["horizon_check"]
    assert "the identified model" in settings["warmup"]
    again = _built("quadtank_pplus", plant_model="identified")
    assert again.derived_settings() == settings
    plain = _built("quadtank_pplus", plant_model=False)
    assert plain.law.horizon == 50 and "plant_model" not in plain.derived_settings()


def test_the_identified_p_plus_tank_is_held():
    """Seed 0 of the P+ task with the identified model in place of the env's: the run ends in its bands."""
    from neurocontrol.simulation.loop import simulate

    data = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml").to_dict()
    data["controller"] = {"kind": "neural", "plant_model": "identified"}
    s = Scenario.from_dict(data, source="pplus", default_name="pplus").build(0)
    res = simulate(s.env, s.controller, s.reference, duration=s.run.duration, seed=s.seed, options=s.options,
                   tolerance=dict(s.run.tolerance) or None, final_window_s=s.run.final_window_s)
    assert res.metrics["success"]


def test_a_change_soon_after_the_identified_hand_over_trips():
    """The identified model's warm-up hands over at 309 s, 91 s before the pump gains change (x1.3 at 400 s): the
    trip, armed after LEVEL_MIN errors, fires within a few steps and the factors come out near 1.3 (seed 0)."""
    from neurocontrol.scenario import run_scenario

    data = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus_change.toml").to_dict()
    data["controller"] = {"kind": "neural", "plant_model": "identified"}
    res = run_scenario(Scenario.from_dict(data, source="change", default_name="change"), 0)
    gains = [m for m in res.meta["modes"] if m["mode"] == "gains"]
    handover = res.meta["modes"][0]["end_step"]
    assert handover == 309 and gains and 400 < gains[0]["start_step"] <= 405
    np.testing.assert_allclose(res.meta["controller_notes"]["input_gains"], [1.3, 1.3], atol=0.02)
    assert res.metrics["success"]


def test_plant_model_takes_true_false_or_identified_only():
    """Another string is refused with a message that names the choices, from the config and from a scenario."""
    with pytest.raises(ParameterError, match='true, false or "identified"'):
        NeuralControllerConfig(plant_model="fitted")
    with pytest.raises(ScenarioError, match='true, false or "identified"'):
        _built("quadtank_pplus", plant_model="fitted")


def test_a_stopped_run_without_a_model_points_to_the_identified_model():
    """The P+ tank without a model (`plant_model = false`, seed 0) is stopped after its warm-up; the run's hint
    names `plant_model = "identified"`. With the identified model the hint does not suggest it again."""
    from neurocontrol.scenario import run_scenario

    data = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml").to_dict()
    data["controller"] = {"kind": "neural", "plant_model": False}
    res = run_scenario(Scenario.from_dict(data, source="pplus", default_name="pplus"), 0)
    assert res.status == "failed" and 'plant_model = "identified"' in res.meta["hint"]
    ctrl = _built("quadtank_pplus", plant_model="identified")
    ctrl.unchecked_note = "forced for the test"
    ctrl._ready, ctrl._k, ctrl._mode, ctrl._n_warmup = True, 10, "predictive", 5
    assert "identified" not in (ctrl.failure_hint() or "")


def test_identify_describes_the_fit_and_plots_the_experiment(tmp_path):
    """neurocontrol.identification.identify on the P+ tank: the fit's time constant, zero and sign change beside
    the python-control linearisation's (as in the experiment's test above), its free run over the measured levels,
    and the figure (one panel per controlled output and per input)."""
    from neurocontrol.identification import identify

    env = QuadTankEnv(operating_point="P+")
    ident = identify(env)
    assert ident.model is not None and ident.output_indices == (0, 1) and ident.episodes == 1
    x0, u0 = env.operating_point
    lin = control.linearize(env.sys, x0, u0)
    tau = -1.0 / np.log(np.max(np.abs(control.c2d(lin, 1.0).poles())))
    assert ident.slowest_time_constant_s == pytest.approx(tau, rel=0.15)
    assert ident.rhp_zero == pytest.approx(min(float(z.real) for z in lin.zeros() if z.real > 0), rel=0.05)
    assert ident.free_run_fit > 0.99 and len(ident.simulated) == len(ident.measured) == 1
    y, ys = ident.measured[0], ident.simulated[0]
    assert ys.shape == y.shape and np.max(np.abs(ys[2:] - y[2:])) < 0.02         # volts, over 325 s
    fig = ident.plot(tmp_path / "identification.png")
    assert len(fig.axes) == 4 and (tmp_path / "identification.png").stat().st_size > 0


def test_identify_refuses_what_it_cannot_use():
    import gymnasium as gym

    from neurocontrol.identification import identify

    with pytest.raises(ParameterError, match="output_indices"):
        identify(QuadTankEnv(operating_point="P+"), [0, 5])

    class Unbounded(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (2,))
        action_space = gym.spaces.Box(-1.0, 1.0, (1,))
        dt = 0.1

    with pytest.raises(ParameterError, match="unbounded"):
        identify(Unbounded())


def test_the_identify_command_prints_the_fit_beside_the_envs_model(tmp_path, capsys):
    """`neurocontrol identify`: JSON with the fit and the env's model's figures, the plot written, exit 0; a plant the
    experiment cannot fly (the PVTOL) exits 1 and says why."""
    import json

    from neurocontrol.cli import main

    assert main(["identify", str(ROOT / "scenarios" / "quadtank_pplus.toml"), "--json", "--out", str(tmp_path)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["model"] and found["sign_steps"] == pytest.approx(found["env_model"]["sign_steps"], abs=5)
    assert (tmp_path / "identification.png").stat().st_size > 0
    assert main(["identify", str(ROOT / "scenarios" / "pvtol_steps.toml")]) == 1
    assert "gave no model: the env ended the experiment" in capsys.readouterr().out


def test_a_plant_that_starts_near_a_ranges_end_is_still_excited():
    """Valves at (0.35, 0.40), as the docs' table flies them: the second level starts at 0.91 of its half range from
    the middle, beyond the warm-up's back-off of 0.8. The experiment excites it up to 0.05 beyond its start: the
    inputs move, and the fit is accepted with a slowest time constant within 25 % of python-control's linearisation
    of the env's model."""
    data = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml").to_dict()
    data["plant"]["params"] = {"gamma1": 0.35, "gamma2": 0.40}
    data["controller"] = {"kind": "lqr_i"}
    env = Scenario.from_dict(data, source="valves", default_name="valves").build(0).env
    limits = np.column_stack([env.action_space.low, env.action_space.high])
    exp = _identify.identification_experiment(env, [0, 1], limits, 1.0, env.observation_space.low,
                                              env.observation_space.high)
    start = np.abs(exp.Y[0][0] - 5.0) / 5.0
    assert start[1] > _identify.EXCITATION_BACKOFF
    assert exp.model is not None and np.ptp(exp.U[0], axis=0).min() > 0.4            # both pumps moved +-0.25 V
    x0, u0 = env.unwrapped.operating_point
    tau = -1.0 / np.log(np.max(np.abs(control.c2d(control.linearize(env.unwrapped.sys, x0, u0), 1.0).poles())))
    fitted = -1.0 / np.log(np.max(np.abs(np.linalg.eigvals(np.asarray(exp.model.A)))))
    assert fitted == pytest.approx(tau, rel=0.25)


def test_the_docs_figures_of_the_identified_p_plus_model(tmp_path):
    """docs/plot_identified.py (docs/neural_controller.md, "A model identified before the run"): both figures are
    written, and the fit's steady-state gain is within 5 % of python-control's linearisation of the env's model."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("plot_identified", ROOT / "docs" / "plot_identified.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ident = mod.main(["--out", str(tmp_path)])
    assert (tmp_path / "identified_pplus.png").stat().st_size > 0
    assert (tmp_path / "identified_pplus_steps.png").stat().st_size > 0
    base = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml").build(0).env.unwrapped
    x0, u0 = base.operating_point
    lin = control.linearize(base.sys, x0, u0)
    gain = -np.asarray(lin.C)[:2] @ np.linalg.solve(np.asarray(lin.A), np.asarray(lin.B))
    np.testing.assert_allclose(ident.steady_gain, gain, rtol=0.05)
