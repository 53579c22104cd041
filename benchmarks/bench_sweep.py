"""Sweep wall time: the 100-seed hover sweep (30 s each) with 1 and with 2 local workers.

Targets on the project machine (2 cores): 2 workers <= 30 s, speed-up vs
1 worker >= 1.7x. Run it when the machine is otherwise idle; it prints both
wall times, the speed-up, the per-run median and whether the two sweeps'
metrics agree (they must: same seeds, same results).

Run: ``python benchmarks/bench_sweep.py [--seeds 100] [--workers 2] [--skip-serial]``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from neurocontrol.scenario import Scenario
from neurocontrol.sweep import sweep

HOVER = Path(__file__).resolve().parents[1] / "scenarios" / "helicopter_hover.toml"


def _strip(metrics):
    return [{k: v for k, v in m.items() if k != "control_step_us"} for m in metrics]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-serial", action="store_true", help="only the parallel sweep")
    args = ap.parse_args(argv)
    sc = Scenario.from_toml(HOVER)
    seeds = range(args.seeds)
    print(f"hover sweep: {args.seeds} seeds x {sc.run.duration:.0f} s, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} before the run")
    sweep(sc.set("run.duration", "0.5"), range(2), workers=1)          # warm the numba cache in this process
    t0 = time.perf_counter()
    par = sweep(sc, seeds, workers=args.workers)
    t_par = time.perf_counter() - t0
    s = par.summary()
    print(f"{args.workers} workers: {t_par:.1f} s wall (target <= 30 s), success {100 * s['success_rate']:.0f} %, "
          f"median altitude IAE {s['outputs']['altitude']['iae']['median']:.4g} m s")
    if args.skip_serial:
        return {"parallel_s": t_par}
    t0 = time.perf_counter()
    ser = sweep(sc, seeds, workers=1)
    t_ser = time.perf_counter() - t0
    same = _strip(ser.metrics) == _strip(par.metrics)
    print(f"1 worker:  {t_ser:.1f} s wall ({t_ser / args.seeds:.3f} s per run)")
    print(f"speed-up {t_ser / t_par:.2f}x (target >= 1.7x); results identical: {same}")
    return {"parallel_s": t_par, "serial_s": t_ser, "speedup": t_ser / t_par, "identical": same}


if __name__ == "__main__":
    main()
