"""The ILC tables of README.md and docs/ilc.md, rendered from ``benchmarks/records/ilc*.json`` (bench_ilc.py).

Part of ``docs/make_tables.py``, which maps the table names to :func:`ilc_ablation`.
"""

from __future__ import annotations

import statistics

__all__ = ["SHARE_VARIANTS", "TRANSFER_LEVELS", "ilc_ablation", "ilc_targets", "verdict"]

#: The transfer task's altitude levels (benchmarks/bench_ilc.py, TRANSFER), for the table's note.
TRANSFER_LEVELS = (0.5, 0.8, 1.2, 0.9, 1.4)

_ILC_LABELS = {
    "network": "network ILC around {c} (closed-loop RTRN, 8 hidden units, kept over trials; the correction {k})",
    "network_h0": "same, linear network (no hidden units)",
    "network_warmup": "same, the law learning from the controller's warm-up too",
    "network_signal": "same, the correction kept as a time-indexed signal",
    "network_held": "same, the correction kept in a network of the reference",
    "network_fresh": "same, every network as new at the start of every trial",
    "network_signal_fresh": "same, the correction kept as a signal, every network as new at each trial",
    "network_reset": "same, every network forgetting before each update (one trial's memory)",
    "fir": "same law, linear FIR model of the closed loop",
    "p_controller": "P-type set-point law around {c}",
    "p_lqr": "P-type set-point law around LQR",
    "none": "no ILC ({c})",
}


def _ratios(values) -> str:
    return ", ".join("-" if r is None else f"{r:.2f}" for r in values)      # None: a seed that lost the plant


def _median_of(values):
    vals = [v for v in values if v is not None]         # None: a failed trial
    return statistics.median(vals) if vals else None


def _mm(v) -> str:
    return "-" if v is None else f"{1000 * v:.3g}"


#: The record's share figures and the ablation variant each compares with the law (bench_ilc.py).
SHARE_VARIANTS = {"share_lost_without_memory": "network_fresh", "share_lost_keeping_last_update": "network_reset",
                  "share_lost_signal_fresh": "network_signal_fresh"}


def _trials_to_stay_within(row, change: int, factor: float):
    """Count the trials from trial ``change`` on until every later one is within ``factor`` x the trial before it."""
    ref = factor * row[change - 2]
    for k in range(change, len(row) + 1):
        if all(v is not None and v <= ref for v in row[k - 1:]):
            return k - change + 1
    return None


def _best_trial_share(ab: dict, variant: str, law: list):
    """``(k, share)``: the variant's best trial after the first (1-based) and the share of the law's improvement it
    loses there; None without the figures. The last trial's figure can be a phase of a cycle."""
    reset = ab.get(variant, {}).get("median_altitude_m") or []
    if len(reset) <= 2 or not law or law[0] <= law[-1]:
        return None
    k = min(range(1, len(reset)), key=lambda j: reset[j])
    return k + 1, 1.0 - (law[0] - reset[k]) / (law[0] - law[-1])


def _share(lost: float, ab: dict, variant: str, law: list, judged: bool = True) -> str:
    """The share note's figure: ``lost`` the share of the law's improvement that ``variant`` loses; with
    ``judged`` against the target (>= 80 %), else with the variant's best trial when that tells another story."""
    keeps = f"{100 * lost:.1f} % (the variant keeps {100 * (1.0 - lost):.1f} % of it"
    best = _best_trial_share(ab, variant, law)
    if not judged:
        if best is not None and best[1] < lost - 0.05:
            reset = ab[variant]["median_altitude_m"]
            keeps += (f"; its trials go {', '.join(_mm(v) for v in reset[:4])} ... mm, and its trial {best[0]} keeps "
                      f"{100 * (1.0 - best[1]):.1f} % of the improvement, a share of {100 * best[1]:.1f} %")
        return keeps + ")"
    judgement = "met" if lost >= 0.8 else "not met"
    failed = ab.get(variant, {}).get("failed_runs", 0)
    if failed and judgement == "met":   # partly the variant failing, not a correction held in weights
        n_runs = len(ab[variant]["altitude_rms_m"])
        judgement = (f"met on the figure, but {failed} of the variant's {n_runs} runs lost the plant: without trial "
                   "memory the law fails rather than the correction living in the networks' weights")
    if judgement == "met" and best is not None and best[1] < 0.8:
        reset = ab[variant]["median_altitude_m"]
        judgement = (f"met on trial {len(reset)}'s figure only: the variant's trials go "
                   f"{', '.join(_mm(v) for v in reset[:4])} ... mm, and its trial {best[0]} keeps "
                   f"{100 * (1.0 - best[1]):.1f} % of the improvement, a share of {100 * best[1]:.1f} % by that trial: "
                   "not met")
    return f"{keeps}; target >= 80 %: {judgement})"


