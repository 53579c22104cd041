"""The open-loop warm-up's feed-forward (``warmup_feedforward``): the nominal input moves with the reference.

The gain is the inverse of the steady-state gain of the env's python-control model at the trim. References:
python-control's ``dcgain`` of its own linearisation, and the nonlinear plant itself, simulated by the env with the
moved input held (docs/neural_controller.md, "Feed-forward in an open-loop warm-up").
"""

from __future__ import annotations

import control
import numpy as np
import pytest

from neurocontrol.controllers._long_run import warmup_feedforward_gain
from neurocontrol.controllers.generic import Trim, model_trim
from neurocontrol.controllers.neural import NeuralControllerConfig, build_neural
from neurocontrol.exceptions import ParameterError
from plants.cstr.env import CSTREnv
from plants.pvtol.env import PVTOLEnv
from plants.quadtank.env import QuadTankEnv


def _python_control_dcgain(env, outputs):
    """python-control's steady-state gain of its own linearisation at the trim the controller uses, (p, m)."""
    trim = model_trim(env, outputs)
    lin = control.linearize(env.unwrapped.sys, trim.states, trim.inputs)
    rows = [trim.obs_idx[i] for i in outputs]
    return np.atleast_2d(control.dcgain(control.ss(lin.A, lin.B, lin.C[rows], lin.D[rows]))), trim


@pytest.mark.parametrize("env, outputs", [(QuadTankEnv(operating_point="P+"), [0, 1]),
                                          (QuadTankEnv(operating_point="P-"), [0, 1]),
                                          (CSTREnv(), None)])
