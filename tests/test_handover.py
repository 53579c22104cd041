"""The blended hand-over (``handover_steps``): the written-out blend, its default, trials and checkpoints."""

import copy

import numpy as np
import pytest

from neurocontrol.controllers.neural_config import NeuralControllerConfig
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario import Scenario
from tests.restore_check import fly, run_and_restore

SCENARIOS = "scenarios"
REF = np.array([0.5, 1.0])           # the PVTOL's x, y set-points


def pvtol(**controller):
    data = Scenario.from_toml(f"{SCENARIOS}/pvtol_steps.toml").to_dict()
    data["controller"] = {"kind": "neural", **controller}
    return Scenario.from_dict(data, source="test", default_name="pvtol_neural")


def test_the_blend_is_the_written_out_mix_of_the_warm_up_controller_and_the_law():
    k_blend = 8
    env_a, a, obs_a = fly(pvtol(handover_steps=k_blend), 4, 0, REF)
    env_b, b, obs_b = fly(pvtol(handover_steps=0), 4, 0, REF)
    n = a._n_warmup
    assert n == b._n_warmup == 150
    for _ in range(n):                              # the warm-ups are the same
        u_a, u_b = a.step(obs_a, REF), b.step(obs_b, REF)
        np.testing.assert_array_equal(u_a, u_b)
        obs_a, *_ = env_a.step(u_a)
        obs_b, *_ = env_b.step(u_b)
    warm = copy.deepcopy(b.warmup_controller)       # what the warm-up controller would give at the hand-over
    u_w = warm.step(obs_b, REF)
    u_law = b.step(obs_b, REF)                      # the law alone, from the same state
    u = a.step(obs_a, REF)
    np.testing.assert_allclose(u, (1 - 1 / k_blend) * u_w + (1 / k_blend) * u_law, rtol=0, atol=1e-12)
    assert not np.allclose(u, u_law)
    for _ in range(k_blend - 1):
        obs_a, *_ = env_a.step(u)
        u = a.step(obs_a, REF)
    frozen = a.warmup_controller.get_state()        # blended out: no longer stepped
    for _ in range(5):
        obs_a, *_ = env_a.step(u)
        u = a.step(obs_a, REF)
    after = a.warmup_controller.get_state()
    assert all(np.array_equal(np.asarray(frozen[key]), np.asarray(after[key])) for key in frozen)
    assert a._blend[0] == 0.0


def test_by_default_the_automatic_warm_up_is_blended_out_over_half_the_horizon():
    assert pvtol().build(0).controller.derived_settings()["handover_steps"].startswith("25 (automatic:")
    assert "handover_steps" not in pvtol(handover_steps=0).build(0).controller.derived_settings()
    hover = Scenario.from_toml(f"{SCENARIOS}/neural_hover.toml")          # a given warm-up PID: a switch
    assert "handover_steps" not in hover.build(0).controller.derived_settings()
    assert hover.set("controller.handover_steps", 10).build(0).controller.derived_settings()["handover_steps"] == 10


def test_a_trial_starts_without_the_warm_up_controller():
    env, ctrl, obs = fly(pvtol(), 1, 400, REF)
    frozen = ctrl.warmup_controller.get_state()
    obs, _ = env.reset(seed=9)
    ctrl.start_trial(obs, REF)
    for _ in range(30):
        obs, *_ = env.step(ctrl.step(obs, REF))
    assert ctrl._blend[0] == 0.0
    after = ctrl.warmup_controller.get_state()
    assert all(np.array_equal(np.asarray(frozen[key]), np.asarray(after[key])) for key in frozen)


def test_a_checkpoint_taken_during_the_blend_continues_bit_identically():
    def blending(ctrl):
        assert 0 < ctrl._blend[0] < 25

    run_and_restore(pvtol(), 2, 160, 40, REF, ready=blending)


@pytest.mark.parametrize("value", [-1, 2.5, "x"])
def test_a_bad_handover_steps_is_named(value):
    with pytest.raises(ParameterError, match="handover_steps"):
        NeuralControllerConfig(handover_steps=value)
