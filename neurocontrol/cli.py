"""The ``neurocontrol`` command line.

Each subcommand is a thin layer over a documented Python function:

==============  ===============================================  ==========================================
command         does                                              Python
==============  ===============================================  ==========================================
``run``         one scenario, one seed                            :func:`neurocontrol.scenario.run_scenario`
``sweep``       one scenario, many seeds (local processes)        :func:`neurocontrol.experiments.sweeps.sweep`
``tune``        Optuna over the scenario's ``[tune]`` table       :func:`neurocontrol.experiments.tuning.tune`
``compare``     controller kinds or settings on the same seeds    :func:`neurocontrol.experiments.sweeps.compare`
``check``       ``check gradients``: RTRL vs BPTT and FD          :func:`neurocontrol.nets.gradcheck.check_gradients`
``bench``       short speed benchmarks (``--ablation``: the        :func:`neurocontrol.experiments.bench.run_benchmarks`
                neural controller's ablation, source checkout)
``plant-demo``  the helicopter open-loop around trim              :func:`plants.helicopter.demo.run_demo`
==============  ===============================================  ==========================================

``sweep --scheduler ADDRESS`` runs the same sweep on a Dask cluster
(:func:`neurocontrol.experiments.distributed.sweep_on_cluster`).

A completed run exits with status 0 even when tracking failed (the result
says so); ``check gradients`` exits with 1 when a check fails. A bad
argument or scenario prints one line ``neurocontrol: error: ...`` to stderr
and exits with status 2 (``--debug`` shows the traceback). With ``--json``
stdout holds exactly one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import neurocontrol
from neurocontrol.exceptions import NeurocontrolError, ParameterError

# Each command imports what it needs when it runs: `neurocontrol --help` and the first-run compile notice must
# come before the package's heavy imports (numba kernels, python-control, matplotlib).

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``neurocontrol: error: ...`` and exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"neurocontrol: error: {message} (see `{self.prog} --help`)\n")


def _json_dump(obj) -> str:
    return json.dumps(obj, indent=2, allow_nan=False)


def _finite_or_none(obj):
    """NaN/inf -> None so that the JSON output is strict."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def _load(args):
    from neurocontrol.scenario import Scenario

    sc = Scenario.from_toml(args.scenario)
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set needs KEY=VALUE (e.g. run.duration=10), got {item!r}.")
        sc = sc.set(key.strip(), value.strip())
    return sc


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


# --------------------------------------------------------------------------- run


