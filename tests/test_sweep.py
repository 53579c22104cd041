"""Sweeps over seeds (process pool equal to serial runs, ordered by seed), summaries, export, plots, and
controller comparisons on identical seeds."""

import json

import numpy as np
import pytest

from neurocontrol.exceptions import ParameterError, ScenarioError
from neurocontrol.experiments.sweeps import STAT_KEYS, Comparison, SweepResult, compare, parse_seeds, sweep
from neurocontrol.scenario import Scenario, run_scenario

SCENARIO = Scenario.from_dict({
    "scenario": {"name": "short_hover"},
    "plant": {"kind": "helicopter", "disturbances": {"sensor_noise_std": [0.2, 0.005, 0.0, 0.0, 0.0],
                                                     "gust_rate": 1.0, "gust_amplitude": 1.0}},
    "reference": {"kind": "setpoint", "rotor_speed": 140.0, "altitude": 1.0},
    "controller": {"kind": "lqr"},
    "run": {"duration": 2.0, "tolerance": {"rotor_speed": 1.4, "altitude": 0.02}, "final_window_s": 1.0}})


def drop_timing(metrics):
    return {k: v for k, v in metrics.items() if k != "control_step_us"}


def test_two_workers_equal_serial_runs_in_seed_order():
    seeds = [3, 0, 2, 1]
    parallel = sweep(SCENARIO, seeds, workers=2)
    serial = sweep(SCENARIO, seeds, workers=1)
    assert parallel.seeds == serial.seeds == tuple(seeds) and parallel.workers in (1, 2)   # processes that ran seeds
    assert [drop_timing(m) for m in parallel.metrics] == [drop_timing(m) for m in serial.metrics]
    assert parallel.statuses == serial.statuses
    # and each equals a single run of that seed
    single = run_scenario(SCENARIO, seed=2)
    assert drop_timing(parallel.by_seed(2)) == drop_timing(single.metrics)
    assert len({m["outputs"]["altitude"]["iae"] for m in parallel.metrics}) == 4  # seeds differ


def fake(values):
    metrics = []
    for i, v in enumerate(values):
        metrics.append({"success": i % 2 == 0, "steps": 100, "control_effort": v, "control_step_us": None,
                        "outputs": {"altitude": {"rmse": v / 10, "settling_time": None if i == 0 else float(i)}}})
    return SweepResult(scenario="fake", scenario_sha256="0" * 64, seeds=tuple(range(len(values))),
                       metrics=tuple(metrics), statuses=("completed",) * (len(values) - 1) + ("failed",))


def test_summary_statistics():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    s = fake(values).summary()
    assert s["n"] == 5 and s["success_rate"] == 0.6 and s["statuses"] == {"completed": 4, "failed": 1}
    ce = s["control_effort"]
    assert set(ce) == set(STAT_KEYS) | {"n"}
    assert (ce["median"], ce["min"], ce["max"], ce["n"]) == (3.0, 1.0, 5.0, 5)
    assert ce["p10"] == pytest.approx(np.percentile(values, 10)) and ce["p90"] == pytest.approx(np.percentile(values, 90))
    assert s["control_step_us"] == {"median": None, "p10": None, "p90": None, "min": None, "max": None, "n": 0}
    assert s["outputs"]["altitude"]["rmse"]["median"] == pytest.approx(0.3)
    assert s["outputs"]["altitude"]["settling_time"]["n"] == 4  # the undefined one is left out
    assert "success" not in s and json.loads(json.dumps(s)) == s


def test_export_plot_and_folder(tmp_path):
    res = sweep(SCENARIO, range(2), workers=1, out=tmp_path / "sw")
    df = res.to_pandas()
    assert list(df["seed"]) == [0, 1] and "outputs.altitude.rmse" in df.columns and "status" in df.columns
    d = res.to_dict()
    assert d["scenario"] == "short_hover" and d["seeds"] == [0, 1] and len(d["runs"]) == 2
    assert d["runs"][1]["metrics"] == res.metrics[1] and d["scenario_sha256"] == SCENARIO.sha256
    folder = tmp_path / "sw"
    assert json.loads((folder / "sweep.json").read_text())["summary"]["n"] == 2
    assert (folder / "runs.csv").read_text().splitlines()[0].startswith("seed,status,success")
    assert (folder / "sweep.png").stat().st_size > 0 and (folder / "seed_1" / "result.json").is_file()
    import matplotlib.pyplot as plt

    fig = res.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3 + 3 * 2
    plt.close(fig)
    with pytest.raises(ParameterError, match=r"seed 7 is not in this sweep; seeds: \[0, 1\]"):
        res.by_seed(7)


