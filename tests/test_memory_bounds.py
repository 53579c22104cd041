"""Settings sized far beyond what they mean are a named error before any allocation or endless run.

Found by fuzzing sizes: an ILC's `gains.taps` of 10^7 or the neural controller's `horizon` of 10^5 failed in numpy
with MemoryError (one fuzzing run was killed, most likely for memory), and 10^8 integration sub-steps made a
0.2 s run last over 90 s. The physical memory is fixed at 8 GiB here, so the limits do not depend on the machine running the
tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurocontrol._validation as validation
import plants  # noqa: F401
from neurocontrol._validation import MEMORY_SHARE, check_memory
from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.ilc.feedforward_net import FeedforwardNetwork
from neurocontrol.nets.ekf import DecoupledEKF, IncrementalIdentifier, network_floats
from neurocontrol.nets.incremental import IncrementalConfig
from neurocontrol.scenario import Scenario
from neurocontrol.scenario.core import run_scenario

GIB = 2.0 ** 30


@pytest.fixture(autouse=True)
def eight_gib(monkeypatch):
    monkeypatch.setattr(validation, "_physical_memory", lambda: 8.0 * GIB)


def test_check_memory_refuses_more_than_its_share_and_names_what_and_how():
    limit = MEMORY_SHARE * 8.0 * GIB / 8.0          # float64 numbers
    check_memory(limit, "x", "y")                   # exactly the share is allowed
    with pytest.raises(ParameterError, match=r"^the thing would need about 4 GiB of memory, more than 50% of this "
                                             r"machine's 8 GiB; lower `size`\.$"):
        check_memory(limit * 1.000001, "the thing", "lower `size`.")
    for bad in (np.inf, np.nan):
        with pytest.raises(ParameterError, match="would need about"):
            check_memory(bad, "the thing", "fix it")


def test_network_floats_counts_what_an_identifier_allocates():
    cfg = IncrementalConfig(n_outputs=3, n_inputs=2, n_hidden=5)
    rule = DecoupledEKF()
    ident = IncrementalIdentifier(cfg, rule, rng=np.random.default_rng(0))
    held = (ident._P.size + ident._good_P.size + ident._Sh.size + ident._Sh_new.size + ident._Sy.size
            + ident._ekf[0].size + ident._theta.size + ident._good_theta.size)
    assert held <= network_floats(3, 2, 5, rule) <= 1.2 * held


def test_a_network_too_large_is_refused_when_its_structure_is_made():
    with pytest.raises(ParameterError, match=r"a network with 2 outputs, 3 inputs and 3000 hidden units \(9024012 "
                                             r"weights\) would need about .* GiB .* lower its hidden units"):
        IncrementalConfig(n_outputs=2, n_inputs=3, n_hidden=3000)
    IncrementalConfig(n_outputs=2, n_inputs=3, n_hidden=100)      # a large one that fits


def test_a_global_ekf_too_large_for_its_covariance_is_refused():
    cfg = IncrementalConfig(n_outputs=5, n_inputs=2, n_hidden=200)    # 43,225 weights: the sensitivities fit
    with pytest.raises(ParameterError, match="would need about"):
        IncrementalIdentifier(cfg, DecoupledEKF(decoupled=False), rng=np.random.default_rng(0))


@pytest.mark.parametrize("key, value, words", [
    ("controller.n_hidden", "100000", "100000 hidden units"),
    ("controller.horizon", "100000", "a horizon of 100000 steps"),
    ("controller.input_taps", "10000000", "20000000 network inputs"),
])
def test_neural_settings_too_large_are_a_scenario_error_naming_them(key, value, words):
    sc = Scenario.from_toml("scenarios/twin_rotor_neural.toml").set(key, value)
    with pytest.raises(ScenarioError, match=rf"{words}.* would need about .* GiB of memory"):
        sc.build(0)


@pytest.mark.parametrize("key, value, words", [
    ("taps", "10000000", "20000010 inputs"),
    ("hidden_units", "10000000", "10000000 hidden units"),
    ("feedforward_back_steps", "10000000", "the correction network"),
])
def test_ilc_gains_too_large_are_a_named_error(key, value, words):
    sc = Scenario.from_toml("scenarios/ilc_neural.toml").set("run.duration", "2.0").set("ilc.trials", "2")
    with pytest.raises((ParameterError, ScenarioError), match=rf"{words}.* would need about"):
        run_scenario(sc.set(f"ilc.gains.{key}", value), seed=0)


def test_the_correction_networks_window_is_checked_before_it_is_built():
    with pytest.raises(ParameterError, match=r"the correction network \(1000000002 features, 0 hidden units\)"):
        FeedforwardNetwork(back_steps=10 ** 9, ahead_steps=0, stride=1, output_range=[[0.0], [1.0]])
    net = FeedforwardNetwork(back_steps=30, ahead_steps=20, stride=10, output_range=[[0.0, 0.0], [1.0, 2.0]])
    assert net.n_features == (5 + 1) * 2 + 1          # offsets -30, -20, -10, 10, 20; the levels; the constant


def test_a_measurement_delay_too_long_for_memory_is_refused():
    import gymnasium as gym

    from plants.wrappers import MeasurementDelay
    env = gym.make("neurocontrol/Helicopter-v0")
    with pytest.raises(ParameterError, match=r"a measurement delay of 1000000000 steps would need about"):
        MeasurementDelay(env, 10 ** 9)
    MeasurementDelay(env, 1000)


@pytest.mark.parametrize("path", ["scenarios/hover_pid.toml", "scenarios/quadtank_pminus.toml"])
def test_integration_substeps_are_bounded(path):
    """A plant integrates at most MAX_SUBSTEPS sub-steps per control period (found: with 10^8 a 0.2 s run had not ended after 90 s)."""
    from neurocontrol._validation import MAX_SUBSTEPS
    with pytest.raises(ScenarioError, match=rf"`plant.substeps` must be .*{MAX_SUBSTEPS}.*got {MAX_SUBSTEPS + 1}"):
        Scenario.from_toml(path).set("plant.substeps", str(MAX_SUBSTEPS + 1)).build(0)
    Scenario.from_toml(path).set("plant.substeps", str(MAX_SUBSTEPS)).build(0)
