"""Re-identification after a change (``change_reidentify``) on the quadruple tank at P+.

References: a plain re-implementation of the trip rule over the logged one-step errors. For ``"open_loop"``: the
phase's input law checked step by step against the logged inputs, errors and excitation; a plain loop of the
identifier's own ``update`` over the transitions logged while the phase ran, for the hand-back's replays. For
``"gains"`` (the default): the network fed ``a u`` in physical units for the reparametrised weights; central finite
differences of a plain teacher-forced run for the factors' sensitivities; the EKF step written out in numpy. The
runs with the key off, and LQR-I, for what it buys (docs/neural_controller.md, "Re-identification after a change").
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from neurocontrol.controllers import _reidentify as R
from neurocontrol.controllers.neural import NeuralControllerConfig, build_neural
from neurocontrol.exceptions import ParameterError
from plants.quadtank.env import QuadTankEnv

ROOT = Path(__file__).resolve().parents[1]
STEP = np.array([0.5, 0.0])      # the P+ task's reference step (V), at step 10
CHANGE_AT = 400                  # the pump gains x1.3 from this step on


def _change(env):
    p = env.unwrapped.params
    env.unwrapped.set_params({"k1": 1.3 * p["k1"], "k2": 1.3 * p["k2"]})


def _norm(e):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(e))


def _fly(c, env, seed, steps, log=None, start=0, obs=None, lose=()):
    """Fly ``c`` on ``env`` (reset here unless ``obs`` is given) from step ``start`` to ``steps``; return the last
    measurement. ``log`` gets per step a dict of what the tests read; ``lose``: steps whose measurement is lost."""
    r0 = np.asarray(QuadTankEnv(operating_point="P+").setpoint, dtype=float)
    if obs is None:
        obs = env.reset(seed=seed)[0]
        c.reset(obs, r0, seed=seed)
    taken, online = [], [0]
    if log is not None:
        take_in = c.identifier.update

        def logged(y, u, y_next, **kw):
            out = take_in(y, u, y_next, **kw)
            if online[0]:                       # the step's own update, not a replay's
                online[0] = 0
                taken.append((np.array(y), np.array(u), np.array(y_next), kw.get("learn", True)))
            return out
        c.identifier.update = logged
    try:
        for k in range(start, steps):
            if k == CHANGE_AT:
                _change(env)
            n, online[0] = len(taken), 1
            r = r0 + STEP * (k >= 10)
            u = c.step(np.full_like(obs, np.nan) if k in lose else obs, r)
            if log is not None:
                d = c.diagnostics()
                rec = {"k": k, "u": u.copy(), "r": r, "x": c.state, "mode": d["mode"], "status": c._status,
                       "err": _norm(c.identifier._e), "theta": c.identifier._theta.copy(),
                       "nominal": c._reid.nominal.copy(), "counters": c._reid.counters.copy(),
                       "taken": taken[n:]}
                if log and log[-1]["mode"] == "reidentify" and d["mode"] == "predictive":    # the hand-back step
                    rec["P"] = c.identifier._P.copy()
                if c._reid.active and c._reid.counters[3] == c._reid.steps:     # the next step hands back
                    rec["state"] = c.get_state()
                log.append(rec)
            obs = env.step(u)[0]
    finally:
        c.identifier.__dict__.pop("update", None)
    return obs


OPEN = NeuralControllerConfig(change_reidentify="open_loop")


def _flown(lose=(), config=OPEN):
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(config, env)
    log = []
    _fly(c, env, seed=4, steps=CHANGE_AT + 60 + c._reid.steps, log=log, lose=lose)
    return c, log


@pytest.fixture(scope="module")
def flown():
    return _flown()


def _trip_step(log, seen=("updated", "dead_zone", "outlier", "frozen", "onset", "held")):
    """The trip rule, written out: a list as the level's window, from the first step after the warm-up."""
    window, above, taken, snaps = [], 0, 0, 0
    for rec in log:
        if rec["mode"] == "warmup" or rec["status"] not in seen:
            continue
        level = np.mean(window[-R.LEVEL_STEPS:]) if taken >= R.LEVEL_MIN else np.inf
        if rec["err"] > R.TRIP_RATIO * max(level, 1e-12):
            above += 1
            if above >= R.TRIP_STEPS and snaps >= R.SNAPSHOTS:
                return rec["k"]
            continue
        above = 0
        window.append(rec["err"])
        taken += 1
        snaps += taken % R.SNAPSHOT_EVERY == 0
    return None


