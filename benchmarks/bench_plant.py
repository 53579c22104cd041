"""Speed of the helicopter plant: env steps through gymnasium.make, a plain-numpy RK4
step of the same plant for comparison, and the batched numba step.

Run:  python benchmarks/bench_plant.py [--steps 100000] [--batch 1024]

Prints figures only (no timed asserts). Targets from the issue: >= 50,000 env
steps/s through ``gymnasium.make`` (~20 us/step), >= 6x a plain-numpy RK4
step, >= 2,000,000 plant-steps/s batched with N=1024. All runs use dt=0.01 s
with 5 RK4 sub-steps (2 ms).
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import plants
from plants.helicopter import HelicopterParams, step_batch, trim


def numpy_rhs(x, u, a):
    """The plant in plain numpy (what one would write without numba)."""
    w, z, zd, th, thd = x
    s = np.sin(th)
    return np.array([
        a[7] * w + a[8] * w * w + a[9] * w * w * s + a[10] + u[0],
        zd,
        w * w * (a[0] + a[1] * th - np.sqrt(a[2] + a[3] * th)) + a[4] * zd + a[5] * zd * np.abs(zd) + a[6],
        thd,
        a[12] * th + a[13] * w * w * s + a[14] * thd + a[11] + u[1],
    ])


def numpy_rk4_step(x, u, a, dt=0.01, substeps=5):
    """One control period: RK4 sub-steps plus the end-stop projection, in numpy."""
    h = dt / substeps
    for _ in range(substeps):
        k1 = numpy_rhs(x, u, a)
        k2 = numpy_rhs(x + 0.5 * h * k1, u, a)
        k3 = numpy_rhs(x + 0.5 * h * k2, u, a)
        k4 = numpy_rhs(x + h * k3, u, a)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if x[1] <= 0.0 or x[1] >= 2.0:
            x[1] = min(max(x[1], 0.0), 2.0)
            x[2] = 0.0
        x[3] = min(max(x[3], 0.0175), 0.245)
    return x


def rate(fn, n):
    fn(min(n, 1000))                  # warm-up (compiled kernels loaded, caches hot)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        fn(n)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per timing run")
    parser.add_argument("--batch", type=int, default=1024, help="N plants in the batched step")
    args = parser.parse_args(argv)

    env = gym.make(plants.HELICOPTER_ID)
    env.reset(seed=0)
    action = env.unwrapped.trim_action

    def run_env(n, env=env):
        step = env.step
        reset = env.reset
        for _ in range(n):
            _, _, terminated, truncated, _ = step(action)
            if terminated or truncated:
                reset()

    raw = gym.make(plants.HELICOPTER_ID).unwrapped
    raw.reset(seed=0)

    def run_raw(n, env=raw):
        step = env.step
        for _ in range(n):
            step(action)

    a = HelicopterParams().to_vector()[:15].copy()
    x0 = trim(140.0).x

    def run_numpy(n):
        x = x0.copy()
        for _ in range(n):
            x = numpy_rk4_step(x, action, a)

    n = args.batch
    rng = np.random.default_rng(0)
    X = np.tile(x0, (n, 1)) + rng.normal(0.0, 1e-3, (n, 5))
    U = np.tile(action, (n, 1))
    out = np.empty_like(X)
    accel = np.zeros(n)

    def run_batch(k):
        for _ in range(k):
            step_batch(X, U, None, 0.01, 5, accel=accel, out=out)

    venv = gym.make_vec(plants.HELICOPTER_ID, num_envs=n)
    venv.reset(seed=0)

    def run_vec(k):
        for _ in range(k):
            venv.step(U)

    r_make = rate(run_env, args.steps)
    r_raw = rate(run_raw, args.steps)
    r_np = rate(run_numpy, max(1000, args.steps // 50))
    r_batch = rate(run_batch, 200) * n
    r_vec = rate(run_vec, 200) * n

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"helicopter plant benchmark (dt = 10 ms, 5 RK4 sub-steps of 2 ms; wall clock, best of 3; "
          f"load average {load:.2f} on {os.cpu_count()} cores)")
    print(f"  env step via gymnasium.make : {r_make:12,.0f} steps/s  ({1e6 / r_make:6.2f} us/step)   target >= 50,000")
    print(f"  env step, unwrapped         : {r_raw:12,.0f} steps/s  ({1e6 / r_raw:6.2f} us/step)")
    print(f"  plain-numpy RK4 step        : {r_np:12,.0f} steps/s  ({1e6 / r_np:6.2f} us/step)")
    print(f"  ratio make-env / numpy      : {r_make / r_np:12.1f} x                              target >= 6x")
    print(f"  {'batched step, N=' + str(n):28s}: {r_batch:12,.0f} plant-steps/s ({1e9 / r_batch:6.1f} ns/plant-step)"
          f"   target >= 2,000,000")
    print(f"  {'gymnasium.make_vec, N=' + str(n):28s}: {r_vec:12,.0f} plant-steps/s ({1e9 / r_vec:6.1f} ns/plant-step)")


if __name__ == "__main__":
    main()
