"""``benchmarks/bench_faults.py --controller neural``: the fault scenarios flown by the neural controller.

The swap replaces the ``[controller]`` table only (plant faults, events,
reference and run kept), builds a NeuralController, skips the guarded
scenario, carries or drops a scenario's own controller settings, and the
benchmark's run function flies the swapped controller.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from neurocontrol.controllers.adaptive import AdaptiveController
from neurocontrol.controllers.neural import NeuralController
from neurocontrol.exceptions import ScenarioError
from neurocontrol.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
SC = ROOT / "scenarios"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # worker processes unpickle the benchmark's run function by this name
    spec.loader.exec_module(module)
    return module


BENCH = _load("bench_faults", ROOT / "benchmarks" / "bench_faults.py")
SWAP = sys.modules["_swap"]          # imported by the benchmark from benchmarks/
FLOWN = [n for n in BENCH.CASES if n not in BENCH.SKIP_NEURAL]
UNGUARDED = [n for n in FLOWN if Scenario.from_toml(SC / f"{n}.toml").controller.kind != "guarded"]


def _wrapper_chain(env) -> list[str]:
    names = []
    while env is not None:
        names.append(type(env).__name__)
        env = getattr(env, "env", None)
    return names


def _neural_table() -> dict:
    return Scenario.from_toml(SC / "neural_hover.toml").to_dict()["controller"]


@pytest.mark.parametrize("name", UNGUARDED)
def test_swap_replaces_only_the_controller_and_builds_a_neural_controller(name):
    shipped = Scenario.from_toml(SC / f"{name}.toml")
    swapped, report = BENCH.scenario_for(name, "neural")
    assert swapped.to_dict()["controller"] == _neural_table()
    assert (swapped.plant, swapped.reference, swapped.events, swapped.run) == \
        (shipped.plant, shipped.reference, shipped.events, shipped.run)
    assert (report.from_kind, report.to_kind, report.carried, report.dropped) == ("adaptive", "neural", (), ())
    built, original = swapped.build(0), shipped.build(0)
    assert isinstance(built.controller, NeuralController)
    assert isinstance(original.controller, AdaptiveController)
    assert _wrapper_chain(built.env) == _wrapper_chain(original.env)     # the fault wrappers are kept
    assert built.events == original.events


def test_the_adaptive_kind_flies_the_shipped_file_unchanged():
    for name in BENCH.CASES:
        sc, report = BENCH.scenario_for(name)
        assert report is None and sc == Scenario.from_toml(SC / f"{name}.toml")


def test_fault_scenarios_set_controller_keys_that_change_with_the_swap():
    """Own settings beyond the hover table: same-named keys carried, the others dropped and named."""
    shipped = Scenario.from_toml(SC / "fault_stuck_actuator.toml")
    own = (shipped.set("controller.outlier_gate", 4).set("controller.outlier_level_rate", 0.01)
           .set("controller.identifier_rule.forgetting", 0.99))
    baseline = Scenario.from_toml(SC / "helicopter_hover.toml").to_dict()["controller"]
    swapped, report = SWAP.swap_controller(own, _neural_table(), baseline=baseline)
    assert report.carried == (("outlier_gate", 4.0),)
    assert sorted(k for k, _ in report.dropped) == ["identifier_rule.forgetting", "outlier_level_rate"]
    assert all("unknown key" in why for _, why in report.dropped)
    assert swapped.controller.outlier_gate == 4.0
    assert swapped.set("controller.outlier_gate", 10.0).to_dict()["controller"] == _neural_table()
    assert "dropped" in report.describe() and "outlier_level_rate" in report.describe()
    with pytest.raises(ScenarioError, match="kind"):
        SWAP.swap_controller(shipped, {"observation_low": [0.0]})


def test_guarded_scenario_puts_the_neural_kind_inside_the_guard():
    sc, report = BENCH.scenario_for("guarded_actuator_loss", "neural")
    shipped = Scenario.from_toml("scenarios/guarded_actuator_loss.toml")
    assert sc.controller.inner == Scenario.from_toml("scenarios/neural_hover.toml").controller
    assert sc.controller.fallback == shipped.controller.fallback
    assert sc.controller.envelope_low == shipped.controller.envelope_low and report.to_kind == "neural"
    assert BENCH.SKIP_NEURAL == {}


def test_run_one_flies_the_neural_controller_through_a_fault(monkeypatch):
    import neurocontrol.simulation.loop as loop

    seen = []
    real = loop.simulate

    def spy(env, controller, *args, **kwargs):
        seen.append((type(controller), _wrapper_chain(env)))
        return real(env, controller, *args, **kwargs)

    monkeypatch.setattr(loop, "simulate", spy)
    row = BENCH.run_one(("fault_sensor_dropout", 0, (("run.duration", "2"),), "neural"))
    assert seen[0][0] is NeuralController
    assert "SensorDropout" in seen[0][1] and seen[0][1][0] == "Monitor"
    assert row["status"] == "completed" and row["nonfinite"] == 0 and row["violations"] == 0
    BENCH.run_one(("fault_sensor_dropout", 0, (("run.duration", "0.5"),)))
    assert seen[1][0] is AdaptiveController


def test_main_drops_a_set_key_the_neural_kind_lacks_and_writes_no_record(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(BENCH, "write_record", lambda *a, **k: pytest.fail("a partial run wrote a record"))
    out = tmp_path / "runs.json"
    BENCH.main(["--controller", "neural", "--seeds", "1", "--workers", "1", "--only", "fault_sensor_dropout",
                "--set", "run.duration=2", "--set", "controller.outlier_level_rate=0.01", "--json", str(out)])
    text = capsys.readouterr().out
    assert "--set controller.outlier_level_rate=0.01 dropped" in text
    runs = json.loads(out.read_text())["runs"]
    assert [(r["scenario"], r["seed"], r["status"]) for r in runs] == [("fault_sensor_dropout", 0, "completed")]


def test_neural_table_names_the_controller_and_flies_the_guarded_scenario_inside_the_guard():
    mt = _load("make_tables", ROOT / "docs" / "make_tables.py")
    rec = mt.load_record("faults_neural")
    assert rec["controller"] == "neural" and "--controller neural" in rec["command"]
    assert set(rec["figures"]["summary"]) == set(BENCH.CASES) and not rec.get("skipped")
    assert "neural_hover" in rec["scenarios"]          # a changed neural table makes the record stale
    table = mt.render_table("faults-neural")
    assert "Controller kind `neural`" in table and "the guard's `[controller.inner]`" in table
    assert "| `guarded_actuator_loss`" in table
    assert "Controller kind" not in mt.render_table("faults")