def test_compare_runs_each_controller_on_identical_seeds(tmp_path):
    comp = compare(SCENARIO, ["lqr", "pid"], range(2),
                   workers=1, out=tmp_path / "cmp")
    assert isinstance(comp, Comparison) and list(comp.sweeps) == ["lqr", "pid"]
    assert comp.sweeps["lqr"].seeds == comp.sweeps["pid"].seeds == (0, 1)
    pid_alone = sweep(SCENARIO.set("controller.kind", "pid"), range(2), workers=1)
    assert [drop_timing(m) for m in comp.sweeps["pid"].metrics] == [drop_timing(m) for m in pid_alone.metrics]
    rows = comp.table()
    assert [r["controller"] for r in rows] == ["lqr", "pid"]
    assert {"n", "success_rate", "failed", "altitude.rmse", "rotor_speed.final_error", "control_step_us"} <= set(rows[0])
    text = comp.format_table()
    assert text.splitlines()[0].split() == ["lqr", "pid"] and "altitude.rmse" in text
    assert comp.to_pandas().loc["pid", "n"] == 2
    d = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert d["table"] == json.loads(json.dumps(rows)) and set(d["controllers"]) == {"lqr", "pid"}
    assert (tmp_path / "cmp" / "comparison.png").is_file() and (tmp_path / "cmp" / "pid" / "sweep.json").is_file()


def test_compare_by_default_flies_the_scenarios_kind_and_the_kinds_built_for_any_plant():
    # the tank at P- (its own kind lqr_i, which the default set holds too): own kind first, each kind once
    tank = Scenario.from_toml("scenarios/quadtank_pminus.toml").set("run.duration", 30.0)
    comp = compare(tank, seeds=[0], workers=1)
    assert list(comp.sweeps) == ["lqr_i", "neural", "pid_auto"] and comp.skipped == {}
    assert json.loads(json.dumps(comp.to_dict()))["skipped"] == {}
    # the PVTOL: the PID refuses it; by default it is left out with the reason, named it is an error
    pvtol = Scenario.from_toml("scenarios/pvtol_steps.toml").set("run.duration", 2.0)
    comp = compare(pvtol, seeds=[0], workers=1)
    assert list(comp.sweeps) == ["lqr_i", "neural"]
    assert "chain of integrators" in comp.skipped["pid_auto"]
    with pytest.raises(ScenarioError, match="chain of integrators"):
        compare(pvtol, ["lqr_i", "pid_auto"], [0], workers=1)


def test_compare_and_sweep_errors():
    with pytest.raises(ScenarioError, match=r"unknown kind 'mpc' at `controller.kind`; registered controller kinds"):
        compare(SCENARIO, ["lqr", "mpc"], range(2), workers=1)
    with pytest.raises(ParameterError, match=r"`controllers` must name distinct controller kinds"):
        compare(SCENARIO, ["lqr", "lqr"], range(2))
    with pytest.raises(ParameterError, match=r"`seeds` must be unique \(one run per seed\), got duplicates \[1\]"):
        sweep(SCENARIO, [1, 1])
    with pytest.raises(ParameterError, match=r"`seeds` must hold at least one seed"):
        sweep(SCENARIO, [])
    with pytest.raises(ParameterError, match=r"`seeds` must hold non-negative integers, got -1"):
        sweep(SCENARIO, [-1])
    with pytest.raises(ParameterError, match=r"`workers` must be a positive integer"):
        sweep(SCENARIO, [0], workers=0)


def test_parse_seeds():
    assert parse_seeds("0:3") == (0, 1, 2) and parse_seeds(" 5 ") == (5,) and parse_seeds("1,4:6") == (1, 4, 5)
    with pytest.raises(ParameterError, match=r"seed range '5:5' is empty: write A:B with B > A"):
        parse_seeds("5:5")
    with pytest.raises(ParameterError, match=r"seeds must look like 0:20, 7 or 1,5,7"):
        parse_seeds("a:b")
    with pytest.raises(ParameterError, match=r"`seeds` must be unique"):
        parse_seeds("1,0:3")