def _cmd_run(args) -> int:
    from neurocontrol._compile import CompileProgress, cache_is_cold

    compiling = CompileProgress(announce=False)
    if not args.json and cache_is_cold():
        compiling.notice()  # before the imports below, which take a second or more
    from neurocontrol.scenario import run_scenario

    if args.seed is not None and args.seed < 0:
        raise ParameterError(f"`--seed` must be a non-negative integer, got {args.seed}.")
    sc = _load(args)
    seed = sc.run.seed if args.seed is None else args.seed
    out = args.out
    if out is not None and not args.overwrite:
        from pathlib import Path

        if (Path(out) / "result.json").exists():
            raise ParameterError(f"{out} already holds a saved run; pass --overwrite or choose another --out folder.")
    t0 = time.perf_counter()
    if args.json:
        res = run_scenario(sc, seed=seed, progress=False)
    else:
        with compiling:
            res = run_scenario(sc, seed=seed, progress=True)
    wall = time.perf_counter() - t0
    if out is not None:
        from neurocontrol.scenario import save_run

        save_run(res, sc, out, overwrite=True, extra_manifest={"command": ["neurocontrol", *sys.argv[1:]],
                                                             "wall_time_s": wall})
    if args.json:
        payload = {**res.metrics, "scenario": sc.name, "seed": seed, "wall_time_s": wall, "status": res.status,
                   "stop_reason": res.meta.get("stop_reason"), "hint": res.meta.get("hint"),
                   "controller_settings": res.meta.get("controller_settings", {})}
        print(_json_dump(_finite_or_none(payload)))
        return 0
    m = res.metrics
    print(f"scenario   {sc.name}  ({sc.source})")
    print(f"seed       {seed}")
    print(f"status     {res.status}" + (f"  ({res.meta['stop_reason']})" if res.meta.get("stop_reason") else ""))
    if res.meta.get("hint"):
        print(f"hint       {res.meta['hint']}")
    print(f"success    {_fmt(m['success'])}  (last {_fmt(m['final_window_s'])} s within tolerance)")
    if "noiseless" in m:
        true = m["noiseless"]
        print(f"true       {_fmt(true['success'])}  (judged on the outputs without sensor noise; final error "
              + ", ".join(f"{n} {_fmt(v['final_error'])}" for n, v in true["outputs"].items()) + ")")
        if "perfect_tracking_success" in true:
            print(f"noise      {_noise_line(true, m['outputs'])}")
    print(f"steps      {m['steps']} x {res.meta['dt']} s")
    starting = _ended_starting(res)     # the run ended before the controller's own law took over (a relay test)
    if "fallback" in res.meta.get("mode_fractions", {}):       # a guarded run that handed the plant over
        print(f"modes      {_modes_line(res)}")
    elif "reidentify" in res.meta.get("mode_fractions", {}):   # the neural controller re-identified after a change
        print(f"modes      {_modes_line(res, 'reidentify', 'the plant was re-identified in open loop')}")
    elif "gains" in res.meta.get("mode_fractions", {}):        # ... or re-learned its input gains after one
        factors = res.meta.get("controller_notes", {}).get("input_gains") or []
        learned = ", ".join(f"{n} x{a:.3g}" for n, a in zip(res.input_names, factors))
        print(f"modes      {_modes_line(res, 'gains', 'the input gains were re-learned after a change')}"
              + (f" (factors learned: {learned})" if learned else ""))
    elif starting:
        print(f"modes      {starting}")
    for key, value in res.meta.get("controller_settings", {}).items():
        print(f"controller {key}: {value}")
    units = res.meta.get("units", {})
    labels = {n: f"{n} [{units[n]}]" if units.get(n) else n for n in m["outputs"]}
    width = max(12, *(len(label) + 2 for label in labels.values()))
    cols = ("rmse", "final_error", "tolerance", "max_abs_error", "overshoot %", "settling_time s")
    print("\n" + f"{'output':<{width}}" + "".join(f"{c:>16}" for c in cols))
    for name, label in labels.items():
        per = m["outputs"][name]
        print(f"{label:<{width}}" + "".join(f"{_fmt(per.get(c.split()[0])):>16}" for c in cols))
    if "ilc" in m:
        _print_ilc(m["ilc"], labels, width)
    print(f"\nsaturation {100 * m['saturation_fraction']:.1f} % of steps    "
          f"control step {_fmt(m['control_step_us'])} us"
          f"    wall time {wall:.2f} s")
    if out is not None:
        print(f"written to {out}/")
    return 0


def _noise_line(true: dict, outputs: dict) -> str:
    """Return the sensor noise's RMS per output against its tolerance, and what it leaves a perfect controller."""
    parts = []
    for n, v in true["outputs"].items():
        rms, tol = v.get("noise_rms"), outputs[n]["tolerance"]
        parts.append(f"{n} {_fmt(rms)}" + (f" ({rms / tol:.2g}x tolerance)" if rms is not None else ""))
    verdict = "pass" if true["perfect_tracking_success"] else "fail"
    return f"RMS in the final window: {', '.join(parts)}; perfect tracking would {verdict} on these measurements"


def _mode_shares(res) -> str:
    """Return the share of the run each controller mode flew, as ``"mode 12.5 %, ..."``."""
    return ", ".join(f"{mode} {100 * f:.1f} %" for mode, f in res.meta["mode_fractions"].items())


def _modes_line(res, mode: str = "fallback", what: str = "the fallback flew", most: int = 5) -> str:
    """Return the share of each controller mode and the spans of ``mode`` (at most ``most`` of them)."""
    shares = _mode_shares(res)
    dt = res.meta["dt"]
    spans = [(a * dt, b * dt) for a, b in res.mode_spans(mode)]
    listed = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in spans[:most]) + (f" and {len(spans) - most} more"
                                                                        if len(spans) > most else "")
    return f"{shares}; {what} {listed}"


