"""Caution at the start (``start_caution``): the first horizons after a short warm-up plan with a larger penalty.

By default only where that warm-up starts from the middle of the input limits; the shipped tank declares the input
it starts at (a bumpless start), so these tests give the caution where they fly it.
"""

import dataclasses

import numpy as np
import pytest

from neurocontrol.controllers.neural import START_CAUTION_DEFAULT, NeuralController
from neurocontrol.controllers.neural_config import NeuralControllerConfig
from neurocontrol.exceptions import ParameterError
from neurocontrol.scenario import Scenario
from tests.restore_check import run_and_restore
from tests.test_rest_walk import SCENARIOS, TANK_REF, tank


def test_the_default_is_on_only_where_a_short_warmup_starts_from_the_middle_of_the_limits():
    built = tank().build(0).controller              # the tank: a one-step warm-up, horizon 50, a declared start
    horizon = built.law.horizon
    assert built._warmup_steps < horizon
    assert built.config.nominal_input == (3.0, 3.0) and built._start_caution == 0
    assert "start_caution" not in built.derived_settings()
    # the same configuration without the declared start input: the middle of the limits, and the caution
    ctrl = NeuralController(dataclasses.replace(built.config, nominal_input=None), input_limits=built.input_limits,
                            dt=built.dt)
    assert ctrl._start_caution == int(START_CAUTION_DEFAULT * horizon) == 100
    said = ctrl.derived_settings()["start_caution"]
    assert "over the first 100 predictive steps" in said and "automatic" in said and "middle of the limits" in said
    hover = Scenario.from_toml(f"{SCENARIOS}/neural_hover.toml").build(0).controller   # a 100-step warm-up PID
    assert hover._start_caution == 0 and "start_caution" not in hover.derived_settings()
    given = Scenario.from_toml(f"{SCENARIOS}/neural_hover.toml").set("controller.start_caution", "0.5")
    assert given.build(0).controller._start_caution == 25
    assert "(given)" in given.build(0).controller.derived_settings()["start_caution"]
    assert tank(start_caution=2.0).build(0).controller._start_caution == 100
    with pytest.raises(ParameterError, match="start_caution"):
        NeuralControllerConfig(start_caution=-1.0)


def test_the_start_plans_as_the_penalty_times_change_caution_and_then_as_the_penalty():
    # Flown on the same measurements, the default controller and one with change_caution times the default
    # move penalty, no start caution and no change caution give the same inputs over the first two horizons of
    # predictive steps (the change detector's caution is the same factor, so its steps agree too), and differ
    # on the first step after them that the change detector leaves alone.
    setup = tank(start_caution=2.0).build(3)
    env, ctrl = setup.env, setup.controller
    cfg = NeuralControllerConfig()
    other = tank(move_penalty=cfg.move_penalty * cfg.change_caution, start_caution=0.0,
                 change_caution=1.0).build(3).controller
    obs, _ = env.reset(seed=3, options=setup.options)
    r0 = np.array([6.131483760, 6.391579195])
    ctrl.reset(obs, r0, seed=3)
    other.reset(obs, r0, seed=3)
    n = ctrl._n_warmup + ctrl._start_caution
    differed = None
    for k in range(n + 40):
        ref = r0 if k < 10 else TANK_REF
        u, v = ctrl.step(obs, ref), other.step(obs, ref)
        if k < n:
            np.testing.assert_array_equal(u, v, err_msg=f"step {k}")
        elif not ctrl.identifier.changing:
            differed = not np.array_equal(u, v)
            break
        obs, *_ = env.step(u)
    assert differed is True


def test_a_trial_starts_without_it_and_a_checkpoint_carries_it():
    setup = tank(start_caution=2.0).build(0)
    env, ctrl = setup.env, setup.controller
    obs, _ = env.reset(seed=0, options=setup.options)
    ctrl.reset(obs, TANK_REF, seed=0)
    for _ in range(30):
        obs, *_ = env.step(ctrl.step(obs, TANK_REF))
    assert ctrl._cautious() and ctrl.get_state()["caution"][0] == 100.0
    ctrl.start_trial(obs, TANK_REF)
    assert ctrl.get_state()["caution"][0] == 0.0
    ctrl.step(obs, TANK_REF)                       # _cautious() as the step just taken asked it
    assert not ctrl._cautious() or ctrl.identifier.changing
    # restored inside the cautious steps, the run goes on bit-identically
    run_and_restore(tank(start_caution=2.0), 0, 40, 60, TANK_REF, ready=lambda c: c._cautious())


def test_a_checkpoint_of_an_earlier_version_restores_without_it():
    ctrl = tank().build(0).controller
    setup = tank().build(0)
    obs, _ = setup.env.reset(seed=0, options=setup.options)
    ctrl.reset(obs, TANK_REF, seed=0)
    state = ctrl.get_state()
    del state["caution"]                           # written before the start caution existed
    ctrl.set_state(state)
    assert ctrl.get_state()["caution"][0] == 0.0
