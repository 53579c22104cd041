"""Probing a steady offset (``probe``): the rule against a written-out reference, its bounds, and in the loop."""

import numpy as np
import pytest

from neurocontrol.controllers._probe import PROBE_CAP, PROBE_DEFAULT, PROBE_OFFSET, Probe
from neurocontrol.controllers.neural_config import NeuralControllerConfig
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario import Scenario
from tests.restore_check import fly, run_and_restore

SCENARIOS = "scenarios"


def reference_levels(effect, window, seed, errors, references, quiet, gains):
    """The probe written out plainly: one level per step (normalised), from the rule's text."""
    m = gains.shape[2]
    key = [int(k) for k in np.random.default_rng(seed).integers(0, 2 ** 32, 4)]
    levels, history, last_ref, level, left, drawn = [], [], None, np.zeros(m), 0, 0
    for e, r, q, g in zip(errors, references, quiet, gains):
        if last_ref is None or np.any(r != last_ref):
            history = []                                  # a set-point moved: the offset starts again
        last_ref = r
        history = (history + [e])[-window:]
        if not q or len(history) < window:
            level, left = np.zeros(m), 0
        else:
            if left == 0:
                offset = max(abs(sum(h[i] for h in history) / window) for i in range(len(e)))
                top = np.array([min(PROBE_CAP, effect / max(max(abs(g[i, j]) for i in range(g.shape[0])), 1e-9))
                                for j in range(m)])
                rng = np.random.default_rng(key + [drawn])
                drawn += 1
                sign = np.where(rng.random(m) < 0.5, -1.0, 1.0)
                level = top * min(1.0, offset / (PROBE_OFFSET * effect)) * sign * rng.uniform(0.5, 1.0, m)
                left = int(rng.integers(max(1, window // 5), window + 1))
            left -= 1
        levels.append(level.copy())
    return np.array(levels)


def a_history(rng, steps=400, p=2, m=2):
    """Errors with offsets that come and go, set-points that step twice, a noisy stretch, changing gains."""
    errors = rng.normal(0.0, 0.002, (steps, p)) + np.where(np.arange(steps)[:, None] < 250, 0.02, 0.001)
    references = np.zeros((steps, p))
    references[120:, 0] = 0.3
    references[300:, 1] = -0.1
    quiet = np.ones(steps, bool)
    quiet[200:230] = False
    gains = rng.normal(0.0, 0.5, (steps, p, m))
    return errors, references, quiet, gains


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_levels_follow_the_written_out_rule(seed):
    rng = np.random.default_rng(seed)
    errors, references, quiet, gains = a_history(rng)
    ss = np.random.SeedSequence(100 + seed).spawn(1)[0]
    probe = Probe(PROBE_DEFAULT, 2, 2, 40)
    probe.reset(ss)
    got = np.array([probe.step(e, r, q, lambda g=g: g).copy() for e, r, q, g in zip(errors, references, quiet, gains)])
    want = reference_levels(PROBE_DEFAULT, 40, ss, errors, references, quiet, gains)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)     # the offset's sum is taken in another order
    assert np.count_nonzero(got[:, 0]) > 100          # the history does probe
    assert not np.any(got[:39]) and not np.any(got[120:159]) and not np.any(got[200:230])


def test_a_probe_moves_the_outputs_by_at_most_a_fifth_of_the_offset_and_the_cap():
    rng = np.random.default_rng(7)
    for trial in range(200):
        effect = 10 ** rng.uniform(-4, -2)
        window = int(rng.integers(2, 30))
        offset = 10 ** rng.uniform(-5, 0)
        gain = rng.normal(0.0, 10 ** rng.uniform(-3, 1), (2, 3))
        probe = Probe(effect, 3, 2, window)
        probe.reset(np.random.SeedSequence(trial))
        sign = np.where(rng.random(2) < 0.5, -1.0, 1.0)
        for _ in range(window):
            level = probe.step(offset * sign, np.zeros(2), True, lambda: gain)
        assert np.all(np.abs(level) <= PROBE_CAP + 1e-15)
        moved = np.abs(level) * np.abs(gain).max(axis=0)
        assert np.all(moved <= min(effect, offset / PROBE_OFFSET) * (1 + 1e-12))
        assert np.all(np.abs(level) >= 0.5 * np.minimum(PROBE_CAP, effect / np.abs(gain).max(axis=0))
                      * min(1.0, offset / (PROBE_OFFSET * effect)) * (1 - 1e-12))


def test_no_offset_no_probe():
    probe = Probe(PROBE_DEFAULT, 2, 2, 10)
    probe.reset(np.random.SeedSequence(0))
    for _ in range(30):
        level = probe.step(np.zeros(2), np.ones(2), True, lambda: np.eye(2))
        assert not np.any(level)


def cstr(**controller):
    data = Scenario.from_toml(f"{SCENARIOS}/cstr_setpoint.toml").to_dict()
    data["controller"] = {"kind": "neural", **controller}
    return Scenario.from_dict(data, source="test", default_name="cstr_neural")


def test_by_default_the_probe_is_on_only_where_the_warm_up_is_shorter_than_the_horizon():
    said = cstr().build(0).controller.derived_settings()["probe"]                    # five warm-up steps
    assert said.startswith(f"{PROBE_DEFAULT:g} ") and "automatic: a warm-up of 5 steps," in said
    said = cstr(warmup_min_steps=1).build(0).controller.derived_settings()["probe"]  # one (1 s at dt 2 s)
    assert "automatic: a warm-up of 1 step," in said
    assert "probe" not in cstr(probe=0.0).build(0).controller.derived_settings()
    # a warm-up of 150 steps covers the horizon (132 steps here: long_run_signals raise it from 50), 100 do not
    assert "probe" not in cstr(warmup_duration=300.0).build(0).controller.derived_settings()
    assert "automatic: a warm-up of 100 steps, shorter than the horizon of 132" in \
        cstr(warmup_duration=200.0).build(0).controller.derived_settings()["probe"]
    assert "probe" not in cstr(warmup_duration=200.0, long_run_signals=False).build(0).controller.derived_settings()
    hover = Scenario.from_toml(f"{SCENARIOS}/neural_hover.toml")
    assert "probe" not in hover.build(0).controller.derived_settings()
    assert hover.set("controller.probe", 0.002).build(0).controller.derived_settings()["probe"].startswith("0.002 ")


def test_the_plan_starts_from_the_laws_input_not_the_probes():
    # a law that holds its input (an enormous move penalty): the applied inputs less the probe stay where the law
    # holds them; a probe kept in the held input would random-walk them
    sc = cstr(move_penalty=1e12, probe=0.01)
    built = sc.build(3)
    env, ctrl = built.env, built.controller
    obs, _ = env.reset(seed=3, options=built.options)
    ref = np.array([1.0, 110.0])
    ctrl.reset(obs, ref, seed=3)
    law, levels = [], []
    for _ in range(400):
        u = ctrl.step(obs, ref)
        law.append(u - ctrl._probe.level * ctrl._u_half)
        levels.append(ctrl._probe.level.copy())
        obs, *_ = env.step(u)
    law, levels = np.array(law[60:]), np.array(levels[60:])
    assert np.count_nonzero(levels[:, 0]) > 100
    assert np.ptp(np.abs(levels[:, 0])[levels[:, 0] != 0]) > 0.0          # levels of more than one size
    np.testing.assert_allclose(law, np.broadcast_to(law[0], law.shape), rtol=0, atol=1e-6 * ctrl._u_half.max())


def test_no_probe_under_sensor_noise():
    data = cstr().to_dict()
    space = cstr().build(0).env.observation_space
    data["plant"]["output_noise_std"] = (0.01 * (space.high - space.low)).tolist()   # 1 % of each range
    sc = Scenario.from_dict(data, source="test", default_name="noisy")
    _, ctrl, _ = fly(sc, 0, 400, np.array([1.0, 110.0]))
    assert ctrl._probe.state[1] == 0.0                  # no level was ever drawn


def test_a_failed_solve_holds_the_laws_input_without_the_probe(monkeypatch):
    import neurocontrol.controllers.neural as neural

    ref = np.array([1.0, 110.0])
    env, ctrl, obs = fly(cstr(probe=0.01), 11, 300, ref)
    assert np.any(ctrl._probe.level)
    law = ctrl._last_u - ctrl._probe.level * ctrl._u_half

    def failing(*args):
        ctrl._synth_buf[5][...] = np.nan          # the horizon Jacobian left non-finite by a failed solve
        return False

    monkeypatch.setattr(neural._nk, "synthesise_kernel", failing)
    u = ctrl.step(obs, ref)
    np.testing.assert_array_equal(u, law)
    assert not np.any(ctrl._probe.level)


def test_no_probe_once_learning_has_stopped():
    _, ctrl, _ = fly(cstr(probe=0.01, learning_until=300.0), 0, 400, np.array([1.0, 110.0]))
    drawn = ctrl._probe.state[1]
    assert drawn > 0                                    # it probed before 300 s (150 steps)
    _, again, _ = fly(cstr(probe=0.01, learning_until=300.0), 0, 150, np.array([1.0, 110.0]))
    assert again._probe.state[1] == drawn               # and drew nothing after
    assert not np.any(ctrl._probe.level)


def test_a_checkpoint_taken_while_probing_continues_bit_identically():
    def probing(ctrl):
        assert ctrl._probe.state[1] > 0 and np.any(ctrl._probe.level)

    run_and_restore(cstr(probe=0.01), 2, 300, 80, np.array([1.0, 110.0]), ready=probing)


@pytest.mark.parametrize("value, words", [(-1e-3, "probe"), (1.0, "below 1"), ("x", "probe")])
def test_a_bad_probe_is_named(value, words):
    with pytest.raises(ParameterError, match=words):
        NeuralControllerConfig(probe=value)
