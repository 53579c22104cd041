"""Write the results tables of README.md and docs/*.md from the benchmark records (benchmarks/records/*.json).

Every measured figure in a table comes from a record; no figure is typed by
hand. A table sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``
in its page; :data:`TABLES` maps each name to its page, its record and the
function that renders it. ``--check`` exits with 1 when a page differs from
what the script would write (``tests/test_records.py`` runs the same check and
also fails when a record's scenario hash no longer matches the shipped
scenario file, i.e. the record is stale).

Usage: ``python docs/make_tables.py [--check]`` from the repository root.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ilc_tables  # noqa: E402  (docs/ holds scripts, not a package)
from _ilc_tables import TRANSFER_LEVELS  # noqa: E402,F401  (checked against the bench in the tests)
from _ilc_tables import verdict as _met  # noqa: E402  (the targets tables' "met" / "**not met**")

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "benchmarks" / "records"

__all__ = ["TABLES", "PLANT_TABLES", "load_record", "render_page", "render_table", "main"]


def load_record(name: str) -> dict:
    """Read ``benchmarks/records/<name>.json``.

    Parameters
    ----------
    name : str
        Record name (file stem).
    """
    return json.loads((RECORDS / f"{name}.json").read_text())


def _g(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _provenance(rec: dict) -> str:
    m = rec["machine"]
    commit = rec.get("git_commit") or "unknown"
    commit = commit[:12] + (" with uncommitted changes" if commit.endswith("+uncommitted") else "")
    load = m.get("load_average_at_end")
    load = f", load average {load[0]:.1f} at the end" if load else ""
    return (f"Record `benchmarks/records/{rec['benchmark']}.json`: `{rec['command']}`, commit {commit}, "
            f"{rec['measured_at']}, {m['cpu_count']} cores{load}, {rec['wall_s']:.0f} s wall")


# --------------------------------------------------------------------------- hover (bench_hover_sweep.py)

def _hover_compare(rec: dict) -> str:
    rows = rec["figures"]["compare_table"]
    keys = [k for k in rows[0] if k not in ("variant", "controller")]
    keys = [k for k in keys if not k.endswith(".iae") and k != "control_effort"]
    width = max(len(k) for k in keys) + 2
    col = 12
    lines = [" " * width + "".join(f"{r['variant']:>{col}}" for r in rows)]
    for k in keys:
        lines.append(f"{k:<{width}}" + "".join(f"{_g(r.get(k)):>{col}}" for r in rows))
    n = rows[0]["n"]
    return (f"Medians over seeds 0-{n - 1} (same initial state per seed for every controller); "
            f"{_provenance(rec)}.\n\n```\n" + "\n".join(lines) + "\n```")


def _hover_targets(rec: dict, faults: dict | None = None) -> str:
    f = rec["figures"]
    hov = f["hover"]
    ad = hov["adaptive"]
    ratio = f["iae_ratio"]
    drag, gust = f["rotor_drag_change"], f["vertical_gust"]
    step = ad["control_step_us_median"]
    lqr_step = hov["lqr"]["control_step_us_median"]

    def met(ok):
        return "met" if ok else "not met"

    rows = [
        ("hover success (>= 95 %, goal 100 %)", f"{ad['success']}/{ad['n']}", met(ad["success"] >= 0.95 * ad["n"])),
        ("median settling time (<= 10 s)", f"{ad['settling_median_s']:.2f} s (later of the two outputs)",
         met(ad["settling_median_s"] <= 10.0)),
        ("altitude IAE, adaptive / LQR (<= 1.5, goal 1.0)",
         f"{ratio['ratio_of_means']:.2f} on the mean ({ad['altitude_iae_mean']:.3f} vs "
         f"{hov['lqr']['altitude_iae_mean']:.3f} m s); per seed <= 1.5 in {ratio['seeds_le_1_5']} of {ratio['n']}",
         met(ratio["ratio_of_means"] <= 1.5) + ("" if ratio["ratio_of_means"] <= 1.0 else "; goal not met")),
        ("rotor drag a8, a9 +30 % at 15 s: recovered within 10 s (>= 90 %)", f"{drag['recovered']}/{drag['n']}",
         met(drag["recovered"] >= 0.9 * drag["n"])),
        ("4 m/s^2 downward gust for 1 s at 15 s: recovered within 10 s (>= 90 %)",
         f"{gust['recovered']}/{gust['n']}", met(gust["recovered"] >= 0.9 * gust["n"])),
        ("median controller step (<= 50 us, goal 20 us)", f"{step:.0f} us (LQR {lqr_step:.0f} us, same runs)",
         met(step <= 50.0) + ("" if step <= 20.0 else "; goal not met")),
    ]
    lines = ["| target (issue) | measured | |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return (f"Hover seeds 0-{ad['n'] - 1}; drag and gust seeds 0-{drag['n'] - 1} (fewer seeds than the hover "
            f"comparison, to keep the measurement short on 2 shared cores); the ILC staircase has its own table; "
            f"controller step times "
            f"grow with the load of the shared machine. {_provenance(rec)}.\n\n" + "\n".join(lines))


def _hover_one_step(rec: dict) -> str:
    o = rec["figures"]["hover_one_step_law"]
    return (f"The faithful one-step Chow-Fang law (`scenarios/hover_one_step_law.toml`) fails on this plant, as "
            f"expected from altitude's relative degree 4 at 10 ms: {o['success']} of {o['n']} seeds succeed, "
            f"median final altitude error {o['altitude_final_error_median_m']:.2f} m (`{rec['command']}`).")


# --------------------------------------------------------------------------- faults (bench_faults.py)

#: What each fault scenario does, for the table's first column.
FAULT_LABELS = {
    "fault_actuator_loss": "30 % collective-servo loss from 15 s, within 15 s",
    "fault_stuck_actuator": "servo stuck 15-17 s during a commanded climb, within 10 s",
    "fault_sensor_bias": "climb rate +0.02 m/s, collective +0.005 rad from 15 s",
    "fault_sensor_noise": "sensor noise from none to 5x sensor_noise.toml at 15 s, within 10 s",
    "fault_sensor_dropout": "5 % of samples lost", "fault_measurement_delay": "20 ms",
    "fault_parameter_drift": "a8, a9 to 1.3x over 10-30 s",
    "guarded_actuator_loss": "guarded controller, 30 % servo loss",
}


def _faults_table(rec: dict) -> str:
    lines = ["| scenario | recovered in time | non-finite actions | limit violations | median / max recovery "
             "| failed runs |", "|---|--:|--:|--:|--:|--:|"]
    for name, s in rec["figures"]["summary"].items():
        if s["median_recovery_s"] is None:
            rec_s = "-"
        else:
            rec_s = f"{s['median_recovery_s']:.2f} s / {s['max_recovery_s']:.2f} s"
        lines.append(f"| `{name}` ({FAULT_LABELS.get(name, '')}) | {s['recovered']}/{s['n']} | {s['nonfinite']} "
                     f"| {s['violations']} | {rec_s} | {s['failed']} |")
    n = rec["seeds"]
    who = ""
    if rec.get("controller", "adaptive") != "adaptive":
        skipped = "".join(f"; `{k}` not flown ({why})" for k, why in rec.get("skipped", {}).items())
        who = (f"Controller kind `{rec['controller']}`: each scenario's `[controller]` table (in a guarded one the "
               f"guard's `[controller.inner]`) replaced by `{rec['controller_table']}`'s, the faults, events, "
               f"reference and run settings kept{skipped}. ")
    return (who + f"Seeds 0-{n - 1} (fewer than the 100 the benchmark runs by default, to keep the measurement "
            f"short on 2 shared cores); true outputs against the success band; recovery times count from the "
            f"fault's end (persistent faults: its onset; dropout and delay: the start of the run); a negative "
            f"time means the outputs were already in the band. {_provenance(rec)}.\n\n" + "\n".join(lines))


def _faults_summary(rec: dict) -> str:
    summ = rec["figures"]["summary"]
    parts = [f"{FAULT_LABELS.get(k, k)} ({k}) {s['recovered']}/{s['n']}" for k, s in summ.items()]
    nonfinite = sum(s["nonfinite"] for s in summ.values())
    viol = sum(s["violations"] for s in summ.values())
    return (f"Faults (`{rec['command']}`, true state; target >= 90 % recovered, no non-finite action, no limit "
            f"violation): " + "; ".join(parts) + f"; {nonfinite} non-finite actions and {viol} limit violations "
            f"in all.")


# --------------------------------------------------------------------------- soak, first run

def _soak(rec: dict) -> str:
    f = rec["figures"]
    err = f["final_max_error"]
    return (f"A soak of {f['steps_run']:,} control steps ({f['flight_h']:.2f} h of flight, altitude set-point "
            f"cycling every 30 s; `{rec['command']}`, {f['us_per_step']:.0f} us per step on a shared machine) had "
            f"{f['nonfinite_actions']} non-finite actions and {f['limit_violations']} limit violations; RSS "
            f"{f['rss_after_1000_steps_mb']:.1f} MB after 1,000 steps and {f['rss_end_mb']:.1f} MB at the end "
            f"({f['rss_end_mb'] - f['rss_after_1000_steps_mb']:+.1f} MB); largest error over the final 5 s "
            f"{err[0]:.2g} rad/s and {err[1]:.2g} m ({'in' if f['in_band'] else 'NOT in'} the success band).")


def _first_run(rec: dict) -> str:
    f = rec["figures"]
    labels = {"bytecode_cached": "Python bytecode cached (a normal install)",
              "no_bytecode_cache": "`PYTHONDONTWRITEBYTECODE=1` (every process recompiles the Python sources)"}
    lines = ["| Python setting | first run (fresh numba cache) | first message after | kernels compiled "
             "| later run |", "|---|--:|--:|--:|--:|"]
    for mode, r in f.items():
        a, b = r["first_run"], r["later_run"]
        lines.append(f"| {labels.get(mode, mode)} | {a['wall_s']:.1f} s | {a['first_line_s']:.2f} s "
                     f"| {a['kernels_compiled']} in {a['compile_s']:.1f} s | {b['wall_s']:.1f} s |")
    return (f"The main command (`{rec['main_command']}`) end to end, wall time, once each, the numba cache "
            f"emptied before the first run; "
            f"{_provenance(rec)}.\n\n" + "\n".join(lines))


# --------------------------------------------------------------------------- per plant (bench_plants.py)

#: README table name -> the plant's shipped scenario (a key of the plants record's figures).
PLANT_TABLES = {
    "plants-helicopter": "helicopter_hover", "plants-quadtank-pminus": "quadtank_pminus",
    "plants-quadtank-pplus": "quadtank_pplus", "plants-pvtol": "pvtol_steps",
    "plants-cstr": "cstr_setpoint",
    "plants-twin-rotor": "twin_rotor_steps",
}


def _short(error: str, limit: int = 170) -> str:
    text = re.sub(r"\S+:\w+: \[controller\] \(kind '\w+'\): ", "", error)   # the scenario decoder's prefix
    text = text.replace("|", "/").replace("`", "'")
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _plant_table(scenario: str, rec: dict) -> str:
    f = rec["figures"][scenario]
    rows = f["rows"]
    outputs = list(dict.fromkeys(o for r in rows.values() for o in r["iae_median"]))
    head = "| controller | success | stopped early | " + " | ".join(f"median IAE {o}" for o in outputs) + \
        " | control step, median | note |"
    lines = [head, "|---|--:|--:|" + "--:|" * len(outputs) + "--:|---|"]
    for kind, r in rows.items():
        iae = " | ".join(_g(r["iae_median"].get(o)) for o in outputs)
        step = "-" if r["step_us_median"] is None else f"{r['step_us_median']:.0f} us"
        note = _short(r["error"]) if r.get("error") else ""
        lines.append(f"| `{kind}` | {r['success']}/{r['n']} | {r['stopped']} | {iae} | {step} | {note} |")
    lines.append("| L1 | not built | | " + " | ".join("" for _ in outputs) + " | | |")
    return (f"**{f['plant']}** (`scenarios/{scenario}.toml`), seeds 0-{rec['seeds'] - 1}; IAE over the runs "
            f"that completed; {_provenance(rec)}.\n\n" + "\n".join(lines))


def _factors(factors: dict) -> str:
    groups: dict = {}
    for name, factor in factors.items():
        groups.setdefault(f"{factor:.4g}", []).append(name)
    return ", ".join(f"{', '.join(names)} x{factor}" for factor, names in groups.items())


def _robust_cell(row: dict, key: str) -> str:
    """``success/n; IAE per output`` of one kind on one plant (a refusal: its error class)."""
    head = f"{row['success']}/{row['n']}"
    if "success_true" in row:          # the noise variant: success on the measured / on the true outputs
        head = f"{row['success']} / {row['success_true']} of {row['n']}"
        key = "iae_true_median"
    if row["stopped"] == row["n"] and row["step_us_median"] is None:          # the kind refused the plant
        return f"{head}; refused: {(row['error'] or 'no reason').split(':')[0]}"
    if row["stopped"] == row["n"]:
        return f"{head}; all stopped early"
    stopped = f" ({row['stopped']} stopped early)" if row["stopped"] else ""
    return f"{head}{stopped}; " + ", ".join(f"{o} {_g(v)}" for o, v in row[key].items())


def _plants_robust(rec: dict) -> str:
    """One table of a perturbed-plant record (``bench_plants.py --variant change|noise``): plants x kinds."""
    change = rec["benchmark"] == "plants_change"
    key = "iae_after_change_median" if change else "iae_median"
    kinds = list(dict.fromkeys(k for f in rec["figures"].values() for k in f["rows"]))
    lines = ["| plant | " + ("change" if change else "noise std") + " | " + " | ".join(f"`{k}`" for k in kinds)
             + " |", "|---|---|" + "---|" * len(kinds)]
    for scenario, f in rec["figures"].items():
        pert = f["perturbation"]
        what = (f"{_factors(pert['factors'])} at {_g(pert['time'])} s" if change
                else ", ".join(_g(v, 3) for v in pert["sensor_noise_std"]))
        cells = " | ".join(_robust_cell(f["rows"][k], key) if k in f["rows"] else "-" for k in kinds)
        lines.append(f"| {f['plant']} (`{scenario}`) | {what} | {cells} |")
    what = ("success / runs; median IAE per output from the change to the end, over the runs that completed"
            if change else "success judged on the measured (noisy) outputs / on the true (noiseless) outputs, of "
            "the runs; median IAE per output of the true outputs over the whole run, over the runs that completed")
    return f"Seeds 0-{rec['seeds'] - 1}; cells: {what}; {_provenance(rec)}.\n\n" + "\n".join(lines)


# --------------------------------------------------------------------------- ILC (bench_ilc.py)

def _ilc_ablation(rec: dict) -> str:
    return _ilc_tables.ilc_ablation(rec, _provenance(rec))


def _ilc_targets(adaptive: dict, neural: dict) -> str:
    return _ilc_tables.ilc_targets(adaptive, neural, f"{_provenance(adaptive)}; {_provenance(neural)}")


# --------------------------------------------------------------------------- neural ablation (bench_ablation.py)

def _vs(a, b, unit: str = "", digits: int = 3) -> str:
    """``a / b unit (r x)``: two medians and their ratio."""
    if a is None or b is None:
        return "-"
    ratio = f" ({a / b:.2f}x)" if b else ""
    return f"{_g(a, digits)} / {_g(b, digits)}{unit}{ratio}"


def _seeds(rec: dict) -> tuple[int, str]:
    """Number of seeds of an ablation record and how to name them ("seeds 0-19")."""
    seeds = rec["seeds"]
    return len(seeds), f"Seeds {min(seeds)}-{max(seeds)}"


def _successes(row: dict, n: int, key: str = "success_rate") -> int:
    return int(round(row.get(key, 0.0) * n))


def _ablation_frozen(rec: dict) -> str:
    """The frozen identifier's 50-step free-run error against linear least squares, per scenario."""
    lines = [f"{_seeds(rec)[1]}; {_provenance(rec)}.", "",
             "| scenario | neural's identifier (H = 8, its rule) | linear least squares | ratio (median over seeds) |",
             "|---|---|---|---|"]
    for name, rows in rec["figures"]["results"].items():
        f = rows.get("neural", {}).get("freerun_altitude_median")
        if not f:
            continue
        lines.append(f"| {name} | {_g(f['default'] * 1e3, 3)} mm | {_g(f['linear'] * 1e3, 3)} mm "
                     f"| {f['ratio']:.2f} (n = {f['n']}) |")
    return "\n".join(lines)