def test_the_trip_is_the_rule_over_the_logged_errors(flown):
    c, log = flown
    k0 = _trip_step(log)
    assert k0 is not None and CHANGE_AT < k0 <= CHANGE_AT + 5           # within a few steps of the change
    modes = [rec["mode"] for rec in log]
    assert modes[k0] == "reidentify" and modes[k0 - 1] == "predictive"
    assert c._reid.count == 1 and c._reid.last_trip == pytest.approx(k0 * c.dt)
    # no trip before the change: the level is the closed loop's own
    assert _trip_step(log[:CHANGE_AT]) is None


def test_the_rollback_and_the_phase_follow_the_documented_law(flown):
    c, log = flown
    k0, reid = _trip_step(log), c._reid
    T, ginv, lo, hi = reid.steps / 3.0, reid.gain_inverse, c.input_limits[:, 0], c.input_limits[:, 1]
    assert T == reid.integral_steps and np.all(np.isfinite(ginv)) and np.any(ginv != 0.0)
    # the weights go back to those of 30-40 steps before the trip
    back = [j for j in range(k0 - 41, k0 - 29) if np.array_equal(log[k0]["theta"], log[j]["theta"])]
    assert back, "the trip's weights are none of those 30-40 steps before it"
    # the nominal input starts at the input applied before that snapshot, and integrates the errors
    start = [log[j - 1]["u"] for j in back]
    e0 = log[k0]["r"] - log[k0]["x"][list(c.output_indices)]
    assert any(np.array_equal(log[k0]["nominal"], np.clip(s + ginv @ e0 / T, lo, hi)) for s in start)
    exc = c._excitation
    for j in range(reid.steps):
        rec = log[k0 + j]
        assert rec["mode"] == "reidentify"
        if j:
            e = rec["r"] - rec["x"][list(c.output_indices)]
            np.testing.assert_array_equal(rec["nominal"], np.clip(log[k0 + j - 1]["nominal"] + ginv @ e / T, lo, hi))
        o = list(c.output_indices)
        near = np.max(np.abs(rec["x"][o] - c._id_cfg.output_mid[o]) / c._id_cfg.output_half[o]) > 0.8
        np.testing.assert_array_equal(rec["u"], np.clip(rec["nominal"] + (not near) * exc[j], lo, hi))
    assert log[k0 + reid.steps]["mode"] == "predictive"                  # the hand-back: the law flies again


@pytest.mark.parametrize("lose", [(), (450, 451, 600)])
def test_the_hand_back_replays_are_the_rules_own_updates_over_the_logged_phase(lose):
    """The weights after the hand-back step are two more passes of ``update`` over the phase's transitions, each
    from a restarted hidden state, from the model the online pass left (a checkpoint of the step before, then the
    step's own update); the covariance is the online pass's. With lost samples in the phase, the transitions the
    online pass skipped are skipped again, and the phase lasts longer by the steps it held."""
    c, log = _flown(lose)
    k0, reid = _trip_step(log), c._reid
    kh = next(k for k in range(k0, len(log)) if log[k]["mode"] == "predictive")
    # a step whose state is not finite (the lost one, and the rate lags' differences after it) holds the input and
    # does not count
    assert kh == k0 + reid.steps if not lose else kh > k0 + reid.steps + len(lose)
    # the identifier as the step before the hand-back left it (a checkpoint), then the hand-back step's own update
    env = QuadTankEnv(operating_point="P+")
    d = build_neural(OPEN, env)
    d.reset(env.reset(seed=4)[0], np.asarray(env.setpoint, float), seed=4)
    d.set_state(log[kh - 1]["state"])
    ref = d.identifier
    (y, u, y_next, learn), = log[kh]["taken"]
    ref.update(y, u, y_next, learn=learn)
    # the phase's transitions the online pass took in: the regressor and input it was given, the state as target
    trans = [(t[0], t[1], log[k]["x"], t[3]) for k in range(k0 + 1, kh + 1) for t in log[k]["taken"]]
    assert len(trans) == reid.steps if not lose else len(trans) < reid.steps
    P, counts = ref._P.copy(), dict(ref.counts)
    walk = ref.bias_walk.copy()
    ref.bias_walk[:] = 0.0
    for _ in range(reid.passes):
        ref._h[:] = 0.0
        ref._Sh[:] = 0.0
        for y, u, x, learn in trans:
            ref.update(y, u, x, learn=learn)
    ref.bias_walk[:] = walk
    assert reid.passes == 2 and counts["updated"] > 0
    np.testing.assert_array_equal(log[kh]["theta"], ref._theta)
    np.testing.assert_array_equal(log[kh]["P"], P)         # the replays move the weights only