def test_compare_explains_a_kind_without_defaults():
    import dataclasses

    from neurocontrol import registry

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class NeedsRange:
        low: tuple[float, ...]

    registry._load_builtins()   # snapshot after the plugin modules registered their kinds
    saved = {s: dict(t) for s, t in registry._REGISTRY.items()}
    try:
        registry.register("controller", "needs_range", NeedsRange, lambda config, env: None)
        with pytest.raises(ScenarioError, match=r"missing key `controller.low` \(an array of numbers\)\. Controller kind "
                                                r"'needs_range' has settings without defaults, so compare cannot switch "
                                                r"'short_hover' to it; compare from a scenario whose \[controller\] is "
                                                r"'needs_range'"):
            compare(SCENARIO, ["needs_range", "pid"], range(2), workers=1)
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)


def _slow_here(monkeypatch, record=None):
    """Make this process's runs 2 s slower (workers are other processes: they are not patched).

    The fork server imports and warms the package first (about 3 s on the CI machine, with bytecode
    writing off); without the delay this process can finish every short run before a worker exists.
    """
    import time

    import neurocontrol.experiments._pool as pool_mod

    real = pool_mod.run_job

    def slow(job):
        if record is not None:
            record.append(job.seed)
        time.sleep(2.0)
        return real(job)

    monkeypatch.setattr(pool_mod, "run_job", slow)


def test_this_process_takes_jobs_from_the_back_while_workers_take_the_front(monkeypatch):
    local = []
    _slow_here(monkeypatch, local)
    seeds = list(range(8))
    res = sweep(SCENARIO, seeds, workers=2)
    assert local and len(local) < len(seeds)                       # both sides ran some
    assert res.workers == 2                                        # and the count says so
    assert local == seeds[::-1][:len(local)]                       # this side: from the back, in order
    assert [drop_timing(m) for m in res.metrics] == [drop_timing(run_scenario(SCENARIO, seed=s).metrics)
                                                     for s in seeds]


def test_an_error_in_a_worker_is_raised_here_with_its_traceback(tmp_path, monkeypatch):
    _slow_here(monkeypatch)
    out = tmp_path / "sw"
    (out / "seed_0").mkdir(parents=True)
    (out / "seed_0" / "result.json").write_text("{}")   # seed 0 (the workers' first job) refuses to overwrite it
    with pytest.raises(FileExistsError, match="already holds a saved run") as info:
        sweep(SCENARIO, range(6), workers=2, out=out)
    assert "seed 0 failed in a worker process" in str(info.value.__cause__)
    assert "Traceback" in str(info.value.__cause__)


def test_fork_server_preload_names_importable_modules():
    import importlib

    import neurocontrol.experiments.jobs as jobs
    from neurocontrol.experiments.sweeps import forkserver_preload
    from neurocontrol.registry import BUILTIN

    names = forkserver_preload()
    assert names[0] == jobs.__name__ and names[-1] == "neurocontrol.experiments._preload"
    kinds = {entry.partition(":")[0] for row in BUILTIN for entry in row[2:] if entry}
    assert kinds <= set(names) and len(set(names)) == len(names)
    for name in names:          # every string names a module that imports (the last one warms the kernels)
        assert importlib.import_module(name).__name__ == name


# --------------------------------------------------------------------------- scripts, workers, compare --vary
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from neurocontrol.experiments import _pool  # noqa: E402
from neurocontrol.experiments.sweeps import MainGuardError, default_workers, split_values  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_SCRIPT_HEAD = """
from neurocontrol.experiments.sweeps import sweep
from neurocontrol.scenario import Scenario
sc = Scenario.from_toml("scenarios/hover_pid.toml").set("run.duration", "0.5")
"""


def _run_script(tmp_path, text):
    path = tmp_path / "script.py"
    path.write_text(text)
    return subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_unguarded_script_stops_at_once_with_the_fix(tmp_path):
    # old behaviour: every worker died bootstrapping, the caller ran all seeds serially, exit 0, workers == 2
    proc = _run_script(tmp_path, _SCRIPT_HEAD + "res = sweep(sc, range(3), workers=2)\nprint('ran', res.workers)\n")
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert "MainGuardError" in proc.stderr and 'if __name__ == "__main__":' in proc.stderr
    assert "bootstrapping phase" not in proc.stderr   # no worker was started


