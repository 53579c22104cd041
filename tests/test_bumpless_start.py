"""The neural controller takes a plant over from the input the env declares it starts at (a bumpless start).

Without a warm-up controller, :func:`build_neural` sets ``nominal_input`` to the input of the env's
``operating_point`` (x, u); without one, or with a warm-up controller, nothing changes.
"""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import plants  # noqa: F401  (registers the envs)
from neurocontrol.controllers.generic import declared_input
from neurocontrol.controllers.neural import NeuralController, build_neural
from neurocontrol.controllers.neural_config import NeuralControllerConfig
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario import Scenario
from tests.test_rest_walk import SCENARIOS, TANK_REF, tank


def test_the_tank_and_the_cstr_start_from_their_declared_inputs():
    for name, start in (("quadtank_pminus", (3.0, 3.0)), ("cstr_setpoint", None)):
        data = Scenario.from_toml(f"{SCENARIOS}/{name}.toml").to_dict()
        data["controller"] = {"kind": "neural"}
        setup = Scenario.from_dict(data, source="test", default_name=name).build(0)
        env, ctrl = setup.env, setup.controller
        u0 = np.asarray(env.unwrapped.operating_point[1], dtype=float)
        assert ctrl.config.nominal_input == tuple(u0.tolist())
        if start is not None:
            assert ctrl.config.nominal_input == start
        # the plant is at rest at that input: a step of it leaves the outputs where they are
        copy = gym.make(env.spec.id, **env.spec.kwargs)
        obs, _ = copy.reset(seed=0)
        nxt, *_ = copy.step(u0)
        np.testing.assert_allclose(nxt, obs, atol=1e-9)
        said = ctrl.derived_settings()["warmup"]
        assert said == f"the nominal input {u0.tolist()} (the env's operating_point input, a bumpless start) " \
                       "plus excitation"


def test_the_first_input_is_the_declared_input_plus_the_excitation():
    setup = tank().build(0)
    env, ctrl = setup.env, setup.controller
    middle = NeuralController(dataclasses.replace(ctrl.config, nominal_input=None), input_limits=ctrl.input_limits,
                              dt=ctrl.dt)
    obs, _ = env.reset(seed=0, options=setup.options)
    ctrl.reset(obs, TANK_REF, seed=0)
    middle.reset(obs, TANK_REF, seed=0)
    u, v = ctrl.step(obs, TANK_REF), middle.step(obs, TANK_REF)     # the one warm-up step, the same excitation draw
    np.testing.assert_allclose(u - np.array([3.0, 3.0]), v - ctrl.input_limits.mean(axis=1), rtol=0, atol=1e-12)
    assert np.any(u != v)
    assert "the middle of the limits" in middle.derived_settings()["warmup"]


def test_a_given_nominal_input_or_a_warmup_controller_keeps_it_unchanged():
    given = tank(nominal_input=[4.0, 2.5]).build(0).controller
    assert given.config.nominal_input == (4.0, 2.5)
    assert "(given)" in given.derived_settings()["warmup"]
    data = Scenario.from_toml(f"{SCENARIOS}/pvtol_steps.toml").to_dict()
    data["controller"] = {"kind": "neural"}
    pvtol = Scenario.from_dict(data, source="test", default_name="pvtol").build(0).controller   # automatic LQR-I
    assert pvtol.warmup_controller is not None and pvtol.config.nominal_input is None


class _Declares(gym.Wrapper):
    def __init__(self, env, point):
        super().__init__(env)
        self.point = point

    @property
    def unwrapped(self):
        return self

    @property
    def operating_point(self):
        return self.point


@pytest.mark.parametrize("point, match", [
    (([0.0] * 4, [3.0]), "must be 2 finite numbers"),
    (([0.0] * 4, [3.0, 11.0]), r"within the input limits \[\[0.0, 10.0\], \[0.0, 10.0\]\]"),
    (([0.0] * 4, [3.0, np.nan]), "finite"),
    (7, "must be a pair"),
])
def test_a_malformed_declared_input_is_a_named_error(point, match):
    env = _Declares(gym.make("neurocontrol/QuadTank-v0"), point)
    with pytest.raises(ParameterError, match=match):
        declared_input(env, [[0.0, 10.0], [0.0, 10.0]])


def test_an_env_that_declares_no_operating_point_starts_from_the_middle():
    env = gym.make("neurocontrol/QuadTank-v0")
    del env.unwrapped.operating_point
    assert declared_input(env, [[0.0, 10.0], [0.0, 10.0]]) is None
    ctrl = build_neural(NeuralControllerConfig(output_indices=(0, 1)), env)
    assert ctrl.config.nominal_input is None and ctrl._start_caution == 2 * ctrl.law.horizon


def test_an_open_loop_warm_up_holds_its_excitation_back_near_the_ends_of_the_declared_range():
    """The tank's levels are declared on 0-10 V (the middle 5 V, half range 5 V): the excitation is added at 5.5 V and
    at 8.9 V (0.78 of the half range above the middle), held back at 9.1 V and at 0.9 V (0.82); the warm-up's draws
    are the same either way."""
    from neurocontrol.controllers._warmup import EXCITATION_BACKOFF

    assert EXCITATION_BACKOFF == 0.8
    for level, near in ((5.5, False), (8.9, False), (9.1, True), (0.9, True)):
        setup = tank(warmup_duration=20.0).build(0)
        ctrl, obs = setup.controller, np.array([5.0, 5.0])
        ctrl.reset(obs, TANK_REF, seed=0)
        ctrl.step(obs, TANK_REF)
        u = ctrl.step(np.array([5.0, level]), TANK_REF)                 # step 1, still in the warm-up
        assert np.any(ctrl._excitation[1] != 0.0)
        np.testing.assert_array_equal(u, np.asarray(ctrl.config.nominal_input) + (0.0 if near else ctrl._excitation[1]))
