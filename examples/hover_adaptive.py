"""Adaptive two-RTRN control of the helicopter on its test stand, from a script.

Builds the plant, the adaptive controller and the reference in Python (no
scenario file), flies 30 s from a random start to 140 rad/s and 1 m, prints the
metrics, and writes a plot. The controller is model-free: it gets the
measurements, the control period, the actuator limits and signal ranges; a
rough PID flies the first second while the identifier learns under excitation.

Run: ``python examples/hover_adaptive.py [--seed 0] [--duration 30] [--out runs/example_hover]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym

import plants  # noqa: F401  (registers neurocontrol/Helicopter-v0)
from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.reference import Constant, MultiSignal
from neurocontrol.simulation.loop import simulate
from plants.helicopter.baselines import PIDController


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--out", default="runs/example_hover")
    args = ap.parse_args(argv)

    env = gym.make("neurocontrol/Helicopter-v0")
    config = AdaptiveControllerConfig(
        # signal ranges: rotor speed rad/s, altitude m, climb rate m/s, collective rad, collective rate rad/s
        observation_low=(74.25, 0.0, -3.0, 0.0175, -10.0),
        observation_high=(180.0, 2.0, 3.0, 0.245, 10.0),
        rate_indices=(-1, 2),          # the climb rate is the measured rate of altitude
    )
    warmup = PIDController(trim_input=(170.0, -100.0), trim_collective=0.12, servo_gain=2700.0)
    controller = AdaptiveController(config, input_limits=((0.0, 400.0), (-600.0, 600.0)), output_indices=(0, 1),
                                    dt=env.unwrapped.dt, warmup_controller=warmup)
    reference = MultiSignal(signals=(Constant(value=140.0), Constant(value=1.0)))
    result = simulate(env, controller, reference, duration=args.duration, seed=args.seed,
                      tolerance={"rotor_speed": 1.4, "altitude": 0.02})
    m = result.metrics
    alt, rot = m["outputs"]["altitude"], m["outputs"]["rotor_speed"]
    print(f"success={m['success']}  altitude IAE={alt['iae']:.3f} m s  settling={alt['settling_time']} s  "
          f"rotor final error={rot['final_error']:.3f} rad/s  median step={m['control_step_us']:.1f} us")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.plot(path=out / "hover.png")
    print(f"plot written to {out / 'hover.png'}")
    return result


if __name__ == "__main__":
    main()
