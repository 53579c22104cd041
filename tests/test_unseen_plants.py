"""Plants no default was chosen on: the neural controller with its defaults completes each one's task.

``benchmarks/bench_unseen_plants.py`` defines eight plants written after the neural controller's defaults were
chosen (docs/plants.md, "Plants of one's own"): two carts measured by their positions only, two heated zones on a
1 s period, a 3x3 plant, two integrating levels, a single-input mass measured by its position, a discrete-time
system, an over-actuated plant and one with inputs of very different scales. Built with
``NeuralControllerConfig(output_indices=...)`` and nothing else, the controller must fly each staircase within its
tolerance over the last eighth of the run, on seeds 0 and 1, and a run must be the same when flown again. The generic
baselines are designed for every plant, and the PID flies the 3x3, over-actuated and discrete ones.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_unseen_plants", ROOT / "benchmarks" / "bench_unseen_plants.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.parametrize("name", sorted(bench.PLANTS))
def test_the_neural_defaults_fly_a_plant_they_were_not_chosen_on(name):
    for seed in (0, 1):
        run = bench.fly(name, "neural", seed)
        assert run["status"] == "completed" and run["success"], (name, seed, run)


def test_a_run_is_the_same_when_flown_again():
    assert bench.fly("badly_scaled", "neural", 3) == bench.fly("badly_scaled", "neural", 3)


def test_the_generic_lqr_i_is_designed_for_every_plant():
    # every plant declares a set-point and has a python-control model (a discrete-time one, an over-actuated one)
    for name, make in bench.PLANTS.items():
        task = make()
        assert bench.controller(task, "lqr_i").design.K.shape[0] == task.env.action_space.shape[0], name


def test_long_run_signals_fire_on_none_of_them():
    # docs/neural_controller.md, "The default where the horizon check fires": of the shipped plants and these eight,
    # only the CSTR and the tank at P+ have gains that take their steady-state sign after the horizon, and only the
    # tank at P+ a right-half-plane zero within twice its slowest time constant
    for name, make in bench.PLANTS.items():
        assert "long_run_signals" not in bench.controller(make(), "neural").derived_settings(), name


@pytest.mark.parametrize("name", ["three_states", "over_actuated", "discrete"])
def test_the_generic_pid_is_designed_for_a_3x3_an_over_actuated_and_a_discrete_plant_and_flies_it(name):
    # one loop per controlled output, each on a distinct input (the third input of the over-actuated plant held)
    task = bench.PLANTS[name]()
    ctrl = bench.controller(task, "pid_auto")
    assert len(ctrl.design) == len(task.output_indices) and len(set(ctrl.pairing)) == len(ctrl.pairing)
    run = bench.fly(name, "pid_auto", 0)
    assert run["status"] == "completed" and run["success"], run
