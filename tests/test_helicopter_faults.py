"""Actuator loss of effectiveness on the helicopter env."""

import numpy as np
import pytest

from neurocontrol.exceptions import ParameterError, ShapeError
from plants.helicopter import dynamics
from plants.helicopter.env import HelicopterEnv


def test_degraded_actuator_delivers_the_fraction_of_the_clipped_command():
    env = HelicopterEnv()
    env.reset(seed=0)
    x0 = env.state
    env.set_actuator_effectiveness([0.8, 0.5])
    cmd = np.array([500.0, -120.0])          # throttle beyond its limit: clipped first, then scaled
    _, _, _, _, info = env.step(cmd)
    np.testing.assert_allclose(info["action"], [0.8 * 400.0, 0.5 * -120.0])
    np.testing.assert_array_equal(info["saturated"], [True, False])
    ref = dynamics.step(x0, np.array([320.0, -60.0]), env.params, env.dt, env.substeps)
    np.testing.assert_allclose(env.state, ref, rtol=1e-12, atol=1e-12)


def test_reset_restores_healthy_actuators():
    env = HelicopterEnv()
    env.reset(seed=0)
    env.set_actuator_effectiveness([1.0, 0.7])
    env.reset(seed=0)
    np.testing.assert_array_equal(env.actuator_effectiveness, [1.0, 1.0])


@pytest.mark.parametrize("eff, error, match", [
    ([1.0, 1.2], ParameterError, r"`effectiveness` must lie in \[0, 1\]"),
    ([-0.1, 1.0], ParameterError, r"`effectiveness` must lie in \[0, 1\]"),
    ([1.0], ShapeError, r"`effectiveness` must have shape \(2,\)"),
])
def test_bad_effectiveness(eff, error, match):
    env = HelicopterEnv()
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.set_actuator_effectiveness(eff)
