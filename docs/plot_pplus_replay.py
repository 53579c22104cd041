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

import sys
from pathlib import Path

import numpy as np

from neurocontrol.controllers.generic import model_trim
from neurocontrol.simulation.loop import simulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plot_pplus_feedforward as ff  # noqa: E402  (docs/ holds scripts, not a package)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "pplus_replay.png"
#: label -> the controller table flown
VARIANTS = {"with the replays (default)": {"kind": "neural"},
            "without them": {"kind": "neural", "warmup_replay": 0}}
RUN_SEED = 14
GAIN_SEEDS = range(8)


summary = ff.summary


def runs(seed: int = RUN_SEED) -> dict:
    """Fly ``VARIANTS`` on ``seed``; return label -> Result."""
    return ff.runs(seed, VARIANTS)


def gain_error(table: dict, seed: int) -> float:
    """The learned long-run gains' relative error one step after the hand-over, on ``seed``, flying ``table``."""
    sc = ff.scenario(table)
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


def draw(path: Path, results: dict, errors: dict, warmup_s: float) -> None:
    """Plot the runs of :func:`runs` (``VARIANTS``) and the errors of :func:`gain_errors` into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(1.6, 1.0))
    colours = ("tab:blue", "tab:orange")
    for i in range(2):
        ax = fig.add_subplot(grid[i, 0])
        ff.draw_levels(ax, results, i, colours)
        ax.axvspan(0.0, warmup_s, color="0.5", alpha=0.12, linewidth=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
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
    ff.save(fig, path)


def main(argv=None) -> Path:
    """Fly, print the caption's figures, and write the figure (``--out``); return its path."""
    def fly():
        results = runs()
        ff.print_summary(results, prefix=f"seed {RUN_SEED}, ")
        errors = gain_errors()
        for label, errs in errors.items():
            print(f"{label}: gain errors " + ", ".join(f"{e:.2f}" for e in errs) + f"; median {np.median(errs):.2f}")
        return results, errors
    return ff.figure(argv, __doc__, OUT, fly, lambda out, made: draw(out, *made, ff.warmup_seconds()))


if __name__ == "__main__":
    main()