def test_the_covariance_goes_back_to_the_start_at_the_trip(flown):
    """At the end of the trip's step (no update after the rollback yet) the identifier's covariance is the one a
    fresh controller starts the run with; one step before, it is not."""
    k0 = _trip_step(flown[1])
    env = QuadTankEnv(operating_point="P+")
    start = build_neural(OPEN, env)
    start.reset(QuadTankEnv(operating_point="P+").reset(seed=4)[0], np.asarray(env.setpoint, float), seed=4)
    c = build_neural(OPEN, env)
    obs = _fly(c, env, seed=4, steps=k0)
    assert not c._reid.active and not np.array_equal(c.identifier._P, start.identifier._P)
    _fly(c, env, seed=4, steps=k0 + 1, start=k0, obs=obs)
    assert c._reid.active
    np.testing.assert_array_equal(c.identifier._P, start.identifier._P)


@pytest.mark.parametrize("config", [OPEN, NeuralControllerConfig()], ids=["open_loop", "gains"])
def test_a_checkpoint_in_the_phase_goes_on_bit_identically(config):
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(config, env)
    obs = _fly(c, env, seed=4, steps=CHANGE_AT + 50)
    assert c._reid.active or c._reid.adapting
    state, e2 = c.get_state(), copy.deepcopy(env)
    d = build_neural(config, env)
    d.reset(obs, np.asarray(env.setpoint, float), seed=9)
    d.set_state(state)
    o1 = o2 = obs
    r = np.asarray(env.setpoint, float) + STEP
    for _ in range(c._reid.gain_steps):              # through the hand-back (the gains' last step) and beyond
        u1, u2 = c.step(o1, r), d.step(o2, r)
        np.testing.assert_array_equal(u1, u2)
        o1, o2 = env.step(u1)[0], e2.step(u2)[0]
    assert not c._reid.active and not d._reid.active and c._reid.adapting == d._reid.adapting
    np.testing.assert_array_equal(c.identifier.weights, d.identifier.weights)
    # a checkpoint written before change_reidentify existed: no trip yet, the fresh arrays
    old = {k: v for k, v in state.items() if not k.startswith("reidentify.")}
    d.set_state(old)
    assert not d._reid.active and d._reid.count == 0 and d._reid.last_trip is None
    # ... and one written before the "gains" mode: its phase goes on, nothing learned of the gains
    d.set_state({k: v for k, v in state.items() if k[len("reidentify."):] not in R.Reidentification.GAIN_NAMES})
    assert not d._reid.adapting and d._reid.count == 1