def test_the_trims_steady_gain_is_python_controls_dcgain(env, outputs):
    outputs = list(NeuralControllerConfig().output_indices) if outputs is None else outputs
    expected, trim = _python_control_dcgain(env, outputs)
    np.testing.assert_allclose(trim.steady_gain(), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(warmup_feedforward_gain(trim) @ expected, np.eye(len(outputs)), atol=1e-9)


def test_the_steady_gain_of_a_discrete_system():
    """``C (I - A)^-1 B + D`` against python-control's dcgain of a sampled first-order lag (gain 2)."""
    lag = control.c2d(control.ss(control.tf([2.0], [5.0, 1.0])), 0.5)
    trim = Trim(None, [0], [0], None, None, lag)
    assert trim.steady_gain()[0, 0] == pytest.approx(float(control.dcgain(lag)), rel=1e-12)
    assert trim.steady_gain()[0, 0] == pytest.approx(2.0, rel=1e-12)


def test_no_gain_without_a_stable_trim_or_with_too_few_inputs():
    integrator = control.ss(control.tf([1.0], [1.0, 0.0]))
    assert warmup_feedforward_gain(Trim(None, [0], [0], None, None, integrator)) is None
    assert warmup_feedforward_gain(None) is None
    two_outputs = control.ss([[-1.0, 0.0], [0.0, -2.0]], [[1.0], [1.0]], np.eye(2), np.zeros((2, 1)))
    assert warmup_feedforward_gain(Trim(None, [0, 1], [0, 1], None, None, two_outputs)) is None
    assert build_neural(NeuralControllerConfig(), PVTOLEnv())._ff_gain is None     # LQR-I flies its warm-up


def test_the_moved_input_holds_the_nonlinear_tank_at_the_moved_reference():
    """P+: the pumps moved by the gain times a small reference move, held for 3000 s, move the simulated levels by
    that move (to 3 % of it: the linearisation's error at 0.1 V)."""
    env = QuadTankEnv(operating_point="P+")
    gain = build_neural(NeuralControllerConfig(), env)._ff_gain
    x0, u0 = env.operating_point
    obs, _ = env.reset(seed=0, options={"initial_state": x0})
    move = np.array([0.1, -0.05])
    for _ in range(3000):
        obs, *_ = env.step(u0 + gain @ move)
    start = np.asarray(env.sys.output(0.0, x0, u0))[:2]
    np.testing.assert_allclose(obs[:2] - start, move, atol=0.03 * 0.1)


def _pair(**changes):
    """Two P+ controllers reset alike, with the automatic feed-forward and without it."""
    env = QuadTankEnv(operating_point="P+")
    ctrls = [build_neural(NeuralControllerConfig(**changes, warmup_feedforward=ff), env) for ff in (None, False)]
    obs, _ = env.reset(seed=3)
    r0 = np.asarray(env.setpoint, dtype=float)
    for c in ctrls:
        c.reset(obs, r0, seed=5)
    return ctrls, obs, r0


def test_the_open_loop_warmup_input_moves_by_the_gain_times_the_reference_move():
    (ff, held), obs, r0 = _pair()
    assert ff._ff_gain is not None and held._ff_gain is None and ff.in_warmup
    move = np.array([0.5, -0.2])
    for k in range(20):
        r = r0 + (move if k >= 5 else 0.0)
        expected = held.step(obs, r) + ff._ff_gain @ (r - r0)
        np.testing.assert_allclose(ff.step(obs, r), expected, rtol=0, atol=1e-12)
    assert "(automatic: a right-half-plane zero" in ff.derived_settings()["warmup"]


def test_the_moved_input_stays_within_the_limits():
    (ff, _), obs, r0 = _pair(excitation_amplitude=[0.0, 0.0])
    for sign in (1.0, -1.0):
        u = ff.step(obs, r0 + sign * 50.0)
        lo, hi = ff.input_limits[:, 0], ff.input_limits[:, 1]
        np.testing.assert_allclose(u, np.clip(ff._nominal + ff._ff_gain @ (sign * np.full(2, 50.0)), lo, hi),
                                   rtol=0, atol=1e-9)
        assert np.all(u >= lo) and np.all(u <= hi) and np.all(np.isclose(u, lo) | np.isclose(u, hi))


def test_a_checkpoint_keeps_the_reference_at_reset():
    (ff, _), obs, r0 = _pair()
    r = r0 + np.array([0.3, 0.0])
    ff.step(obs, r)
    state = ff.get_state()
    np.testing.assert_array_equal(state["feedforward.r0"], r0)
    after = [ff.step(obs, r) for _ in range(3)]
    (other, _), _, _ = _pair()
    other.reset(obs, r, seed=9)                 # another reference at reset: the checkpoint's r0 replaces it
    other.set_state(state)
    np.testing.assert_array_equal(np.array([other.step(obs, r) for _ in range(3)]), np.array(after))
    older = {k: v for k, v in state.items() if k != "feedforward.r0"}     # a checkpoint of an earlier version
    other.set_state(older)


def test_on_by_default_only_where_a_right_half_plane_zero_acts_within_twice_tau():
    """P+ (``z tau = 1.17``) and the valves (0.45, 0.45) (0.52) get it; (0.475, 0.475) (0.26), the tank at P- (no
    right-half-plane zero) and the CSTR (0.095) do not, unless asked. ``z tau`` from python-control's own zeros and
    poles of the linearisation."""
    from plants.quadtank.params import QuadTankParams

    def z_tau(env):
        x0, u0 = env.operating_point
        lin = control.linearize(env.sys, x0, u0)
        lin = control.ss(lin.A, lin.B, lin.C[:2], lin.D[:2])
        zeros = [z.real for z in np.atleast_1d(control.zeros(lin)) if z.real > 0]
        return min(zeros) * max(-1.0 / p.real for p in control.poles(lin)) if zeros else 0.0

    for gammas, on in (((0.43, 0.34), True), ((0.45, 0.45), True), ((0.475, 0.475), False)):
        env = QuadTankEnv(QuadTankParams.at("P+", gamma1=gammas[0], gamma2=gammas[1]), operating_point="P+")
        assert bool(z_tau(env) >= 0.5) is on
        assert (build_neural(NeuralControllerConfig(), env)._ff_gain is not None) is on, gammas
    for env in (QuadTankEnv(operating_point="P-"), CSTREnv()):
        assert build_neural(NeuralControllerConfig(), env)._ff_gain is None
        assert build_neural(NeuralControllerConfig(warmup_feedforward=True), env)._ff_gain is not None


def test_true_needs_a_model_with_a_stable_trim():
    with pytest.raises(ParameterError, match="warmup_feedforward = true.*python-control model"):
        build_neural(NeuralControllerConfig(plant_model=False, warmup_feedforward=True),
                     QuadTankEnv(operating_point="P+"))
    with pytest.raises(ParameterError, match="warmup_feedforward = true"):
        build_neural(NeuralControllerConfig(warmup_feedforward=True), PVTOLEnv())
    ctrl = build_neural(NeuralControllerConfig(warmup_feedforward=True), QuadTankEnv(operating_point="P-"))
    said = ctrl.derived_settings()["warmup"]
    assert "warmup_feedforward, the inverse" in said and "automatic" not in said


def test_warmup_feedforward_must_be_a_boolean():
    with pytest.raises(ParameterError, match="warmup_feedforward"):
        NeuralControllerConfig(warmup_feedforward="yes")


def test_the_figures_of_the_docs_plot(tmp_path):
    """docs/plot_pplus_feedforward.py, seed 0: both runs in their bands; IAE y1 104 / 192, y2 27 / 87 V s (its caption
    in docs/neural_controller.md)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "plot_pplus_feedforward.py"
    spec = importlib.util.spec_from_file_location("plot_pplus_feedforward", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    said = mod.summary(mod.runs(0))
    (on, iae_on), (off, iae_off) = said["with the feed-forward (default)"], said["without it"]
    assert on and off
    assert iae_on == pytest.approx({"y1": 104.2, "y2": 26.5}, abs=0.1)
    assert iae_off == pytest.approx({"y1": 192.4, "y2": 86.7}, abs=0.1)
