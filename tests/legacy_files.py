"""Controllers whose state the legacy weight/checkpoint fixtures in tests/data/ hold, and the script that wrote them.

Before the single file format, ``neurocontrol.io.save_weights`` wrote a layout
of its own (``__format__ = "neurocontrol-weights-1"``, ``__controller__`` and
the state entries under their own names, no checksum) and
``neurocontrol.checkpoint.save_checkpoint`` wrote format version 1. The files
``tests/data/legacy_*.npz`` were written by that code (commit 79f7b93) with
``python tests/legacy_files.py``; they are kept, not regenerated: run with
later code, the script would write the current format instead.
The tests rebuild the same controllers with :func:`pid` and :func:`adaptive`
and check that the old files restore exactly their state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
Y = np.array([140.0, 1.0, 0.0, 0.12, 0.0])
R = np.array([140.0, 1.0])
#: The ``meta`` stored in the legacy checkpoints.
META = {"step": 7, "note": "legacy"}


def pid():
    """Return a PID controller after a reset and three steps (state: two integrators)."""
    from plants.helicopter.baselines import PIDController

    c = PIDController.from_plant()
    c.reset(Y, R)
    for k in range(3):
        c.step(Y + 0.1 * (k + 1), R)
    return c


def adaptive():
    """Return the hover scenario's adaptive controller after a reset (seed 1) and five steps."""
    from neurocontrol.scenario import Scenario

    c = Scenario.from_toml(Path(__file__).parents[1] / "scenarios" / "helicopter_hover.toml").build(0).controller
    c.reset(Y, R, seed=1)
    for k in range(5):
        c.step(Y + 0.01 * k, R)
    return c


def main() -> None:
    """Write the legacy fixtures with the package's writers of the time (see the module docstring)."""
    from neurocontrol.checkpoint import save_checkpoint
    from neurocontrol.io import save_weights

    DATA.mkdir(exist_ok=True)
    for name, make in (("pid", pid), ("adaptive", adaptive)):
        save_weights(DATA / f"legacy_weights_{name}.npz", make())
        save_checkpoint(DATA / f"legacy_checkpoint_{name}.npz", make(), meta=META)


if __name__ == "__main__":
    main()
