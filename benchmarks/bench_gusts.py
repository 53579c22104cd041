"""Random vertical gusts on the helicopter hover: the neural controller against LQR and PID (printed, recorded).

Run:  python benchmarks/bench_gusts.py [--seeds 100] [--duration 120] [--workers 2] [--rows neural,lqr,pid]
      [--set KEY=VALUE ...] [--record NAME | --no-record]

The hover task of the ablation (``scenarios/neural_hover.toml`` for the neural
row, the LQR and PID baselines on the same plant, seeds and start) with the
helicopter env's random vertical gusts: a Poisson rate of 0.1 per s, each gust
0.5 s of a vertical acceleration drawn from a normal distribution with a
standard deviation of 2 m/s^2 (``[plant.disturbances] gust_rate``,
``gust_amplitude``). Two variants: gusts alone, and gusts with sensor noise at
the ``sensor_noise.toml`` levels. Per row and variant: runs completed (the env
stops a run that leaves the plant's operating range), success on the hover's
bands (on the true outputs under noise), and, after the first 5 s, the largest
altitude error per seed (its median and the worst) and the runs whose largest
altitude error exceeds 0.2 m ("excursions": ten times the success band).

``--set KEY=VALUE`` overrides a key of the neural row's ``[controller]``
table (a TOML value, e.g. ``--set process_noise=1e-6``); use it with
``--record NAME`` or ``--no-record``, so the default record keeps the shipped
settings. Writes ``benchmarks/records/gusts.json`` by default.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ablation as ba  # noqa: E402
from _record import json_safe, write_record  # noqa: E402

#: the sensor_noise scenario's levels, per observation (rotor speed, altitude, climb rate, collective, its rate)
NOISE = [0.2, 0.002, 0.01, 0.0002, 0.005]
GUSTS = {"gust_rate": 0.1, "gust_amplitude": 2.0}
VARIANTS = {"gusts": False, "gusts_noise": True}
ROWS = ("neural", "lqr", "pid")
EXCURSION_M = 0.2
SETTLE_S = 5.0


def scenario(row: str, noise: bool, duration: float, overrides: dict):
    """The hover task flown by ``row`` with random gusts (and sensor noise), ``duration`` s."""
    sc = ba.scenario_for("hover", row, ba.controller_tables())
    if row == "neural" and overrides:
        data = sc.to_dict()
        data["controller"] = {**data["controller"], **overrides}
        sc = ba.Scenario.from_dict(data, source="bench_gusts", default_name="hover_gusts")
    sc = sc.set("run.duration", duration)
    for key, value in GUSTS.items():
        sc = sc.set(f"plant.disturbances.{key}", value)
    if noise:
        sc = sc.set("plant.disturbances.sensor_noise_std", NOISE)
    return sc


def run_job(job):
    """One run: (variant, row, seed, duration, overrides) -> figures."""
    variant, row, seed, duration, overrides = job
    res = ba.fly(scenario(row, VARIANTS[variant], duration, overrides), seed)
    t = np.asarray(res.time)
    alt = list(res.output_names).index("altitude")
    err = np.abs(np.asarray(res.outputs)[:, alt] - np.asarray(res.references)[:, alt])
    late = err[t > SETTLE_S]
    m = res.metrics
    success = m.get("noiseless", m).get("success", m.get("success"))
    return {"completed": res.status == "completed", "success": bool(success),
            "max_altitude_error_m": float(np.max(late)) if late.size else None,
            "end_s": float(t[-1]), "saturated_fraction": float(np.mean(np.any(np.asarray(res.saturated), axis=-1)))
            if np.size(res.saturated) else 0.0}


def parse_overrides(items) -> dict:
    """``["key=value", ...]`` (TOML values) -> dict; a clear error on a malformed item."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set expects KEY=VALUE (a TOML value), got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise SystemExit(f"--set {item!r}: the value is not a TOML value ({exc})") from None
    return out


def summarise(runs) -> dict:
    """Aggregate the per-seed figures of one row and variant."""
    worst = [r["max_altitude_error_m"] for r in runs if r["max_altitude_error_m"] is not None]
    return {"runs": len(runs), "completed": sum(r["completed"] for r in runs),
            "success": sum(r["success"] for r in runs),
            "excursions": sum(1 for r in runs if not r["completed"]
                              or (r["max_altitude_error_m"] or 0.0) > EXCURSION_M),
            "max_altitude_error_median_m": float(np.median(worst)) if worst else None,
            "max_altitude_error_worst_m": float(np.max(worst)) if worst else None,
            "per_seed": runs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    ap.add_argument("--duration", type=float, default=120.0, help="s per run (default 120)")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {', '.join(ROWS)}")
    ap.add_argument("--set", action="append", dest="overrides", metavar="KEY=VALUE",
                    help="override a key of the neural row's [controller] table (repeatable)")
    ap.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    ap.add_argument("--record", default="gusts", help="record name under benchmarks/records (default gusts)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    bad = [r for r in rows if r not in ROWS]
    if bad:
        ap.error(f"unknown row {bad[0]!r}; rows: {', '.join(ROWS)}")
    if args.seeds < 1 or not args.duration > SETTLE_S:
        ap.error(f"--seeds must be >= 1 and --duration > {SETTLE_S} s")
    overrides = parse_overrides(args.overrides)
    if overrides and args.record == "gusts" and not args.no_record:
        ap.error("--set changes the neural row: give --record NAME (another record) or --no-record")
    seeds = list(range(args.seeds))
    jobs = [(v, r, s, args.duration, overrides) for v in VARIANTS for r in rows for s in seeds]
    t_start = time.time()
    if args.workers > 1:
        ctx = multiprocessing.get_context("forkserver")
        with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
            results = list(pool.map(run_job, jobs, chunksize=2))
    else:
        results = [run_job(j) for j in jobs]
    by_job = dict(zip([(v, r, s) for v, r, s, _, _ in jobs], results))
    out = {}
    for v in VARIANTS:
        out[v] = {}
        for r in rows:
            agg = summarise([by_job[(v, r, s)] for s in seeds])
            out[v][r] = agg
            print(f"{v:12s} {r:7s} completed {agg['completed']:3d}/{agg['runs']}  success {agg['success']:3d}  "
                  f"excursions > {EXCURSION_M} m {agg['excursions']:3d}  largest altitude error after "
                  f"{SETTLE_S:.0f} s: median {agg['max_altitude_error_median_m']:.3f} m, worst "
                  f"{agg['max_altitude_error_worst_m']:.3f} m", flush=True)
    elapsed = time.time() - t_start
    print(f"wall time {elapsed:.0f} s")
    if args.no_record:
        return out
    write_record(args.record, command="python benchmarks/bench_gusts.py " + " ".join(
                     argv if argv is not None else sys.argv[1:]),
                 scenarios=["helicopter_hover", "neural_hover"],
                 figures=json_safe({"results": out, "gusts": GUSTS, "noise": NOISE, "duration_s": args.duration,
                                    "overrides": overrides, "excursion_m": EXCURSION_M}),
                 wall_s=elapsed, seeds=seeds)
    return out


if __name__ == "__main__":
    main()