def _ablation_gradient(grad: dict, ekf: dict) -> str:
    """The RTRL gradient rule against the EKF (the ablation's neural row), per scenario."""
    n, named = _seeds(grad)
    lines = [f"{named}; gradient: {_provenance(grad)}; EKF: {_provenance(ekf)}.", "",
             "| scenario | success, gradient / EKF | altitude RMSE, gradient / EKF, m "
             "| rotor RMSE, gradient / EKF, rad/s |",
             "|---|---|---|---|"]
    for name, rows in grad["figures"]["results"].items():
        g, e = rows.get("neural gradient"), ekf["figures"]["results"].get(name, {}).get("neural")
        if g is None or e is None:
            continue
        lines.append(f"| {name} | {_successes(g, n)} / {_successes(e, _seeds(ekf)[0])} "
                     f"| {_g(g['rmse_median'].get('altitude'), 3)} / {_g(e['rmse_median'].get('altitude'), 3)} "
                     f"| {_g(g['rmse_median'].get('rotor_speed'), 3)} / {_g(e['rmse_median'].get('rotor_speed'), 3)} |")
    return "\n".join(lines)


def _ablation_table(rec: dict, frozen: bool) -> str:
    """Neural against LQR per scenario (success, RMSE and altitude IAE medians, ratios within the run); with
    ``frozen``, also the row with learning frozen: its success and learning against frozen."""
    (n, named), res = _seeds(rec), rec["figures"]["results"]
    head = ("| scenario | success neural / frozen / LQR" if frozen else "| scenario | success neural / LQR") + \
        " | altitude RMSE neural / LQR, m | rotor RMSE neural / LQR, rad/s | altitude IAE neural / LQR |"
    lines = [f"{named}, medians; {_provenance(rec)}.", "",
             head + (" learning / frozen RMSE (altitude, rotor) |" if frozen else ""),
             "|---|---|---|---|---|" + ("---|" if frozen else "")]
    for name, rows in res.items():
        a, fr, b = rows.get("neural"), rows.get("neural frozen"), rows.get("lqr")
        if a is None or b is None:
            continue
        ra = a["rmse_median"]
        success = f"{_successes(a, n)} / " + (f"{_successes(fr, n) if fr else '-'} / " if frozen else "") + \
            f"{_successes(b, n)}"
        if "success_true_rate" in a and "success_true_rate" in b:      # sensor noise: judged on the true outputs
            success += f" (true outputs: {_successes(a, n, 'success_true_rate')} / " + \
                (f"{_successes(fr, n, 'success_true_rate') if fr else '-'} / " if frozen else "") + \
                f"{_successes(b, n, 'success_true_rate')})"
        line = (f"| {name} | {success} "
                f"| {_vs(ra.get('altitude'), b['rmse_median'].get('altitude'))} "
                f"| {_vs(ra.get('rotor_speed'), b['rmse_median'].get('rotor_speed'))} "
                f"| {_vs(a['iae_median'].get('altitude'), b['iae_median'].get('altitude'))} |")
        if frozen:
            rf = (fr or {}).get("rmse_median", {})
            ratios = (f"{ra[k] / rf[k]:.3f}x" if rf.get(k) else "-" for k in ("altitude", "rotor_speed"))
            line += " " + ", ".join(ratios) + " |"
        lines.append(line)
    lines.append("")
    lines.append("Rows after a plant change: RMSE after the change (15 s); the frozen row stops learning there "
                 "(elsewhere at the end of the warm-up)." if frozen else
                 "Rows after a plant change (plant_change, thrust_change, servo_loss): RMSE after the change (15 s).")
    if any("success_true_rate" in r for rows in res.values() for r in rows.values()):
        lines[-1] += (" Under sensor noise the success is judged on the measured outputs, as the scenario does, and "
                      "(in brackets) on the true, noiseless outputs (the run's `metrics[\"noiseless\"]`).")
    return "\n".join(lines)


