"""Draw the tank at P+ through its pump-gain change, re-identified two ways and not at all: docs/img/pplus_change.png.

The shipped P+ task (``scenarios/quadtank_pplus.toml``) with the pump gains k1, k2 x1.3 at 400 s (the change variant
of ``benchmarks/bench_plants.py``), flown by the neural kind with its defaults (``change_reidentify`` on there: the
identifier's one-step error trips 3 steps after the change, its weights go back to before it, and for the warm-up's
276 steps only one gain factor per pump is learned while the law flies), with ``change_reidentify = "open_loop"``
(the plant re-identified in open loop over those steps) and with ``change_reidentify = false``. Seed 4. Left: the
two levels with their references and success bands; right: the pumps. Shaded: the identification warm-up (grey)
and, after the trip, the default's steps of gain factors (green, lower half) and the open-loop phase (orange, upper
half). The caption's figures (docs/neural_controller.md, "Re-identification after a change") are printed, and
checked by ``tests/test_reidentify.py``.

Usage: ``python docs/plot_pplus_change.py [--out docs/img/pplus_change.png]`` from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

from neurocontrol.scenario import run_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plot_pplus_feedforward as ff  # noqa: E402  (docs/ holds scripts, not a package)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "pplus_change.png"
#: label -> the controller table flown
VARIANTS = {"input gains re-learned (default)": {"kind": "neural"},
            "re-identified in open loop": {"kind": "neural", "change_reidentify": "open_loop"},
            "neither": {"kind": "neural", "change_reidentify": False}}
RUN_SEED = 4
CHANGE = {"kind": "parameter_change", "time": 400.0, "factors": {"k1": 1.3, "k2": 1.3}}


def runs(seed: int = RUN_SEED) -> dict:
    """Fly ``VARIANTS`` through the change on ``seed``; return label -> Result."""
    return {label: run_scenario(ff.scenario(table).set("events", [CHANGE]), seed)
            for label, table in VARIANTS.items()}


def summary(results: dict) -> dict:
    """Return label -> (status, success, IAE per output, spans in s of the open-loop phase or the gains' learning)."""
    out = {}
    for label, res in results.items():
        dt = float(res.meta["dt"])
        out[label] = (res.status, bool(res.metrics.get("success")),
                      {o: float(v["iae"]) for o, v in res.metrics["outputs"].items()},
                      [(a * dt, b * dt) for mode in ("reidentify", "gains") for a, b in res.mode_spans(mode)])
    return out


def draw(path: Path, results: dict, warmup_s: float) -> None:
    """Plot the runs of :func:`runs` into ``path``."""
    fig, axes = ff.draw_runs(results, ("tab:blue", "tab:orange", "tab:red"), legend_loc="upper left")
    gains, open_loop = [v[3] for v in list(summary(results).values())[:2]]
    for ax in axes.flat:
        ax.axvspan(0.0, warmup_s, color="0.5", alpha=0.12, linewidth=0)
        for (a, b), y0, color in [(s, 0.0, "tab:green") for s in gains] + [(s, 0.5, "tab:orange") for s in open_loop]:
            ax.axvspan(a, b, ymin=y0, ymax=y0 + 0.5, color=color, alpha=0.12, linewidth=0)
        ax.axvline(CHANGE["time"], color="k", linewidth=0.8, linestyle=":")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("time [s]")
    fig.suptitle(f"quadruple tank at P+, seed {RUN_SEED}, neural defaults: the pump-gain change, re-identified two "
                 "ways and not at all\n(grey: warm-up; dotted: pumps x1.3; green, lower half: gain factors learned; "
                 "orange, upper half: open-loop phase)", fontsize=10)
    ff.save(fig, path)


def main(argv=None) -> Path:
    """Fly, print the caption's figures, and write the figure (``--out``); return its path."""
    def fly():
        results = runs()
        for label, (status, ok, iae, spans) in summary(results).items():
            print(f"{label}: {status}, success {ok}, IAE " + ", ".join(f"{o} {v:.1f}" for o, v in iae.items())
                  + f", after the trip {spans}")
        return results
    return ff.figure(argv, __doc__, OUT, fly, lambda out, results: draw(out, results, ff.warmup_seconds()))


if __name__ == "__main__":
    main()
