"""The horizon the synthesiser needs on the non-minimum-phase quadruple tank, with an exact model.

Keeps docs/neural_controller.md ("The quadruple tank at P+") true: ``benchmarks/bench_nmp_horizon.py`` runs the
synthesiser's own Gauss-Newton step on the plant's exact discretised linearisation (python-control) and the
true state, flying the nonlinear tank. At P+ the step-response gain matrix changes the sign of its determinant
between 75 and 100 s; a 50-step horizon drives the pumps apart until the env stops the run, 150 steps hold the
set-point. At P- (no sign change) 50 steps hold it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_nmp_horizon", ROOT / "benchmarks" / "bench_nmp_horizon.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_at_p_plus_a_50_step_horizon_loses_the_tank_and_150_steps_hold_it():
    short, long_ = bench.fly("P+", 50), bench.fly("P+", 150)
    assert short["det_N"] > 0 > long_["det_N"]
    assert short["stopped_at"] is not None and short["u_end"][1] == 0.0      # pump 2 driven to its lower limit
    assert long_["stopped_at"] is None and np.all(long_["final_err"] <= 0.05)  # the scenario's tolerance, V


def test_at_p_minus_a_50_step_horizon_holds_the_tank():
    row = bench.fly("P-", 50)
    assert row["det_N"] > 0 and row["stopped_at"] is None and np.all(row["final_err"] <= 0.05)
