"""Bad input at every boundary: observations, API arguments, scenario files, CLI arguments."""

import subprocess
import sys

import numpy as np
import pytest

from neurocontrol.cli import main
from neurocontrol.exceptions import NonFiniteError, ParameterError, ScenarioError, ShapeError
from neurocontrol.scenario import Scenario

OBS = np.array([140.0, 1.0, 0.0, 0.12, 0.0])
R = np.array([140.0, 1.0])


@pytest.fixture(scope="module")
def adaptive():
    ctrl = Scenario.from_toml("scenarios/helicopter_hover.toml").build(0).controller
    ctrl.reset(OBS, R, seed=0)
    return ctrl


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_adaptive_holds_its_input_on_a_non_finite_sample(adaptive, bad):
    u = adaptive.step(OBS, R)
    obs = OBS.copy()
    obs[1] = bad
    np.testing.assert_array_equal(adaptive.step(obs, R), u)


def test_api_argument_errors(adaptive):
    with pytest.raises(ShapeError, match=r"`reference` must have shape \(2,\), got \(3,\)"):
        adaptive.step(OBS, [140.0, 1.0, 0.0])
    with pytest.raises(NonFiniteError, match=r"`reference` must be finite"):
        adaptive.step(OBS, [np.nan, 1.0])
    with pytest.raises(ShapeError, match=r"`observation` must be a numeric array, got str"):
        adaptive.step("abc", R)
    with pytest.raises(ShapeError, match=r"`feedforward` must have shape \(2,\), got \(1,\)"):
        adaptive.step(OBS, R, feedforward=[1.0])
    with pytest.raises(ParameterError, match=r"`observation` must have shape \(5,\) to match `observation_low`"):
        adaptive.reset(OBS[:3], R)
    with pytest.raises(NonFiniteError, match=r"`observation` must be finite, got NaN or inf"):
        adaptive.reset([np.nan, 1.0, 0.0, 0.12, 0.0], R)


def test_guard_rejects_wrong_shape_observations():
    d = Scenario.from_toml("scenarios/helicopter_hover.toml").to_dict()
    ctrl = Scenario.from_dict({**d, "controller": {"kind": "guarded", "inner": d["controller"]}}).build(0).controller
    ctrl.reset(OBS, R)
    with pytest.raises(ShapeError, match=r"`observation` must have shape \(5,\), got \(6,\)"):
        ctrl.step(np.append(OBS, 0.0), R)


def test_env_rejects_bad_actions():
    import gymnasium as gym

    import plants  # noqa: F401

    env = gym.make("neurocontrol/Helicopter-v0")
    env.reset(seed=0)
    with pytest.raises(NonFiniteError, match=r"`action` must be finite, got \[nan, 0.0\]; the plant was not stepped"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ShapeError, match=r"`action` must have shape \(2,\), got \(3,\)"):
        env.step(np.zeros(3))


@pytest.mark.parametrize("text, match", [
    ('[plant]\nkind = "helicopter"\n[plant.faults]\ndelay_steps = -1\n', r"`plant.faults.delay_steps` must be an integer >= 0, got -1"),
    ('[plant]\nkind = "helicopter"\n[plant.faults.dropout]\n', r"missing key `plant.faults.dropout.probability`"),
    ('[plant]\nkind = "helicopter"\n[plant.faults.stuck_actuator]\ninput = "x"\nstart = 1.0\n',
     r"`plant.faults.stuck_actuator.input` must be an integer, got a string 'x'"),
])
def test_bad_fault_tables(tmp_path, text, match):
    base = Scenario.from_toml("scenarios/hover_pid.toml").to_toml()
    body = base + "\n" + text.replace('[plant]\nkind = "helicopter"\n', "", 1)
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_toml(path)


@pytest.mark.parametrize("argv, message", [
    (["run", "scenarios/nope.toml"], "no such scenario file"),
    (["run", "scenarios/hover_pid.toml", "--set", "run.duration=-1"], "`run.duration` must be a finite number > 0"),
    (["run", "scenarios/hover_pid.toml", "--set", "plant.faults.dropout.probability=3"],
     "`plant.faults.dropout.probability` must be a finite number >= 0 and <= 1, got 3.0"),
    (["sweep", "scenarios/hover_pid.toml", "--seeds", "5:2"], "seed range '5:2' is empty"),
    (["sweep", "scenarios/hover_pid.toml", "--seeds", "0:2", "--resume"], "--resume needs --out DIR"),
    (["run", "scenarios/hover_pid.toml", "--seed", "x"], "argument --seed: invalid int value"),
])
def test_cli_prints_one_line_and_exits_2(capsys, argv, message):
    assert main(argv) == 2 if argv[-1] != "x" else True
    if argv[-1] == "x":
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("neurocontrol: error:") and message in err[-1]


def test_cli_subprocess_exit_status():
    p = subprocess.run([sys.executable, "-m", "neurocontrol", "run", "scenarios/hover_pid.toml", "--set",
                        "plant.faults.delay_steps=-3"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "delay_steps" in p.stderr


def test_a_run_too_long_for_its_control_period_is_a_named_error():
    sc = Scenario.from_toml("scenarios/hover_pid.toml").set("run.duration", "1e300")
    with pytest.raises(ScenarioError, match=r"\[plant\] \(kind 'helicopter'\): `run.duration` / `plant.dt` gives 1e\+302 "
                                            r"control steps; at most 1e\+09: shorten the run or lengthen `plant.dt`"):
        sc.build(0)
    with pytest.raises(ScenarioError, match=r"`plant.dt` must be a finite number > 0 and <= 1 s, got 1e\+300"):
        Scenario.from_toml("scenarios/hover_pid.toml").set("plant.dt", "1e300")


def test_a_finite_proposal_whose_sum_overflows_is_clipped_not_called_divergent():
    """Finite entries whose sum overflows are finite: clipped, not called divergent (the check once summed them)."""
    from neurocontrol.controllers.base import AbstractController

    class Huge(AbstractController):
        def _reset_impl(self, observation, reference, seed):
            pass

        def _step_impl(self, observation, reference):
            return np.array([1e308, 1e308])

    ctrl = Huge(input_limits=[[0.0, 400.0], [-600.0, 600.0]], output_indices=(0, 1), dt=0.01)
    ctrl.reset(OBS, R)
    np.testing.assert_array_equal(ctrl.step(OBS, R), [400.0, 600.0])