def ilc_ablation(rec: dict, provenance: str) -> str:
    f = rec["figures"]
    ctrl = rec.get("controller", "adaptive")
    ab = f["ablation"]
    trials = rec["trials"]
    cols = [k for k in (1, 2, 3, 5, trials) if k <= trials]
    lines = ["| variant | " + " | ".join(f"trial {k}" for k in cols) + " | trials to 10 % of trial 1 | failed runs |",
             "|---|" + "--:|" * len(cols) + "--:|--:|"]
    for name, a in ab.items():
        med = a["median_altitude_m"]
        reach = a["trials_to_10_percent"]
        kept = "in a network of the reference" if f.get("feedforward_network") else "as a time-indexed signal"
        lines.append(f"| {_ILC_LABELS.get(name, name).format(c=ctrl, k=kept)} | "
                     + " | ".join(_mm(med[k - 1]) for k in cols)
                     + f" | {'-' if reach is None else reach} | {a['failed_runs']} |")
    text = "\n".join(lines)
    notes = []
    if "network" in ab:
        net = ab["network"]["median_altitude_m"]
        target = ab.get("p_lqr", {}).get("median_altitude_m", [None])[-1]
        if target is not None:
            notes.append(f"trial {trials}, network ILC around {ctrl}: {_mm(net[-1])} mm against "
                         f"{_mm(target)} mm for the P-type law around LQR (target <= that: "
                         f"{'met' if net[-1] <= target else 'not met'})")
    law = ab.get("network", {}).get("median_altitude_m") or []
    for key, intro, judged in (
            ("share_lost_without_memory", "share of the improvement that needs the networks' trial memory (every "
             "network as new at the start of every trial)", True),
            ("share_lost_keeping_last_update", "the same with the networks forgetting before each update instead, so "
             "that the last trial's update carries to the next (one trial's memory)", False),
            ("share_lost_signal_fresh", "the correction kept as a time-indexed signal, every network as new at the "
             "start of every trial (the signal, not a network, carries)", False)):
        if f.get(key) is not None:
            notes.append(f"{intro}: {_share(f[key], ab, SHARE_VARIANTS[key], law, judged=judged)}")
    moved = f.get("transfer") or {}
    if moved.get("network"):
        def mm_list(key):
            return ", ".join(_mm(v) for v in moved[key])

        notes.append(f"transfer to another staircase (levels {'/'.join(map(str, TRANSFER_LEVELS))} m), one trial with "
                     f"what the trials taught, seeds {', '.join(map(str, rec['robust_seeds']))}, RMS altitude error: "
                     f"no correction {mm_list('none')} mm; the correction network's output along the new reference "
                     f"{mm_list('network')} mm; the old task's time-indexed correction {mm_list('old_signal')} mm")
    rob = f.get("robust", {})
    if "noise_gusts" in rob:
        ratios = rob["noise_gusts"]["worst_11_on_over_best_1_10"]
        worst = max((r for r in ratios if r is not None), default=None)
        lost = [k for k, row in enumerate(rob["noise_gusts"]["altitude_rms_m"]) if any(v is None for v in row)]
        n = rob["noise_gusts"]["trials"]
        meds = [(_median_of(r[:10]), _median_of(r[n - 10:])) for r in rob["noise_gusts"]["altitude_rms_m"]]
        notes.append(f"{n} trials with sensor noise and per-trial random gusts, seeds "
                     f"{', '.join(map(str, rec['robust_seeds']))}: worst trial of 11-{n} over the best of 1-10 = "
                     f"{_ratios(ratios)} (target <= 1.5: "
                     f"{'met' if worst is not None and worst <= 1.5 and not lost else 'not met'}"
                     + (f"; the plant lost on {len(lost)} of {len(ratios)} seeds" if lost else "")
                     + f"); median of trials 1-10 -> {n - 9}-{n}: "
                     + ", ".join(f"{_mm(a)} -> {_mm(b)} mm" for a, b in meds))
        def late(key):       # per seed: the median of trials 11..n, and the worst
            rows = [[v for v in r[10:] if v is not None] for r in rob[key]["altitude_rms_m"]]
            return ", ".join(f"{_mm(_median_of(r))} / {_mm(max(r, default=None))}" for r in rows)

        notes.append(f"trials 11-{n} per seed, median / worst, network law: {late('noise_gusts')} mm")
        for key, what in (("noise_gusts_fixed_gain", "the same law with its learning gain fixed at 1"),
                          ("noise_gusts_frozen", "the same law's correction frozen after trial 10"),
                          ("noise_gusts_no_ilc", "no ILC")):
            if key in rob:
                ratios = rob[key]["worst_11_on_over_best_1_10"]
                notes.append(f"same draws, {what}: worst of 11-{n} over best of 1-10 = "
                             + _ratios(ratios)
                             + f"; trials 11-{n} median / worst: {late(key)} mm")
        part = rob.get("noise_gusts_no_ilc", {}).get("trial_varying_ratio")
        if part:                            # the error that differs between trials: no trial-to-trial law removes it
            above = sum(r is not None and r > 1.5 for r in part)
            notes.append(f"same draws, no ILC, each trial's error less the mean error of the {n} trials (the part that "
                         f"differs from trial to trial, which no trial-to-trial law removes): worst of 11-{n} over "
                         "best of 1-10 = " + _ratios(part)
                         + f"; a law that removed exactly the rest would show that, were the loop linear: above 1.5 on "
                         f"{above} of {len(part)} seeds")
        if "noise_gusts_no_ilc" in rob:     # trial by trial: the same noise and gusts with and without the law
            pairs = [[a / b for a, b in zip(r[10:], q[10:]) if a is not None and b] for r, q in
                     zip(rob["noise_gusts"]["altitude_rms_m"], rob["noise_gusts_no_ilc"]["altitude_rms_m"])]
            notes.append(f"trial by trial, trials 11-{n}, network law over no ILC on the same draws: largest per seed "
                         + ", ".join(f"{max(p):.2f}" for p in pairs) + ", median " + ", ".join(
                             f"{_median_of(p):.2f}" for p in pairs) + f"; trials the law made worse: "
                         f"{sum(x > 1.0 for p in pairs for x in p)} of {sum(map(len, pairs))}")
    if "drag_change_before_6" in rob:
        rows = rob["drag_change_before_6"]["altitude_rms_m"]
        back = [_trials_to_stay_within(r, 6, 2.0) for r in rows]
        ok = all(b is not None and b <= 3 for b in back)
        peak = [max(r[5:]) / r[4] for r in rows]
        notes.append("drag a8, a9 +30 % before trial 6: trials after the change until the error stays within 2x "
                     "of trial 5's = " + ", ".join("not by the last trial" if b is None else str(b) for b in back)
                     + f" (target <= 3: {'met' if ok else 'not met'}); largest error after the change / trial 5 = "
                     + ", ".join(f"{p:.1f}" for p in peak))
    seeds = rec["seeds"]
    scenario = next(iter(rec["scenarios"]))
    head = (f"Median RMS altitude error in mm over seeds {seeds[0]}-{seeds[-1]}, `scenarios/{scenario}.toml`; "
            f"{provenance}.\n\n")
    return head + text + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")