_WARMUP_LABELS = {"pid": "PID, 1 s (shipped)", "pid+check": "PID, 1 s, check", "lqr": "helicopter LQR, 1 s",
                  "lqr+check": "helicopter LQR, 1 s, check", "pid 0.5 s": "PID, 0.5 s",
                  "pid 0.5 s+check": "PID, 0.5 s, check", "lqr alone": "LQR alone (no neural controller)"}


def _warmup_check(rec: dict) -> str:
    f = rec["figures"]
    rows = f["rows"]
    names = list(next(iter(rows.values())))
    lines = ["| warm-up | " + " | ".join(names) + " | hover altitude IAE, median |",
             "|---|" + "--:|" * len(names) + "--:|"]
    for variant, row in rows.items():
        cells = []
        for n in names:
            c = row[n]
            cell = f"{c['success']}/{c['n']}"
            if c["stopped"]:
                cell += f" ({c['stopped']} stopped)"
            if c["extended"]:
                cell += f", {c['extended']} extended (to {c['longest_warmup_steps']} steps)"
            cells.append(cell)
        iae = row.get("hover", {}).get("altitude_iae_median")
        lines.append(f"| {_WARMUP_LABELS.get(variant, variant)} | " + " | ".join(cells) + f" | {_g(iae)} |")
    seeds = rec["seeds"]
    return (f"Success over seeds {seeds[0]}-{seeds[-1]} (not the other records' seeds), check threshold "
            f"{f['check']:g}; \"extended\": runs whose warm-up the check made longer; {_provenance(rec)}.\n\n"
            + "\n".join(lines))


