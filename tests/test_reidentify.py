"""Re-identification after a change (``change_reidentify``) on the quadruple tank at P+.

References: a plain re-implementation of the trip rule over the logged one-step errors; the phase's input law
checked step by step against the logged inputs, errors and excitation; a plain loop of the identifier's own
``update`` over the transitions logged while the phase ran, for the hand-back's replays; the run with the key off
for what it buys (docs/neural_controller.md, "Re-identification after a change").
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


def _flown(lose=()):
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    assert c.config.change_reidentify is True and c._reid is not None      # automatic with the identification warm-up
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
        level = np.mean(window[-R.LEVEL_STEPS:]) if taken >= R.LEVEL_STEPS else np.inf
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
    d = build_neural(NeuralControllerConfig(), env)
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
    start = build_neural(NeuralControllerConfig(), env)
    start.reset(QuadTankEnv(operating_point="P+").reset(seed=4)[0], np.asarray(env.setpoint, float), seed=4)
    c = build_neural(NeuralControllerConfig(), env)
    obs = _fly(c, env, seed=4, steps=k0)
    assert not c._reid.active and not np.array_equal(c.identifier._P, start.identifier._P)
    _fly(c, env, seed=4, steps=k0 + 1, start=k0, obs=obs)
    assert c._reid.active
    np.testing.assert_array_equal(c.identifier._P, start.identifier._P)


def test_a_checkpoint_in_the_phase_goes_on_bit_identically():
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    obs = _fly(c, env, seed=4, steps=CHANGE_AT + 50)
    assert c._reid.active
    state, e2 = c.get_state(), copy.deepcopy(env)
    d = build_neural(NeuralControllerConfig(), env)
    d.reset(obs, np.asarray(env.setpoint, float), seed=9)
    d.set_state(state)
    o1 = o2 = obs
    r = np.asarray(env.setpoint, float) + STEP
    for _ in range(c._reid.steps):                   # through the hand-back and beyond
        u1, u2 = c.step(o1, r), d.step(o2, r)
        np.testing.assert_array_equal(u1, u2)
        o1, o2 = env.step(u1)[0], e2.step(u2)[0]
    assert not c._reid.active and not d._reid.active
    np.testing.assert_array_equal(c.identifier.weights, d.identifier.weights)
    # a checkpoint written before change_reidentify existed: no trip yet, the fresh arrays
    old = {k: v for k, v in state.items() if not k.startswith("reidentify.")}
    d.set_state(old)
    assert not d._reid.active and d._reid.count == 0 and d._reid.last_trip is None


def test_the_docs_figure_the_shipped_task_held_with_it_and_lost_without():
    """docs/plot_pplus_change.py (its caption in docs/neural_controller.md): seed 4 of the shipped P+ task with the
    pump gains x1.3 at 400 s ends in its bands with re-identification (one, from 403 to 679 s; IAE y1 587, y2 485
    V s), and the env stops the run without it."""
    import importlib.util

    path = ROOT / "docs" / "plot_pplus_change.py"
    spec = importlib.util.spec_from_file_location("plot_pplus_change", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (status_on, on, iae_on, spans_on), (status_off, off, _, spans_off) = mod.summary(mod.runs()).values()
    assert status_on == "completed" and on and spans_on == [(403.0, 679.0)]
    assert iae_on == pytest.approx({"y1": 586.6, "y2": 484.5}, abs=0.1)
    assert status_off == "failed" and not off and spans_off == []


def test_no_trip_on_the_nominal_task():
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    obs = env.reset(seed=0)[0]
    r0 = np.asarray(env.setpoint, float)
    c.reset(obs, r0, seed=0)
    for k in range(900):
        obs = env.step(c.step(obs, r0 + STEP * (k >= 10)))[0]
    assert c._reid.count == 0 and c.diagnostics()["mode"] == "predictive"


def test_settings_and_errors():
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    assert "change_reidentify" in c.derived_settings()["long_run_signals"]
    assert build_neural(NeuralControllerConfig(change_reidentify=False), env)._reid is None
    with pytest.raises(ParameterError, match="change_reidentify"):
        NeuralControllerConfig(change_reidentify="yes")
    with pytest.raises(ParameterError, match="open-loop warm-up"):
        build_neural(NeuralControllerConfig(change_reidentify=True, warmup_duration=0.0), env)
    minus = QuadTankEnv(operating_point="P-")            # no identification warm-up: off unless asked
    assert build_neural(NeuralControllerConfig(), minus)._reid is None
    assert build_neural(NeuralControllerConfig(change_reidentify=True), minus)._reid is not None


def test_a_trial_start_ends_the_phase_and_starts_a_new_level():
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    obs = _fly(c, env, seed=4, steps=CHANGE_AT + 50)
    assert c._reid.active
    c.start_trial(obs, np.asarray(env.setpoint, float))
    assert not c._reid.active and c._reid.counters[0] == 0 and c.diagnostics()["mode"] == "predictive"


def test_the_shipped_scenario_and_what_run_prints(capsys):
    """``scenarios/quadtank_pplus_change.toml`` (the task of docs/plot_pplus_change.py as a file): ``neurocontrol run``
    says when the plant was re-identified, and the setting among long_run_signals' choices."""
    from neurocontrol import cli

    assert cli.main(["run", str(ROOT / "scenarios" / "quadtank_pplus_change.toml"), "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "success    yes" in out
    assert "the plant was re-identified in open loop 403.00-679.00 s" in out
    assert "(change_reidentify)" in out