def verdict(ok: bool) -> str:
    """A targets table's verdict cell: "met" or "**not met**"."""
    return "met" if ok else "**not met**"


def _span(values, fmt="{:.2f}") -> str:
    """``lo-hi`` of the finite values (``-`` for none)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    lo, hi = min(vals), max(vals)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def ilc_targets(adaptive: dict, neural: dict, provenance: str) -> str:
    """Issue #14's targets as the two ILC records measure them, around the adaptive and the neural controller."""
    recs = {"adaptive": adaptive, "neural": neural}
    lines = ["| target (issue #14) | around the adaptive controller | around the neural controller | |",
             "|---|---|---|---|"]

    def row(what, cells, ok):
        lines.append(f"| {what} | {cells['adaptive']} | {cells['neural']} | {verdict(ok)} |")

    cells, ok = {}, True
    for k, rec in recs.items():
        ab = rec["figures"]["ablation"]
        net, lqr = ab["network"]["median_altitude_m"][-1], ab["p_lqr"]["median_altitude_m"][-1]
        cells[k] = f"{_mm(net)} mm ({net / lqr:.2f}x)"
        ok = ok and net <= lqr
    row(f"trial-{adaptive['trials']} RMS altitude error, network ILC <= the set-point law around LQR "
        f"({_mm(adaptive['figures']['ablation']['p_lqr']['median_altitude_m'][-1])} mm)", cells, ok)
    cells, ok = {}, True
    for k, rec in recs.items():
        reach = rec["figures"]["ablation"]["network"]["trials_to_10_percent"]
        cells[k] = "-" if reach is None else str(reach)
        ok = ok and reach is not None and reach <= 3
    row("trials to reach 10 % of trial 1 <= 3", cells, ok)
    for key, what, judged in (
            ("share_lost_without_memory", "share of the improvement that needs the networks' trial memory >= 80 % "
             "(every network new at the start of every trial)", True),
            ("share_lost_keeping_last_update", "the same against one trial's memory (the networks forgetting before "
             "each update; for comparison)", False),
            ("share_lost_signal_fresh", "the same resets with the correction kept as a signal (what the check "
             "catches; for comparison)", False)):
        if not all(rec["figures"].get(key) is not None for rec in recs.values()):
            continue
        cells = {}
        for k, rec in recs.items():
            cells[k] = f"{100 * rec['figures'][key]:.1f} %"
            ab = rec["figures"]["ablation"]
            best = _best_trial_share(ab, SHARE_VARIANTS[key], ab["network"]["median_altitude_m"])
            if best is not None and best[1] < rec["figures"][key] - 0.05:
                cells[k] += f" ({100 * best[1]:.1f} % by its trial {best[0]})"
        if judged:
            row(what, cells, all(rec["figures"][key] >= 0.8 for rec in recs.values()))
        else:
            lines.append(f"| {what} | {cells['adaptive']} | {cells['neural']} | |")
    cells, ok = {}, True
    for k, rec in recs.items():
        rob = rec["figures"].get("robust", {})
        ratios = rob.get("noise_gusts", {}).get("worst_11_on_over_best_1_10", [])
        part = rob.get("noise_gusts_no_ilc", {}).get("trial_varying_ratio", [])
        cells[k] = (f"{_span(ratios)} (seeds {', '.join(map(str, rec['robust_seeds']))}); the part that differs "
                    f"from trial to trial, without ILC: {_span(part)}")
        ok = ok and bool(ratios) and all(r is not None and r <= 1.5 for r in ratios)
    n = adaptive["figures"].get("robust", {}).get("noise_gusts", {}).get("trials", 50)
    row(f"{n} trials with sensor noise and a per-trial random gust: worst trial 11-{n} <= 1.5x the best of 1-10",
        cells, ok)
    cells, ok = {}, True
    for k, rec in recs.items():
        back = rec["figures"].get("robust", {}).get("drag_change_before_6", {}).get("trials_to_stay_within_2x_trial5")
        cells[k] = "-" if not back else ", ".join("-" if b is None else str(b) for b in back)
        ok = ok and bool(back) and all(b is not None and b <= 3 for b in back)
    row("drag +30 % before trial 6: trials to get back within 2x of trial 5 <= 3 (per seed)", cells, ok)
    lines.append("| lifted-form contraction rate on a linear plant, measured against predicted: within 10 % | "
                 "a test (`tests/test_ilc_network.py`, exact, wrong-gain and Q-filtered models) | | met |")
    return (f"Seeds 0-{len(adaptive['seeds']) - 1}, medians (the noise, gust and drag rows: seeds "
            f"{', '.join(map(str, adaptive['robust_seeds']))}); {provenance}.\n\n" + "\n".join(lines))
