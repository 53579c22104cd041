"""An unstable plant with no model: a plain Gymnasium env, and the neural controller's identified warm-up.

The plant is two inverted pendulums on a common shaft, coupled by a torsion spring, each driven by its own
motor (written here as a plain ``gymnasium.Env``, with no python-control model)::

    th1'' = (g / l) sin th1 - k (th1 - th2) - c th1' + b u1
    th2'' = (g / l) sin th2 - k (th2 - th1) - c th2' + b u2

Both upright equilibria are unstable (``g / l = 20 s^-2``). The env measures the angles and their rates, and
declares which entry is which angle's rate (``observation_rates``), its control period, input limits and signal
ranges; the episode ends when an angle leaves +-0.6 rad. No key of the controller is set for it.

With no model to design a warm-up controller on, :func:`~neurocontrol.controllers.neural.build_neural` flies the
warm-up with :class:`~neurocontrol.controllers.identified_warmup.IdentifiedLQRI`: LQR with integral action on a
linear model fitted to the warm-up's own transitions (``identified_warmup``, on by default where a rate is
measured). The script flies the same task two ways, the defaults and ``identified_warmup = false`` (the warm-up
open loop, as before), on a few seeds, and prints each run.

This plant was written after the mechanism was chosen (on the PVTOL and the helicopter) and nothing was tuned on
it. Measured (20 s, seeds 0-49, set-points 0.1 and -0.05 rad from 2 s, tolerance 0.01 rad over the last 3 s):
the defaults end all 50 runs in the band; with the warm-up open loop the env stops all 50 within a second.

Run: ``python examples/plant_without_model.py [--seeds 10] [--duration 20]``
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from neurocontrol.controllers.neural import build_neural
from neurocontrol.controllers.neural_config import NeuralControllerConfig
from neurocontrol.reference import MultiSignal, Step
from neurocontrol.simulation.loop import simulate

G_OVER_L, SPRING, DAMPING, GAIN = 20.0, 5.0, 0.5, 20.0
ANGLE_RANGE, RATE_RANGE, TORQUE = 0.6, 4.0, 2.0


class TwinPendulum(gym.Env):
    """Two coupled inverted pendulums, measured by their angles and rates; no python-control model.

    Parameters
    ----------
    dt : float, default 0.02
        Control period, s (RK4 over 4 sub-steps).
    """

    observation_names = ("th1", "th2", "w1", "w2")
    observation_rates = (2, 3, -1, -1)          # entry 2 is angle 0's rate, entry 3 angle 1's

    def __init__(self, dt: float = 0.02):
        self.dt = dt
        high = np.array([ANGLE_RANGE, ANGLE_RANGE, RATE_RANGE, RATE_RANGE])
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float64)
        self.action_space = gym.spaces.Box(-TORQUE, TORQUE, (2,), dtype=np.float64)
        self.operating_point = (np.zeros(4), np.zeros(2))    # upright at rest, no torque
        self.x = np.zeros(4)

    @staticmethod
    def _rhs(x, u):
        th, w = x[:2], x[2:]
        acc = G_OVER_L * np.sin(th) - SPRING * (th - th[::-1]) - DAMPING * w + GAIN * u
        return np.concatenate([w, acc])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = np.concatenate([self.np_random.uniform(-0.02, 0.02, 2), np.zeros(2)])
        return self.x.copy(), {}

    def step(self, action):
        u = np.clip(np.asarray(action, dtype=float), -TORQUE, TORQUE)
        h = self.dt / 4
        for _ in range(4):
            k1 = self._rhs(self.x, u)
            k2 = self._rhs(self.x + 0.5 * h * k1, u)
            k3 = self._rhs(self.x + 0.5 * h * k2, u)
            k4 = self._rhs(self.x + h * k3, u)
            self.x = self.x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        lost = bool(np.any(np.abs(self.x[:2]) > ANGLE_RANGE))
        return self.x.copy(), 0.0, lost, False, {}


def fly(seed: int, identified: bool, duration: float):
    """One run; returns the Result (``identified`` False: ``identified_warmup = false``)."""
    env = TwinPendulum()
    config = NeuralControllerConfig(output_indices=(0, 1), **({} if identified else {"identified_warmup": False}))
    controller = build_neural(config, env)
    reference = MultiSignal(signals=(Step(t0=2.0, after=0.1), Step(t0=2.0, after=-0.05)))
    controller.set_preview(reference)
    return simulate(env, controller, reference, duration=duration, seed=seed, tolerance=0.01, final_window_s=3.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    ap.add_argument("--duration", type=float, default=20.0)
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.duration <= 3.0:
        ap.error(f"--seeds must be at least 1 and --duration above the 3 s window, got {args.seeds}, {args.duration}")
    counts = {}
    for identified in (True, False):
        label = "identified warm-up" if identified else "open-loop warm-up"
        kept = success = 0
        for seed in range(args.seeds):
            res = fly(seed, identified, args.duration)
            kept += res.status == "completed"
            success += res.status == "completed" and bool(res.metrics["success"])
            iae = ", ".join(f"{k} {o['iae']:.3f}" for k, o in res.metrics["outputs"].items())
            print(f"{label:<19} seed {seed:>2}: {res.status:<9} success={'yes' if res.metrics['success'] else 'no':<3} "
                  f"ran {res.time[-1]:5.2f} s  IAE (rad s): {iae}")
        counts[label] = (success, kept)
        print(f"{label}: {success} of {args.seeds} in the band, {kept} kept")
    return counts


if __name__ == "__main__":
    main()
