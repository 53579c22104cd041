"""The guard around the neural controller under sensor noise: runs kept, true-output success, the fallback's share.

Run:  python benchmarks/bench_guard.py [--seeds 20] [--workers 2] [--plants helicopter_hover,...]
      [--margin 0.1] [--max-recoveries 10] [--record NAME | --no-record]

Each plant's shipped task under the ``noise`` variant of
``benchmarks/bench_plants.py`` (Gaussian sensor noise of 1 % of each
observation's declared range, unknown to the controllers) is flown by

- ``neural``: the neural controller with its defaults (as ``bench_plants.py``);
- ``guarded``: the same controller inside
  :class:`~neurocontrol.controllers.guard.GuardedController` with the generic
  LQR-I (kind ``lqr_i``) as its fallback, the guard's default thresholds, and
  an envelope: the range in which the plant keeps running
  (:data:`ENVELOPES`, from each env's "Episode End"), shrunk by ``--margin``
  of its width at each end, on the controlled outputs and, where the env ends
  an episode on another measured signal (the PVTOL's angle), on that one too
  (``envelope_signals``).

Printed and recorded per plant and kind: runs stopped by the env, success
judged on the measured and on the true (noiseless) outputs, and for the guard
the median share of the run the fallback flew and the median number of trips to it.
The fallback's own runs under the same noise are in ``bench_plants.py
--variant noise`` (kind ``lqr_i``). Writes
``benchmarks/records/guard_noise.json`` (``--record`` names another file).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import write_record  # noqa: E402
from bench_plants import ROOT, perturb, variant  # noqa: E402

#: scenario -> (watched observation entries, low, high) inside which the env keeps running (its "Episode End")
ENVELOPES = {
    "helicopter_hover": ((0, 1), (74.25, 0.0), (180.0, 2.0)),      # rotor speed range (terminates); altitude
    "quadtank_pminus": ((0, 1), (0.0, 0.0), (10.0, 10.0)),         # the lower levels' declared range (V)
    "quadtank_pplus": ((0, 1), (0.0, 0.0), (10.0, 10.0)),
    "pvtol_steps": ((0, 1, 2), (-10.0, -10.0, -math.pi / 2), (10.0, 10.0, math.pi / 2)),   # x, y (m), theta (rad)
    "cstr_setpoint": ((0, 1), (0.0, 20.0), (5.1, 200.0)),          # c_B (mol/l, its declared range), T (degC)
    "twin_rotor_steps": ((0, 1), (-math.pi / 2, -math.pi), (math.pi / 2, math.pi)),   # pitch, yaw (rad)
}
DEFAULT_PLANTS = ("helicopter_hover", "quadtank_pminus", "pvtol_steps", "twin_rotor_steps")
KINDS = ("neural", "guarded")


def scenario(name: str, kind: str, margin: float, max_recoveries: int):
    """The noisy task ``name`` flown by ``kind`` (see the module)."""
    from neurocontrol.scenario import Scenario

    sc, _ = perturb(Scenario.from_toml(ROOT / f"{name}.toml"), "noise")
    neural = variant(sc, "neural")
    if kind == "neural":
        return neural
    signals, lo, hi = ENVELOPES[name]
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    pad = margin * (hi - lo)
    data = neural.to_dict()
    data["controller"] = {"kind": "guarded", "inner": {"kind": "neural", **data["controller"]},
                          "fallback": {"kind": "lqr_i"}, "envelope_signals": list(signals),
                          "envelope_low": (lo + pad).tolist(), "envelope_high": (hi - pad).tolist(),
                          "max_recoveries": max_recoveries}
    return Scenario.from_dict(data, source=f"{name}:noise:guarded", default_name=name)


def run_one(job):
    """One run: ``job = (name, kind, seed, margin, max_recoveries)``; returns its figures."""
    from neurocontrol.scenario import run_scenario

    name, kind, seed, margin, max_recoveries = job
    res = run_scenario(scenario(name, kind, margin, max_recoveries), seed=seed)
    m, stop = res.metrics, res.meta.get("stop_reason")
    done = stop is None
    fractions = res.meta.get("mode_fractions", {})
    return {"plant": name, "kind": kind, "seed": seed, "stopped": not done,
            "success": bool(done and m.get("success")),
            "success_true": bool(done and m.get("noiseless", {}).get("success")),
            "fallback_share": float(fractions.get("fallback", 0.0)),
            "trips": sum(seg["mode"] == "fallback" for seg in res.meta.get("modes", [])),
            "nonfinite_actions": int(m.get("nonfinite_actions", 0))}


def summarise(rows) -> dict:
    """Per plant and kind: counts and medians over the runs (see the module)."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["plant"], {}).setdefault(r["kind"], []).append(r)
    figures = {}
    for plant, kinds in out.items():
        figures[plant] = {}
        for kind, rs in kinds.items():
            figures[plant][kind] = {
                "n": len(rs), "stopped": sum(r["stopped"] for r in rs), "success": sum(r["success"] for r in rs),
                "success_true": sum(r["success_true"] for r in rs),
                "fallback_share_median": float(np.median([r["fallback_share"] for r in rs])),
                "trips_median": float(np.median([r["trips"] for r in rs])),
                "nonfinite_actions": sum(r["nonfinite_actions"] for r in rs),
                "stopped_seeds": [r["seed"] for r in rs if r["stopped"]]}
    return figures


