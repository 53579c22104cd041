"""Draw the tank at P+ with and without the warm-up's feed-forward: docs/img/pplus_feedforward.png.

The shipped P+ task (``scenarios/quadtank_pplus.toml``: +0.5 V step of y1 at 10 s) flown by the neural kind with
its defaults, seed 0, once as it is (``warmup_feedforward`` on: the 276 s identification warm-up's input follows
the step through the inverse of the model's steady-state gain) and once with ``warmup_feedforward = false``. Left:
the two levels with their references and success bands; right: the pumps. The warm-up is shaded. The caption's
figures (docs/neural_controller.md, "Feed-forward in an open-loop warm-up") are printed, and checked by
``tests/test_warmup_feedforward.py``.

Usage: ``python docs/plot_pplus_feedforward.py [--out docs/img/pplus_feedforward.png]`` from the repository root.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurocontrol.scenario import Scenario, run_scenario

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "pplus_feedforward.png"
#: label -> the controller table flown
VARIANTS = {"with the feed-forward (default)": {"kind": "neural"},
            "without it": {"kind": "neural", "warmup_feedforward": False}}


def scenario(table: dict) -> Scenario:
    """The shipped P+ task flown by the controller ``table``."""
    return Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml").set("controller", table)


def runs(seed: int = 0, variants: dict = VARIANTS) -> dict:
    """Fly ``variants`` (label -> controller table) on ``seed``; return label -> Result."""
    return {label: run_scenario(scenario(table), seed) for label, table in variants.items()}


def summary(results: dict) -> dict:
    """Return label -> (success, IAE per output) of each run of :func:`runs`."""
    return {label: (bool(res.metrics["success"]), {o: float(v["iae"]) for o, v in res.metrics["outputs"].items()})
            for label, res in results.items()}


def print_summary(results: dict, prefix: str = "") -> None:
    """Print :func:`summary`, one line per run."""
    for label, (ok, iae) in summary(results).items():
        print(f"{prefix}{label}: success {ok}, IAE " + ", ".join(f"{o} {v:.1f}" for o, v in iae.items()))


def warmup_seconds() -> float:
    """The identification warm-up of the neural defaults on the P+ task, s."""
    ctrl = scenario({"kind": "neural"}).build(0).controller
    return ctrl.derived_settings()["warmup_steps"] * ctrl.dt


def draw_levels(ax, results: dict, i: int, colours) -> None:
    """Draw output ``i`` of every run of :func:`runs` on ``ax``, with its reference, band and IAE."""
    first = next(iter(results.values()))
    name, t, r = first.output_names[i], np.asarray(first.time), np.asarray(first.references)
    ax.fill_between(t, r[:, i] - 0.05, r[:, i] + 0.05, color="tab:green", alpha=0.15, label="band +-0.05 V")
    ax.plot(t, r[:, i], "k--", linewidth=1, label="reference")
    for (label, res), c in zip(results.items(), colours):
        ax.plot(res.time, np.asarray(res.outputs)[:, i], color=c, linewidth=1.3,
                label=f"{label}: IAE {res.metrics['outputs'][name]['iae']:.0f} V s")
    ax.set_ylabel(f"{name} [V]")


def draw_runs(results: dict, colours, legend_loc: str = "lower right"):
    """Return a 2x2 figure and its axes: the two levels of every run of :func:`runs` (left) and the pumps (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 5.6), sharex=True, layout="constrained")
    for i in range(2):
        draw_levels(axes[i, 0], results, i, colours)
        axes[i, 0].legend(fontsize=7, loc=legend_loc)
    for j in range(2):
        ax = axes[j, 1]
        for (label, res), c in zip(results.items(), colours):
            ax.step(res.time[:len(res.inputs)], np.asarray(res.inputs)[:, j], where="post", color=c, linewidth=1,
                    label=label)
        ax.set_ylabel(f"pump {j + 1} [V]")
        ax.legend(fontsize=7, loc="upper right")
    return fig, axes


def save(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` (its folder made) and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw(path: Path, results: dict, warmup_s: float) -> None:
    """Plot the runs of :func:`runs` into ``path``."""
    fig, axes = draw_runs(results, ("tab:blue", "tab:orange"))
    for ax in axes.flat:
        ax.axvspan(0.0, warmup_s, color="0.5", alpha=0.12, linewidth=0)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("time [s] (shaded: the identification warm-up)")
    fig.suptitle("quadruple tank at P+, seed 0, neural defaults: the warm-up's input with and without the feed-forward")
    save(fig, path)


def out_path(argv, doc: str, default: Path) -> Path:
    """Parse a figure script's command line (``--out``, default ``default``; ``doc``'s first line describes it)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", type=Path, default=default)
    return ap.parse_args(argv).out


def figure(argv, doc: str, default: Path, fly, draw_to) -> Path:
    """A figure script's run: parse ``--out``, ``fly()`` (it prints the caption's figures), ``draw_to(path, flown)``."""
    out = out_path(argv, doc, default)
    draw_to(out, fly())
    print(f"wrote {out}")
    return out


def main(argv=None) -> Path:
    """Fly, print the caption's figures, and write the figure (``--out``); return its path."""
    def fly():
        results = runs(0)
        print_summary(results)
        return results
    return figure(argv, __doc__, OUT, fly, lambda out, results: draw(out, results, warmup_seconds()))


if __name__ == "__main__":
    main()
