"""Speed of the adaptive controller on the helicopter hover task (printed figures, no assertions).

Prints the median and 90th-percentile wall time of one controller step
(target: median <= 50 us, goal 20 us), the wall time of a whole 30 s
closed-loop episode through :func:`neurocontrol.simulation.loop.simulate` (target
<= 0.5 s), and, measured in the same run for scale, the same figures for the
LQR baseline and the plant step alone.

Run: ``python benchmarks/bench_controller.py [--episodes 5]``
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import plants  # noqa: F401
from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.reference import Constant, MultiSignal
from neurocontrol.simulation.loop import simulate
from plants.helicopter.baselines import LQRController, PIDController

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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=5)
    args = ap.parse_args(argv)
    episode(adaptive, 0)   # compile and warm caches
    rows = []
    for name, make in (("adaptive", adaptive), ("lqr", LQRController.from_plant)):
        walls, steps, ok = [], [], 0
        for s in range(args.episodes):
            wall, res = episode(make, s)
            walls.append(wall)
            steps.append(res.metrics["control_step_us"])
            ok += bool(res.metrics["success"])
        rows.append((name, np.median(steps), np.median(walls), ok))
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
    print(f"adaptive / lqr median step: {rows[0][1] / rows[1][1]:.2f} (the machine-independent figure)")
    print(f"plant env step (gymnasium.make): {plant_us:.1f} us")
    print("targets: adaptive median step <= 50 us (goal 20 us); 30 s episode <= 0.5 s")


if __name__ == "__main__":
    main()
