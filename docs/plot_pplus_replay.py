"""Draw the tank at P+ with and without the warm-up's replays: docs/img/pplus_replay.png.

The shipped P+ task (``scenarios/quadtank_pplus.toml``: +0.5 V step of y1 at 10 s) flown by the neural kind with
its defaults (``warmup_replay`` 2 there: the identifier learns the 276 s identification warm-up twice more at the
hand-over) and with ``warmup_replay = 0``. Left: seed 14, the two levels with their references and success bands
(without the replays that run ends with a steady offset). Right: on seeds 0-7, the error of the learned long-run
gains just after the hand-over (the identifier's 600-step step response against the steady-state gain of the
env's python-control model at the trim, max-abs over max-abs). The caption's figures (docs/neural_controller.md,
"Replaying the warm-up") are printed, and checked by ``tests/test_warmup_replay.py``.

Usage: ``python docs/plot_pplus_replay.py [--out docs/img/pplus_replay.png]`` from the repository root.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurocontrol.controllers.generic import model_trim
from neurocontrol.scenario import Scenario, run_scenario
from neurocontrol.simulation.loop import simulate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "pplus_replay.png"
#: label -> the controller table flown
VARIANTS = {"with the replays (default)": {"kind": "neural"},
            "without them": {"kind": "neural", "warmup_replay": 0}}
RUN_SEED = 14
GAIN_SEEDS = range(8)


def _scenario(table: dict) -> Scenario:
    return Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml").set("controller", table)


def runs(seed: int = RUN_SEED) -> dict:
    """Fly both variants on ``seed``; return label -> Result."""
    return {label: run_scenario(_scenario(table), seed) for label, table in VARIANTS.items()}


def gain_error(table: dict, seed: int) -> float:
    """The learned long-run gains' relative error one step after the hand-over, on ``seed``, flying ``table``."""
    sc = _scenario(table)
    setup = sc.build(seed)
    ctrl = setup.controller
    end = ctrl.derived_settings()["warmup_steps"] + 1

    def stop(k, info):
        return None if k + 1 < end else False                 # stop after the step following the hand-over

    simulate(setup.env, ctrl, setup.reference, duration=sc.run.duration, seed=setup.seed, options=setup.options,
             events=setup.events, callback=stop)
    truth = model_trim(setup.env, list(ctrl.output_indices)).steady_gain()
    learned = ctrl.learned_step_response(steps=600)[-1]
    return float(np.max(np.abs(learned - truth)) / np.max(np.abs(truth)))


def gain_errors(seeds=GAIN_SEEDS) -> dict:
    """Return label -> the relative errors of :func:`gain_error` on ``seeds``."""
    return {label: [gain_error(table, s) for s in seeds] for label, table in VARIANTS.items()}


def summary(results: dict) -> dict:
    """Return label -> (success, IAE per output) of each run of :func:`runs`."""
    return {label: (bool(res.metrics["success"]), {o: float(v["iae"]) for o, v in res.metrics["outputs"].items()})
            for label, res in results.items()}


def draw(path: Path, results: dict, errors: dict, warmup_s: float) -> None:
    """Plot the runs of :func:`runs` and the errors of :func:`gain_errors` into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(1.6, 1.0))
    colours = ("tab:blue", "tab:orange")
    first = next(iter(results.values()))
    t, r = np.asarray(first.time), np.asarray(first.references)
    for i, name in enumerate(first.output_names):
        ax = fig.add_subplot(grid[i, 0])
        ax.fill_between(t, r[:, i] - 0.05, r[:, i] + 0.05, color="tab:green", alpha=0.15, label="band +-0.05 V")
        ax.plot(t, r[:, i], "k--", linewidth=1, label="reference")
        for (label, res), c in zip(results.items(), colours):
            ax.plot(res.time, np.asarray(res.outputs)[:, i], color=c, linewidth=1.3,
                    label=f"{label}: IAE {res.metrics['outputs'][name]['iae']:.0f} V s")
        ax.axvspan(0.0, warmup_s, color="0.5", alpha=0.12, linewidth=0)
        ax.set_ylabel(f"{name} [V]")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        if i == len(first.output_names) - 1:
            ax.set_xlabel(f"time [s], seed {RUN_SEED} (shaded: the identification warm-up)")
    ax = fig.add_subplot(grid[:, 1])
    seeds = np.arange(len(next(iter(errors.values()))))
    for k, ((label, errs), c) in enumerate(zip(errors.items(), colours)):
        ax.bar(seeds + (k - 0.5) * 0.4, errs, width=0.4, color=c,
               label=f"{label}: median {np.median(errs):.2f}")
    ax.set_yscale("log")
    ax.set_xticks(seeds)
    ax.set_xlabel("seed")
    ax.set_ylabel("learned long-run gains: relative error at the hand-over")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("quadruple tank at P+, neural defaults: the identification warm-up learned twice more at the "
                 "hand-over, and without")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> Path:
    """Fly, print the caption's figures, and write the figure (``--out``); return its path."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    out = ap.parse_args(argv).out
    results = runs()
    for label, (ok, iae) in summary(results).items():
        print(f"seed {RUN_SEED}, {label}: success {ok}, IAE " + ", ".join(f"{o} {v:.1f}" for o, v in iae.items()))
    errors = gain_errors()
    for label, errs in errors.items():
        print(f"{label}: gain errors " + ", ".join(f"{e:.2f}" for e in errs) + f"; median {np.median(errs):.2f}")
    ctrl = _scenario({"kind": "neural"}).build(0).controller
    draw(out, results, errors, ctrl.derived_settings()["warmup_steps"] * ctrl.dt)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