def _learned_response(rec: dict) -> str:
    seeds = rec["seeds"]
    lines = ["| plant | success | response | learned / plant, at the horizon (median, per unit input) "
             "| error (median) |", "|---|--:|---|---|--:|"]
    for row in rec["figures"].values():
        first = True
        for pair, c in row["pairs"].items():
            if c["error_median"] is None:
                continue
            head = f"{row['plant']} | {row['success']}/{row['n']}" if first else " | "
            lines.append(f"| {head} | {pair} | {_g(c['learned_median'], 3)} / {_g(c['plant_median'], 3)} | "
                         f"{c['error_median']:.2f} |")
            first = False
        if first:
            lines.append(f"| {row['plant']} | {row['success']}/{row['n']} | no run completed | - | - |")
    return (f"Seeds {seeds[0]}-{seeds[-1]}, the neural controller with its defaults on each plant's shipped task "
            f"(as `benchmarks/bench_plants.py`), responses to a step of {rec['amplitude']:g} of each input's half "
            f"range from where the completed runs ended; error: |learned - plant| of the responses to the steps, "
            f"over the output's largest plant response; {_provenance(rec)}.\n\n" + "\n".join(lines))


# --------------------------------------------------------------------------- gusts (bench_gusts.py)

def _gusts(rec: dict, without: dict) -> str:
    """The random-gust hover: the neural controller with and without the bias walk, LQR and PID."""
    f, g = rec["figures"], without["figures"]
    n = len(rec["seeds"])
    labels = {"gusts": "gusts", "gusts_noise": "gusts and sensor noise"}
    lines = ["| task | controller | runs completed | success | runs off by more than "
             f"{f['excursion_m']} m | largest altitude error, median / worst (m) |", "|---|---|--:|--:|--:|--:|"]
    for variant, label in labels.items():
        rows = [("neural", f["results"][variant].get("neural")),
                ("neural without the bias walk", g["results"][variant].get("neural")),
                ("LQR", f["results"][variant].get("lqr")), ("PID", f["results"][variant].get("pid"))]
        for name, r in rows:
            if r is None:
                continue
            lines.append(f"| {label} | {name} | {r['completed']}/{r['runs']} | {r['success']} | {r['excursions']} "
                         f"| {_g(r['max_altitude_error_median_m'], 3)} / {_g(r['max_altitude_error_worst_m'], 3)} |")
    return (f"Hover with random vertical gusts (0.1 per s, 0.5 s each, acceleration drawn with a standard "
            f"deviation of {f['gusts']['gust_amplitude']} m/s^2), {f['duration_s']:.0f} s runs, seeds 0-{n - 1}; "
            f"largest altitude error after the first 5 s; success on the true outputs under noise; "
            f"{_provenance(rec)}; without the walk: `{without['command']}`.\n\n" + "\n".join(lines))