def _ended_starting(res) -> str | None:
    """Say so when the run ended with the controller still in a start-up mode (warm-up, tuning), else None."""
    from neurocontrol.ilc.runner import EXCITATION_MODES

    segments = res.meta.get("modes") or []
    if not segments or segments[-1]["mode"] not in EXCITATION_MODES:
        return None
    last = segments[-1]
    return (f"{_mode_shares(res)}; the run ended with the controller still in its '{last['mode']}' phase (from "
            f"{last['start_step'] * res.meta['dt']:.4g} s on), so its tuned or learned law never flew: lengthen the "
            "run, or see that phase's settings in the controller kind's docs")


# --------------------------------------------------------------------------- sweep, compare


def _print_ilc(ilc: dict, labels: dict, width: int) -> None:
    """Print the RMS error of every trial of an ``[ilc]`` run (the table above is the last trial's)."""
    law = str(ilc.get("law", "")).split("(")[0]
    print(f"\nilc        {ilc['trials']} trials, {law}, status {ilc.get('status')}; RMS error per trial "
          "(the table above is the last trial's)")
    names = list(ilc["rms_error"])
    print(f"{'trial':<{width}}" + "".join(f"{labels.get(n, n):>24}" for n in names))
    for k in range(len(ilc["rms_error"][names[0]])):
        print(f"{k + 1:<{width}}" + "".join(f"{_fmt(ilc['rms_error'][n][k]):>24}" for n in names))


def _print_summary(summary: dict) -> None:
    true = ""
    if "success_true_rate" in summary:                  # sensor noise: the true outputs, and perfect tracking's share
        ideal = summary.get("perfect_tracking_rate")
        true = f" (true outputs {100 * summary['success_true_rate']:.0f} %" + ("" if ideal is None else
               f"; perfect tracking would reach {100 * ideal:.0f} % on the measured ones") + ")"
    print(f"runs {summary['n']}, success {100 * summary['success_rate']:.0f} %{true}, statuses "
          + ", ".join(f"{k} {v}" for k, v in summary["statuses"].items()))
    print(f"\n{'metric':<30}{'median':>12}{'p10':>12}{'p90':>12}{'min':>12}{'max':>12}")
    rows = [(f"{name}.{k}", s) for name, per in summary["outputs"].items() for k, s in per.items()
            if k in ("rmse", "final_error", "settling_time", "overshoot")]
    rows += [(k, summary[k]) for k in ("saturation_fraction", "control_step_us") if k in summary]
    for label, s in rows:
        print(f"{label:<30}" + "".join(f"{_fmt(s.get(k)):>12}" for k in ("median", "p10", "p90", "min", "max")))


def _print_hint(res) -> None:
    """Print how many runs carry a failure hint, and the first one's (the runs' ``meta["hint"]``)."""
    given = [(s, h) for s, h in zip(res.seeds, res.hints) if h]
    if given:
        print(f"\nhint       {len(given)} of {res.n} runs have one; seed {given[0][0]}'s: {given[0][1]}")


def _cmd_sweep(args) -> int:
    from neurocontrol.experiments.sweeps import parse_seeds, sweep

    sc = _load(args)
    seeds = parse_seeds(args.seeds)
    if getattr(args, "scheduler", None):
        return _cmd_sweep_cluster(args, sc, seeds)
    if args.resume and not args.out:
        raise ParameterError("--resume needs --out DIR, the folder of the interrupted sweep.")
    res = sweep(sc, seeds, workers=args.workers, out=args.out, progress=not args.json, resume=args.resume)
    if args.json:
        print(_json_dump(_finite_or_none(res.to_dict())))
        return 0
    print(f"scenario {sc.name}: {len(seeds)} seeds ({args.seeds}), {res.workers} worker(s), {res.wall_time_s:.1f} s")
    _print_summary(res.summary())
    _print_hint(res)
    if args.out:
        print(f"\nwritten to {args.out}/")
    return 0


