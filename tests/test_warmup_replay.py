"""Replaying the warm-up (``warmup_replay``): the identifier learns the warm-up's transitions again at the hand-over.

References: a plain loop of the identifier's own ``update`` over the transitions logged while the warm-up ran (not
the controller's records), run on the identifier of a third controller flown alike without replays (the model the
online pass left); the python-control model's steady-state gain for what the replays buy (docs/plot_pplus_replay.py;
docs/neural_controller.md, "Replaying the warm-up").
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from neurocontrol.controllers._long_run import IDENTIFICATION_REPLAY
from neurocontrol.controllers.neural import NeuralControllerConfig, build_neural
from neurocontrol.exceptions import ParameterError
from plants.quadtank.env import QuadTankEnv

STEP = np.array([0.5, 0.0])      # the P+ task's reference step (V), at step 10


def _fly(controllers, env, seed, steps, log=None, lose=()):
    """Step ``controllers`` (reset alike) on copies of ``env`` through ``steps`` steps of the P+ reference step.

    ``log``: a list that gets ``(k, y, u, x, learn)`` for every transition ``(y, u)`` the first controller's
    identifier takes in during its warm-up, at step ``k``, ``x`` its state after that step and ``learn`` the flag
    it was given (logged around its ``update``, which is put back at the end, and from its ``state``).
    ``lose``: steps whose measurement is lost (NaN).
    """
    envs = [copy.deepcopy(env) for _ in controllers]
    obs = [e.reset(seed=seed)[0] for e in envs]
    r0 = np.asarray(env.setpoint, dtype=float)
    for c, o in zip(controllers, obs):
        c.reset(o, r0, seed=seed)
    first = controllers[0]
    learned = []
    if log is not None:
        take_in = first.identifier.update

        def logged(y, u, y_next, **kw):
            if first.in_warmup:
                learned.append((np.array(y), np.array(u), kw.get("learn", True)))
            return take_in(y, u, y_next, **kw)
        first.identifier.update = logged
    try:
        for k in range(steps):
            before = len(learned)
            for i, (c, e) in enumerate(zip(controllers, envs)):
                obs[i] = e.step(c.step(np.full_like(obs[i], np.nan) if k in lose else obs[i],
                                       r0 + STEP * (k >= 10)))[0]
            if log is not None and len(learned) > before:
                y, u, learn = learned[-1]
                log.append((k, y, u, first.state, learn))
    finally:
        first.identifier.__dict__.pop("update", None)


@pytest.mark.parametrize("lose, until", [((), None), ((40, 41, 120), None), ((), 150.0)])
def test_the_replays_are_the_rules_own_updates_over_the_logged_warmup(lose, until):
    """Through the hand-over step: the weights and hidden state are those of two more passes of ``update`` over the
    logged transitions, each from a restarted hidden state, from the online pass's model; the covariance and the
    counts are the online pass's. Lost samples: the transitions the online pass skipped are skipped again; with
    ``learning_until`` inside the warm-up, those it froze advance the hidden state only, again.

    A replayed transition's target is the state the controller took the measurement in as (``state``: in the
    warm-up the measurement itself, to rounding), the next transition's regressor."""
    env = QuadTankEnv(operating_point="P+")
    once, twice, third = (build_neural(NeuralControllerConfig(warmup_replay=n, learning_until=until), env)
                          for n in (0, 2, 0))
    n = once.derived_settings()["warmup_steps"]
    assert n == twice.derived_settings()["warmup_steps"] > 100
    log = []
    _fly([once, twice, third], env, seed=1, steps=n + 1, log=log, lose=lose)      # through the hand-over step n
    assert not once.in_warmup and not twice.in_warmup
    # transitions 1..n, less the first taps - 1 (no input before the first), and, with losses, those whose
    # measurements or rate lags (differences over two steps) were not finite
    full = n - (once.config.input_taps - 1)
    assert len(log) == full if not lose else full - 12 < len(log) <= full - 5
    reference = third.identifier                          # the online pass's model after the hand-over step
    reference.bias_walk[:] = 0.0
    for _ in range(2):
        reference.reset_hidden()
        for _k, y, u, x, learn in log:
            reference.update(y, u, x, learn=learn)
    np.testing.assert_array_equal(twice.identifier.weights, reference.weights)
    np.testing.assert_array_equal(twice.identifier.hidden, reference.hidden)
    assert not np.array_equal(twice.identifier.weights, once.identifier.weights)
    assert (until is None) == all(learn for *_, learn in log)
    np.testing.assert_array_equal(twice.identifier.covariance, once.identifier.covariance)
    assert twice.identifier.counts == once.identifier.counts