# --------------------------------------------------------------------------- open issues' targets (README)

def _ratio(a, b):
    return None if a is None or not b else a / b


def _ratios(a: dict, b: dict) -> dict:
    """Per output, ``a / b`` (None where either is missing)."""
    return {o: _ratio(a.get(o), b.get(o)) for o in a}


def _x(r) -> str:
    """A ratio as ``0.91x`` (two decimals; one significant digit below 0.095)."""
    return "-" if r is None else (f"{r:.2f}x" if r >= 0.095 else f"{r:.1g}x")


def _ratio_text(ratios: dict) -> str:
    return ", ".join(f"{o} {_x(r)}" for o, r in ratios.items())


def _count(row: dict) -> str:
    """``success/n``, with the runs stopped early when there are some."""
    return f"{row['success']}/{row['n']}" + (f" ({row['stopped']} stopped)" if row["stopped"] else "")


def _all_below(ratios: dict, bound: float) -> bool:
    return bool(ratios) and all(r is not None and r <= bound for r in ratios.values())


#: The ablation's plant-change scenarios, as issue #13 names the changes.
_CHANGES = {"plant_change": "rotor drag +30 %:", "thrust_change": "thrust -20 %:", "servo_loss": "servo gain -30 %:"}


def _neural_targets(rec: dict) -> str:
    """Issue #13's targets that the 100-seed ablation record measures, neural against LQR in the same run."""
    (n, named), res = _seeds(rec), rec["figures"]["results"]

    def row(name):
        return res[name]["neural"], res[name].get("neural frozen"), res[name]["lqr"]

    lines = ["| target (issue #13) | measured | |", "|---|---|---|"]
    a, _, b = row("hover")
    ok, iae = _successes(a, n), _ratio(a["iae_median"]["altitude"], b["iae_median"]["altitude"])
    lines.append(f"| hover: success >= 99, altitude IAE <= 1.0x LQR | {ok}/{n}, {_x(iae)} | "
                 f"{_met(ok >= 99 and iae <= 1.0)} |")
    a, _, b = row("noise_x2")
    ok = _successes(a, n)
    lines.append(f"| sensor noise doubled: success >= 95 % | {ok}/{n} on the measured outputs "
                 f"({_successes(a, n, 'success_true_rate')} on the true outputs; LQR {_successes(b, n)} and "
                 f"{_successes(b, n, 'success_true_rate')}) | {_met(ok >= 0.95 * n)} |")
    for name, what, bound, judged in (("staircase", "envelope staircase: RMSE <= 1.2x LQR per output", 1.2, None),
                                      ("sine_0.3Hz", "sine up to 0.3 Hz in altitude: RMSE <= 1.0x LQR", 1.0,
                                       ("altitude",))):
        a, _, b = row(name)
        r = _ratios(a["rmse_median"], b["rmse_median"])
        ok = _all_below({o: v for o, v in r.items() if judged is None or o in judged}, bound)
        lines.append(f"| {what} | {_ratio_text(r)} | {_met(ok)} |")
    changes = [c for c in ("plant_change", "thrust_change", "servo_loss") if c in res]
    vs_lqr, vs_frozen = {}, {}
    for c in changes:
        a, fr, b = row(c)
        vs_lqr[c] = _ratios(a["rmse_median"], b["rmse_median"])
        vs_frozen[c] = _ratios(a["rmse_median"], (fr or {}).get("rmse_median", {}))
    for what, table, bound in (("plant changes: RMSE after the change <= 0.8x LQR", vs_lqr, 0.8),
                               ("the same, learning against learning frozen at the change: <= 0.4x", vs_frozen, 0.4)):
        text = "; ".join(f"{_CHANGES.get(c, c)} {_ratio_text(r)}" for c, r in table.items())
        lines.append(f"| {what} | {text} | {_met(all(_all_below(r, bound) for r in table.values()))} |")
    a, _, b = row("hover")
    step = _ratio(a["step_us_median"], b["step_us_median"])
    lines.append(f"| control step median <= 2x LQR's (same run) | {a['step_us_median']:.0f} us against "
                 f"{b['step_us_median']:.0f} us, {step:.1f}x | {_met(step <= 2.0)} |")
    return (f"{named}, medians, the neural controller against LQR in the same run (the ablation's records: "
            f"`docs/neural_controller.md`, \"Ablation\"); {_provenance(rec)}.\n\n" + "\n".join(lines))


#: The plants of issue #15's table (scenario -> label), then the one it names only if published parameters are found.
_ISSUE15_PLANTS = {"quadtank_pminus": "quadruple tank P-", "quadtank_pplus": "quadruple tank P+",
                   "pvtol_steps": "planar VTOL", "cstr_setpoint": "Van de Vusse CSTR",
                   "twin_rotor_steps": "twin-rotor MIMO system (same bar)"}


def _noise_bound_text(scenario: str, std: list) -> str:
    """The bound of ``benchmarks/noise_bound.py`` on the PVTOL's true outputs under this noise ('' elsewhere)."""
    if scenario != "pvtol_steps":
        return ""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "noise_bound.py"      # not ROOT: the tests move it
    spec = importlib.util.spec_from_file_location("noise_bound", script)
    nb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nb)
    b = nb.pvtol_bound(sigma=std[:2])          # the record's noise on x and y (one value: both)
    return (f"; on the true ones no controller can: at most {b['expected_of_100']:.0f} of 100 expected with an exact "
            f"model (`benchmarks/noise_bound.py`)")