def _cmd_sweep_cluster(args, sc, seeds) -> int:
    from neurocontrol.experiments.distributed import sweep_on_cluster

    if getattr(args, "resume", False):
        raise ParameterError("--resume is not supported with --scheduler; run the sweep locally to resume it.")
    res = sweep_on_cluster(sc, seeds, args.scheduler, out=args.out)
    if args.json:
        print(_json_dump(_finite_or_none(res.to_dict())))
        return 0
    print(f"scenario {sc.name}: {len(seeds)} seeds ({args.seeds}) on {args.scheduler}, {res.workers} Dask worker(s), "
          f"{res.wall_time_s:.1f} s")
    _print_summary(res.summary())
    _print_hint(res)
    if args.out:
        print(f"\nwritten to {args.out}/")
    return 0


def _cmd_tune(args) -> int:
    from neurocontrol.experiments.tuning import tune

    sc = _load(args)
    res = tune(sc, trials=args.trials, storage=args.storage, seeds=args.seeds, out=args.out, workers=args.workers,
               study_name=args.study)
    if args.json:
        print(_json_dump(_finite_or_none(res.to_dict())))
        return 0
    ok = [t for t in res.trials if t["value"] is not None]
    print(f"study {res.study_name} ({res.storage}): {len(res.trials)} trials, {len(ok)} complete, "
          f"{res.wall_time_s:.1f} s this call")
    if len(res.objectives) == 1:
        what = "1000 x (1 - success rate) + median IAE" if res.objectives[0] == "score" else \
            f"{res.objectives[0]}, {res.directions[0]}d"
        print(f"best value {res.best_value:.6g}  (objective: {what})")
    else:
        print(f"Pareto front of {', '.join(res.objectives)} ({len(res.pareto)} trials); best in the first:")
        print("  " + ", ".join(f"{o} = {v:.6g}" for o, v in zip(res.objectives, res.best_value)))
    for key, value in res.best_params.items():
        print(f"  {key} = {_fmt(value, 6)}")
    out = args.out or f"runs/tune-{sc.name}"
    print(f"\nbest scenario written to {out}/best.toml, trials to {out}/tune.json")
    return 0


def _cmd_compare(args) -> int:
    from neurocontrol.experiments.sweeps import compare, parse_seeds

    sc = _load(args)
    seeds = parse_seeds(args.seeds)
    kinds = [k.strip() for k in args.controllers.split(",") if k.strip()] if args.controllers else None
    comp = compare(sc, kinds, seeds, vary=args.vary or None, workers=args.workers, out=args.out,
                   progress=not args.json)
    if args.json:
        print(_json_dump(_finite_or_none(comp.to_dict())))
        return 0
    print(f"scenario {sc.name}: {' | '.join(comp.sweeps)} on {len(seeds)} seeds ({args.seeds}), "
          f"{comp.wall_time_s:.1f} s (medians over seeds)\n")
    print(comp.format_table())
    for kind, why in comp.skipped.items():
        print(f"left out: {kind} ({why})")
    if args.out:
        print(f"\nwritten to {args.out}/ (comparison.json, comparison.png, one folder per variant)")
    return 0


# --------------------------------------------------------------------------- check, bench, plant-demo


def _gradient_cases():
    """Return the standard gradient-check cases: (name, config, inputs, targets, teacher_forcing)."""
    import numpy as np

    from neurocontrol.nets.rtrn import RTRNConfig

    rng = np.random.default_rng(2024)
    cases = []
    for name, cfg, T, forcing in (
            ("2 outputs, 1 input, 1 hidden", RTRNConfig(n_outputs=2, n_inputs=1, n_hidden=1), 20, False),
            ("helicopter size: 5 outputs, 2 inputs", RTRNConfig(n_outputs=5, n_inputs=2), 30, False),
            ("teacher forcing, 2 outputs, 3 hidden", RTRNConfig(n_outputs=2, n_inputs=2, n_hidden=3), 25, True)):
        U = rng.uniform(-1.0, 1.0, (T, cfg.n_inputs))
        D = rng.uniform(-0.5, 0.5, (T, cfg.n_outputs))
        cases.append((name, cfg, U, D, forcing))
    return cases


