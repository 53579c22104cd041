"""Draw issue #14's noise-and-gust target from the ILC records: docs/img/ilc_gusts.png.

Top row, one panel per controller (the neural one, ``ilc_neural.json``; the
adaptive one, ``ilc.json``): the RMS altitude error of each of the 50 noisy,
gusty trials, the median over the seeds, for the network law, the same law's
correction frozen after trial 10, no ILC, and the part of the error without ILC
that differs from trial to trial (each trial less the mean of the 50), which no
trial-to-trial law removes. Bottom row: per seed, the target's figure (worst of
trials 11-50 over the best of trials 1-10) for each of the four, with the
target's 1.5. Every figure comes from the records' ``robust`` section, written
by ``benchmarks/bench_ilc.py``; the tables under the ILC tables in README.md
and docs/ilc.md are made from the same records by ``docs/make_tables.py``.

Usage: ``python docs/plot_ilc_gusts.py [--out docs/img/ilc_gusts.png]`` from the repository root.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "ilc_gusts.png"

_spec = importlib.util.spec_from_file_location("plot_targets", Path(__file__).with_name("plot_targets.py"))
_TARGETS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_TARGETS)    # the figure scripts' command line (docs/ holds scripts, not a package)
#: record -> the controller it flies around.
RECORDS = {"ilc_neural": "neural controller", "ilc": "adaptive controller"}
#: the record's key of each series, its label and colour; "trial_varying" is read from the run without ILC.
SERIES = (("noise_gusts", "network law", "tab:blue"),
          ("noise_gusts_frozen", "its correction frozen after trial 10", "tab:cyan"),
          ("noise_gusts_no_ilc", "no ILC", "tab:gray"),
          ("trial_varying", "no ILC, the part that differs from trial to trial", "tab:red"))
TARGET = 1.5


def _series(robust: dict, key: str) -> tuple | None:
    """One series' recorded (seeds, trials) RMS altitude errors (m) and per-seed ratios, or None if not recorded."""
    if key == "trial_varying":
        none = robust.get("noise_gusts_no_ilc", {})
        rows, ratios = none.get("trial_varying_rms_m"), none.get("trial_varying_ratio")
    else:
        rows, ratios = robust.get(key, {}).get("altitude_rms_m"), robust.get(key, {}).get("worst_11_on_over_best_1_10")
    return None if rows is None else (rows, ratios)


def figures(record: dict) -> dict:
    """Per series of one record: the per-trial median over the seeds (mm) and each seed's worst(11..) / best(1..10)."""
    out = {}
    for key, _, _ in SERIES:
        found = _series(record["figures"]["robust"], key)
        if found is None:
            continue
        rows = np.array([[np.nan if v is None else v for v in r] for r in found[0]], float)   # NaN: a failed trial
        out[key] = {"median_mm": (1e3 * np.nanmedian(rows, axis=0)).tolist(),
                    "ratio": [np.nan if r is None else r for r in found[1]]}
    return out


def plot(data: dict, seeds: dict, path) -> None:
    """Draw the figure into ``path`` (PNG); ``data`` and ``seeds`` map each record name to its figures and seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, axes = plt.subplots(2, len(data), figsize=(12, 7.5), layout="constrained", squeeze=False)
    for col, (name, fig_data) in enumerate(data.items()):
        top, bottom = axes[0, col], axes[1, col]
        present = [s for s in SERIES if s[0] in fig_data]
        for key, label, color in present:
            med = fig_data[key]["median_mm"]
            top.plot(np.arange(1, len(med) + 1), med, color=color, label=label,
                     linestyle="--" if key == "trial_varying" else "-")
        top.axvline(10.5, color="k", linewidth=0.6, linestyle=":")
        top.set_yscale("log")
        top.yaxis.set_major_formatter(ScalarFormatter())
        top.yaxis.set_minor_formatter(ScalarFormatter())
        top.set_xlabel("trial")
        top.set_ylabel("RMS altitude error (mm), median over the seeds")
        top.set_title(f"{RECORDS[name]}: 50 noisy, gusty trials")
        top.legend(fontsize=8)
        x = np.arange(len(seeds[name]))
        width = 0.8 / len(present)
        for k, (key, label, color) in enumerate(present):
            bottom.bar(x + (k - (len(present) - 1) / 2) * width, fig_data[key]["ratio"], width, color=color,
                       label=label)
        bottom.axhline(TARGET, color="k", linestyle="--", linewidth=1, label=f"target {TARGET}")
        bottom.set_xticks(x, [f"seed {s}" for s in seeds[name]])
        bottom.set_ylabel("worst of trials 11-50 / best of 1-10")
        top_value = max(max(fig_data[key]["ratio"]) for key, _, _ in present)
        bottom.set_ylim(0, 1.45 * max(top_value, TARGET))      # room for the legend above the bars
        bottom.legend(fontsize=8, loc="upper left", ncols=2)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> Path:
    """Write the figure; return its path."""
    def draw(path):
        records = {n: json.loads((ROOT / "benchmarks" / "records" / f"{n}.json").read_text()) for n in RECORDS}
        plot({n: figures(r) for n, r in records.items()}, {n: r["robust_seeds"] for n, r in records.items()}, path)

    return _TARGETS.write_figure(argv, __doc__, OUT, draw)


if __name__ == "__main__":
    main()
