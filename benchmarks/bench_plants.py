"""One comparison per plant: the generic controller kinds on each plant's shipped scenario (printed, and recorded).

Run:  python benchmarks/bench_plants.py [--seeds 20] [--first-seed 0] [--workers 1] [--plants quadtank_pminus,...]
      [--kinds neural,lqr_i,...] [--variant nominal|change|noise] [--record NAME] [--no-record]

For each plant's shipped scenario (helicopter hover, quadruple tank at P- and
P+, planar VTOL steps, Van de Vusse CSTR set-point change, twin-rotor pitch and yaw
steps) it runs the
controller kinds available for any plant through
:func:`neurocontrol.experiments.sweeps.compare` on the same seeds: the
adaptive two-network controller (``adaptive``), the neural predictive
controller (``neural``), LQR with integral action (``lqr_i``), the
automatically tuned PID (``pid_auto``, its loops designed on the model) and the model-reference adaptive
augmentation of LQR-I (``mrac``); where the plant's source publishes a
decentralised PI (:data:`PUBLISHED_PI`: the quadruple tank at P-), that PI
too (``pid_published``, kind ``pid_gains``; no row on the other plants).
Not in the default ``--kinds``: ``neural_no_model``, the neural kind with
``plant_model = false``: it reads nothing from the env's python-control model
(no automatic LQR-I warm-up designed on it, no ``long_run_signals``, and an
``identified_warmup`` where a controlled output's rate is measured), as for
an env that has none: what a user's plant without a model gets; and
``neural_identified``, the neural kind with ``plant_model = "identified"``:
no model read either, a linear model fitted to an open-loop identification
experiment flown on the env before the run in its place; and
``pid_auto_identified``, the PID designed on that experiment's model; and
``lqr_i_observer``, LQR-I with ``observer = "always"`` (its Kalman filter on
every measurement, not only where states are unmeasured) and
``measurement_noise`` at the ``noise`` variant's 1 %, over the file's own
``lqr_i`` keys: the model-based baseline told the sensors' noise; and
``neural_filtered``, ``pid_auto_filtered``: the neural kind and the PID behind
the env model's Kalman filter (``kind = "filtered"``), told the same noise;
``neural_filtered_estimate``, ``pid_auto_filtered_estimate``: the same with
the noise estimated from each run's first 50 measurements.
A scenario's own kind keeps the settings
of its file; the others run with their defaults, the adaptive controller
given only the env's declared observation ranges, and ``mrac`` keeps the
file's ``lqr_i`` keys when there are some (it augments that baseline; its
own keys keep their defaults); ``pid_auto`` is designed at the file's
``design_setpoint`` when it gives one (the CSTR's: where the file's LQR-I is
linearised; its other keys keep their defaults). A kind that refuses the
plant when it is built is recorded with the error's class and message and
counts as failing every seed; a run that stops early (status "failed") is
not a success. Columns: success count, runs that stopped early (and, in the
record, the seeds that missed), median IAE
per output over the runs that completed, median control step in
microseconds. L1 adaptive control is not built.

``--variant`` perturbs every plant the same way for all kinds, unknown to the
controllers (their settings are those of the nominal task):

- ``nominal`` (default): the shipped scenarios as they are.
- ``change``: a ``parameter_change`` event at a third of the run multiplies
  the plant's input gain or mass by 1.3 (:data:`CHANGE_FACTORS`: the pump
  gains k1, k2 of the quadruple tank; the mass m of the planar VTOL; the
  jacket coolant mass m_K of the CSTR, whose inverse is the gain of the
  jacket heat input Q_K; the twin-rotor system's motor gains k1, k2; the helicopter's rotor-thrust term, whose
  coefficients a1, a2 scale by 1.3 and a3, a4 under the square root by
  1.3**2, so the thrust per omega**2 at every collective is 1.3 times the
  nominal one: its inputs enter with unit gain, so the rotor's lift is the
  closest to an actuator gain). Adds the median IAE per output over the time
  from the change to the end (runs that completed).
- ``noise``: Gaussian sensor noise on every observation with a standard
  deviation of 1 % of that observation's declared range (the env's
  observation-space bounds, all finite for these plants): the ``[plant]``
  key ``output_noise_std`` or, for the helicopter, ``[plant.disturbances]
  sensor_noise_std``. Success is judged as the scenario does, on the
  measured (noisy) outputs, and again on the true outputs (the env's
  noiseless observation, the run's ``metrics["noiseless"]``): with a noise
  standard deviation near the tolerance no controller passes the first.
  "Perfect tracking" counts the runs whose sensor noise alone stays within
  the tolerance over the final window: true outputs exactly on the
  reference would pass on the measured ones in those runs only.

Writes ``benchmarks/records/plants.json`` (``plants_change.json``,
``plants_noise.json`` for the variants; ``--record`` names another file, e.g.
the 100-seed runs of issue #15's targets, ``plants_100.json`` and its
variants); ``docs/make_tables.py`` makes the README's per-plant tables from
them.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neurocontrol.experiments.sweeps import compare
from neurocontrol.registry import kind_of
from neurocontrol.results import Result
from neurocontrol.scenario import Scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import write_record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent / "scenarios"

#: plant label -> its shipped scenario (file stem)
PLANTS = {
    "helicopter": "helicopter_hover",
    "quadruple tank P-": "quadtank_pminus",
    "quadruple tank P+": "quadtank_pplus",
    "planar VTOL": "pvtol_steps",
    "Van de Vusse CSTR": "cstr_setpoint",
    "twin-rotor MIMO system": "twin_rotor_steps",
}
KINDS = ("adaptive", "neural", "lqr_i", "pid_auto", "mrac", "pid_published")
NOISE_FRACTION = 0.01      # sensor-noise std per observation, fraction of its declared range
#: pseudo-kinds (not in the default ``--kinds``) -> the ``[controller]`` table that flies them
PSEUDO_KINDS = {
    # the neural kind as an env without a python-control model makes it: nothing read from a linearisation
    "neural_no_model": {"kind": "neural", "plant_model": False},
    # the same env without a model, with the linear model of an identification experiment before the run in its place
    "neural_identified": {"kind": "neural", "plant_model": "identified"},
    # the generic PID designed on that experiment's model in place of the env's
    "pid_auto_identified": {"kind": "pid_auto", "plant_model": "identified"},
    # LQR-I with its Kalman filter on every measurement, told the noise variant's level (over the file's own
    # lqr_i settings where the file flies lqr_i)
    "lqr_i_observer": {"kind": "lqr_i", "observer": "always", "measurement_noise": NOISE_FRACTION},
    # the neural kind and the PID behind the env model's Kalman filter, told the noise variant's level
    "neural_filtered": {"kind": "filtered", "inner": {"kind": "neural"}, "measurement_noise": NOISE_FRACTION},
    "pid_auto_filtered": {"kind": "filtered", "inner": {"kind": "pid_auto"}, "measurement_noise": NOISE_FRACTION},
    # the same, the noise estimated from each run's first 50 measurements instead of told
    "neural_filtered_estimate": {"kind": "filtered", "inner": {"kind": "neural"}, "measurement_noise": "estimate"},
    "pid_auto_filtered_estimate": {"kind": "filtered", "inner": {"kind": "pid_auto"}, "measurement_noise": "estimate"},
}
#: scenario stem -> the ``[controller]`` table of the decentralised PI its plant's source publishes
PUBLISHED_PI = {
    # Johansson (2000), IEEE TCST 8(3), decentralised control at P-: (K, Ti s) per loop, pump i -> level y_i
    "quadtank_pminus": {"kind": "pid_gains", "gains": [[3.0, 30.0], [2.7, 40.0]], "pairing": [0, 1]},
}
VARIANTS = ("nominal", "change", "noise")
#: plant kind -> the parameter_change factors of the ``change`` variant (see the module)
CHANGE_FACTORS = {
    "helicopter": {"a1": 1.3, "a2": 1.3, "a3": 1.69, "a4": 1.69},
    "quadtank": {"k1": 1.3, "k2": 1.3},
    "pvtol": {"m": 1.3},
    "cstr": {"m_K": 1.3},
    "twin_rotor": {"k1": 1.3, "k2": 1.3},
}
CHANGE_AT = 1.0 / 3.0      # fraction of the run's duration


def _cause(exc: BaseException) -> str:
    """The error's class, and the class of the error it wraps (a scenario error names the builder's error)."""
    inner = exc.__cause__ or exc.__context__
    return type(exc).__name__ + (f" ({type(inner).__name__})" if inner is not None else "")


def noise_std(sc: Scenario) -> list:
    """1 % of each observation's declared range (the env's observation-space bounds, which must be finite)."""
    space = sc.build(0).env.observation_space
    span = np.asarray(space.high, float) - np.asarray(space.low, float)
    if not np.all(np.isfinite(span)):
        raise ValueError(f"{sc.name}: an observation range is not finite ({span.tolist()}); give one.")
    return [float(NOISE_FRACTION * v) for v in span]


def perturb(sc: Scenario, which: str) -> tuple[Scenario, dict]:
    """``sc`` under the variant ``which`` (see the module) and a description of the perturbation."""
    if which == "nominal":
        return sc, {}
    data = sc.to_dict()
    plant = data["plant"]["kind"]
    if which == "change":
        at = round(CHANGE_AT * sc.run.duration, 6)
        event = {"kind": "parameter_change", "time": at, "factors": CHANGE_FACTORS[plant]}
        data["events"] = [*data.get("events", []), event]
        info = {"time": at, "factors": CHANGE_FACTORS[plant]}
    else:
        std = noise_std(sc)
        if plant == "helicopter":
            data["plant"]["disturbances"]["sensor_noise_std"] = std
        else:
            data["plant"]["output_noise_std"] = std[0] if len(set(std)) == 1 else std
        info = {"sensor_noise_std": std}
    return Scenario.from_dict(data, source=f"{sc.name}:{which}", default_name=sc.name), info


def variant(sc: Scenario, kind: str) -> Scenario:
    """``sc`` flown by ``kind``: its own settings if it is the file's kind, else the defaults (see the module)."""
    if kind_of(type(sc.controller)) == kind:
        return sc
    data = sc.to_dict()
    table = dict(PUBLISHED_PI[sc.name]) if kind == "pid_published" else dict(PSEUDO_KINDS.get(kind, {"kind": kind}))
    if kind == "lqr_i_observer" and data["controller"]["kind"] == "lqr_i":
        table = {**data["controller"], **table}       # the file's baseline, with its observer on every measurement
    if kind == "mrac" and kind_of(type(sc.controller)) == "lqr_i":
        table = {**data["controller"], "kind": kind}       # the same baseline, augmented
    if kind == "pid_auto" and data["controller"].get("design_setpoint") is not None:
        table["design_setpoint"] = data["controller"]["design_setpoint"]     # linearised where the file's baseline is
    if table["kind"] == "filtered" and data["controller"].get("design_setpoint") is not None:
        table["design_setpoint"] = data["controller"]["design_setpoint"]     # the filter's model too
        if table["inner"]["kind"] == "pid_auto":
            table["inner"] = {**table["inner"], "design_setpoint": data["controller"]["design_setpoint"]}
    if kind == "adaptive":
        space = sc.build(0).env.observation_space
        table.update(observation_low=[float(v) for v in space.low], observation_high=[float(v) for v in space.high])
    data["controller"] = table
    return Scenario.from_dict(data, source=f"{sc.name}:{kind}", default_name=sc.name)


