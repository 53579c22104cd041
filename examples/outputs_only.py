"""A plant measured by its outputs only: the twin rotor's two angles, and what the networks need to see.

The twin-rotor MIMO system (``neurocontrol/TwinRotor-v0``) measures only its pitch and yaw angles; its
motor, cross-reaction and rigid-body states are hidden. This script builds the neural controller for it in
Python with :func:`~neurocontrol.controllers.neural.build_neural` (input limits, control period and signal
ranges from the env; the automatic LQR-I warm-up, since the rest trim is not asymptotically stable) and
flies the task of ``scenarios/twin_rotor_steps.toml`` three ways:

* ``no lags``: the networks see the two angles only (``lag_signals = "values"``, no ``output_lags``);
* ``past values``: also the angles at the last 3 steps (``output_lags = 3``);
* ``default``: also the angles' backward differences per second over the last 2 steps, what the defaults
  give a plant that measures only its controlled outputs;
* ``3 steps of rates``: the same over 3 steps (``output_lags = 3, lag_signals = "rates"``), the setting of
  ``scenarios/twin_rotor_neural.toml``.

Prints each run's status, success and IAE and writes a plot of the angles. Here the plant starts at rest;
on the scenario files' task (a random start within 0.02 rad) 0, 10, 19 and 20 of seeds 0-19 succeed
(docs/neural_controller.md, "Rate lags").

Run: ``python examples/outputs_only.py [--seed 0] [--duration 40] [--out runs/example_outputs_only]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

from neurocontrol.controllers.neural import NeuralControllerConfig, build_neural
from neurocontrol.reference import MultiSignal, Step
from neurocontrol.simulation.loop import simulate
from plants import TWIN_ROTOR_ID

VARIANTS = {
    "no lags": {"lag_signals": "values"},
    "past values": {"output_lags": 3},
    "default": {},
    "3 steps of rates": {"output_lags": 3, "lag_signals": "rates"},
}
TOLERANCE = {"pitch": 0.01, "yaw": 0.02}        # rad, over the last 5 s


def fly(variant: str, seed: int, duration: float):
    """One run of ``variant`` (a key of :data:`VARIANTS`); returns the Result."""
    env = gym.make(TWIN_ROTOR_ID, max_episode_steps=int(round(duration / 0.05)) + 1)
    controller = build_neural(NeuralControllerConfig(**VARIANTS[variant]), env)
    reference = MultiSignal(signals=(Step(t0=1.0, after=0.1), Step(t0=1.0, after=0.5)))    # pitch, yaw (rad)
    controller.set_preview(reference)            # the reference is known ahead: the controller previews it
    return simulate(env, controller, reference, duration=duration, seed=seed, tolerance=TOLERANCE)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--out", default="runs/example_outputs_only")
    args = ap.parse_args(argv)
    if args.duration <= 5.0:
        ap.error(f"--duration must exceed the 5 s success window, got {args.duration}")

    results = {v: fly(v, args.seed, args.duration) for v in VARIANTS}
    for v, res in results.items():
        iae = ", ".join(f"{k} {o['iae']:.3f}" for k, o in res.metrics["outputs"].items())
        print(f"{v:<16} status={res.status:<9} success={'yes' if res.metrics['success'] else 'no ':<3} "
              f"ran {res.time[-1]:5.1f} s  IAE (rad s): {iae}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    for j, name in enumerate(("pitch", "yaw")):
        ax = axes[j]
        first = next(iter(results.values()))
        ax.plot(first.time, np.asarray(first.references)[:, j], "k--", lw=1, label="reference")
        for v, res in results.items():
            ax.plot(res.time, np.asarray(res.outputs)[:, j], label=v)
        ax.set_ylabel(f"{name} [rad]")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    axes[1].set_xlabel("time [s]")
    fig.suptitle(f"twin rotor measured by its angles only, seed {args.seed}")
    fig.tight_layout()
    path = out / "outputs_only.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot written to {path}")
    return results


if __name__ == "__main__":
    main()
