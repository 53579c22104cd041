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


# ------------------------------------------------------------------ the neural controller's horizon check

def _plain_sign_steps(env, steps):
    """Last k where det G(k) has the sign opposite to det G(inf), plus one: python-control's step response."""
    import control

    x0, u0 = env.operating_point
    lin = control.linearize(env.sys, x0, u0)
    d = control.c2d(control.ss(lin.A, lin.B, lin.C, lin.D), env.dt)
    t = np.arange(steps + 1) * env.dt
    resp = [control.forced_response(d, t, np.vstack([np.full(t.size, float(j == i)) for i in range(2)])).outputs
            for j in range(2)]
    g = np.stack([np.stack([resp[j][:, k] for j in range(2)], axis=1) for k in range(steps + 1)])
    det_inf = np.linalg.det(np.asarray(control.dcgain(control.ss(lin.A, lin.B, lin.C, lin.D))))
    wrong = [k for k in range(1, steps + 1) if np.linalg.det(g[k]) * det_inf <= 0]
    return (max(wrong) + 1) if wrong else 0


def test_gain_sign_steps_matches_python_controls_step_response():
    from neurocontrol.controllers.generic import gain_sign_steps, model_trim
    from plants.quadtank.env import QuadTankEnv

    for op in ("P+", "P-"):
        env = QuadTankEnv(operating_point=op)
        k = gain_sign_steps(model_trim(env, (0, 1)), env.dt, max_steps=400)
        assert k == _plain_sign_steps(env, 400)
        assert (76 <= k <= 100) if op == "P+" else k == 0


def test_the_neural_controller_reports_a_horizon_shorter_than_the_gains_sign_change():
    from neurocontrol.scenario.core import Scenario

    def settings(name, **table):
        data = Scenario.from_toml(ROOT / "scenarios" / f"{name}.toml").to_dict()
        data["controller"] = {"kind": "neural", **table}
        built = Scenario.from_dict(data, source=name, default_name=name).build(0)
        obs, _ = built.env.reset(seed=0)
        built.controller.reset(obs, obs[:2], seed=0)
        return built.controller.derived_settings()

    note = settings("quadtank_pplus")["horizon_check"]
    assert "horizon (50 steps)" in note and "(90 steps" in note
    assert "horizon_check" not in settings("quadtank_pplus", horizon=120)
    assert "horizon_check" not in settings("quadtank_pminus")
    assert "horizon_check" not in settings("pvtol_steps")          # unstable: no steady state to compare with


def test_a_model_that_cannot_be_trimmed_gives_no_horizon_advice_and_no_error(monkeypatch):
    import neurocontrol.controllers.neural as neural
    from neurocontrol.scenario.core import Scenario

    def broken(env, output_indices, who="neural"):
        raise ValueError("the trim search failed")

    monkeypatch.setattr(neural, "model_trim", broken)
    data = Scenario.from_toml(ROOT / "scenarios" / "quadtank_pplus.toml").to_dict()
    data["controller"] = {"kind": "neural"}
    built = Scenario.from_dict(data, source="pplus", default_name="pplus").build(0)
    obs, _ = built.env.reset(seed=0)
    built.controller.reset(obs, obs[:2], seed=0)
    assert "horizon_check" not in built.controller.derived_settings()