def _plants_targets(nominal: dict, change: dict, noise: dict, observer: dict | None = None) -> str:
    """Issue #15's targets over 100 seeds: the neural kind (its defaults) against LQR-I and the published PI."""
    lines = ["| target (issue #15) | plant | measured, neural | |", "|---|---|---|---|"]
    nonfinite = 0
    for scenario, label in _ISSUE15_PLANTS.items():
        rows = nominal["figures"][scenario]["rows"]
        a, b = rows["neural"], rows["lqr_i"]
        nonfinite += a.get("nonfinite_actions", 0)
        r_lqr = _ratios(a["iae_median"], b["iae_median"])
        parts = [_count(a), f"IAE vs LQR-I: {_ratio_text(r_lqr)}"]
        ok = a["success"] >= 0.95 * a["n"] and _all_below(r_lqr, 1.5)
        target = ">= 95/100, IAE <= 1.5x LQR-I"
        if "pid_published" in rows:
            r_pi = _ratios(a["iae_median"], rows["pid_published"]["iae_median"])
            parts.append(f"vs the published PI: {_ratio_text(r_pi)}")
            ok = ok and _all_below(r_pi, 1.0)
            target += ", <= 1.0x the published PI"
        if a["missed"] and len(a["missed"]) <= 10:
            parts.append(f"missed seeds {', '.join(map(str, a['missed']))}")
        lines.append(f"| {target} | {label} | {'; '.join(parts)} | {_met(ok)} |")
    for scenario, label in _ISSUE15_PLANTS.items():
        f = change["figures"][scenario]
        a, b = f["rows"]["neural"], f["rows"]["lqr_i"]
        nonfinite += a.get("nonfinite_actions", 0)
        r = _ratios(a["iae_after_change_median"], b["iae_after_change_median"])
        ok = a["success"] >= 0.9 * a["n"] and _all_below(r, 1.0)
        lines.append(f"| +30 % gain or mass mid-run: >= 90/100, IAE after the change <= LQR-I's | {label} "
                     f"({_factors(f['perturbation']['factors'])}) | {_count(a)}; IAE after vs LQR-I: "
                     f"{_ratio_text(r)} | {_met(ok)} |")
    for scenario, label in _ISSUE15_PLANTS.items():
        a, b = noise["figures"][scenario]["rows"]["neural"], noise["figures"][scenario]["rows"]["lqr_i"]
        nonfinite += a.get("nonfinite_actions", 0)
        alone = f"{a.get('perfect_tracking', '-')} of its runs, {b.get('perfect_tracking', '-')} of LQR-I's"
        told = "" if observer is None else \
            f" ({observer['figures'][scenario]['rows']['lqr_i_observer']['success_true']} on the true ones with its " \
            "Kalman filter told the noise)"
        bound = _noise_bound_text(scenario, noise["figures"][scenario]["perturbation"]["sensor_noise_std"])
        lines.append(f"| sensor noise at 1 % of range: >= 95/100 | {label} | {a['success']}/{a['n']} on the measured "
                     f"outputs, {a['success_true']} on the true ones ({a['stopped']} stopped); LQR-I {b['success']} "
                     f"and {b['success_true']}{told}; "
                     f"the noise alone within tolerance {alone}{bound} | "
                     f"{_met(a['success'] >= 0.95 * a['n'])} |")
    lines.append(f"| no crash or non-finite input | all of the above | {nonfinite} non-finite inputs; no run raised "
                 "(a run the env stops is counted as stopped above); limit violations are counted by the fault "
                 f"benchmarks (`docs/reliability.md`), not here | {_met(nonfinite == 0)} |")
    seeds = f"seeds {nominal.get('first_seed', 0)}-{nominal.get('first_seed', 0) + nominal['seeds'] - 1}"
    return (f"The neural kind with its defaults on each plant's shipped task, {seeds}; medians over the runs that "
            f"completed; IAE ratios per output; {_provenance(nominal)}; the change: `{change['command']}`; the "
            f"noise: `{noise['command']}`" + ("" if observer is None else f"; LQR-I told the noise: "
                                               f"`{observer['command']}`") + ".\n\n" + "\n".join(lines))


def _noise_filters(noise: dict, observer: dict, filtered: dict, pid: dict, estimate: dict) -> str:
    """Under 1 % sensor noise: each kind as it is and behind a filter through the env's model (told, estimated)."""
    cols = [(noise, "neural"), (filtered, "neural_filtered"), (estimate, "neural_filtered_estimate"),
            (pid, "pid_auto"), (filtered, "pid_auto_filtered"), (estimate, "pid_auto_filtered_estimate"),
            (noise, "lqr_i"), (observer, "lqr_i_observer")]
    lines = ["| plant | neural | neural, `filtered`, told | neural, `filtered`, estimated | pid_auto | pid_auto, "
             "`filtered`, told | pid_auto, `filtered`, estimated | LQR-I | LQR-I, `observer = \"always\"`, told |",
             "|---|---|---|---|---|---|---|---|---|"]
    for scenario, f in observer["figures"].items():
        cells = []
        for rec, kind in cols:
            row = rec["figures"][scenario]["rows"][kind]
            cells.append("refused" if _refused(row) else f"{row['success_true']}{_stopped(row)}")
        lines.append(f"| {f['plant']} | " + " | ".join(cells) + " |")
    seeds = f"seeds {observer.get('first_seed', 0)}-{observer.get('first_seed', 0) + observer['seeds'] - 1}"
    sources = "; ".join(_provenance(r) for r in (noise, filtered, estimate, pid, observer))
    return (f"Sensor noise of 1 % of each observation's range, {seeds}: runs whose true (noise-free) outputs end in "
            f"their bands (runs the env stopped); \"told\": `measurement_noise = 0.01`, \"estimated\": "
            f"`measurement_noise = \"estimate\"`; {sources}.\n\n" + "\n".join(lines))


