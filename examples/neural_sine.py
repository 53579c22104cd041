"""The two-network neural controller follows a 0.3 Hz altitude sine: what preview and its lead buy.

Builds the helicopter, the `neural` controller (identifier and imitator RTRNs
trained by RTRL + EKF, a Gauss-Newton synthesiser) and a sine reference in
Python, and flies the same seed three ways:

* ``preview, lead``: the controller is given the reference as a function of
  time and feeds its reference model the reference 2 zeta / omega ahead (the
  default), so the sine is followed without the reference model's lag;
* ``preview, no lead``: the same with ``preview_lead = (0, 0)``: the output
  follows the reference model's response, which lags the sine by about 41 deg;
* ``no preview``: the present set-point held over the horizon.

Prints the altitude RMS error over the last ``--window`` seconds of each and
writes a plot of altitude against the reference.

Run: ``python examples/neural_sine.py [--seed 0] [--duration 40] [--out runs/example_neural_sine]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

import plants  # noqa: F401  (registers neurocontrol/Helicopter-v0)
from neurocontrol.controllers.neural import NeuralController, NeuralControllerConfig
from neurocontrol.reference import Constant, MultiSignal, Sine
from neurocontrol.simulation.loop import simulate
from plants.helicopter.baselines import PIDController

VARIANTS = ("preview, lead", "preview, no lead", "no preview")


def fly(variant: str, seed: int, duration: float):
    """One run of ``variant`` (a name of :data:`VARIANTS`); returns the Result."""
    env = gym.make("neurocontrol/Helicopter-v0", max_episode_steps=int(round(duration / 0.01)) + 1)
    config = NeuralControllerConfig(
        # signal ranges: rotor speed rad/s, altitude m, climb rate m/s, collective rad, collective rate rad/s
        observation_low=(74.25, 0.0, -3.0, 0.0175, -10.0),
        observation_high=(180.0, 2.0, 3.0, 0.245, 10.0),
        rate_indices=(-1, 2),                 # the climb rate is the measured rate of altitude
        excitation_amplitude=(40.0, 100.0),   # warm-up excitation per input
        preview_lead=(0.0, 0.0) if variant == "preview, no lead" else None,
    )
    reference = MultiSignal(signals=(Constant(value=140.0), Sine(amplitude=0.2, frequency_hz=0.3, offset=1.0)))
    warmup = PIDController(trim_input=(170.0, -100.0), trim_collective=0.12, servo_gain=2700.0)
    controller = NeuralController(config, input_limits=((0.0, 400.0), (-600.0, 600.0)), dt=env.unwrapped.dt,
                                  warmup_controller=warmup, preview=None if variant == "no preview" else reference)
    return simulate(env, controller, reference, duration=duration, seed=seed,
                    tolerance={"rotor_speed": 1.4, "altitude": 0.06})


def late_rms(result, window: float) -> float:
    """Altitude RMS error (m) over the last ``window`` seconds."""
    t = np.asarray(result.time)
    late = t >= t[-1] - window
    err = np.asarray(result.outputs)[late, 1] - np.asarray(result.references)[late, 1]
    return float(np.sqrt(np.mean(err ** 2)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--window", type=float, default=10.0, help="seconds at the end over which the RMS is taken")
    ap.add_argument("--out", default="runs/example_neural_sine")
    args = ap.parse_args(argv)
    if not 0 < args.window < args.duration:
        ap.error(f"--window must lie in (0, --duration), got {args.window}")

    results = {v: fly(v, args.seed, args.duration) for v in VARIANTS}
    for v, res in results.items():
        print(f"{v:<18} status={res.status}  altitude RMS error, last {args.window:g} s: "
              f"{late_rms(res, args.window) * 1e3:.1f} mm")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 4))
    first = results[VARIANTS[0]]
    ax.plot(first.time, np.asarray(first.references)[:, 1], "k--", lw=1, label="reference")
    for v, res in results.items():
        ax.plot(res.time, np.asarray(res.outputs)[:, 1], lw=1.2, label=v)
    ax.set_xlim(max(0.0, args.duration - 3 * args.window), args.duration)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("altitude [m]")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "neural_sine.png", dpi=110)
    plt.close(fig)
    print(f"plot written to {out / 'neural_sine.png'}")
    return results


if __name__ == "__main__":
    main()