def _cmd_check(args) -> int:
    from neurocontrol.nets.gradcheck import check_gradients

    rows = []
    for name, cfg, U, D, forcing in _gradient_cases():
        r = check_gradients(cfg, U, D, teacher_forcing=forcing, seed=0)
        rows.append({"case": name, "rtrl_vs_bptt": r.rtrl_vs_bptt, "rtrl_vs_fd": r.rtrl_vs_fd, "passed": r.passed()})
    passed = all(r["passed"] for r in rows)
    out = {"rtrl_vs_bptt": max(r["rtrl_vs_bptt"] for r in rows), "rtrl_vs_fd": max(r["rtrl_vs_fd"] for r in rows),
           "passed": passed, "cases": rows}
    if args.json:
        print(_json_dump(_finite_or_none(out)))
    else:
        print(f"{'case':<40}{'RTRL vs BPTT':>14}{'RTRL vs FD':>14}  passed")
        for r in rows:
            print(f"{r['case']:<40}{r['rtrl_vs_bptt']:>14.2e}{r['rtrl_vs_fd']:>14.2e}  {_fmt(r['passed'])}")
        print(f"\nmax relative errors: RTRL vs BPTT {out['rtrl_vs_bptt']:.2e} (tolerance 1e-10), "
              f"RTRL vs FD {out['rtrl_vs_fd']:.2e} (tolerance 1e-6): {'passed' if passed else 'FAILED'}")
    return 0 if passed else 1


def _cmd_bench(args) -> int:
    if args.ablation:
        return _bench_ablation(args)
    from neurocontrol.experiments.bench import run_benchmarks

    res = run_benchmarks(quick=not args.full)
    if args.json:
        print(_json_dump(_finite_or_none(res)))
        return 0
    p = res["plant"]
    print(f"plant     env step {p['env_step_us']:.1f} us ({p['env_steps_per_s']:,.0f} steps/s through gymnasium.make); "
          f"batched {p['batch_plant_steps_per_s']:,.0f} plant-steps/s (N={p['batch_size']})")
    for row in res["rtrl"]:
        print(f"rtrl      exact RTRL step, {row['n_units']:>3} units: {row['us_per_step']:.2f} us")
    steps = res["control_step"]
    for kind in ("pid", "lqr"):
        row = steps[kind]
        print(f"control   {kind} controller.step: {_fmt(row['control_step_us'])} us (median of {row['steps']})")
    row = steps["neural"]
    print(f"control   neural controller.step: {_fmt(row['control_step_us'])} us (median of its {row['steps']} "
          f"predictive steps after the warm-up), {_fmt(steps['neural_over_lqr'])}x lqr's in this run")
    print(f"machine   {res['machine']['processor']}, {res['machine']['cpu_count']} CPUs, Python "
          f"{res['machine']['python']}; {res['wall_time_s']:.1f} s. Careful figures: benchmarks/bench_*.py")
    return 0


def _cmd_identify(args) -> int:
    from pathlib import Path

    from neurocontrol.controllers.generic import model_trim
    from neurocontrol.identification import identify, model_figures

    sc = _load(args)
    built = sc.build(sc.run.seed)
    out = tuple(built.controller.output_indices)
    ident = identify(built.env, out)
    trim = model_trim(built.env, list(out), who="identify")
    ref = None if trim is None or not trim.stable() else \
        {k: v for k, v in model_figures(trim, ident.dt).items() if k != "steady_gain"}
    found = {"scenario": sc.name, "note": ident.note, "model": ident.model is not None,
             "slowest_time_constant_s": ident.slowest_time_constant_s, "rhp_zero": ident.rhp_zero,
             "sign_steps": ident.sign_steps, "free_run_fit": ident.free_run_fit,
             "steady_gain": None if ident.steady_gain is None else ident.steady_gain.tolist(), "env_model": ref}
    if args.out is not None:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        ident.plot(Path(args.out) / "identification.png")
    if args.json:
        print(_json_dump(_finite_or_none(found)))
        return 0 if ident.model is not None else 1
    print(f"scenario   {sc.name}  ({sc.source})")
    print(f"experiment {ident.note}")
    for key, label in (("slowest_time_constant_s", "slowest time constant [s]"),
                       ("rhp_zero", "right-half-plane zero [rad/s]"), ("sign_steps", "gains' sign settled after")):
        env_says = "" if ref is None else f"   (the env's python-control model: {_fmt(ref[key])})"
        print(f"{label:<31}{_fmt(found[key])}{env_says}")
    print(f"{'free-run fit':<31}{_fmt(ident.free_run_fit)}  (accepted at >= 0.5)")
    if args.out is not None:
        print(f"written to {args.out}/identification.png")
    return 0 if ident.model is not None else 1


