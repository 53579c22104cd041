"""Imported by the sweep's fork server only: load every compiled kernel once, before workers fork.

Numba loads cached machine code lazily, at a kernel's first call, in every
process. Importing this module in the fork server runs one short closed loop of
the adaptive controller and of the PID, so the forked workers inherit loaded
code instead of each paying about half a second for it. The LQR is left out:
its design imports python-control (about a second), which a sweep of another
kind should not pay. Not public API; importing it has that side
effect on purpose.
"""

from __future__ import annotations


def _warm() -> None:
    from pathlib import Path

    # imported here, not at the top: this module runs only inside the sweep's fork server, to warm its kernels
    from neurocontrol.scenario import Scenario, run_scenario

    hover = Path(__file__).resolve().parents[2] / "scenarios" / "helicopter_hover.toml"
    if not hover.exists():          # an installed package without the scenario files: nothing to warm
        return
    sc = Scenario.from_toml(hover).set("run.duration", "1.5")
    for kind in ("adaptive", "pid"):
        run_scenario(sc if kind == "adaptive" else sc.set("controller.kind", f'"{kind}"'), seed=0)


try:
    _warm()
except Exception:   # pragma: no cover - warming is an optimisation; a failure must not break the sweep
    pass
