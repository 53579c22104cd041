"""Soak test: one adaptive-controller run of 1,000,000 control steps (2.8 h of flight at dt = 0.01 s).

The loop calls ``controller.step`` and ``env.step`` directly (no :func:`simulate`,
which records every step's arrays), keeping only running figures: non-finite
actions, limit violations, the largest error over each set-point segment, and
the resident set size (RSS) at the start and the end. The altitude set-point
cycles 1.0 -> 1.3 -> 0.8 -> 1.0 m, 30 s each (phased so that the run ends in
the last 1.0 m segment), rotor speed 140 rad/s; the last segment is checked against the
hover success band (1.4 rad/s, 0.02 m) over its last 5 s.

    python benchmarks/bench_soak.py                 # 1,000,000 steps (~2-4 min)
    python benchmarks/bench_soak.py --steps 100000
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (1.0, 1.3, 0.8, 1.0)
SEGMENT_S = 30.0


def rss_mb() -> float:
    """Current resident set size of this process, MB (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return math.nan


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import write_record  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guarded", action="store_true", help="soak the guarded controller (LQR fallback) instead")
    args = ap.parse_args(argv)
    from neurocontrol.scenario import Scenario
    from neurocontrol.simulation.loop import seed_streams

    name = "guarded_actuator_loss" if args.guarded else "helicopter_hover"
    sc = Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml")
    sc = sc.set("run.duration", str(args.steps * 0.01 + 1.0))
    setup = sc.build(args.seed)
    env, ctrl = setup.env, setup.controller
    streams = seed_streams(setup.seed)
    low, high = env.action_space.low, env.action_space.high
    dt = env.unwrapped.dt
    seg_steps = int(round(SEGMENT_S / dt))
    cycle = len(LEVELS) * seg_steps
    n = args.steps
    offset = (cycle - n % cycle) % cycle       # shift the cycle so that the run ends in its last (1.0 m) segment
    r = np.array([140.0, LEVELS[(offset // seg_steps) % len(LEVELS)]])
    obs, info = env.reset(seed=streams.plant, options=setup.options)
    ctrl.reset(obs, r, seed=streams.controller)
    rss_before = rss_mb()
    rss0 = math.nan
    nonfinite = violations = 0
    worst_last = np.zeros(2)        # largest |error| over the last 5 s of the final segment
    seg_max = np.zeros(2)
    t0 = time.perf_counter()
    final_window = int(round(5.0 / dt))
    for k in range(n):
        r[1] = LEVELS[((k + offset) // seg_steps) % len(LEVELS)]
        u = ctrl.step(obs, r)
        if not np.all(np.isfinite(u)):
            nonfinite += 1
            break
        if np.any(u < low) or np.any(u > high):
            violations += 1
        obs, reward, terminated, truncated, info = env.step(u)
        if terminated:
            print(f"terminated at step {k + 1}: {info['state']}")
            break
        e = np.abs(info["state"][:2] - r)
        np.maximum(seg_max, e, out=seg_max)
        if k >= n - final_window:
            np.maximum(worst_last, e, out=worst_last)
        if k + 1 == 1000:
            rss0 = rss_mb()           # after the first calls have compiled and cached
        if (k + 1) % 100_000 == 0:
            print(f"step {k + 1:>9,}  t = {(k + 1) * dt / 3600:.2f} h  RSS {rss_mb():.1f} MB  "
                  f"max |e| since last print: rotor {seg_max[0]:.3g} rad/s, altitude {seg_max[1]:.3g} m  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            seg_max[:] = 0.0
    wall = time.perf_counter() - t0
    rss1 = rss_mb()
    in_band = bool(worst_last[0] <= 1.4 and worst_last[1] <= 0.02)
    print(f"\n{name}: {k + 1:,} control steps ({(k + 1) * dt / 3600:.2f} h simulated) in {wall:.0f} s "
          f"({wall / (k + 1) * 1e6:.1f} us/step)")
    print(f"non-finite actions {nonfinite}, limit violations {violations}")
    print(f"RSS before the loop {rss_before:.1f} MB, after 1,000 steps {rss0:.1f} MB, end {rss1:.1f} MB, "
          f"growth {rss1 - rss0:+.1f} MB")
    print(f"final 5 s at 140 rad/s, 1.0 m: max |error| rotor {worst_last[0]:.3g} rad/s, altitude {worst_last[1]:.3g} m "
          f"-> {'in band' if in_band else 'NOT in band'}")
    if hasattr(ctrl, "switches"):
        print(f"guard switches: {len(ctrl.switches)}")
    write_record("soak_guarded" if args.guarded else "soak",
                 command=f"python benchmarks/bench_soak.py --steps {n}" + (" --guarded" if args.guarded else ""),
                 scenarios=[name], wall_s=wall, seed=args.seed,
                 figures={"steps_requested": n, "steps_run": k + 1, "flight_h": (k + 1) * dt / 3600,
                          "us_per_step": wall / (k + 1) * 1e6, "nonfinite_actions": nonfinite,
                          "limit_violations": violations, "rss_after_1000_steps_mb": rss0, "rss_end_mb": rss1,
                          "final_max_error": [float(worst_last[0]), float(worst_last[1])], "in_band": in_band})
    ok = nonfinite == 0 and violations == 0 and in_band and k + 1 == n and (rss1 - rss0) <= 5.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
