"""Neural control of your own plant: a nonlinear two-mass spring system written as a ``control.nlsys``.

The plant is NOT the helicopter: two carts (masses m1, m2) on hardening
springs, coupled by a spring and dampers, each pushed by its own force::

    m1 x1'' = u1 - k1 x1 - kn x1^3 - kc (x1 - x2) - c1 x1'
    m2 x2'' = u2 - k2 x2 - kn x2^3 - kc (x2 - x1) - c2 x2'

States, outputs and observation: positions x1, x2 (m) and velocities v1, v2
(m/s); inputs: forces u1, u2 (N) in [-10, 10]. :class:`plants.iosys_env.IOSystemEnv`
makes it a Gymnasium env (RK4, 10 ms control period, 2 sub-steps, random
initial positions). Three controllers track the same staircase of position
set-points:

- ``neural`` (default): the two-RTRN neural controller with its defaults,
  ``build_neural(NeuralControllerConfig(), env)``. It reads what the env
  declares (observation ranges, actuator limits, control period) and nothing
  else: no key is set for this plant. It warms up on its own excitation
  around the middle of the force range, then plans through its identifier,
  with the staircase previewed (it is known ahead).
- ``adaptive``: the version-1 controller, which needs the plant's scales by
  hand (reference bandwidths, warm-up length, excitation, rates, weights).
- ``lqr_i``: LQR with integral action designed on the python-control model's
  linearisation at rest (it knows the model; the others do not), output
  weight 10 and integral weight 1.
- ``pid_auto``: one PI or PID loop per cart, paired, signed and designed on the
  same linearisation with its defaults (the largest integral gain under a
  sensitivity peak of 1.7, ``build_pid_auto(PIDAutoConfig(design_setpoint=(0, 0)), env)``);
  it knows the model too.

Measured (40 s, seeds 0-4, tolerance 2 cm over the last 5 s): all four kinds
succeed on every seed; position RMSE x1 / x2 (dominated by the set-point
jumps): neural 0.09-0.14 / 0.07-0.09 m, adaptive 0.18-0.28 / 0.19-0.28 m,
LQR-I 0.08-0.09 / 0.08-0.09 m, the PID 0.07-0.09 / 0.08-0.09 m (its forces at
their limits on about 5 % of the steps, LQR-I's on 0.5 %).

Run: ``python examples/custom_plant.py [--controller neural|adaptive|lqr_i|pid_auto] [--seed 0] [--seeds 1]
[--duration 40]``
"""

from __future__ import annotations

import argparse

import control
import numpy as np

from neurocontrol.controllers.adaptive import AdaptiveController, AdaptiveControllerConfig
from neurocontrol.controllers.generic import LQRIConfig, build_lqr_i
from neurocontrol.controllers.laws import PredictiveLaw
from neurocontrol.controllers.neural import build_neural
from neurocontrol.controllers.neural_config import NeuralControllerConfig
from neurocontrol.controllers.pid_auto import PIDAutoConfig, build_pid_auto
from neurocontrol.exceptions import ParameterError
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


def make_controller(env: IOSystemEnv, kind: str = "neural"):
    """The controller ``kind`` for ``env``: ``neural`` (defaults), ``adaptive`` (hand-set scales), ``lqr_i`` or
    ``pid_auto``."""
    if kind == "neural":
        return build_neural(NeuralControllerConfig(), env)        # positions x1, x2 are observations 0 and 1
    if kind == "lqr_i":
        # designed at rest; output weight 10 (the default 1 leaves x1 about 4 cm off at the end of each step)
        return build_lqr_i(LQRIConfig(design_setpoint=(0.0, 0.0), output_weight=10.0, integral_weight=1.0), env)
    if kind == "pid_auto":
        return build_pid_auto(PIDAutoConfig(design_setpoint=(0.0, 0.0)), env)     # designed at rest, as lqr_i
    if kind != "adaptive":
        raise ParameterError(f"unknown controller kind {kind!r}: choose neural, adaptive, lqr_i or pid_auto")
    return adaptive_controller(env)


def adaptive_controller(env: IOSystemEnv) -> AdaptiveController:
    """The version-1 adaptive two-RTRN controller, configured from ranges and hand-set scales (no model)."""
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
    ap.add_argument("--controller", choices=("neural", "adaptive", "lqr_i", "pid_auto"), default="neural")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1, help="run seeds seed..seed+N-1")
    ap.add_argument("--duration", type=float, default=40.0, help="simulated time, s")
    args = ap.parse_args(argv)

    results = []
    print(f"{'seed':>4} {'status':>10} {'success':>8} {'x1 RMSE m':>10} {'x2 RMSE m':>10} "
          f"{'x1 final m':>11} {'x2 final m':>11} {'sat %':>6}")
    for seed in range(args.seed, args.seed + args.seeds):
        env, ref = make_env(), reference(args.duration)
        controller = make_controller(env, args.controller)
        if args.controller == "neural":
            controller.set_preview(ref)          # the staircase is known ahead: the plan sees it coming
        res = simulate(env, controller, ref, duration=args.duration, seed=seed,
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