def _median(values):
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(vals)) if vals else None


def iae_after(res: Result, t0: float) -> dict:
    """IAE per output over ``time >= t0`` (trapezoid rule, as the run's own IAE)."""
    t = np.asarray(res.time)
    sel = t >= t0
    a = np.abs(np.asarray(res.outputs) - np.asarray(res.references))[sel]
    ts = t[sel]
    return {o: float(np.sum(0.5 * (a[1:, i] + a[:-1, i]) * np.diff(ts))) for i, o in enumerate(res.output_names)}


def _true_outputs(sw, done: list, outputs: list) -> dict:
    """Success and median IAE judged on the noiseless outputs (the run's ``metrics["noiseless"]``), and more.

    ``perfect_tracking`` counts the runs whose sensor noise alone stays within the tolerance over the final
    window (a stopped run's last window): in effect the most runs that could succeed on the measured outputs.
    """
    return {"success_true": int(sum(bool(m.get("noiseless", {}).get("success")) and st == "completed"
                                    for m, st in zip(sw.metrics, sw.statuses))),
            "perfect_tracking": int(sum(bool(m.get("noiseless", {}).get("perfect_tracking_success"))
                                        for m in sw.metrics)),
            "iae_true_median": {o: _median([m["noiseless"]["outputs"][o]["iae"] for m in done if "noiseless" in m])
                                for o in outputs}}


