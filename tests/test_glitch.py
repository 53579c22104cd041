"""A measured value far outside its declared range is a lost sample to the neural controller (``GLITCH_RANGES``).

The reference for "a lost sample" is the controller's own handling of a NaN measurement (tested in
tests/test_neural_controller.py): a glitch must give the same run, bit for bit.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import plants  # noqa: F401  (registers the env)
from neurocontrol.controllers.neural import GLITCH_RANGES, NeuralControllerConfig, build_neural
from neurocontrol.exceptions import OutOfRangeError

LOW = (74.25, 0.0, -3.0, 0.0175, -10.0)
HIGH = (180.0, 2.0, 3.0, 0.245, 10.0)
REF = np.array([140.0, 1.0])
MID, HALF = 0.5 * (np.array(LOW) + HIGH), 0.5 * (np.array(HIGH) - LOW)


def _fly(replace: dict, steps: int = 300, seed: int = 3):
    """Fly the hover with measurement entries replaced at some steps ({step: (entry, value)}); return actions, counts."""
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=100_000)
    ctrl = build_neural(NeuralControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2),
                                               excitation_amplitude=(40.0, 100.0)), env)
    obs, _ = env.reset(seed=seed)
    ctrl.reset(obs, REF, seed=seed)
    us = []
    for k in range(steps):
        meas = obs.copy()
        if k in replace:
            i, v = replace[k]
            meas[i] = v
        u = ctrl.step(meas, REF)
        us.append(u)
        obs, *_ = env.step(u)
    return np.array(us), dict(ctrl.identifier.counts)


def test_a_glitch_flies_as_a_nan_does_in_the_warm_up_and_after_it():
    # steps 20 and 21 are in the 1 s warm-up (its PID never sees them), 150 and 220 after the hand-over
    at = (20, 21, 150, 220)
    glitches = dict(zip(at, [(0, 8.98846567431158e306), (1, -1e30), (1, 1e6), (4, np.inf)]))
    nans = {k: (i, np.nan) for k, (i, _) in glitches.items()}
    us_glitch, counts_glitch = _fly(glitches)
    us_nan, counts_nan = _fly(nans)
    np.testing.assert_array_equal(us_glitch, us_nan)
    assert counts_glitch == counts_nan
    for k in at:
        np.testing.assert_array_equal(us_glitch[k], us_glitch[k - 1])     # the input is held


def test_a_value_just_inside_the_gate_is_a_measurement():
    inside = MID[1] + 0.999 * GLITCH_RANGES * HALF[1]
    us_in, counts_in = _fly({150: (1, inside)})
    us_nan, counts_nan = _fly({150: (1, np.nan)})
    # every transition the identifier was given (a NaN sample takes out the two that touch it)
    given = lambda c: sum(c[s] for s in ("updated", "dead_zone", "outlier", "onset", "held"))   # noqa: E731
    assert given(counts_in) == 299 and given(counts_nan) == 297
    assert not np.array_equal(us_in, us_nan)


@pytest.mark.parametrize("when", ["reset", "first step"])
def test_a_glitch_with_no_input_to_hold_is_an_error_naming_the_entry(when):
    env = gym.make("neurocontrol/Helicopter-v0")
    ctrl = build_neural(NeuralControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2)), env)
    obs, _ = env.reset(seed=0)
    bad = obs.copy()
    bad[3] = MID[3] - 1.001 * GLITCH_RANGES * HALF[3]
    with pytest.raises(OutOfRangeError, match=r"entry 3 .* at (the )?%s, more than 1000 half ranges .* \[0\.0175, 0\.245\]"
                       % when):
        if when == "reset":
            ctrl.reset(bad, REF, seed=0)
        else:
            ctrl.reset(obs, REF, seed=0)
            ctrl.step(bad, REF)


def test_a_glitch_at_a_trials_start_is_an_error_naming_the_entry():
    env = gym.make("neurocontrol/Helicopter-v0")
    ctrl = build_neural(NeuralControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2)), env)
    obs, _ = env.reset(seed=0)
    ctrl.reset(obs, REF, seed=0)
    ctrl.step(obs, REF)
    bad = obs.copy()
    bad[0] = 1e9
    with pytest.raises(OutOfRangeError, match=r"entry 0 is 1000000000\.0 at a trial's start"):
        ctrl.start_trial(bad, REF)
    ctrl.start_trial(obs, REF)          # a plausible start is taken