def test_the_default_replays_only_the_identification_warmup():
    pplus, pminus = QuadTankEnv(operating_point="P+"), QuadTankEnv(operating_point="P-")
    auto = build_neural(NeuralControllerConfig(), pplus)
    assert auto.config.warmup_replay == IDENTIFICATION_REPLAY == auto._replay
    assert f"learned {IDENTIFICATION_REPLAY} more times" in auto.derived_settings()["long_run_signals"]
    assert build_neural(NeuralControllerConfig(warmup_replay=0), pplus)._replay == 0
    assert build_neural(NeuralControllerConfig(), pminus)._replay == 0       # no identification warm-up
    given = build_neural(NeuralControllerConfig(warmup_duration=100.0), pplus)   # a warm-up given: not lengthened
    assert given._replay == 0 and given.config.warmup_replay is None
    assert build_neural(NeuralControllerConfig(warmup_replay=3), pminus)._replay == 3
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ParameterError, match="warmup_replay"):
            NeuralControllerConfig(warmup_replay=bad)


def test_the_figures_of_the_docs_plot():
    """docs/plot_pplus_replay.py: seed 14 held with the replays (IAE y1 67 V s) and not without (118, a steady
    offset); the learned long-run gains' relative error at the hand-over on seeds 0-7, medians 0.11 against 0.30
    (its caption in docs/neural_controller.md), lower with the replays on every seed."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "plot_pplus_replay.py"
    spec = importlib.util.spec_from_file_location("plot_pplus_replay", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (on, iae_on), (off, iae_off) = mod.summary(mod.runs()).values()
    assert on and not off
    assert iae_on == pytest.approx({"y1": 67.4, "y2": 68.9}, abs=0.1)
    assert iae_off == pytest.approx({"y1": 117.7, "y2": 135.0}, abs=0.1)
    errors = mod.gain_errors()
    with_replays, without = (np.asarray(e) for e in errors.values())
    assert np.median(with_replays) == pytest.approx(0.11, abs=0.005)
    assert np.median(without) == pytest.approx(0.30, abs=0.005)
    assert np.all(with_replays < without)


def test_a_checkpoint_in_the_warmup_replays_the_same_at_the_hand_over():
    env = QuadTankEnv(operating_point="P+")
    c = build_neural(NeuralControllerConfig(), env)
    n = c.derived_settings()["warmup_steps"]
    e1 = copy.deepcopy(env)
    obs, _ = e1.reset(seed=2)
    r0 = np.asarray(env.setpoint, dtype=float)
    c.reset(obs, r0, seed=2)
    for _ in range(100):
        obs = e1.step(c.step(obs, r0 + STEP))[0]
    state, e2 = c.get_state(), copy.deepcopy(e1)
    d = build_neural(NeuralControllerConfig(), env)
    d.reset(obs, r0, seed=7)
    d.set_state(state)
    o1 = o2 = obs
    for _ in range(n - 100 + 20):
        u1, u2 = c.step(o1, r0 + STEP), d.step(o2, r0 + STEP)
        np.testing.assert_array_equal(u1, u2)
        o1, o2 = e1.step(u1)[0], e2.step(u2)[0]
    assert not d.in_warmup
    np.testing.assert_array_equal(c.identifier.weights, d.identifier.weights)
