"""Trial-to-trial learning through the networks: the ablation of the ILC staircase, and its robustness runs.

Runs ``scenarios/ilc_staircase.toml`` (20 s altitude staircase 0.5 -> 1.5 m,
every trial from the same hover, adaptive controller) or, with ``--scenario
ilc_neural``, the same task flown by the neural (two-RTRN) controller,
through :class:`neurocontrol.ilc.ILCRunner` with these variants, the same
seeds for each ("the controller" is the scenario's):

- ``network``: norm-optimal ILC on the reference channel whose closed-loop
  model is an RTRN trained by RTRL + EKF over the trials
  (:class:`~neurocontrol.ilc.rtrn_model.ClosedLoopNetworkModel`, 8 hidden
  units), around the controller, which carries its weights too;
- ``network_h0``: the same with a linear network (no hidden units);
- ``network_warmup``: the same as ``network`` with the law learning from the
  controller's warm-up too (``exclude_excitation=False``);
- ``network_signal`` / ``network_held``: the same as ``network`` with the
  correction kept as a time-indexed signal between the trials
  (``feedforward_network = 0``) / in the weights of a network of the reference
  (``1``); the one the scenario ships is ``network`` itself and not run again;
- ``network_fresh``: the same as ``network`` with every network as new at
  the start of every trial: the controller restarts from its warm-up, the law
  learns from the trial and fits its update into the correction network as
  usual, and then the closed-loop network and the correction network are
  reset before the next trial (:class:`FreshEachTrial`), so nothing a network
  learned crosses a trial boundary (a correction kept as a time-indexed
  signal is not a network's and carries: ``network_signal_fresh``, the
  same with the correction kept as a signal, shows what that keeps);
- ``network_reset``: the same with the networks forgetting before each
  update instead: the controller restarts from its warm-up, the closed-loop
  network learns the last trial alone and the correction network holds that
  one update for the next trial (one trial's memory);
- ``fir``: the same law with a linear FIR least-squares model of the closed
  loop (:class:`~neurocontrol.ilc.network.ClosedLoopFIRModel`, 150 taps);
- ``p_controller``: the P-type set-point law (gains 0.3 / 1.0, lead 30, Q 1.5 Hz)
  around the controller;
- ``p_lqr``: the same P-type law around the helicopter's LQR baseline;
- ``none``: no ILC (the controller still carries its weights).

Then, for the network law: ``--long`` trials with sensor noise (the
``sensor_noise`` scenario's levels) and random vertical gusts that differ
from trial to trial (also with the learning gain fixed at 1,
``network_fixed_gain``; with the correction frozen after trial 10,
``network_frozen``, so what the later trials' learning adds; and without ILC,
``none``: the same draws, so the spread the disturbances cause by
themselves; from that run also each trial's error less the mean error of the
50 trials, the part no trial-to-trial law can learn, whose worst-to-best
ratio is what a law that removed the rest exactly would show if the loop were
linear), and a drag change (+30 %, a8
and a9) before trial 6; and the transfer to another task: after the network
law's trials, the controller with what it learned flies a different staircase
(:data:`TRANSFER`) once, with no correction, with the correction network's
output along the new reference, and with the time-indexed correction of the
old task.

Prints the tables and writes ``benchmarks/records/ilc.json`` and
``docs/img/ilc_trials.png`` (median RMS altitude error per trial and variant);
``ilc_neural.json`` and ``ilc_neural_trials.png`` with ``--scenario ilc_neural``; with the noise/gust runs,
``docs/img/ilc_gusts.png`` from both records again (``docs/plot_ilc_gusts.py``).

    python benchmarks/bench_ilc.py                       # seeds 0-19, 10 trials; robustness seeds 0-4
    python benchmarks/bench_ilc.py --scenario ilc_neural
    python benchmarks/bench_ilc.py --seeds 0:3 --robust-seeds 0 --long 20   # quick look
    python benchmarks/bench_ilc.py --variants network_held --feedforward-hidden-units 32 --long 0 --no-record
                                                         # a correction network with trained hidden units
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, json_safe, write_record  # noqa: E402  (benchmarks are scripts, not a package)

from neurocontrol.experiments.sweeps import parse_seeds  # noqa: E402
from neurocontrol.ilc import ILCRunner  # noqa: E402
from neurocontrol.ilc.laws import AbstractILCLaw  # noqa: E402
from neurocontrol.ilc.scenario_runner import FEEDFORWARD_NETWORK, law_for_setup  # noqa: E402
from neurocontrol.scenario import Scenario  # noqa: E402
from neurocontrol.scenario.decode import registration_of  # noqa: E402
from plants.helicopter.baselines import LQRController  # noqa: E402

SCENARIOS = {"ilc_staircase": "ilc", "ilc_neural": "ilc_neural"}    # scenario -> record name
NOISE = [0.2, 0.002, 0.01, 0.0002, 0.005]       # the sensor_noise scenario's levels
VARIANTS = ("network", "network_h0", "network_warmup", "network_signal", "network_held", "network_fresh",
            "network_signal_fresh", "network_reset", "fir", "p_controller", "p_lqr", "none")
#: The variants whose controller restarts from its warm-up in every trial (its networks forget too).
FORGETFUL = ("network_reset", "network_fresh", "network_signal_fresh")
#: Trials after which ``network_frozen`` stops learning (the noise/gust runs' ratio compares the later trials with
#: the best of these).
FROZEN_AFTER = 10
#: The transfer task: another altitude staircase (levels in m at times in s), up and down, other step sizes.
TRANSFER = {"levels": [0.5, 0.8, 1.2, 0.9, 1.4], "times": [0.0, 3.0, 7.0, 11.0, 15.0]}


class FrozenAfter(AbstractILCLaw):
    """A law that learns in trials 1..``trials`` and then replays the feedforward it reached (the controller still
    learns within each trial)."""

    def __init__(self, law: AbstractILCLaw, trials: int):
        self.law, self.trials = law, trials

    def check(self, **kwargs):
        """Check as the wrapped law does."""
        return self.law.check(**kwargs)

    def _update_impl(self, feedforward, error, context):
        return self.law.update(feedforward, error, context) if context.trial <= self.trials else feedforward


class FreshEachTrial(AbstractILCLaw):
    """A network law whose networks are all new at the start of every trial (the ablation without trial memory).

    The law meets every trial as its first (its closed-loop model, its correction network and what it kept of the
    trial before are reset), learns from it and fits its update into its correction network as it always does;
    then its closed-loop model and its correction network are reset again, and the next trial flies with what the
    new correction network gives along the reference (zero). A law that keeps its correction as a time-indexed
    signal (no correction network) returns that signal as it is: it is not a network's memory.
    """

    def __init__(self, law: AbstractILCLaw):
        self.law = law

    def check(self, **kwargs):
        """Check as the wrapped law does."""
        return self.law.check(**kwargs)

    def _update_impl(self, feedforward, error, context):
        out = self.law.update(feedforward, error, dataclasses.replace(context, trial=1))
        net = self.law.feedforward_network
        if net is None:
            return out
        net.reset()
        self.law.model.reset()
        return net.predict(context.references[:-1], out.shape[1])


class DragChange(gym.Wrapper):
    """Multiply the plant's drag coefficients a8, a9 after every reset once ``active`` is set."""

    def __init__(self, env, factor: float):
        super().__init__(env)
        self.factor, self.active = factor, False

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        if self.active:
            p = self.env.unwrapped.params
            self.env.unwrapped.set_params(p.replace(a8=p.a8 * self.factor, a9=p.a9 * self.factor))
        return out


