"""A user's warm-up controller through public methods only: FunctionController and duck-typed objects.

The reference is the existing path: the adaptive controller of the shipped
hover scenario with its warm-up PID (an AbstractController). A user object that
only forwards public ``reset``/``step`` calls to an identical PID must give a
bit-identical run, through the warm-up and after the hand-over to the law.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurocontrol.controllers.adaptive import AdaptiveController
from neurocontrol.controllers.base import AbstractController, FunctionController
from neurocontrol.exceptions import DivergenceError, ParameterError
from neurocontrol.scenario import Scenario
from neurocontrol.simulation import simulate

ROOT = Path(__file__).resolve().parents[1]
HOVER = Scenario.from_toml(ROOT / "scenarios" / "helicopter_hover.toml").set("run.duration", "2.5")


class ForwardingWarmup:
    """A user's controller object: public reset and step only (no base class, no private hooks)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def reset(self, observation, reference):
        self.inner.reset(observation, reference)

    def step(self, observation, reference):
        self.calls += 1
        return self.inner.step(observation, reference)


def _run(setup, controller):
    return simulate(setup.env, controller, setup.reference, duration=HOVER.run.duration, seed=setup.seed,
                    options=setup.options)


def _rebuilt(setup, warmup):
    c = setup.controller
    return AdaptiveController(c.config, input_limits=c.input_limits, output_indices=c.output_indices, dt=c.dt,
                              warmup_controller=warmup)


def _same(a, b):
    for name in ("observations", "inputs", "references", "prediction_error"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def reference_run():
    setup = HOVER.build(seed=3)
    assert isinstance(setup.controller.warmup_controller, AbstractController)   # the existing warm-up PID path
    return _run(setup, setup.controller)


def test_a_duck_typed_user_object_gives_the_same_run_as_the_warmup_pid(reference_run):
    setup = HOVER.build(seed=3)
    user = ForwardingWarmup(setup.controller.warmup_controller)
    ctrl = _rebuilt(setup, user)
    assert isinstance(ctrl.warmup_controller, FunctionController)
    res = _run(setup, ctrl)
    _same(res, reference_run)
    n_warmup = int(round(ctrl.config.warmup_duration / ctrl.dt))
    assert user.calls == n_warmup            # it flew the warm-up, and the law took over afterwards
    modes = res.meta["mode_fractions"]
    assert 0.0 < modes["warmup"] < 1.0 and modes["adaptive"] > 0.0


def test_an_explicit_function_controller_gives_the_same_run(reference_run):
    setup = HOVER.build(seed=3)
    pid = setup.controller.warmup_controller
    fc = FunctionController(pid.step, reset=pid.reset, input_limits=pid.input_limits,
                            output_indices=pid.output_indices, dt=pid.dt)
    _same(_run(setup, _rebuilt(setup, fc)), reference_run)


def test_the_warmup_controller_matters(reference_run):
    setup = HOVER.build(seed=3)
    res = _run(setup, _rebuilt(setup, None))     # open-loop excitation around the nominal input instead
    assert not np.array_equal(res.inputs[:5], reference_run.inputs[:5])


def test_a_function_controller_follows_its_function_and_clips_to_its_limits():
    seen = []

    def law(obs, ref):
        seen.append((obs.copy(), ref.copy()))
        return 3.0 * (ref - obs[[0]])

    resets = []
    ctrl = FunctionController(law, reset=lambda obs, ref: resets.append(obs.copy()), input_limits=[[-1.0, 1.0]],
                              output_indices=[0], dt=0.5)
    ctrl.reset([0.0, 7.0], [1.0])
    assert len(resets) == 1 and resets[0].tolist() == [0.0, 7.0]
    assert ctrl.step(np.array([0.9, 7.0]), np.array([1.0])).tolist() == pytest.approx([0.3])
    assert ctrl.step(np.array([0.0, 7.0]), np.array([1.0])).tolist() == [1.0]          # clipped
    assert seen[0][1].tolist() == [1.0] and ctrl.get_state() == {}


def test_function_controller_errors_name_what_is_wrong():
    lim = dict(input_limits=[[-1.0, 1.0]], output_indices=[0], dt=0.1)
    with pytest.raises(ParameterError, match=r"`step` must be callable, got int"):
        FunctionController(3, **lim)
    with pytest.raises(ParameterError, match=r"`reset` must be callable or None, got str"):
        FunctionController(lambda o, r: o, reset="no", **lim)
    with pytest.raises(ParameterError, match="pass both or neither"):
        FunctionController(lambda o, r: o, get_state=dict, **lim)
    bad = FunctionController(lambda o, r: np.array([np.nan]), **lim)
    bad.reset([0.0], [0.0])
    with pytest.raises(DivergenceError, match="non-finite or mis-shaped"):
        bad.step([0.0], [0.0])


def test_an_object_without_public_methods_is_rejected_by_name():
    setup = HOVER.build(seed=0)

    class OnlyStep:
        def step(self, observation, reference):
            return np.zeros(2)

    with pytest.raises(ParameterError, match=r"OnlyStep has no reset method"):
        _rebuilt(setup, OnlyStep())
    with pytest.raises(ParameterError, match=r"object has no reset and no step method"):
        _rebuilt(setup, object())


def test_a_user_object_with_state_is_part_of_the_checkpoint():
    setup = HOVER.build(seed=1)
    pid = setup.controller.warmup_controller

    class Stateful(ForwardingWarmup):
        def get_state(self):
            return self.inner.get_state()

        def set_state(self, state):
            self.inner.set_state(state)

    ctrl = _rebuilt(setup, Stateful(pid))
    obs, _ = setup.env.reset(seed=0, options=setup.options)
    ref = np.array([140.0, 1.0])
    ctrl.reset(obs, ref)
    for _ in range(20):
        obs, *_ = setup.env.step(ctrl.step(obs, ref))
    state = ctrl.get_state()
    np.testing.assert_array_equal(state["warmup.integrators"], pid.get_state()["integrators"])
    assert np.any(state["warmup.integrators"] != 0.0)
    pid.set_state({"integrators": np.zeros(2)})
    ctrl.set_state(state)
    np.testing.assert_array_equal(pid.get_state()["integrators"], state["warmup.integrators"])
