"""Scenario files with an [ilc] table run repeated trials through the ILC runner."""

from pathlib import Path

import pytest

from neurocontrol.exceptions import ScenarioError
from neurocontrol.scenario import Scenario, run_scenario
from neurocontrol.simulation import seed_streams

ROOT = Path(__file__).resolve().parent.parent


def test_ilc_scenario_learns_over_trials():
    sc = Scenario.from_toml(ROOT / "scenarios" / "ilc_staircase.toml").set("ilc.trials", "4").set("run.duration", "8")
    res = run_scenario(sc, seed=0)
    ilc = res.metrics["ilc"]
    assert ilc["trials"] == 4
    alt = ilc["rms_error"]["altitude"]
    assert len(alt) == 4
    assert alt[-1] < 0.5 * alt[0]          # trial-to-trial learning on the repeated task
    assert ilc["last_over_first"]["altitude"] == pytest.approx(alt[-1] / alt[0])
    # one seed split: the trials run on the plant and controller streams of a plain run with this seed
    streams = seed_streams(0)
    assert res.meta["seed_streams"] == {"plant": streams.plant, "controller": streams.controller}
    assert res.meta["trial"] == 4 and res.meta["trial_start"] == "start_trial"


def test_ilc_scenario_rejects_unknown_gain():
    sc = Scenario.from_toml(ROOT / "scenarios" / "ilc_staircase.toml").set("ilc.gains", "{gain_pitch = 1.0}")
    with pytest.raises(ScenarioError, match=r"`ilc.gains` has unknown keys \['gain_pitch'\]"):
        run_scenario(sc.set("run.duration", "1"), seed=0)


def test_ilc_scenario_rejects_events():
    sc = Scenario.from_toml(ROOT / "scenarios" / "ilc_staircase.toml")
    d = sc.to_dict()
    d["events"] = [{"kind": "parameter_change", "time": 1.0, "factors": {"a8": 1.1}}]
    with pytest.raises(ScenarioError, match=r"\[\[events\]\] cannot be combined with \[ilc\]"):
        run_scenario(Scenario.from_dict(d, source="x.toml").set("run.duration", "2"), seed=0)


def test_ilc_scenario_exclude_excitation_reaches_the_runner():
    sc = Scenario.from_toml(ROOT / "scenarios" / "ilc_staircase.toml").set("ilc.trials", "2").set("run.duration", "4")
    on = run_scenario(sc, seed=0).metrics["ilc"]["rms_error"]["altitude"]
    off = run_scenario(sc.set("ilc.exclude_excitation", "false"), seed=0).metrics["ilc"]["rms_error"]["altitude"]
    assert on[0] == off[0]                 # trial 1 is flown before any update
    assert on[1] != off[1]                 # the update after it learned from different rows


def test_ilc_scenario_rejects_a_non_boolean_exclude_excitation():
    with pytest.raises(ScenarioError, match="exclude_excitation"):
        Scenario.from_toml(ROOT / "scenarios" / "ilc_staircase.toml").set("ilc.exclude_excitation", '"yes"')