def measure(name: str, kind: str, seeds, workers: int, which: str = "nominal") -> dict:
    """Run one scenario (perturbed as ``which`` says) with one controller kind on ``seeds``; return the row."""
    sc, info = perturb(Scenario.from_toml(ROOT / f"{name}.toml"), which)
    n = len(seeds)
    after: dict = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = tmp if which == "change" else None      # the change variant reads the time series back
            ckind = "pid_gains" if kind == "pid_published" else PSEUDO_KINDS.get(kind, {"kind": kind})["kind"]
            sw = compare(variant(sc, kind), [ckind], seeds, workers=workers, out=out).sweeps[ckind]
            for s, st in zip(seeds, sw.statuses):
                if out is not None and st == "completed":
                    for o, v in iae_after(Result.load(Path(tmp) / ckind / f"seed_{s}"), info["time"]).items():
                        after.setdefault(o, []).append(v)
    except Exception as exc:  # noqa: BLE001  (a kind that refuses the plant is a row of failures, with the reason)
        return {"n": n, "success": 0, "stopped": n, "missed": [int(s) for s in seeds], "iae_median": {},
                "step_us_median": None,
                **({"iae_after_change_median": {}} if which == "change" else {}),
                **({"success_true": 0, "perfect_tracking": None, "iae_true_median": {}} if which == "noise" else {}),
                "error": f"{_cause(exc)}: {str(exc).splitlines()[0]}"}
    done = [m for m, st in zip(sw.metrics, sw.statuses) if st == "completed"]
    outputs = list((sw.metrics[0].get("outputs") or {}))
    reasons: dict = {}
    for r, st in zip(sw.stop_reasons, sw.statuses):
        if st != "completed" and r:
            why = re.sub(r" at t=\S+ s", "", r).split(" (")[0]      # the same reason at other times and values
            reasons[why] = reasons.get(why, 0) + 1
    good = [bool(m.get("success")) and st == "completed" for m, st in zip(sw.metrics, sw.statuses)]
    return {"n": n, "success": int(sum(good)),
            "stopped": int(sum(st != "completed" for st in sw.statuses)),
            "missed": [int(s) for s, g in zip(seeds, good) if not g],
            "iae_median": {o: _median([m["outputs"][o]["iae"] for m in done]) for o in outputs},
            "step_us_median": _median([m.get("control_step_us") for m in sw.metrics]),
            "nonfinite_actions": int(sum(m.get("nonfinite_actions", 0) for m in sw.metrics)),
            **({"iae_after_change_median": {o: _median(after.get(o, [])) for o in outputs}}
               if which == "change" else {}),
            **(_true_outputs(sw, done, outputs) if which == "noise" else {}),
            "error": "; ".join(f"{why} ({k} runs)" for why, k in reasons.items()) or None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="number of seeds (default 20)")
    ap.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0): seeds first..first+N-1")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--plants", default=",".join(PLANTS.values()), help="scenario stems, comma-separated")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--variant", choices=VARIANTS, default="nominal",
                    help="nominal task, +30 %% gain/mass change at a third of the run, or 1 %% sensor noise")
    ap.add_argument("--record", default=None,
                    help="record name (default plants, plants_change, plants_noise by the variant)")
    ap.add_argument("--no-record", action="store_true", help="do not write the record (benchmarks/records/)")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.first_seed < 0:
        ap.error(f"--seeds must be at least 1 and --first-seed at least 0, got {args.seeds} and {args.first_seed}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    named = f"seeds {seeds[0]}-{seeds[-1]}"
    names = args.plants.split(",")
    labels = {v: k for k, v in PLANTS.items()}
    t0 = time.perf_counter()
    fig = {}
    for name in names:
        rows = {}
        print(f"{labels.get(name, name)} ({name}.toml, {args.variant}), {named}")
        for kind in args.kinds.split(","):
            if kind == "pid_published" and name not in PUBLISHED_PI:
                continue
            t = time.perf_counter()
            rows[kind] = r = measure(name, kind, seeds, args.workers, args.variant)
            iae = "  ".join(f"{o} {v:.4g}" if v is not None else f"{o} -"
                            for o, v in r.get("iae_after_change_median", r["iae_median"]).items())
            if "success_true" in r:
                iae = f"(perfect tracking {r['perfect_tracking'] if r['perfect_tracking'] is not None else '-'}; " \
                      f"true outputs: success {r['success_true']}, IAE " + "  ".join(
                    f"{o} {v:.4g}" if v is not None else f"{o} -" for o, v in r["iae_true_median"].items()) + ")"
            step = f"{r['step_us_median']:.1f} us" if r["step_us_median"] is not None else "-"
            missed = f"  missed seeds {', '.join(map(str, r['missed']))}" if 0 < len(r["missed"]) <= 10 else ""
            print(f"  {kind:<13} success {r['success']:>3}/{r['n']:<3} stopped {r['stopped']:>3}  IAE {iae or '-'}  "
                  f"step {step}  ({time.perf_counter() - t:.0f} s){'  ' + r['error'] if r['error'] else ''}{missed}",
                  flush=True)
        fig[name] = {"plant": labels.get(name, name), "rows": rows,
                     **({"perturbation": perturb(Scenario.from_toml(ROOT / f"{name}.toml"), args.variant)[1]}
                        if args.variant != "nominal" else {})}
    wall = time.perf_counter() - t0
    print(f"wall time {wall:.0f} s")
    if not args.no_record:
        command = f"python benchmarks/bench_plants.py --seeds {args.seeds} --workers {args.workers}"
        if args.first_seed:
            command += f" --first-seed {args.first_seed}"
        if args.plants != ",".join(PLANTS.values()):
            command += f" --plants {args.plants}"
        if args.kinds != ",".join(KINDS):
            command += f" --kinds {args.kinds}"
        record = "plants"
        if args.variant != "nominal":
            command += f" --variant {args.variant}"
            record += f"_{args.variant}"
        if args.record is not None:
            command += f" --record {args.record}"
            record = args.record
        write_record(record, command=command, wall_s=wall, figures=fig, seeds=args.seeds,
                     first_seed=args.first_seed, scenarios=names)
    return fig


if __name__ == "__main__":
    main()