def _filters_nominal(nominal: dict, observer: dict, filtered: dict, estimate: dict) -> str:
    """Without noise: what the filters cost on the nominal tasks (success and IAE, the same seeds)."""
    kinds = [("neural", nominal, "neural", filtered, "neural_filtered", estimate, "neural_filtered_estimate"),
             ("pid_auto", nominal, "pid_auto", filtered, "pid_auto_filtered", estimate, "pid_auto_filtered_estimate"),
             ("lqr_i", observer, "lqr_i", observer, "lqr_i_observer", None, None)]
    lines = ["| plant | kind | alone | filtered, told the 1 % noise | filtered, the noise estimated |",
             "|---|---|---|---|---|"]

    def cell(rec, kind, scenario):
        if rec is None:
            return "-"
        row = rec["figures"][scenario]["rows"][kind]
        if _refused(row):
            return "refused"
        return f"{_count(row)}, " + ", ".join(f"{k} {v:.3g}" if v is not None else f"{k} -"
                                              for k, v in row["iae_median"].items())

    for scenario, f in filtered["figures"].items():
        for label, ra, ka, rb, kb, rc, kc in kinds:
            lines.append(f"| {f['plant']} | {label} | {cell(ra, ka, scenario)} | {cell(rb, kb, scenario)} | "
                         f"{cell(rc, kc, scenario)} |")
    return (f"No noise, the nominal tasks, success and median IAE (LQR-I's filter: `observer = \"always\"`); "
            f"{_provenance(nominal)}; {_provenance(filtered)}; {_provenance(estimate)}; {_provenance(observer)}."
            "\n\n" + "\n".join(lines))


def _refused(row: dict) -> bool:
    return bool(row.get("error")) and row["error"].startswith(("Scenario", "Parameter"))


def _stopped(row: dict) -> str:
    return f" ({row['stopped']} stopped)" if row["stopped"] else ""



def _plants_no_model(nominal: dict, no_model: dict, identified: dict) -> str:
    """The neural kind's shipped tasks with and without what it reads from the env's python-control model."""
    lines = ["| plant | with the model: success, IAE vs LQR-I | without it: success, IAE vs LQR-I "
             "| `plant_model = \"identified\"`: success, IAE vs LQR-I | what the model gave |", "|---|---|---|---|---|"]
    for scenario, label in {"helicopter_hover": "helicopter", **_ISSUE15_PLANTS}.items():
        rows = nominal["figures"][scenario]["rows"]
        a, lqr = rows["neural"], rows["lqr_i"]
        b = no_model["figures"][scenario]["rows"]["neural_no_model"]
        c = identified["figures"][scenario]["rows"]["neural_identified"]
        cells = [f"{_count(r)}; {_ratio_text(_ratios(r['iae_median'], lqr['iae_median']))}" for r in (a, b, c)]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {cells[2]} | {_NO_MODEL_GAVE.get(scenario, 'nothing')} |")
    seeds = f"seeds {no_model.get('first_seed', 0)}-{no_model.get('first_seed', 0) + no_model['seeds'] - 1}"
    return (f"The neural kind's defaults on each plant's shipped task, {seeds}, with the settings it reads from the "
            "env's python-control model (`plants_100`), without them (`plant_model = false`: what an env "
            "without a model gets) and with a model identified before the run in their place (`plant_model = "
            "\"identified\"`, opt-in); medians over the runs that completed; "
            f"IAE ratios per output against LQR-I's in `plants_100`; {_provenance(no_model)}; "
            f"{_provenance(identified)}.\n\n" + "\n".join(lines))


#: scenario -> what the neural kind's defaults read from its env's python-control model there
_NO_MODEL_GAVE = {
    "helicopter_hover": "an automatic LQR-I warm-up (the altitude integrates); without: the identified warm-up",
    "quadtank_pplus": "`long_run_signals`: an identification warm-up (learned twice more at the hand-over, "
                      "`warmup_replay`; its input gains re-learned after a change, `change_reidentify`), a horizon "
                      "of 184 steps, two input taps; `warmup_feedforward`: the warm-up's input follows the reference "
                      "by the model's steady-state gain",
    "pvtol_steps": "an automatic LQR-I warm-up (a chain of integrators); without: the identified warm-up",
    "cstr_setpoint": "`long_run_signals`: a horizon of 132 steps, two input taps",
    "twin_rotor_steps": "an automatic LQR-I warm-up (its linearisation is not asymptotically stable)",
}


def _gusts_summary(rec: dict, without: dict) -> str:
    """One sentence per task of the gust records: runs completed, in the band, off by more than the excursion."""
    f = rec["figures"]
    n = len(rec["seeds"])
    names = {"neural": "the neural controller", "lqr": "LQR", "pid": "PID"}

    def cells(variant, results=f["results"]):
        return "; ".join(f"{names[k]} {r['completed']} completed, {r['success']} in the band, {r['excursions']} off "
                         f"by more than {f['excursion_m']} m (worst {_g(r['max_altitude_error_worst_m'], 2)} m)"
                         for k, r in results[variant].items() if k in names)

    walkless = {"gusts": {"neural": without["figures"]["results"]["gusts"]["neural"]}}
    return (f"Hover with random vertical gusts, {f['duration_s']:.0f} s, seeds 0-{n - 1} "
            f"(`{rec['command']}`, measured {rec['measured_at']}): without sensor noise {cells('gusts')}. "
            f"With the sensor noise of `sensor_noise.toml` as well: {cells('gusts_noise')}. Without the neural "
            f"controller's bias walk, no noise: {cells('gusts', walkless)}.")

# --------------------------------------------------------------------------- unseen plants (bench_unseen_plants.py)