def test_the_docs_figure_the_shipped_task_held_with_it_and_lost_without():
    """docs/plot_pplus_change.py (its caption in docs/neural_controller.md): seed 4 of the shipped P+ task with the
    pump gains x1.3 at 400 s ends in its bands with the gains re-learned (from 403 s to the end; IAE over the run y1
    109, y2 35 V s) and with the open-loop re-identification (403 to 679 s; IAE y1 587, y2 485 V s), and the env
    stops the run without either."""
    import importlib.util

    path = ROOT / "docs" / "plot_pplus_change.py"
    spec = importlib.util.spec_from_file_location("plot_pplus_change", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    gains, open_loop, neither = mod.summary(mod.runs()).values()
    assert gains[:2] == ("completed", True) and gains[3] == [(403.0, 1200.0)]
    assert open_loop[:2] == ("completed", True) and open_loop[3] == [(403.0, 679.0)]
    assert gains[2] == pytest.approx({"y1": 109.0, "y2": 35.4}, abs=0.1)
    assert open_loop[2] == pytest.approx({"y1": 586.6, "y2": 484.5}, abs=0.1)
    assert neither[0] == "failed" and not neither[1] and neither[3] == []


def test_no_trip_on_the_nominal_task():
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    obs = env.reset(seed=0)[0]
    r0 = np.asarray(env.setpoint, float)
    c.reset(obs, r0, seed=0)
    for k in range(900):
        obs = env.step(c.step(obs, r0 + STEP * (k >= 10)))[0]
    assert c._reid.count == 0 and c.diagnostics()["mode"] == "predictive"
    assert c.run_notes() == {} and c.input_gains is None


def test_settings_and_errors():
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    assert "change_reidentify" in c.derived_settings()["long_run_signals"]
    assert build_neural(NeuralControllerConfig(change_reidentify=False), env)._reid is None
    assert c.config.change_reidentify is True and c._reid.mode == "gains"    # automatic with the identification warm-up
    with pytest.raises(ParameterError, match="change_reidentify"):
        NeuralControllerConfig(change_reidentify="yes")
    with pytest.raises(ParameterError, match="open-loop warm-up"):
        build_neural(NeuralControllerConfig(change_reidentify="open_loop", warmup_duration=0.0), env)
    assert build_neural(NeuralControllerConfig(change_reidentify=True, warmup_duration=0.0), env)._reid is not None
    with pytest.raises(ParameterError, match="rtrl_ekf"):
        build_neural(NeuralControllerConfig(change_reidentify="gains", learning_rule="rtrl_gradient"), env)
    minus = QuadTankEnv(operating_point="P-")            # no identification warm-up: off unless asked
    assert build_neural(NeuralControllerConfig(), minus)._reid is None
    assert build_neural(NeuralControllerConfig(change_reidentify="gains"), minus)._reid.mode == "gains"
    assert build_neural(NeuralControllerConfig(change_reidentify="open_loop"), minus)._reid.mode == "open_loop"


@pytest.mark.parametrize("config", [OPEN, NeuralControllerConfig()], ids=["open_loop", "gains"])
def test_a_trial_start_ends_the_phase_and_starts_a_new_level(config):
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(config, env)
    obs = _fly(c, env, seed=4, steps=CHANGE_AT + 50)
    assert c.diagnostics()["mode"] == ("reidentify" if config is OPEN else "gains")
    weights = c.identifier.weights.copy()
    c.start_trial(obs, np.asarray(env.setpoint, float))
    assert not (c._reid.active or c._reid.adapting) and c._reid.counters[0] == 0
    assert c.diagnostics()["mode"] == "predictive" and c.input_gains is None
    np.testing.assert_array_equal(c.identifier.weights, weights)     # the weights learned so far are kept


def test_the_shipped_scenario_and_what_run_prints(capsys):
    """``scenarios/quadtank_pplus_change.toml`` (the task of docs/plot_pplus_change.py as a file): ``neurocontrol run``
    says when the input gains were re-learned, and the setting among long_run_signals' choices."""
    from neurocontrol import cli

    assert cli.main(["run", str(ROOT / "scenarios" / "quadtank_pplus_change.toml"), "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "success    yes" in out
    import re

    found = re.search(r"the input gains were re-learned after a change 403\.00-1200\.00 s \(factors learned: "
                      r"v1 x([0-9.]+), v2 x([0-9.]+)\)", out)
    assert found and np.allclose([float(found[1]), float(found[2])], 1.3, atol=0.02)
    assert "(change_reidentify)" in out


# ---------------------------------------------------------------- mode "gains": the input gains re-learned


def _net(seed=0):
    """A network with two plant inputs over two taps, off-centre input ranges, and every weight non-zero."""
    from neurocontrol.nets.incremental import IncrementalConfig

    cfg = IncrementalConfig(n_outputs=3, n_inputs=4, n_hidden=5, output_range=[[-2.0, 0.0, 1.0], [3.0, 4.0, 2.0]],
                            input_range=[[0.0, 1.0, 0.0, 1.0], [10.0, 3.0, 10.0, 3.0]])
    rng = np.random.default_rng(seed)
    theta = 0.3 * rng.standard_normal(cfg.n_weights)
    T = 40
    u = rng.uniform([0.0, 1.0], [10.0, 3.0], size=(T + 1, 2))
    U = np.hstack([u[1:], u[:-1]])                   # tap 0: u(t), tap 1: u(t - 1)
    Y = rng.uniform([-2.0, 0.0, 1.0], [3.0, 4.0, 2.0], size=(T + 1, 3))
    return cfg, theta, U, Y


def test_the_gain_directions_are_the_network_fed_the_scaled_inputs():
    """``theta + D (a - 1)`` on the inputs ``u`` predicts what ``theta`` predicts on ``a u`` (physical units)."""
    from neurocontrol.nets.incremental import one_step_predictions

    cfg, theta, U, Y = _net()
    a = np.array([1.3, 0.8])
    D = R.gain_directions(cfg, theta, 2)
    got = one_step_predictions(cfg, theta + D @ (a - 1.0), cfg.normalize_outputs(Y[:-1]), cfg.normalize_inputs(U))
    want = one_step_predictions(cfg, theta, cfg.normalize_outputs(Y[:-1]), cfg.normalize_inputs(U * np.tile(a, 2)))
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-12)
    plain = one_step_predictions(cfg, theta, cfg.normalize_outputs(Y[:-1]), cfg.normalize_inputs(U))[0]
    assert np.abs(got[0] - plain).max() > 1e-2          # the factors matter


def test_the_factors_sensitivities_are_central_differences_of_a_plain_run():
    """The identifier's RTRL sensitivities times ``D`` (what the factors' EKF uses) against central differences
    of a teacher-forced run of the network, the factors moved by +-1e-6."""
    from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier
    from neurocontrol.nets.incremental import one_step_predictions

    cfg, theta, U, Y = _net(1)
    ident = IncrementalIdentifier(cfg, DecoupledEKF(change_gate=None), weights=theta)
    for t in range(U.shape[0]):
        assert ident.update(Y[t], U[t], Y[t + 1], hold=True) == "held"
    D = R.gain_directions(cfg, theta, 2)
    J = ident._Sy @ D
    yn, un, eps = cfg.normalize_outputs(Y[:-1]), cfg.normalize_inputs(U), 1e-6
    for j in range(2):
        step = eps * np.eye(2)[j]
        hi = one_step_predictions(cfg, theta + D @ step, yn, un)[0][-1]
        lo = one_step_predictions(cfg, theta - D @ step, yn, un)[0][-1]
        np.testing.assert_allclose(J[:, j], (hi - lo) / (2 * eps), rtol=1e-6, atol=1e-9)
    assert np.abs(J).max() > 1e-3                       # the inputs matter to the prediction


def test_the_factors_ekf_step_written_out():
    """:meth:`Reidentification.learn_gains` against the EKF on the factors in plain numpy, over a twin identifier's
    held updates."""
    from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier

    cfg, theta, U, Y = _net(2)
    ident = IncrementalIdentifier(cfg, DecoupledEKF(), weights=theta)
    reid = R.Reidentification(n_weights=cfg.n_weights, n_hidden=5, n_signals=3, n_taps=4, n_inputs=2, n_outputs=3,
                              steps=10, passes=0)
    reid.gain_base[:], reid.gain_dirs[...] = theta, R.gain_directions(cfg, theta, 2)
    reid.gain_cov[...], reid.gain_left[0] = np.eye(2) * R.GAIN_PRIOR_STD ** 2, 200.0
    ref = IncrementalIdentifier(cfg, DecoupledEKF(), weights=theta)     # a copy would not keep the weights' views
    a, P = np.ones(2), np.eye(2) * R.GAIN_PRIOR_STD ** 2
    for t in range(U.shape[0]):
        assert reid.learn_gains(ident, Y[t], U[t], Y[t + 1], learn=True, hold=False) == "updated"
        ref.update(Y[t], U[t], Y[t + 1], hold=True)
        J = ref._Sy @ reid.gain_dirs
        K = P @ J.T @ np.linalg.inv(J @ P @ J.T + np.diag(ref._R))
        a = a + K @ ref._e
        P = (np.eye(2) - K @ J) @ P
        ref._theta[:] = theta + reid.gain_dirs @ (a - 1.0)
        # inv in place of solve: rounding that 40 recursive steps on random data carry to about 1e-9
        np.testing.assert_allclose(reid.gain, a, rtol=1e-7)
        np.testing.assert_allclose(reid.gain_cov, P, rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(ident._theta, ref._theta, rtol=1e-7, atol=1e-12)
    assert reid.gain_left[0] == 200.0 - U.shape[0] and not np.allclose(a, 1.0)
    # held (the onset of sensor noise): the hidden state moves on, the factors and weights do not
    before = reid.gain.copy(), ident._theta.copy()
    assert reid.learn_gains(ident, Y[0], U[0], Y[1], learn=True, hold=True) == "held"
    np.testing.assert_array_equal(reid.gain, before[0])
    np.testing.assert_array_equal(ident._theta, before[1])


@pytest.fixture(scope="module")
def flown_gains():
    return _flown(config=NeuralControllerConfig())


def _level_back(log, k0, k):
    """The hand-back's rule written out: the mean of the last 100 errors below the trip, taken after it up to step k,
    within 10 times the mean of the last 100 taken before it."""
    seen = ("updated", "dead_zone", "outlier", "frozen", "onset", "held")

    def below(recs):
        window, out = [], []
        for rec in recs:
            if rec["status"] in seen and rec["mode"] != "warmup":
                level = np.mean(window[-R.LEVEL_STEPS:]) if len(window) >= R.LEVEL_MIN else np.inf
                if rec["err"] <= R.TRIP_RATIO * max(level, 1e-12):
                    window.append(rec["err"])
                    out.append(rec["err"])
        return out

    before = below(log[:k0])            # the steps above the trip are the trip's own
    after = [rec["err"] for rec in log[k0 + 1:k + 1] if rec["status"] in seen]
    return len(after) >= R.LEVEL_STEPS and np.mean(after[-R.LEVEL_STEPS:]) <= R.TRIP_RATIO * np.mean(
        before[-R.LEVEL_STEPS:])


def _factors(log, k, base, D):
    """The factors whose weights ``theta(a)`` step ``k`` flew with (a least-squares fit that must leave nothing)."""
    a = np.linalg.lstsq(D, log[k]["theta"] - base, rcond=None)[0] + 1.0
    return a, np.abs(base + D @ (a - 1.0) - log[k]["theta"]).max()


def test_the_pump_gains_are_learned_while_the_law_flies_then_the_identifier_takes_over(flown_gains):
    """Seed 4 of the P+ change (the default mode): the trip rolls back, the law flies while the two factors are
    learned, each within 2 % of the 1.3 the pumps were given; after the planned warm-up's 276 steps the error level
    since the trip is back within 10 times the one before it, and the identifier's own update moves every weight."""
    c, log = flown_gains
    k0, reid = _trip_step(log), c._reid
    assert k0 is not None and CHANGE_AT < k0 <= CHANGE_AT + 5
    back = [j for j in range(k0 - 41, k0 - 29) if np.array_equal(reid.gain_base, log[j]["theta"])]
    assert back, "the factors' base weights are none of those 30-40 steps before the trip"
    modes = [rec["mode"] for rec in log]
    end = k0 + reid.gain_steps                  # the first step after the factors' last
    assert modes[k0 - 1] == "predictive" and set(modes[k0:end]) == {"gains"} and modes[end] == "predictive"
    for k in (k0 + 1, k0 + 50, end - 1):        # every step in between flies theta(a) for some factors
        assert _factors(log, k, reid.gain_base, reid.gain_dirs)[1] < 1e-12
    np.testing.assert_allclose(_factors(log, end - 1, reid.gain_base, reid.gain_dirs)[0], [1.3, 1.3], rtol=0.02)
    assert _level_back(log, k0, end - 1)
    assert _factors(log, end + 20, reid.gain_base, reid.gain_dirs)[1] > 1e-8   # the identifier's own update again
    assert c.input_gains is None and all(np.all(np.isfinite(rec["u"])) for rec in log)


@pytest.mark.parametrize("level, goes_on", [(5e-4, True), (5e-5, False)])
def test_the_factors_go_on_while_the_error_level_is_not_back(level, goes_on):
    """At the factors' last step the hand-back waits (one step at a time) while the mean of the last 100 errors is
    above 10 times the level before the trip (here 1e-5)."""
    from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier

    cfg, theta, U, Y = _net(3)
    ident = IncrementalIdentifier(cfg, DecoupledEKF(), weights=theta)
    reid = R.Reidentification(n_weights=cfg.n_weights, n_hidden=5, n_signals=3, n_taps=4, n_inputs=2, n_outputs=3,
                              steps=10, passes=0)
    reid.gain_base[:], reid.gain_dirs[...] = theta, R.gain_directions(cfg, theta, 2)
    reid.gain_cov[...] = np.eye(2) * R.GAIN_PRIOR_STD ** 2
    reid.gain_left[:] = 1.0, 1e-5
    reid.errors[:], reid.counters[0] = level, R.LEVEL_STEPS
    reid.learn_gains(ident, Y[0], U[0], Y[1], learn=True, hold=False)
    assert reid.adapting is goes_on and reid.gain_left[0] == float(goes_on)


def test_the_gains_beat_lqr_i_after_the_change():
    """The shipped task (scenarios/quadtank_pplus_change.toml), seeds 0-4: the median IAE from the change on is below
    that of the scenario's LQR-I, per level (issue #15's row for this change; measured 2.35 / 2.51 against 15.43 /
    17.10; seeds 0-99: benchmarks/records/plants_change_100.json)."""
    from neurocontrol.scenario import Scenario, run_scenario

    sc = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus_change.toml")

    def iae_after(res):
        t, e = np.asarray(res.time), np.abs(np.asarray(res.outputs) - np.asarray(res.references))
        keep = t >= CHANGE_AT
        return np.trapezoid(e[keep], t[keep], axis=0)

    neural = [run_scenario(sc, s) for s in range(5)]
    lqr = [run_scenario(sc.set("controller", {"kind": "lqr_i"}), s) for s in range(5)]
    assert all(r.metrics["success"] for r in neural) and all(r.status == "completed" for r in lqr)
    assert np.all(np.median([iae_after(r) for r in neural], axis=0) < np.median([iae_after(r) for r in lqr], axis=0))


def test_a_second_change_trips_again_and_its_own_factors_are_learned():
    """The shipped task run to 1600 s with a second change at 800 s (pump 1 x0.7, pump 2 x0.9 on top of the first
    x1.3), seed 0: the error trips again 3 steps after it, the factors are learned from the weights the first ones
    left, so they come out as the second change's own (within 1 %), and the run ends in its bands."""
    from neurocontrol.scenario import Scenario, run_scenario

    sc = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus_change.toml")
    second = {"kind": "parameter_change", "time": 800.0, "factors": {"k1": 0.7, "k2": 0.9}}
    res = run_scenario(sc.set("events", [*sc.to_dict()["events"], second]).set("run.duration", 1600.0), 0)
    spans = res.mode_spans("gains")
    assert res.status == "completed" and res.metrics["success"]
    assert len(spans) == 2 and spans[0][0] == 403 and spans[1][0] == 803
    np.testing.assert_allclose(res.meta["controller_notes"]["input_gains"], [0.7, 0.9], rtol=0.01)