def _cmd_plant_demo(args: argparse.Namespace) -> int:
    from neurocontrol.registry import registered

    registered("plant_demo")["helicopter"].build(out=args.out, seconds=args.seconds, seed=args.seed)
    return 0


# --------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _bench_ablation(args) -> int:
    """Run the source checkout's ``benchmarks/bench_ablation.py`` (the ablation needs the shipped scenarios)."""
    import runpy
    from pathlib import Path

    script = Path(neurocontrol.__file__).resolve().parents[1] / "benchmarks" / "bench_ablation.py"
    if not script.is_file():
        raise ParameterError("`bench --ablation` runs benchmarks/bench_ablation.py of a source checkout (it flies "
                             f"the shipped scenarios/); none next to this installation ({script.parent.parent}). "
                             "Clone the repository and install it with `pip install -e .`.")
    argv = ["--seeds", str(args.seeds), "--workers", str(args.workers), "--no-record"]
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *argv]
    sys.path.insert(0, str(script.parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    return 0


def _common(p: argparse.ArgumentParser, *, scenario: bool = True) -> None:
    if scenario:
        p.add_argument("scenario", metavar="SCENARIO", help="scenario file (.toml), e.g. scenarios/hover_pid.toml")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override one setting by dotted key, value as TOML (repeatable), e.g. run.duration=10")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``neurocontrol`` command."""
    parser = _Parser(
        prog="neurocontrol",
        description="Adaptive neural control of MIMO plants (RTRN + RTRL + ILC).",
    )
    parser.add_argument("--version", action="version", version=f"neurocontrol {neurocontrol.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run one scenario for one seed", description=(
        "Run one scenario for one seed and print a summary. Exit 0 when the run completes (even if tracking "
        "failed), 2 on a bad scenario or argument."))
    _common(run)
    run.add_argument("--seed", type=int, help="root seed (default: run.seed of the scenario)")
    run.add_argument("--out", metavar="DIR", help="write time series (NPZ, CSV), metrics.json, manifest.json, "
                                                  "scenario.toml and plots to DIR")
    run.add_argument("--overwrite", action="store_true", help="replace a run already saved in --out")
    run.set_defaults(func=_cmd_run)

    sw = sub.add_parser("sweep", help="run one scenario for many seeds", description=(
        "Run one scenario for many seeds in local processes and summarise the metrics."))
    _common(sw)
    sw.add_argument("--seeds", required=True, metavar="A:B", help="seeds: A:B (A..B-1), N, or a list 1,5,7")
    sw.add_argument("--workers", type=int, help="processes, this one included (default: serial for few seeds, else "
                                                "one per CPU; 1 = serial)")
    sw.add_argument("--out", metavar="DIR", help="write each run, sweep.json, runs.csv and sweep.png to DIR")
    sw.add_argument("--scheduler", metavar="ADDRESS",
                    help="run on a Dask cluster, e.g. tcp://host:8786 (needs the dist extra; see "
                         "neurocontrol.experiments.distributed)")
    sw.add_argument("--resume", action="store_true", help="with --out: skip seeds already finished in DIR "
                                                           "(same scenario settings), run the rest")
    sw.set_defaults(func=_cmd_sweep)

    cmp_ = sub.add_parser("compare", help="run a scenario with several controllers or settings on the same seeds",
                          description=(
        "Run the same scenario with each controller kind (default settings for kinds other than the "
        "scenario's own) and/or each value of the --vary settings on identical seeds; print a side-by-side "
        "table."))
    _common(cmp_)
    cmp_.add_argument("--controllers", default=None, metavar="K1,K2",
                      help="controller kinds (default: the scenario's own, neural, lqr_i and pid_auto, leaving out "
                           "those that refuse the plant; with --vary: the scenario's own)")
    cmp_.add_argument("--vary", action="append", metavar="KEY=V1,V2",
                      help="compare these values of one setting, e.g. controller.law.move_penalty=5,15,45 "
                           "(repeatable: every combination)")
    cmp_.add_argument("--seeds", default="0:10", metavar="A:B", help="seeds (default: %(default)s)")
    cmp_.add_argument("--workers", type=int, help="processes, this one included (default: serial for few runs, "
                                                  "else one per CPU; 1 = serial)")
    cmp_.add_argument("--out", metavar="DIR", help="write comparison.json, comparison.png and each sweep to DIR")
    cmp_.set_defaults(func=_cmd_compare)

    tn = sub.add_parser("tune", help="tune the settings in a scenario's [tune] table with Optuna", description=(
        "Tune the settings declared in the scenario's [tune] table with Optuna (TPE): each trial sweeps the "
        "seeds and scores 1000 x (1 - success rate) + median IAE. The study is stored (default: an SQLite "
        "file in --out) and resumed when it exists. Needs the tune extra."))
    _common(tn)
    tn.add_argument("--trials", type=int, help="new trials to run now (default: tune.trials of the scenario)")
    tn.add_argument("--storage", metavar="URL", help="Optuna storage URL, e.g. sqlite:///tune.db or "
                                                     "postgresql://... (default: sqlite in --out)")
    tn.add_argument("--seeds", metavar="A:B", help="seeds of each trial (default: tune.seeds of the scenario)")
    tn.add_argument("--out", metavar="DIR", help="folder for the storage, best.toml and tune.json "
                                                 "(default: runs/tune-<scenario name>)")
    tn.add_argument("--study", metavar="NAME", help="study name (default: the scenario name)")
    tn.add_argument("--workers", type=int, help="processes of each trial's sweep (default: serial for few seeds, "
                                                "else one per CPU)")
    tn.set_defaults(func=_cmd_tune)

    chk = sub.add_parser("check", help="self-checks: `check gradients`", description=(
        "check gradients: RTRL gradients against BPTT and central finite differences on standard cases; "
        "exit 1 if a check fails."))
    chk.add_argument("what", choices=["gradients"], help="what to check")
    _common(chk, scenario=False)
    chk.set_defaults(func=_cmd_check)

    bench = sub.add_parser("bench", help="short speed benchmarks (plant, RTRL step, control step)")
    _common(bench, scenario=False)
    bench.add_argument("--full", action="store_true", help="longer, steadier timings")
    bench.add_argument("--ablation", action="store_true",
                       help="instead: the neural controller's ablation table against LQR and PID over the shipped "
                            "helicopter scenarios (benchmarks/bench_ablation.py of a source checkout; no record)")
    bench.add_argument("--seeds", type=_positive_int, default=20, help="seeds per cell of --ablation (default 20)")
    bench.add_argument("--workers", type=_positive_int, default=1, help="processes for --ablation (default 1)")
    bench.set_defaults(func=_cmd_bench)

    ident = sub.add_parser("identify", help="fit a linear model to an open-loop experiment on a scenario's plant",
                           description=(
        "identify: fly the open-loop identification experiment of `plant_model = \"identified\"` on the scenario's "
        "plant, fit a two-lag linear model, and print its slowest time constant, right-half-plane zero, the steps "
        "after which its gains take their steady-state sign and its free-run fit (beside the env's python-control "
        "model's, where it has one); exit 1 when the fit is not accepted."))
    _common(ident)
    ident.add_argument("--out", default=None, help="folder for the plot identification.png")
    ident.set_defaults(func=_cmd_identify)

    demo = sub.add_parser("plant-demo", help="fly the helicopter plant open-loop around trim and plot it")
    demo.add_argument("--out", default="runs/plant-demo", help="folder for the plots (default: %(default)s)")
    demo.add_argument("--seconds", type=float, default=10.0, help="simulated time in s (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    demo.set_defaults(func=_cmd_plant_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when ``check gradients`` fails, 2 on a bad argument or scenario.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (NeurocontrolError, OSError, ImportError) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"neurocontrol: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