class _Serial:
    """A stand-in for the process pool with one worker: runs the jobs in this process, in order."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, jobs, chunksize=1):
        return map(fn, jobs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--plants", default=",".join(DEFAULT_PLANTS),
                    help=f"comma-separated scenario names, from {', '.join(ENVELOPES)}")
    ap.add_argument("--margin", type=float, default=0.1, help="envelope: the plant's range less this fraction "
                                                             "of its width at each end (default 0.1)")
    ap.add_argument("--max-recoveries", type=int, default=10, help="the guard's max_recoveries (default 10)")
    ap.add_argument("--record", default="guard_noise", help="record name (default guard_noise)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    plants = [p.strip() for p in args.plants.split(",") if p.strip()]
    unknown = [p for p in plants if p not in ENVELOPES]
    if unknown:
        ap.error(f"unknown plant scenario(s) {unknown}; choose from {', '.join(ENVELOPES)}")
    if args.seeds < 1 or args.workers < 1 or not 0.0 <= args.margin < 0.5 or args.max_recoveries < 0:
        ap.error("--seeds and --workers must be >= 1, --margin in [0, 0.5), --max-recoveries >= 0")
    jobs = [(p, k, s, args.margin, args.max_recoveries) for p in plants for k in KINDS for s in range(args.seeds)]
    t0 = time.perf_counter()
    rows = []
    with concurrent.futures.ProcessPoolExecutor(args.workers) if args.workers > 1 else _Serial() as pool:
        for row in pool.map(run_one, jobs, chunksize=2):
            rows.append(row)
            if len(rows) % max(1, len(jobs) // 10) == 0 or len(rows) == len(jobs):      # progress, to stderr
                print(f"  {len(rows)}/{len(jobs)} runs, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    wall = time.perf_counter() - t0
    figures = summarise(rows)
    print(f"{len(rows)} runs in {wall:.0f} s; sensor noise 1 % of each declared range; envelope margin "
          f"{args.margin}, max_recoveries {args.max_recoveries}\n")
    print(f"{'plant':20s} {'kind':8s} {'stopped':>8s} {'success':>8s} {'true':>6s} {'fallback':>9s} {'trips':>6s}")
    for plant, kinds in figures.items():
        for kind, f in kinds.items():
            share = f"{100 * f['fallback_share_median']:.0f} %" if kind == "guarded" else "-"
            sw = f"{f['trips_median']:g}" if kind == "guarded" else "-"
            print(f"{plant:20s} {kind:8s} {f['stopped']:>5d}/{f['n']:<2d} {f['success']:>8d} {f['success_true']:>6d} "
                  f"{share:>9s} {sw:>6s}")
    if not args.no_record:
        cmd = "python benchmarks/bench_guard.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_record(args.record, command=cmd.strip(), scenarios=plants, wall_s=wall, seeds=args.seeds,
                     margin=args.margin, max_recoveries=args.max_recoveries, figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