#: P-type set-point law of the P variants (gains 0.3 / 1.0, lead 30 steps, Q 1.5 Hz)
P_GAINS = {"gain_rotor_speed": 0.3, "gain_altitude": 1.0, "lead": 30, "q_cutoff_hz": 1.5}


def _spec(variant: str, shipped, hidden: int = 0):
    """The ``[ilc]`` table of a variant, from the shipped scenario's own (``shipped``); ``hidden``: the
    ``feedforward_hidden_units`` of ``network_held``."""
    gains = dict(shipped.gains)
    held = {**gains, "feedforward_network": 1, **({"feedforward_hidden_units": hidden} if hidden else {})}
    table = {"network": ("network", gains),
             "network_h0": ("network", {**gains, "hidden_units": 0}),
             "network_warmup": ("network", gains),
             "network_reset": ("network", {**gains, "memory": 0}),
             "network_fresh": ("network", gains),                     # FreshEachTrial does the forgetting
             "network_signal_fresh": ("network", {**gains, "feedforward_network": 0}),
             "network_signal": ("network", {**gains, "feedforward_network": 0}),
             "network_held": ("network", held),
             "network_fixed_gain": ("network", {**gains, "gain_adaptation": 0}),
             "network_frozen": ("network", gains),
             "fir": ("norm_optimal", {"taps": 150, "regularization": gains.get("regularization", 0.1),
                                      "q_cutoff_hz": gains.get("q_cutoff_hz", 1.5)}),
             "p_controller": ("p", P_GAINS), "p_lqr": ("p", P_GAINS),
             "none": ("p", {**P_GAINS, "gain_rotor_speed": 0.0, "gain_altitude": 0.0})}
    law, g = table[variant]
    return dataclasses.replace(shipped, law=law, gains=g)


