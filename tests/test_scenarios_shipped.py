"""Every shipped scenario (scenarios/*.toml, picked up automatically) loads, round-trips exactly and runs for a
short horizon; the reference scenario and docs/scenarios.md cover every key of the builtin kinds."""

import re
from pathlib import Path

import pytest

from neurocontrol.scenario import BUILTIN_KINDS, Scenario, describe_kind, run_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_scenarios_are_shipped():
    names = {p.name for p in SCENARIOS}
    assert {"hover_pid.toml", "hover_lqr.toml", "reference_all_keys.toml"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_loads_round_trips_and_runs(path):
    sc = Scenario.from_toml(path)
    assert sc.name == path.stem and sc.description
    text = sc.to_toml()
    again = Scenario.from_toml_text(text, source=str(path))
    assert again == sc and again.to_toml() == text
    short = sc.set("run.duration", "2")
    res = run_scenario(short)
    assert res.status == "completed", res.meta["stop_reason"]
    assert res.n_steps == round(2 / res.meta["dt"]) and res.meta["scenario"] == sc.name


def _leaf_keys(section, kind):
    for row in describe_kind(section, kind):
        leaf = row["key"].rsplit(".", 1)[-1]
        if leaf != "<output name>":
            yield row["key"], leaf


def test_reference_scenario_and_docs_list_every_builtin_key():
    reference = (ROOT / "scenarios" / "reference_all_keys.toml").read_text()
    docs = (ROOT / "docs" / "scenarios.md").read_text()
    sections = dict(BUILTIN_KINDS)
    sections["run"] = ("run",)
    sections["ilc"] = ("ilc",)
    for section, kinds in sections.items():
        for kind in kinds:
            assert f'"{kind}"' in reference or section in ("run", "ilc"), (section, kind)
            assert f"`{kind}`" in docs or f"\"{kind}\"" in docs or section in ("run", "ilc"), (section, kind)
            for key, leaf in _leaf_keys(section, kind):
                assert re.search(rf"^#?\s*{re.escape(leaf)} = ", reference, re.M), (section, kind, key)
                assert f"`{leaf}`" in docs, (section, kind, key)