def test_guarded_script_uses_the_workers_it_reports(tmp_path):
    body = "if __name__ == '__main__':\n    res = sweep(sc, range(4), workers=2)\n    print('ran', res.workers)\n"
    proc = _run_script(tmp_path, _SCRIPT_HEAD + body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] in ("1", "2")   # processes that actually ran seeds
    assert "Error" not in proc.stderr


def test_a_worker_that_dies_while_starting_is_raised_not_replaced_by_serial_runs(tmp_path):
    # the static check bypassed: the workers re-import the script, fail to start; the caller must raise
    text = ("import neurocontrol.experiments._pool as pool\npool._unguarded_statement = lambda: None\n"
            + _SCRIPT_HEAD.replace('"0.5"', '"30"') + "res = sweep(sc, range(100), workers=2)\n"
            "print('ran', res.workers)\n")
    proc = _run_script(tmp_path, text)
    assert proc.returncode != 0 and "ran" not in proc.stdout
    assert "WorkerError" in proc.stderr and "MainGuardError" in proc.stderr   # the worker's own error, too


def test_main_guard_error_message_in_process(monkeypatch):
    monkeypatch.setattr(_pool.multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(MainGuardError, match=r'if __name__ == "__main__":'):
        _pool.check_main_guard("sweep")


def test_guard_detection_on_source():
    import ast

    src = ("import x\nx.sweep()\nif __name__ == '__main__':\n    x.sweep()\nelse:\n    x.sweep()\n"
           "try:\n    if '__main__' == __name__:\n        x.sweep()\nexcept E:\n    pass\n")
    body = ast.parse(src).body
    assert [_pool._guarded(body, line) for line in (2, 4, 6, 9)] == [False, True, False, True]


def test_default_workers_is_serial_for_small_sweeps():
    # old behaviour: one worker per CPU for any sweep of more than one seed
    assert default_workers(6) == 1 and default_workers(_pool.MIN_PARALLEL_RUNS - 1) == 1
    assert default_workers(10 * _pool.MIN_PARALLEL_RUNS) >= 1
    res = sweep(SCENARIO.set("run.duration", "0.5"), range(3))
    assert res.workers == 1


def test_split_values():
    assert split_values("5, 15,45") == ["5", "15", "45"]
    assert split_values("[0, 10],[0, 20]") == ["[0, 10]", "[0, 20]"]
    assert split_values('"a,b",c') == ['"a,b"', "c"]


def test_compare_settings_side_by_side_equals_separate_sweeps(tmp_path):
    # old behaviour: compare() had no `vary`; only controller kinds could be compared
    sc = Scenario.from_toml(ROOT / "scenarios/hover_pid.toml").set("run.duration", "2")
    comp = compare(sc, seeds=[0, 1], vary={"controller.kp_alt": [0.03, 0.08]}, workers=1, out=tmp_path / "c")
    assert list(comp.sweeps) == ["kp_alt=0.03", "kp_alt=0.08"]
    assert comp.variants["kp_alt=0.08"] == {"controller.kind": "pid", "controller.kp_alt": 0.08}
    for value, label in ((0.03, "kp_alt=0.03"), (0.08, "kp_alt=0.08")):
        ref = sweep(sc.set("controller.kp_alt", value), [0, 1], workers=1)
        assert [drop_timing(m) for m in comp.sweeps[label].metrics] == [drop_timing(m) for m in ref.metrics]
    rows = comp.table()
    assert [r["variant"] for r in rows] == list(comp.sweeps)
    assert rows[0]["altitude.iae"] != rows[1]["altitude.iae"]
    assert (tmp_path / "c" / "comparison.png").exists() and (tmp_path / "c" / "kp_alt_0.03").is_dir() is False
    assert (tmp_path / "c" / "kp_alt=0.03" / "sweep.json").exists()


def test_compare_vary_errors():
    sc = Scenario.from_toml(ROOT / "scenarios/hover_pid.toml")
    with pytest.raises(ParameterError, match="KEY=V1,V2"):
        compare(sc, seeds=[0], vary="controller.kp_alt")
    with pytest.raises(ParameterError, match="no values"):
        compare(sc, seeds=[0], vary={"controller.kp_alt": []})
    with pytest.raises(ScenarioError, match="nope"):
        compare(sc, seeds=[0], vary="controller.nope=1,2")