def run(variant: str, seed: int, trials: int, *, noise: bool = False, gusts: bool = False,
        change_before: int | None = None, scenario: str = "ilc_staircase", hidden: int = 0,
        trial_varying: bool = False):
    """Return the (trials, 2) RMS errors of one ILC run (NaN rows after a failed trial).

    With ``trial_varying`` also the (trials,) RMS altitude error of each trial less the mean error of all trials
    (step by step): the part of the error that differs from trial to trial (NaN if a trial failed).
    """
    sc = Scenario.from_toml(ROOT / "scenarios" / f"{scenario}.toml")
    if noise:
        sc = sc.set("plant.disturbances.sensor_noise_std", NOISE)
    if gusts:
        sc = sc.set("plant.disturbances.gust_rate", 0.1).set("plant.disturbances.gust_amplitude", 2.0)
    setup = sc.build(seed)
    # the law as a scenario run builds it (ranges, prior lag and 1 / tolerance^2 weights from the setup)
    law = law_for_setup(_spec(variant, sc.ilc, hidden), setup, seed, dict(sc.run.tolerance))
    if variant == "network_frozen":
        law = FrozenAfter(law, FROZEN_AFTER)
    if variant in ("network_fresh", "network_signal_fresh"):
        law = FreshEachTrial(law)
    controller = LQRController.from_plant(rotor_speed=140.0) if variant == "p_lqr" else setup.controller
    env = DragChange(setup.env, 1.3) if change_before else setup.env
    opts = dict(setup.options or {})
    x0 = opts.pop("initial_state")

    def callback(k, info):
        if change_before and k == change_before - 1:
            env.active = True

    runner = ILCRunner(env, controller, setup.reference, law=law, trials=trials,
                       duration=sc.run.duration, initial_state=x0, seed=seed, channel="reference",
                       options=opts or None, callback=callback, carry_weights=variant not in FORGETFUL,
                       exclude_excitation=variant != "network_warmup", keep_trials=trial_varying)
    res = runner.run()
    errors = np.full((trials, 2), np.nan)
    errors[:res.errors.shape[0]] = res.errors
    if not trial_varying:
        return errors
    varying = np.full(trials, np.nan)
    if res.status != "failed" and len(res.trial_results) == trials:
        e = np.array([r.references[1:, 1] - r.outputs[1:, 1] for r in res.trial_results])
        varying = np.sqrt(np.mean((e - e.mean(axis=0)) ** 2, axis=1))
    return errors, varying


def transfer(seed: int, trials: int, scenario: str, hidden: int = 0) -> dict:
    """RMS altitude error (m) on the :data:`TRANSFER` staircase after ``trials`` network-law trials on the task
    (the correction held in a network of the reference, whatever the scenario ships).

    One trial each, the controller restored to its state after the trials (``continue_learned``: no warm-up),
    with: no correction (``none``), the correction network's output along the new reference (``network``),
    and the old task's time-indexed correction replayed (``old_signal``). NaN for a failed trial.
    """
    from neurocontrol.ilc import PTypeILC

    sc = Scenario.from_toml(ROOT / "scenarios" / f"{scenario}.toml")
    setup = sc.build(seed)
    law = law_for_setup(_spec("network_held", sc.ilc, hidden), setup, seed, dict(sc.run.tolerance))
    opts = dict(setup.options or {})
    x0 = opts.pop("initial_state")
    res = ILCRunner(setup.env, setup.controller, setup.reference, law=law, trials=trials, duration=sc.run.duration,
                    initial_state=x0, seed=seed, channel="reference", options=opts or None).run()
    new = sc.set("reference.altitude.levels", TRANSFER["levels"]).set("reference.altitude.times", TRANSFER["times"])
    ref = new.build(seed).reference
    n = res.feedforward.shape[0]
    refs = np.asarray(ref(np.arange(n) * setup.env.unwrapped.dt))
    state = setup.controller.get_state()
    out = {"trained_last_trial_m": float(res.errors[-1, 1]) if res.status != "failed" else float("nan")}
    for name, v in (("none", np.zeros_like(res.feedforward)),
                    ("network", law.feedforward_network.predict(refs, res.feedforward.shape[1])),
                    ("old_signal", res.feedforward)):
        setup.controller.set_state(copy.deepcopy(state))
        one = ILCRunner(setup.env, setup.controller, ref, law=PTypeILC([0.0] * v.shape[1], lead=1), trials=1,
                        duration=sc.run.duration, initial_state=x0, seed=seed, channel="reference",
                        options=opts or None, initial_feedforward=v, continue_learned=True).run()
        out[name] = float(one.errors[0, 1]) if one.status != "failed" else float("nan")
    return out


