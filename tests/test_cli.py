"""The command line: every subcommand in a subprocess with --json (exactly one JSON object on stdout), readable
summaries, run folders, and one-line errors with exit status 2 (tracebacks only with --debug)."""

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import pytest

from neurocontrol import cli

ROOT = Path(__file__).resolve().parents[1]
HOVER = str(ROOT / "scenarios" / "hover_pid.toml")
SHORT = ["--set", "run.duration=2"]


def neurocontrol(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "neurocontrol", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every subcommand once in its own process, two at a time (each process pays the package import)."""
    out = tmp_path_factory.mktemp("cli") / "run"
    commands = {
        "run": ("run", HOVER, "--seed", "5", *SHORT, "--json", "--out", str(out)),
        "sweep": ("sweep", HOVER, "--seeds", "0:3", "--workers", "1", *SHORT, "--json"),
        "compare": ("compare", HOVER, "--controllers", "lqr,pid", "--seeds", "0:2", "--workers", "1", *SHORT, "--json"),
        "check": ("check", "gradients", "--json"),
        "bench": ("bench", "--json"),
        "error": ("run", "scenarios/nope.toml"),
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(neurocontrol, *argv, check=False) for name, argv in commands.items()}
        procs = {name: f.result() for name, f in futures.items()}
    for name, proc in procs.items():
        assert name == "error" or proc.returncode == 0, (name, proc.stderr)
    return procs, out


def test_run_json_and_out_folder(runs, capsys):
    procs, out = runs
    proc = procs["run"]
    payload = json.loads(proc.stdout)  # the whole stdout is one JSON object
    expected_metrics = {"success", "steps", "final_window_s", "saturation_fraction", "nonfinite_actions",
                        "control_effort", "control_energy", "control_step_us", "outputs"}
    assert set(payload) == expected_metrics | {"scenario", "seed", "wall_time_s", "status", "stop_reason", "hint",
                                               "controller_settings"}
    assert payload["stop_reason"] is None and payload["hint"] is None
    assert payload["scenario"] == "hover_pid" and payload["seed"] == 5 and payload["steps"] == 200
    assert payload["status"] == "completed" and payload["wall_time_s"] > 0
    assert set(payload["outputs"]) == {"rotor_speed", "altitude"}
    assert payload["outputs"]["altitude"]["tolerance"] == 0.02
    for name in ("arrays.npz", "result.json", "timeseries.csv", "metrics.json", "manifest.json", "scenario.toml",
                 "result.png"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["command"][:2] == ["neurocontrol", "run"]
    assert manifest["integrator"] == {"method": "rk4 (fixed step, end-stop contacts)", "substeps": 5,
                                      "substep_s": 0.002}
    assert {"numpy", "gymnasium", "control", "numba", "neurocontrol"} <= set(manifest["versions"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert {k: v for k, v in metrics.items() if k != "control_step_us"} == \
        {k: v for k, v in payload.items() if k in expected_metrics - {"control_step_us"}}
    # a second run into the same folder needs --overwrite
    assert cli.main(["run", HOVER, *SHORT, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [
        f"neurocontrol: error: {out} already holds a saved run; pass --overwrite or choose another --out folder."]
    assert cli.main(["run", HOVER, *SHORT, "--out", str(out), "--overwrite", "--json"]) == 0


def test_sweep_json(runs):
    proc = runs[0]['sweep']
    d = json.loads(proc.stdout)
    assert set(d) == {"scenario", "scenario_sha256", "seeds", "workers", "wall_time_s", "summary", "runs"}
    assert d["seeds"] == [0, 1, 2] and [r["seed"] for r in d["runs"]] == [0, 1, 2]
    s = d["summary"]
    assert s["n"] == 3 and 0.0 <= s["success_rate"] <= 1.0
    assert set(s["outputs"]["altitude"]["rmse"]) == {"median", "p10", "p90", "min", "max", "n"}
    assert set(d["runs"][0]) == {"seed", "status", "stop_reason", "hint", "mode_fractions", "metrics"}


def test_compare_json(runs):
    proc = runs[0]['compare']
    d = json.loads(proc.stdout)
    assert set(d) == {"scenario", "seeds", "wall_time_s", "table", "variants", "controllers", "skipped"}
    assert [row["controller"] for row in d["table"]] == ["lqr", "pid"] and d["skipped"] == {}
    assert d["table"][0]["n"] == 2 and "altitude.rmse" in d["table"][0]
    assert set(d["controllers"]) == {"lqr", "pid"} and d["controllers"]["pid"]["n"] == 2


def test_check_gradients_json(runs):
    proc = runs[0]['check']
    d = json.loads(proc.stdout)
    assert d["passed"] is True and d["rtrl_vs_bptt"] < 1e-10 and d["rtrl_vs_fd"] < 1e-6
    assert len(d["cases"]) == 3 and all(c["passed"] for c in d["cases"])


def test_bench_json(runs):
    proc = runs[0]['bench']
    d = json.loads(proc.stdout)
    assert d["plant"]["env_steps_per_s"] > 0 and d["plant"]["batch_plant_steps_per_s"] > 0
    assert [r["n_units"] for r in d["rtrl"]] == [5, 16] and all(r["us_per_step"] > 0 for r in d["rtrl"])
    steps = d["control_step"]
    assert set(steps) == {"pid", "lqr", "neural", "neural_over_lqr"} and d["quick"] is True
    # the neural row times the predictive law only: 4 s at 10 ms less the automatic LQR-I warm-up's 150 steps
    assert steps["neural"]["steps"] == 250 and steps["neural"]["control_step_us"] > 0
    assert steps["neural_over_lqr"] == pytest.approx(steps["neural"]["control_step_us"] / steps["lqr"]["control_step_us"])


def test_bad_input_is_one_line_without_traceback_and_debug_raises(runs):
    proc = runs[0]["error"]
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["neurocontrol: error: scenarios/nope.toml: no such scenario file; check the "
                                        "path (shipped scenarios are in the project's scenarios/ folder)."]
    from neurocontrol.exceptions import ScenarioError

    with pytest.raises(ScenarioError, match=r"no such scenario file"):
        cli.main(["run", "scenarios/nope.toml", "--debug"])
    with pytest.raises(ScenarioError, match=r"no such scenario file"):
        cli.main(["--debug", "sweep", "scenarios/nope.toml", "--seeds", "0:2"])


# ------------------------------------------------------------------ in-process (fast)


@pytest.mark.parametrize("argv, match", [
    (["run", HOVER, "--set", "run.duration=-1"], r"hover_pid.toml: `run.duration` must be a finite number > 0 s"),
    (["run", HOVER, "--set", "foo"], r"--set needs KEY=VALUE \(e.g. run.duration=10\), got 'foo'"),
    (["run", HOVER, "--set", "controller.kind=mpc"], r"unknown kind 'mpc' at `controller.kind`"),
    (["sweep", HOVER, "--seeds", "5:2"], r"seed range '5:2' is empty"),
    (["sweep", HOVER, "--seeds", "0:2", "--workers", "0"], r"`workers` must be a positive integer"),
    (["compare", HOVER, "--controllers", "lqr,mpc", "--seeds", "0:1"], r"unknown kind 'mpc' at `controller.kind`"),
])
def test_errors_are_one_line(capsys, argv, match):
    import re

    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurocontrol: error: ") and re.search(match, lines[0])
    assert captured.out == ""


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "neurocontrol: error: the following arguments are required: SCENARIO (see `neurocontrol run --help`)"]
    with pytest.raises(SystemExit):
        cli.main(["check", "everything"])
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_run_prints_a_readable_summary(capsys):
    assert cli.main(["run", HOVER, "--seed", "2", "--set", "run.duration=30"]) == 0
    out = capsys.readouterr().out
    assert "scenario   hover_pid" in out and "success    yes" in out and "status     completed" in out
    assert "altitude [m]" in out and "rotor_speed [rad/s]" in out and "control step" in out


def test_run_of_a_guarded_scenario_says_when_the_fallback_flew(capsys):
    # seed 1 starts at 1.26 m, outside this altitude envelope: the LQR flies until 100 good steps have passed
    args = ["run", "scenarios/guarded_neural_hover.toml", "--seed", "1", "--set", "run.duration=5",
            "--set", "controller.envelope_low=[100.0, 0.9]", "--set", "controller.envelope_high=[175.0, 1.1]"]
    assert cli.main(args) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("modes"))
    assert "fallback" in line and "the fallback flew 0.03-" in line     # the trip at 0.02 s acts from 0.03 s
    assert cli.main(["run", "scenarios/guarded_neural_hover.toml", "--set", "run.duration=2"]) == 0
    assert "modes" not in capsys.readouterr().out          # no line when the fallback never flew


def test_failed_tracking_still_exits_zero(capsys):
    assert cli.main(["run", HOVER, "--set", "run.duration=1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["success"] is False and d["status"] == "completed"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "sweep", "compare", "check", "bench", "plant-demo"):
        assert command in out


def test_compare_vary_settings_one_table():
    # old behaviour: `compare` had no --vary (argparse error, exit 2)
    proc = neurocontrol("compare", HOVER, *SHORT, "--vary", "controller.kp_alt=0.03,0.08", "--seeds", "0:2", "--json")
    data = json.loads(proc.stdout)
    assert [r["variant"] for r in data["table"]] == ["kp_alt=0.03", "kp_alt=0.08"]
    assert data["variants"]["kp_alt=0.03"]["controller.kp_alt"] == 0.03
    assert data["seeds"] == [0, 1]


def test_bench_ablation_runs_the_checkouts_script_with_the_arguments(monkeypatch, capsys):
    import runpy

    seen = {}

    def fake_run_path(path, run_name):
        seen.update(path=path, run_name=run_name, argv=list(sys.argv))

    monkeypatch.setattr(runpy, "run_path", fake_run_path)
    assert cli.main(["bench", "--ablation", "--seeds", "3", "--workers", "2"]) == 0
    assert seen["path"].endswith(str(Path("benchmarks") / "bench_ablation.py")) and Path(seen["path"]).is_file()
    assert seen["run_name"] == "__main__"
    assert seen["argv"][1:] == ["--seeds", "3", "--workers", "2", "--no-record"]
    assert sys.argv[1:3] != ["--seeds", "3"]                     # restored
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--ablation", "--seeds", "0"])
    assert exc.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err


def test_run_of_an_ilc_scenario_prints_every_trial_and_plots_them(tmp_path, capsys):
    out = tmp_path / "ilc"
    scenario = str(ROOT / "scenarios" / "ilc_staircase.toml")
    assert cli.main(["run", scenario, "--set", "ilc.trials=2", "--set", "run.duration=3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    rms = metrics["ilc"]["rms_error"]
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("ilc        2 trials, NormOptimalILC"))
    assert lines[head + 1].split() == ["trial", "rotor_speed", "[rad/s]", "altitude", "[m]"]
    for k in (1, 2):
        row = lines[head + 1 + k].split()
        assert row[0] == str(k)
        assert [float(v) for v in row[1:]] == pytest.approx([rms["rotor_speed"][k - 1], rms["altitude"][k - 1]],
                                                           rel=1e-3)
    assert (out / "ilc_trials.png").is_file()
    assert "ilc_trials.png" in json.loads((out / "manifest.json").read_text())["files"]


def test_run_of_a_neural_scenario_writes_the_learned_step_responses(tmp_path):
    """The neural kind's run folder holds learned_response.png and result.json's meta the responses it draws:
    the controller's own learned_step_response at the end of the run (checked against a controller flown the
    same way by hand); a kind without learned responses writes none."""
    import numpy as np

    from neurocontrol.scenario import Scenario
    from neurocontrol.simulation.loop import simulate

    out = tmp_path / "neural"
    sc_path = "scenarios/neural_hover.toml"
    assert cli.main(["run", sc_path, "--set", "run.duration=1.5", "--out", str(out), "--json"]) == 0
    assert (out / "learned_response.png").is_file()
    meta = json.loads((out / "result.json").read_text())["meta"]["learned_response"]
    assert meta["horizon"] == 50 and meta["outputs"] == ["rotor_speed", "altitude"] and meta["dt"] == 0.01
    sc = Scenario.from_toml(sc_path).set("run.duration", "1.5")
    setup = sc.build(sc.run.seed)
    simulate(setup.env, setup.controller, setup.reference, duration=1.5, seed=setup.seed, options=setup.options)
    np.testing.assert_array_equal(np.asarray(meta["response"]), setup.controller.learned_step_response())
    assert "learned_response.png" in json.loads((out / "manifest.json").read_text())["files"]
    other = tmp_path / "pid"
    assert cli.main(["run", HOVER, *SHORT, "--out", str(other), "--json"]) == 0
    assert not (other / "learned_response.png").exists()


def test_run_says_when_it_ended_before_the_controller_took_over(capsys):
    # the relay-tuned PID on the CSTR: the set-point moves at 60 s before the relay has switched back (docs/plants.md)
    args = ["run", "scenarios/cstr_setpoint.toml", "--set", 'controller.kind="pid_auto"', "--set",
            'controller.method="relay"', "--set", "run.duration=300"]
    assert cli.main(args) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("modes"))
    assert line.startswith("modes      tuning 100.0 %;") and "still in its 'tuning' phase (from 0 s on)" in line
    assert cli.main(["run", "scenarios/neural_hover.toml", "--set", "run.duration=0.5"]) == 0   # inside its warm-up
    assert "still in its 'warmup' phase" in capsys.readouterr().out
    assert cli.main(["run", "scenarios/neural_hover.toml", "--set", "run.duration=3"]) == 0     # past it
    assert "modes" not in capsys.readouterr().out