def _unseen_plants(nominal: dict, noise: dict) -> str:
    """Plants no default was chosen on: success and median IAE of the neural defaults and the generic baselines."""
    def iae(row, key):
        return ", ".join(f"{o} {_g(v, 3)}" for o, v in row[key].items()) if row[key] else "-"

    kinds = [k for k in ("neural", "lqr_i", "pid_auto") if k in next(iter(nominal["figures"].values()))]
    label = {"neural": "neural", "lqr_i": "LQR-I", "pid_auto": "PID (`pid_auto`)"}
    head = " | ".join(f"{label[k]}: success" for k in kinds) + " | " + " | ".join(f"median IAE, {label[k]}"
                                                                                 for k in kinds)
    lines = [f"| plant | {head} |", "|---|" + "--:|" * len(kinds) + "---|" * len(kinds)]
    for name, row in nominal["figures"].items():
        lines.append(f"| `{name}` | " + " | ".join(_count(row[k]) for k in kinds) + " | "
                     + " | ".join(iae(row[k], "iae_median") for k in kinds) + " |")
    head = " | ".join(f"{label[k]}: true outputs in band" for k in kinds) + " | " + " | ".join(
        f"median IAE of the true outputs, {label[k]}" for k in kinds)
    noisy = [f"| plant | {head} |", "|---|" + "--:|" * len(kinds) + "---|" * len(kinds)]
    for name, row in noise["figures"].items():
        noisy.append(f"| `{name}` | " + " | ".join(str(row[k]["true_success"]) for k in kinds) + " | "
                     + " | ".join(iae(row[k], "true_iae_median") for k in kinds) + " |")
    n = len(nominal["seeds"])
    return (f"Seeds 0-{n - 1} per plant and controller; success on the measured outputs (without noise they are the "
            f"true ones); a success count with `(k stopped)` when the env ended runs. {_provenance(nominal)}.\n\n"
            + "\n".join(lines) + f"\n\nWith sensor noise of {noise['noise']:g} of each observation's declared range "
            f"(no controller can then pass on the measured outputs: none did). {_provenance(noise)}.\n\n"
            + "\n".join(noisy))


#: name -> (page relative to the root, record names, renderer taking the records in order).
TABLES = {
    "hover-compare": ("README.md", ("hover",), _hover_compare),
    "hover-targets": ("README.md", ("hover",), _hover_targets),
    "hover-one-step": ("README.md", ("hover",), _hover_one_step),
    "faults-summary": ("README.md", ("faults",), _faults_summary),
    "faults": ("docs/reliability.md", ("faults",), _faults_table),
    "faults-neural": ("docs/reliability.md", ("faults_neural",), _faults_table),
    "soak": ("README.md", ("soak",), _soak),
    "soak-reliability": ("docs/reliability.md", ("soak",), _soak),
    "first-run": ("README.md", ("first_run",), _first_run),
    "ilc-ablation": ("README.md", ("ilc",), _ilc_ablation),
    "ilc-ablation-docs": ("docs/ilc.md", ("ilc",), _ilc_ablation),
    "ilc-neural": ("README.md", ("ilc_neural",), _ilc_ablation),
    "ilc-neural-docs": ("docs/ilc.md", ("ilc_neural",), _ilc_ablation),
    "ilc-targets": ("README.md", ("ilc", "ilc_neural"), _ilc_targets),
    **{name: ("README.md", ("plants",), functools.partial(_plant_table, scenario))
       for name, scenario in PLANT_TABLES.items()},
    "plants-change": ("README.md", ("plants_change",), _plants_robust),
    "plants-noise": ("README.md", ("plants_noise",), _plants_robust),
    "neural-ablation": ("docs/neural_controller.md", ("ablation",), functools.partial(_ablation_table, frozen=False)),
    "neural-frozen": ("docs/neural_controller.md", ("ablation",), _ablation_frozen),
    "warmup-check": ("docs/neural_controller.md", ("warmup_check",), _warmup_check),
    "learned-response": ("docs/neural_controller.md", ("learned_response",), _learned_response),
    "gusts": ("docs/neural_controller.md", ("gusts", "gusts_no_walk"), _gusts),
    "neural-gradient": ("docs/neural_controller.md", ("ablation_gradient", "ablation"), _ablation_gradient),
    "neural-ablation-100": ("docs/neural_controller.md", ("ablation_100",),
                            functools.partial(_ablation_table, frozen=True)),
    "neural-changes-100": ("docs/neural_controller.md", ("ablation_changes_100",),
                           functools.partial(_ablation_table, frozen=True)),
    "neural-targets": ("README.md", ("ablation_100",), _neural_targets),
    "gusts-summary": ("README.md", ("gusts", "gusts_no_walk"), _gusts_summary),
    "plants-targets": ("README.md", ("plants_100", "plants_change_100", "plants_noise_100",
                                     "plants_noise_observer_100"), _plants_targets),
    "noise-filters": ("docs/plants.md", ("plants_noise_100", "plants_noise_observer_100", "plants_noise_filtered_100",
                                         "plants_noise_pid_100", "plants_noise_filtered_estimate_100"), _noise_filters),
    "filters-nominal": ("docs/plants.md", ("plants", "plants_observer", "plants_filtered", "plants_filtered_estimate"),
                        _filters_nominal),
    "unseen-plants": ("docs/plants.md", ("unseen_plants", "unseen_plants_noise"), _unseen_plants),
    "plants-no-model": ("README.md", ("plants_100", "plants_no_model_100", "plants_identified_100"), _plants_no_model),
}


def render_table(name: str) -> str:
    """Render one table from its records.

    Parameters
    ----------
    name : str
        A key of :data:`TABLES`.
    """
    _, records, render = TABLES[name]
    return render(*(load_record(r) for r in records))


def render_page(page: str, text: str) -> str:
    """Return ``text`` (the content of ``page``) with every marked table of that page regenerated.

    Parameters
    ----------
    page : str
        The page's path relative to the repository root (e.g. ``"README.md"``).
    text : str
        The page's current content.
    """
    for name, (where, _, _) in TABLES.items():
        if where != page:
            continue
        begin, end = f"<!-- table:{name} -->", f"<!-- /table:{name} -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"{page} has no `{begin}` ... `{end}` block; add the markers where the table goes.")
        block = f"{begin}\n<!-- generated by docs/make_tables.py from benchmarks/records; do not edit -->\n" \
                f"{render_table(name)}\n{end}"
        text = pattern.sub(lambda _m: block, text, count=1)
    return text


def main(argv=None) -> int:
    """Regenerate the tables, or with ``--check`` report the pages that differ.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).
    """
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    stale = []
    for page in sorted({where for where, _, _ in TABLES.values()}):
        path = ROOT / page
        old = path.read_text()
        new = render_page(page, old)
        if new != old:
            stale.append(page)
            if not check:
                path.write_text(new)
    if check and stale:
        print("out of date (run python docs/make_tables.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