def _median(rows):
    return np.nanmedian(np.array(rows), axis=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="ilc_staircase", choices=sorted(SCENARIOS),
                        help="the shipped ILC scenario (its controller): ilc_staircase (adaptive), ilc_neural")
    parser.add_argument("--seeds", default="0:20", help="seeds of the ablation (default 0:20, i.e. 0-19)")
    parser.add_argument("--trials", type=int, default=10, help="trials of the ablation (default 10)")
    parser.add_argument("--robust-seeds", default="0:5",
                        help="seeds of the noise/gust and plant-change runs (default 0:5)")
    parser.add_argument("--long", type=int, default=50, help="trials of the noise/gust run (default 50)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants")
    parser.add_argument("--no-transfer", dest="transfer", action="store_false",
                        help="skip the transfer to another staircase")
    parser.add_argument("--feedforward-hidden-units", type=int, default=0, metavar="H",
                        help="hidden units of the correction network in network_held and the transfer (default 0)")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    hidden = args.feedforward_hidden_units
    seeds, rseeds = parse_seeds(args.seeds), parse_seeds(args.robust_seeds)
    variants = [v for v in args.variants.split(",") if v]
    t_start = time.time()

    shipped = Scenario.from_toml(ROOT / "scenarios" / f"{args.scenario}.toml").ilc.gains
    held = int(shipped.get("feedforward_network", FEEDFORWARD_NETWORK))
    ablation = {}
    for v in variants:
        if v == ("network_signal" if not held else None if hidden else "network_held"):
            continue                        # the scenario's own setting: the row "network"
        rows = []
        t0 = time.time()
        for s in seeds:
            rows.append(run(v, s, args.trials, scenario=args.scenario, hidden=hidden))
        alt = np.array(rows)[:, :, 1]
        med = _median(alt)
        first = med[0]
        reach = next((k + 1 for k, e in enumerate(med) if e <= 0.1 * first), None)
        ablation[v] = {"altitude_rms_m": alt.tolist(), "rotor_rms_rad_s": np.array(rows)[:, :, 0].tolist(),
                       "median_altitude_m": med.tolist(), "trials_to_10_percent": reach,
                       "failed_runs": int(np.sum(np.any(np.isnan(alt), axis=1))), "seconds": time.time() - t0}
        print(f"{v:14s} median altitude RMS per trial (mm): {np.round(med * 1e3, 2).tolist()}  "
              f"trials to 10 %: {reach}  ({time.time() - t0:.0f} s)", flush=True)
    shares = {}
    for v, key, what in (("network_fresh", "share_lost_without_memory", "without trial memory in the networks"),
                         ("network_reset", "share_lost_keeping_last_update", "keeping only the last trial's update"),
                         ("network_signal_fresh", "share_lost_signal_fresh",
                          "without trial memory in the networks, the correction kept as a signal")):
        if "network" in ablation and v in ablation:
            a = np.array(ablation["network"]["median_altitude_m"])
            b = np.array(ablation[v]["median_altitude_m"])
            shares[key] = float(1.0 - (a[0] - b[-1]) / (a[0] - a[-1]))
            print(f"share of the improvement lost {what}: {shares[key]:.1%}")

    moved = {}
    if rseeds and args.transfer:
        rows = [transfer(s, args.trials, args.scenario, hidden) for s in rseeds]
        moved = {k: [r[k] for r in rows] for k in rows[0]}
        print("transfer to another staircase, RMS altitude error (mm) per seed: "
              + "; ".join(f"{k} {np.round(np.array(v) * 1e3, 3).tolist()}" for k, v in moved.items()), flush=True)

    robust = {}
    if rseeds and args.long > 0:
        for v, key in (("network", "noise_gusts"), ("network_fixed_gain", "noise_gusts_fixed_gain"),
                       ("network_frozen", "noise_gusts_frozen"), ("none", "noise_gusts_no_ilc")):
            varying = v == "none"
            rows = []
            for n, s in enumerate(rseeds, 1):       # minutes per seed around the neural controller: say how far
                rows.append(run(v, s, args.long, noise=True, gusts=True, scenario=args.scenario,
                                trial_varying=varying))
                print(f"  {v}: seed {s} done ({n} of {len(rseeds)}, {time.time() - t_start:.0f} s)", file=sys.stderr,
                      flush=True)
            if varying:
                rows, parts = zip(*rows)
            alt = np.array(rows)[:, :, 1]
            ratio = [float(np.nanmax(r[10:]) / np.nanmin(r[:10])) for r in alt]
            late = [float(np.sqrt(np.nanmean(r[10:] ** 2))) for r in alt]
            robust[key] = {"trials": args.long, "altitude_rms_m": alt.tolist(), "worst_11_on_over_best_1_10": ratio,
                           "rms_of_trials_11_on_m": late}
            late_mm = np.round(np.array(late) * 1e3, 2).tolist()
            print(f"noise + gusts, {args.long} trials, {v}: worst(11..) / best(1..10) per seed: "
                  f"{np.round(ratio, 2).tolist()}; RMS of trials 11.. (mm): {late_mm}", flush=True)
            if varying:     # what a law that removed exactly the repeated error would leave (a linear loop's)
                part = [float(np.nanmax(r[10:]) / np.nanmin(r[:10])) for r in parts]
                robust[key].update(trial_varying_rms_m=np.array(parts).tolist(), trial_varying_ratio=part)
                print(f"  the part that differs from trial to trial: worst(11..) / best(1..10) per seed: "
                      f"{np.round(part, 2).tolist()}", flush=True)
        rows = [run("network", s, args.trials, change_before=6, scenario=args.scenario) for s in rseeds]
        alt = np.array(rows)[:, :, 1]
        back = []
        for r in alt:      # trials after the change until every later trial stays within 2x of trial 5
            k = next((k for k in range(5, len(r)) if np.all(r[k:] <= 2.0 * r[4])), None)
            back.append(None if k is None else k - 4)
        robust["drag_change_before_6"] = {"altitude_rms_m": alt.tolist(), "trials_to_stay_within_2x_trial5": back}
        print(f"drag +30 % before trial 6: trials until the error stays within 2x of trial 5, per seed: {back}")

    if not args.no_record:
        from neurocontrol.plotting import plot_trials

        names = [v for v in variants if v in ablation]
        meds = np.array([ablation[v]["median_altitude_m"] for v in names]).T
        record = SCENARIOS[args.scenario]
        plot_trials(meds, ROOT / "docs" / "img" / f"{record}_trials.png", names=names, unit="m",
                    title=f"{args.scenario}: median RMS altitude error per trial, seeds {args.seeds}")
        figures = {"ablation": ablation, **shares, "robust": robust, "transfer": moved,
                   "feedforward_network": held, **({"feedforward_hidden_units": hidden} if hidden else {})}
        shipped = Scenario.from_toml(ROOT / "scenarios" / f"{args.scenario}.toml")
        kind = registration_of("controller", shipped.controller).kind
        write_record(record, command=("python benchmarks/bench_ilc.py " + " ".join(argv or sys.argv[1:])).rstrip(),
                     scenarios=[args.scenario], figures=json_safe(figures), wall_s=time.time() - t_start,
                     seeds=seeds, trials=args.trials, robust_seeds=rseeds, controller=kind)
        if robust and all((ROOT / "benchmarks" / "records" / f"{n}.json").exists() for n in SCENARIOS.values()):
            import importlib.util  # docs/ holds scripts, not a package: the gust figure from both records

            spec = importlib.util.spec_from_file_location("plot_ilc_gusts", ROOT / "docs" / "plot_ilc_gusts.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
