"""A shared check of the tests: a fresh controller given a running one's state acts exactly as the original would."""

import numpy as np


def fly(scenario, seed, steps, reference):
    """Build ``scenario`` for ``seed``, reset its env and controller with that seed, fly ``steps`` steps.

    Returns ``(env, controller, last observation)``.
    """
    built = scenario.build(seed)
    env, ctrl = built.env, built.controller
    obs, _ = env.reset(seed=seed, options=built.options)
    ctrl.reset(obs, reference, seed=seed)
    for _ in range(steps):
        obs, *_ = env.step(ctrl.step(obs, reference))
    return env, ctrl, obs


def run_and_restore(scenario, seed, before, after, reference, ready=None):
    """Fly ``before`` steps of ``scenario`` (seed ``seed``), take the controller's state, fly ``after`` more; a fresh
    controller of the same scenario given that state must return the same inputs on the same observations.

    ``ready(controller)`` is called at the state's step (to assert it is the state meant to be tested).
    """
    env, ctrl, obs = fly(scenario, seed, before, reference)
    if ready is not None:
        ready(ctrl)
    state = ctrl.get_state()
    feed, want = [], []
    for _ in range(after):
        feed.append(obs)
        want.append(ctrl.step(obs, reference))
        obs, *_ = env.step(want[-1])
    fresh = scenario.build(seed).controller
    fresh.reset(feed[0], reference, seed=99)
    fresh.set_state(state)
    np.testing.assert_array_equal(np.array([fresh.step(o, reference) for o in feed]), np.array(want))
