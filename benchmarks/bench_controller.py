"""Speed of the adaptive and neural controllers on the helicopter hover task (printed figures, no assertions).

Prints the median wall time of one controller step (adaptive target: median
<= 50 us, goal 20 us; neural target, issue #13: <= 2x LQR's), the wall time
of a whole 30 s closed-loop episode through
:func:`neurocontrol.simulation.loop.simulate` (target <= 0.5 s), and, measured
in the same run for scale, the same figures for the LQR baseline and the
plant step alone. The neural rows fly ``scenarios/neural_hover.toml`` with its
reference previewed (as the ablation does), with the imitator network and,
for the imitator's share of the cost, with the reference model's exact
response in its place (``neural_exact``); ``--jacobian-every K`` adds a row
for the approximate synthesiser that recomputes the horizon Jacobian every K
steps. The controllers' episodes alternate, so a busy machine slows all alike.
``--breakdown`` adds one more neural episode with a timer around each
compiled kernel the step calls and prints each kernel's mean time per step and
the rest of the step (the controller's Python).

Run: ``python benchmarks/bench_controller.py [--episodes 5] [--jacobian-every 5] [--breakdown]``
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import plants  # noqa: F401
from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.reference import Constant, MultiSignal
from neurocontrol.scenario import Scenario
from neurocontrol.simulation.loop import simulate
from plants.helicopter.baselines import LQRController, PIDController

NEURAL_HOVER = Path(__file__).resolve().parents[1] / "scenarios" / "neural_hover.toml"
LOW = (74.25, 0.0, -3.0, 0.0175, -10.0)
HIGH = (180.0, 2.0, 3.0, 0.245, 10.0)


def adaptive():
    cfg = AdaptiveControllerConfig(observation_low=LOW, observation_high=HIGH, rate_indices=(-1, 2))
    warm = PIDController(trim_input=(170.0, -100.0), trim_collective=0.12, servo_gain=2700.0)
    return AdaptiveController(cfg, input_limits=((0, 400), (-600, 600)), output_indices=(0, 1), dt=0.01,
                              warmup_controller=warm)


def episode(make_controller, seed):
    env = gym.make("neurocontrol/Helicopter-v0")
    ref = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))
    t0 = time.perf_counter()
    res = simulate(env, make_controller(), ref, duration=30.0, seed=seed,
                   tolerance={"rotor_speed": 1.4, "altitude": 0.02})
    return time.perf_counter() - t0, res


def neural_episode(seed, jacobian_every=1, imitator="network"):
    """One 30 s run of scenarios/neural_hover.toml (reference previewed); returns (wall s, Result)."""
    sc = Scenario.from_toml(NEURAL_HOVER)
    s = sc.build(seed)
    ctrl = s.controller
    if jacobian_every != 1 or imitator != "network":
        cfg = dataclasses.replace(ctrl.config, jacobian_every=jacobian_every, imitator=imitator)
        ctrl = type(ctrl)(cfg, input_limits=ctrl.input_limits, dt=ctrl.dt, warmup_controller=ctrl.warmup_controller)
    ctrl.set_preview(s.reference)
    t0 = time.perf_counter()
    res = simulate(s.env, ctrl, s.reference, duration=s.run.duration, seed=s.seed, options=s.options,
                   tolerance=dict(s.run.tolerance) or None, final_window_s=s.run.final_window_s)
    return time.perf_counter() - t0, res


#: The compiled kernels of one neural control step, as (module, name): each is called through its module.
STEP_KERNELS = (("neurocontrol.nets._incremental_kernels", "train_step_kernel"),
                ("neurocontrol.nets._incremental_kernels", "change_kernel"),
                ("neurocontrol.controllers._neural_kernels", "observe_kernel"),
                ("neurocontrol.controllers._neural_kernels", "imitator_desired_kernel"),
                ("neurocontrol.controllers._neural_kernels", "synthesise_kernel"))


def breakdown(seed=0):
    """Mean microseconds per control step in each kernel of :data:`STEP_KERNELS`, and in the whole step.

    One run of :func:`neural_episode` with a timer around each kernel and around the controller's ``step``; a
    kernel's time counts only while a step runs (not the imitator's pretraining at reset). Returns
    ``({kernel: us per step}, step us, steps)``.
    """
    spent, clock = {}, {"in_step": False, "step": 0.0, "steps": 0}
    saved = []

    def timed(module, name):
        fn = getattr(module, name)
        saved.append((module, name, fn))

        def wrapper(*args):
            if not clock["in_step"]:
                return fn(*args)
            t = time.perf_counter()
            out = fn(*args)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
            return out
        setattr(module, name, wrapper)

    from neurocontrol.controllers.neural import NeuralController
    step = NeuralController.step
    own = "step" in vars(NeuralController)       # else inherited: put back by deleting the timer, not by copying it

    def timed_step(self, *args, **kwargs):
        clock["in_step"] = True
        t = time.perf_counter()
        try:
            return step(self, *args, **kwargs)
        finally:
            clock["step"] += time.perf_counter() - t
            clock["steps"] += 1
            clock["in_step"] = False

    try:
        for module, name in STEP_KERNELS:
            timed(importlib.import_module(module), name)
        NeuralController.step = timed_step
        neural_episode(seed)
    finally:
        if own:
            NeuralController.step = step
        else:
            del NeuralController.step
        for module, name, fn in saved:
            setattr(module, name, fn)
    n = max(clock["steps"], 1)
    return {name: spent.get(name, 0.0) / n * 1e6 for _, name in STEP_KERNELS}, clock["step"] / n * 1e6, n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--jacobian-every", type=int, default=1,
                    help="also time the neural controller with jacobian_every = K (an approximation)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time each compiled kernel of the neural step in one more episode")
    args = ap.parse_args(argv)
    runs = {"adaptive": lambda s: episode(adaptive, s), "lqr": lambda s: episode(LQRController.from_plant, s),
            "neural": neural_episode, "neural_exact": lambda s: neural_episode(s, imitator="exact")}
    if args.jacobian_every != 1:
        runs[f"neural_j{args.jacobian_every}"] = lambda s: neural_episode(s, args.jacobian_every)
    for run in runs.values():
        run(0)   # compile and warm caches
    walls, steps, ok = ({name: [] for name in runs} for _ in range(3))
    for s in range(args.episodes):
        for name, run in runs.items():   # alternate the controllers episode by episode
            wall, res = run(s)
            walls[name].append(wall)
            steps[name].append(res.metrics["control_step_us"])
            ok[name].append(bool(res.metrics["success"]))
    rows = [(name, np.median(steps[name]), np.median(walls[name]), sum(ok[name])) for name in runs]
    env = gym.make("neurocontrol/Helicopter-v0")
    env.reset(seed=0)
    a = env.unwrapped.trim_action
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        env.step(a)
    plant_us = (time.perf_counter() - t0) / n * 1e6
    print(f"{'controller':<10} {'median step us':>15} {'30 s episode s':>15} {'success':>8}")
    for name, st, wall, ok in rows:
        print(f"{name:<10} {st:>15.1f} {wall:>15.3f} {ok:>5}/{args.episodes}")
    lqr = rows[1][1]
    print(f"adaptive / lqr median step: {rows[0][1] / lqr:.2f} (the machine-independent figure)")
    for name, st, _, _ in rows[2:]:
        print(f"{name} / lqr median step: {st / lqr:.2f} (issue #13 target <= 2)")
    print(f"plant env step (gymnasium.make): {plant_us:.1f} us")
    print("targets: adaptive median step <= 50 us (goal 20 us); 30 s episode <= 0.5 s")
    if args.breakdown:
        per_kernel, step_us, n = breakdown()
        print(f"neural step, mean of {n} steps with a timer around each kernel: {step_us:.1f} us")
        for name, us in per_kernel.items():
            print(f"  {name:<24} {us:6.1f} us per step")
        rest = step_us - sum(per_kernel.values())
        print(f"  {'the rest (Python)':<24} {rest:6.1f} us per step ({rest / step_us:.0%})")


if __name__ == "__main__":
    main()
