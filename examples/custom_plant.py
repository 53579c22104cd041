"""Adaptive control of your own plant: a nonlinear two-mass spring system written as a ``control.nlsys``.

The plant is NOT the helicopter: two carts (masses m1, m2) on hardening
springs, coupled by a spring and dampers, each pushed by its own force::

    m1 x1'' = u1 - k1 x1 - kn x1^3 - kc (x1 - x2) - c1 x1'
    m2 x2'' = u2 - k2 x2 - kn x2^3 - kc (x2 - x1) - c2 x2'

States, outputs and observation: positions x1, x2 (m) and velocities v1, v2
(m/s); inputs: forces u1, u2 (N) in [-10, 10]. :class:`plants.iosys_env.IOSystemEnv`
makes it a Gymnasium env (RK4, 10 ms control period, 2 sub-steps, random
initial positions). The adaptive controller gets only what it would get on a
real rig: the observation ranges, the actuator limits, the control period,
which observations are controlled (positions) and which are their rates
(velocities). It warms up with 3 s of open-loop APRBS excitation around zero
force, then tracks a staircase of position set-points.

Run: ``python examples/custom_plant.py [--seed 0] [--duration 40]``
"""

from __future__ import annotations

import argparse

import control
import numpy as np

from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.laws import PredictiveLaw
from neurocontrol.reference import MultiSignal, Staircase
from neurocontrol.simulation.loop import simulate
from plants.iosys_env import IOSystemEnv

PARAMS = {"m1": 1.0, "m2": 1.5, "k1": 2.0, "k2": 3.0, "kc": 1.5, "kn": 4.0, "c1": 1.2, "c2": 1.5}
FORCE_LIMIT = 10.0          # N
#: Weights of the predictive law's tracking cost per observation (x1, x2, v1, v2), normalised units.
OUTPUT_WEIGHTS = (1.0, 1.0, 0.0, 0.0)


def two_mass_rhs(t, x, u, params):
    """State derivative of the two-mass spring system: x = (x1, x2, v1, v2), u = (u1, u2)."""
    x1, x2, v1, v2 = x
    p = params
    a1 = (u[0] - p["k1"] * x1 - p["kn"] * x1 ** 3 - p["kc"] * (x1 - x2) - p["c1"] * v1) / p["m1"]
    a2 = (u[1] - p["k2"] * x2 - p["kn"] * x2 ** 3 - p["kc"] * (x2 - x1) - p["c2"] * v2) / p["m2"]
    return np.array([v1, v2, a1, a2])


def make_plant() -> control.NonlinearIOSystem:
    """The plant as a continuous-time python-control system with named signals."""
    return control.nlsys(two_mass_rhs, None, states=["x1", "x2", "v1", "v2"], inputs=["u1", "u2"],
                         outputs=["x1", "x2", "v1", "v2"], params=PARAMS, name="two_mass")


def make_env(output_noise_std: float = 0.0) -> IOSystemEnv:
    """The plant as a Gymnasium env: random initial positions in [-0.3, 0.3] m, at rest."""
    return IOSystemEnv(make_plant(), dt=0.01, substeps=2, input_limits=[[-FORCE_LIMIT, FORCE_LIMIT]] * 2,
                       x0=lambda rng: np.concatenate([rng.uniform(-0.3, 0.3, 2), np.zeros(2)]),
                       observation_low=[-1.5, -1.5, -4.0, -4.0], observation_high=[1.5, 1.5, 4.0, 4.0],
                       output_noise_std=output_noise_std, units={"x1": "m", "x2": "m", "v1": "m/s", "v2": "m/s",
                                                                 "u1": "N", "u2": "N"})


def make_controller(env: IOSystemEnv) -> AdaptiveController:
    """The adaptive two-RTRN controller, configured from ranges only (no model)."""
    config = AdaptiveControllerConfig(
        observation_low=tuple(env.observation_space.low), observation_high=tuple(env.observation_space.high),
        rate_indices=(2, 3),                 # v1, v2 are the measured rates of x1, x2
        reference_bandwidth=(2.0, 2.0), reference_damping=(1.0, 1.0),
        warmup_duration=3.0, nominal_input=(0.0, 0.0),
        excitation_amplitude=(4.0, 4.0), excitation_min_hold=(5, 5), excitation_max_hold=(40, 40),
        law=PredictiveLaw(output_weights=OUTPUT_WEIGHTS))
    limits = np.column_stack([env.action_space.low, env.action_space.high])
    return AdaptiveController(config, input_limits=limits, output_indices=(0, 1), dt=env.dt)


def reference(duration: float) -> MultiSignal:
    """Position set-points (m): a staircase per cart, changing every duration/4 s."""
    times = tuple(i * duration / 4 for i in range(4))
    return MultiSignal(signals=(Staircase(times=times, levels=(0.5, -0.3, 0.2, 0.6)),
                                Staircase(times=times, levels=(-0.4, 0.3, 0.5, -0.2))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1, help="run seeds seed..seed+N-1")
    ap.add_argument("--duration", type=float, default=40.0, help="simulated time, s")
    args = ap.parse_args(argv)

    results = []
    print(f"{'seed':>4} {'status':>10} {'success':>8} {'x1 RMSE m':>10} {'x2 RMSE m':>10} "
          f"{'x1 final m':>11} {'x2 final m':>11} {'sat %':>6}")
    for seed in range(args.seed, args.seed + args.seeds):
        env = make_env()
        res = simulate(env, make_controller(env), reference(args.duration), duration=args.duration, seed=seed,
                       tolerance={"x1": 0.02, "x2": 0.02}, final_window_s=min(5.0, args.duration / 8))
        m = res.metrics
        o = m["outputs"]
        print(f"{seed:>4} {res.status:>10} {str(m['success']):>8} {o['x1']['rmse']:>10.4f} {o['x2']['rmse']:>10.4f} "
              f"{o['x1']['final_error']:>11.4f} {o['x2']['final_error']:>11.4f} "
              f"{100 * m['saturation_fraction']:>6.1f}")
        results.append(res)
    return results


if __name__ == "__main__":
    main()
