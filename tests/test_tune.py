import json
import subprocess
import sys

import pytest

from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.experiments.tuning import TuneParam, TuneSpec, objective_value, tune
from neurocontrol.scenario import Scenario

optuna = pytest.importorskip("optuna")

TUNE = {"params": {"controller.kp_alt": {"low": 0.03, "high": 0.1, "log": True},
                   "controller.kd_alt": {"choices": [0.02, 0.03]}},
        "seeds": "0:2", "output": "altitude", "trials": 2}


def scenario():
    data = Scenario.from_toml("scenarios/hover_pid.toml").set("run.duration", "2").to_dict()
    data["tune"] = TUNE
    return Scenario.from_dict(data, source="tune.toml")


def test_tune_table_round_trips_through_toml():
    sc = scenario()
    assert Scenario.from_toml_text(sc.to_toml()) == sc
    assert sc.tune.params["controller.kd_alt"].choices == (0.02, 0.03)
    assert Scenario.from_toml("scenarios/hover_pid.toml").tune is None


def test_tune_runs_resumes_and_writes_best(tmp_path):
    import neurocontrol

    sc = scenario()
    r1 = neurocontrol.tune(sc, trials=2, out=tmp_path, workers=1)
    assert len(r1.trials) == 2 and set(r1.best_params) == {"controller.kp_alt", "controller.kd_alt"}
    assert (tmp_path / "optuna.db").exists() and (tmp_path / "best.toml").exists()
    best = Scenario.from_toml(tmp_path / "best.toml")
    assert best.controller.kp_alt == pytest.approx(r1.best_params["controller.kp_alt"])
    r2 = neurocontrol.tune(sc, trials=1, out=tmp_path, workers=1)          # resumed: same study
    assert len(r2.trials) == 3 and r2.best_value <= r1.best_value
    t = r2.trials[0]
    assert r2.best_value == pytest.approx(min(x["value"] for x in r2.trials))
    assert t["value"] == pytest.approx(1000 * (1 - t["success_rate"]) + t["median_iae"])


