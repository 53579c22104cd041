"""Draw issue #15's targets from the 100-seed plant records: docs/img/plants_targets.png.

Left: runs in the success band out of 100 per plant, on the nominal task, after
the +30 % gain or mass change, and under 1 % sensor noise judged on the true
outputs (the measured count is 0 for every plant, the noise being as large as
the bands), with the targets (95, 90, 95). Right: the neural kind's median IAE
per output over LQR-I's on the nominal task and after the change, with their
bounds (1.5x, 1.0x). Every figure comes from ``benchmarks/records/plants_100.json``,
``plants_change_100.json`` and ``plants_noise_100.json``; the README's table
of the same targets is made from them by ``docs/make_tables.py``.

Usage: ``python docs/plot_targets.py [--out docs/img/plants_targets.png]`` from the repository root.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "plants_targets.png"

_spec = importlib.util.spec_from_file_location("make_tables", Path(__file__).with_name("make_tables.py"))
MT = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MT)          # the tables' record reader, ratios and plants: one source for both

#: scenario -> short label, in the order of the README's table of issue #15's targets.
PLANTS = dict(zip(MT._ISSUE15_PLANTS, ("tank P-", "tank P+", "PVTOL", "CSTR", "twin rotor")))
load = MT.load_record


def _nan(ratios: dict) -> list:
    return [np.nan if r is None else r for r in ratios.values()]


def figures(nominal: dict, change: dict, noise: dict) -> dict:
    """Per plant: successes (nominal, after the change, true outputs under noise) and IAE ratios to LQR-I."""
    out = {}
    for sc in PLANTS:
        a, b = nominal["figures"][sc]["rows"]["neural"], nominal["figures"][sc]["rows"]["lqr_i"]
        ca, cb = change["figures"][sc]["rows"]["neural"], change["figures"][sc]["rows"]["lqr_i"]
        na = noise["figures"][sc]["rows"]["neural"]
        out[sc] = {"success": (a["success"], ca["success"], na["success_true"]), "n": a["n"],
                   "outputs": list(a["iae_median"]), "ratio": _nan(MT._ratios(a["iae_median"], b["iae_median"])),
                   "ratio_after": _nan(MT._ratios(ca["iae_after_change_median"], cb["iae_after_change_median"]))}
    return out


def plot(fig_data: dict, path) -> None:
    """Draw the two panels into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    x = np.arange(len(PLANTS))
    width = 0.26
    tasks = (("nominal (target 95)", 95, "tab:blue"), ("after the change (target 90)", 90, "tab:orange"),
             ("1 % noise, on the true outputs (target 95; measured outputs: 0 everywhere)", 95, "tab:gray"))
    for k, (label, target, color) in enumerate(tasks):
        vals = [fig_data[sc]["success"][k] for sc in PLANTS]
        left.bar(x + (k - 1) * width, vals, width, label=label, color=color)
        left.hlines(target, x[0] - 0.5, x[-1] + 0.5, colors=color, linestyles="--", linewidth=1)
    left.set_xticks(x, list(PLANTS.values()))
    left.set_ylabel(f"runs in the band, of {next(iter(fig_data.values()))['n']}")
    left.set_ylim(0, 140)
    left.set_yticks(range(0, 101, 20))
    left.set_title("success, neural kind (defaults), seeds 0-99")
    left.legend(loc="upper center", fontsize=8)
    for k, sc in enumerate(PLANTS):
        d = fig_data[sc]
        for j, out in enumerate(d["outputs"]):
            dx = (j - 0.5) * 0.18
            for vals, marker, color in ((d["ratio"], "o", "tab:blue"), (d["ratio_after"], "x", "tab:orange")):
                if np.isfinite(vals[j]):
                    right.plot(k + dx, vals[j], marker, color=color, markersize=7)
            if np.isfinite(d["ratio"][j]):
                right.annotate(out, (k + dx, d["ratio"][j]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if not np.any(np.isfinite(d["ratio"])):        # no run completed: no ratio to draw
            right.annotate("no run\ncompleted", (k, 1.0), fontsize=7, ha="center", va="center", color="0.4")
    right.axhline(1.5, color="tab:blue", linestyle="--", linewidth=1, label="nominal bound 1.5x")
    right.axhline(1.0, color="tab:orange", linestyle="--", linewidth=1, label="after the change: <= LQR-I's")
    right.plot([], [], "o", color="tab:blue", label="nominal (runs that completed)")
    right.plot([], [], "x", color="tab:orange", label="after the change")
    right.set_yscale("log")
    right.set_xticks(x, list(PLANTS.values()))
    right.set_ylabel("median IAE, neural / LQR-I")
    right.set_title("IAE per output against LQR-I")
    right.legend(loc="upper left", fontsize=7, framealpha=0.9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_figure(argv, doc: str, default: Path, draw) -> Path:
    """Parse ``--out`` (default ``default``), call ``draw(path)``, say where it went and return the path.

    The command line of the figure scripts in ``docs/``; ``doc`` is the script's module docstring.
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", type=Path, default=default)
    args = ap.parse_args(argv)
    draw(args.out)
    print(f"wrote {args.out}")
    return args.out


def main(argv=None) -> Path:
    """Write the figure; return its path."""
    return write_figure(argv, __doc__, OUT, lambda path: plot(
        figures(load("plants_100"), load("plants_change_100"), load("plants_noise_100")), path))


if __name__ == "__main__":
    main()
