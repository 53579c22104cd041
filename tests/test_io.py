import numpy as np
import pytest

from neurocontrol.controllers.adaptive import AdaptiveController
from neurocontrol.exceptions import CheckpointError
from neurocontrol.io import load_weights, save_weights
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate


def hover(seed=0):
    return Scenario.from_toml("scenarios/helicopter_hover.toml").set("run.duration", "3").build(seed)


def test_trained_weights_load_into_a_fresh_controller_and_continue_identically(tmp_path):
    a = hover()
    simulate(a.env, a.controller, a.reference, duration=3.0, seed=0, options=a.options)
    path = save_weights(tmp_path / "hover", a.controller)
    assert path.name == "hover.npz" and path.exists()
    b = hover()
    obs, _ = b.env.reset(seed=0, options=b.options)
    b.controller.reset(obs, [140.0, 1.0], seed=1)       # builds the buffers; then the saved state replaces them
    load_weights(path, b.controller)
    np.testing.assert_array_equal(b.controller.identifier_weights, a.controller.identifier_weights)
    np.testing.assert_array_equal(b.controller.imitator_weights, a.controller.imitator_weights)
    y = obs.copy()
    for _ in range(20):
        np.testing.assert_array_equal(a.controller.step(y, np.array([140.0, 1.0])),
                                      b.controller.step(y, np.array([140.0, 1.0])))


def test_errors(tmp_path):
    a = hover()
    obs, _ = a.env.reset(seed=0, options=a.options)
    a.controller.reset(obs, [140.0, 1.0], seed=0)
    with pytest.raises(CheckpointError, match=r"no such weights file"):
        load_weights(tmp_path / "missing.npz", a.controller)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match=r"not a weights file written by save_weights"):
        load_weights(tmp_path / "junk.npz", a.controller)
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(CheckpointError, match=r"not a neurocontrol weights file \(format 'missing'"):
        load_weights(tmp_path / "other.npz", a.controller)
    from neurocontrol.controllers.baselines import PIDController

    pid = PIDController.from_plant()
    pid.reset(obs, [140.0, 1.0])
    p = save_weights(tmp_path / "pid.npz", pid)
    with pytest.raises(CheckpointError, match=r"holds the weights of a PIDController, cannot load them into a "
                                              r"AdaptiveController"):
        load_weights(p, a.controller)
    good = save_weights(tmp_path / "a.npz", a.controller)
    other = hover()
    cfg = other.controller.config
    import dataclasses

    from neurocontrol.controllers.adaptive import AdaptiveControllerConfig
    from neurocontrol.nets.rules import RecursiveLeastSquares

    small = dataclasses.replace(AdaptiveControllerConfig(**{f.name: getattr(cfg, f.name) for f in
                                                            dataclasses.fields(AdaptiveControllerConfig)}),
                                imitator_rule=RecursiveLeastSquares(), warmup_duration=0.5)
    c = AdaptiveController(small, input_limits=((0, 400), (-600, 600)), output_indices=(0, 1), dt=0.01)
    c.reset(obs, [140.0, 1.0])
    with pytest.raises(CheckpointError, match=r"does not fit this controller"):
        load_weights(good, c)