def test_cli_tune_shares_an_rdb_storage(tmp_path):
    path = tmp_path / "tune.toml"
    path.write_text(scenario().to_toml())
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    cmd = [sys.executable, "-m", "neurocontrol", "tune", str(path), "--trials", "1", "--storage", url, "--seeds",
           "0:1", "--out", str(tmp_path / "o"), "--workers", "1", "--json"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert out["n_trials"] == 1 and out["storage"] == url
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert out["n_trials"] == 2


def test_objective_value():
    s = {"success_rate": 0.5, "outputs": {"a": {"iae": {"median": 2.0}}, "b": {"iae": {"median": 3.0}}}}
    assert objective_value(s, "a") == 502.0 and objective_value(s) == 505.0
    with pytest.raises(ParameterError, match=r"`tune.output` 'c' is not a controlled output"):
        objective_value(s, "c")


@pytest.mark.parametrize("table, match", [
    ({"params": {}, "seeds": "0:2"}, r"`tune.params` must name at least one setting"),
    ({"params": {"a": {"low": 2.0, "high": 1.0}}}, r"a tuned range needs finite `tune\.params\.a\.low` < `high`"),
    ({"params": {"a": {"low": 0.0, "high": 1.0, "log": True}}}, r"a log-scale range needs `tune\.params\.a\.low` > 0, got 0\.0"),
    ({"params": {"a": {"low": 0.0, "high": 1.0, "choices": [1]}}}, r"a tuned parameter has either `tune\.params\.a\.choices` or `low`/`high`"),
    ({"params": {"a": {"choices": []}}}, r"`tune\.params\.a\.choices` must be a non-empty array"),
    ({"params": {"a": {"low": 0.0, "high": 1.0, "step": -1}}}, r"`tune\.params\.a\.step` must be a positive number and cannot go with log = true"),
    ({"params": {"a": {"lo": 0.0}}}, r"unknown key `tune\.params\.a\.lo` \(did you mean `low`\?\); allowed keys of TuneParam"),
    ({"params": {"a": 3}}, r"`tune.params.a` must be a table"),
    ({"params": [], "seeds": "0:2"}, r"`tune.params` must be a table"),
    ({"params": {"a": {"low": 0, "high": 1}}, "trials": 0}, r"`tune\.trials` must be an integer >= 1, got 0"),
    ({"params": {"a": {"low": 0, "high": 1}}, "failure_weight": -1.0},
     r"`tune\.failure_weight` must be a finite number >= 0, got -1\.0"),
    ({"params": {"a": {"low": 0, "high": 1}}, "seeds": "x"}, r"seeds must look like 0:20"),
    ({"params": {"a": {"low": 0, "high": 1}}, "metric": "x"}, r"unknown key `tune\.metric` \(did you mean `trials`\?\); allowed keys of \[tune\]: aggregate, "
     r"direction, failure_weight, objective, output, params, seeds, trials"),
])
def test_spec_errors(table, match):
    with pytest.raises(ScenarioError, match=r"^s\.toml: .*" + match):
        TuneSpec.from_table(table, "s.toml")
    data = Scenario.from_toml("scenarios/hover_pid.toml").to_dict()   # the scenario reader: the same decoder
    with pytest.raises(ScenarioError, match=r"^s\.toml: .*" + match):
        Scenario.from_dict({**data, "tune": table}, source="s.toml")


def test_tune_spec_lives_in_the_scenario_layer_and_keeps_integer_ranges():
    import neurocontrol.experiments.tuning as tuning
    import neurocontrol.scenario as scenario

    assert tuning.TuneSpec is scenario.TuneSpec and tuning.TuneParam is scenario.TuneParam
    spec = TuneSpec.from_table({"params": {"controller.kp_alt": {"low": 1, "high": 5}, "x": {"choices": [True, 2]}}})
    assert spec.params["controller.kp_alt"].is_int and spec.params["x"].choices == (True, 2)
    assert isinstance(spec.params["x"].choices[0], bool)


def test_tune_errors(tmp_path):
    import neurocontrol

    with pytest.raises(ScenarioError, match=r"no \[tune\] table"):
        neurocontrol.tune("scenarios/hover_pid.toml", out=tmp_path)
    data = scenario().to_dict()
    data["tune"] = {"params": {"controller.nope": {"low": 0.0, "high": 1.0}}}
    with pytest.raises(ScenarioError, match=r"controller.nope"):
        neurocontrol.tune(Scenario.from_dict(data), out=tmp_path)
    with pytest.raises(ParameterError, match=r"`trials` must be a non-negative integer"):
        neurocontrol.tune(scenario(), trials=-1, out=tmp_path)
    with pytest.raises(ParameterError, match=r"has no completed trial yet"):
        neurocontrol.tune(scenario(), trials=0, out=tmp_path / "empty")
    assert TuneParam(low=1, high=5).is_int and not TuneParam(low=1.0, high=5.0).is_int


# --------------------------------------------------------------------------- dependent keys, objectives
def test_tune_over_the_horizon_works(tmp_path):
    # old behaviour: a choice of horizon 60 failed before any trial ran (default blocks (0, 10, 30, 60))
    sc = Scenario.from_toml("scenarios/helicopter_hover.toml").set("run.duration", "1")
    sc = sc.set("tune.params", '{"controller.law.horizon" = {choices = [40, 60]}}').set("tune.seeds", '"0"')
    res = tune(sc, trials=2, out=tmp_path, workers=1)
    assert res.best_params["controller.law.horizon"] in (40, 60)
    assert res.best_scenario.controller.law.blocks[-1] < res.best_params["controller.law.horizon"]


def _fake_sweep(values, success=(True, True, False)):
    from neurocontrol.experiments.sweeps import SweepResult

    metrics = tuple({"success": s, "control_effort": 10.0 * v,
                     "outputs": {"altitude": {"iae": v, "rmse": 2 * v}, "rotor_speed": {"iae": 1.0, "rmse": 0.5}}}
                    for v, s in zip(values, success))
    return SweepResult(scenario="f", scenario_sha256="0" * 64, seeds=tuple(range(len(values))), metrics=metrics,
                       statuses=("completed",) * len(values))


def test_metric_value_against_plain_numpy():
    import numpy as np

    from neurocontrol.experiments.tuning import metric_value

    vals = [1.0, 4.0, 2.0]
    res = _fake_sweep(vals)
    assert metric_value(res, "altitude.iae") == np.median(vals)
    assert metric_value(res, "altitude.rmse", "mean") == np.mean([2 * v for v in vals])
    assert metric_value(res, "control_effort", "p90") == pytest.approx(np.percentile([10 * v for v in vals], 90))
    assert metric_value(res, "iae", "max") == max(v + 1.0 for v in vals)          # sum over outputs per seed
    assert metric_value(res, "success_rate") == pytest.approx(2 / 3)
    with pytest.raises(ParameterError, match="is not a metric of the result; use one of"):
        metric_value(res, "altitude.nope")


@pytest.mark.parametrize("table, match", [
    ({"objective": ["a.iae", "a.iae"]}, "distinct"),
    ({"objective": "a.iae", "direction": "up"}, "minimize"),
    ({"objective": ["a.iae", "b"], "direction": ["minimize"] * 3}, "one per"),
    ({"aggregate": "p200"}, "percentile"),
])
def test_objective_spec_errors(table, match):
    with pytest.raises(ScenarioError, match=match):
        TuneSpec.from_table({**TUNE, **table})


def test_two_objectives_give_a_pareto_front(tmp_path):
    # old behaviour: the objective was fixed (1000 (1 - success) + median IAE), single
    sc = scenario().set("tune.objective", '["altitude.iae", "control_effort"]').set("tune.aggregate", '"mean"')
    res = tune(sc, trials=3, out=tmp_path, workers=1)
    assert res.objectives == ("altitude.iae", "control_effort") and len(res.best_value) == 2
    done = [t for t in res.trials if t["state"] == "COMPLETE"]
    front = {p["number"] for p in res.pareto}
    for t in done:   # plain Pareto check: a front member is dominated by no trial
        if t["number"] in front:
            assert not any(all(o <= v for o, v in zip(u["value"], t["value"])) and u["value"] != t["value"]
                           for u in done)
    ax = res.plot(tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").exists() and ax is not None


def test_shipped_tune_hover_scenario_tunes_adaptive_keys(tmp_path):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scenarios" / "tune_hover.toml"
    sc = Scenario.from_toml(path)
    assert {"controller.law.move_penalty", "controller.law.horizon"} <= set(sc.tune.params)
    res = tune(sc.set("run.duration", "3"), trials=2, seeds="0", out=tmp_path, workers=1)
    assert res.objectives == ("altitude.iae",) and len(res.trials) == 2
    best = Scenario.from_toml(tmp_path / "best.toml")
    assert best.controller.law.horizon == res.best_params["controller.law.horizon"]


def test_tune_hover_example_saves_the_best_settings(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "examples" / "tune_hover.py"), "--trials", "2", "--seeds", "0",
                           "--duration", "3", "--out", str(tmp_path)], cwd=root, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "best settings saved to" in proc.stdout and (tmp_path / "study.png").stat().st_size > 0
    saved = Scenario.from_toml(tmp_path / "tuned_hover.toml")
    line = next(ln for ln in proc.stdout.splitlines() if "controller.law.move_penalty =" in ln)
    assert saved.controller.law.move_penalty == pytest.approx(float(line.split("=")[1]))
