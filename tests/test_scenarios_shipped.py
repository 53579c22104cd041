"""Every shipped scenario (scenarios/*.toml, picked up automatically) loads and round-trips exactly (its outcome,
on the full horizon, is tested in tests/test_outcomes.py); the generated key reference (docs/scenarios.md, the reference scenario) is up to date and
documents every key of every built-in kind."""

import importlib.util
import re
from pathlib import Path

import pytest

from neurocontrol.scenario import BUILTIN_KINDS, Scenario, describe_kind, registered
from neurocontrol.scenario.keys import parameter_docs

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_scenarios_are_shipped():
    names = {p.name for p in SCENARIOS}
    assert {"hover_pid.toml", "hover_lqr.toml", "reference_all_keys.toml"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_loads_and_round_trips(path):
    sc = Scenario.from_toml(path)
    assert sc.name == path.stem and sc.description
    text = sc.to_toml()
    again = Scenario.from_toml_text(text, source=str(path))
    assert again == sc and again.to_toml() == text


def _make_keys():
    spec = importlib.util.spec_from_file_location("make_keys", ROOT / "docs" / "make_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_key_reference_is_up_to_date():
    make_keys = _make_keys()
    docs = (ROOT / "docs" / "scenarios.md").read_text()
    assert make_keys.docs_text(docs) == docs, "docs/scenarios.md is stale: run python docs/make_keys.py"
    reference = (ROOT / "scenarios" / "reference_all_keys.toml").read_text()
    assert make_keys.reference_text() == reference, "reference_all_keys.toml is stale: run python docs/make_keys.py"


def test_every_key_of_every_builtin_kind_is_documented_and_listed():
    make_keys = _make_keys()
    reference = (ROOT / "scenarios" / "reference_all_keys.toml").read_text()
    docs = (ROOT / "docs" / "scenarios.md").read_text()
    documented = {(section, kind) for _, section, kind in make_keys.TABLES}
    for section, kinds in BUILTIN_KINDS.items():
        for kind in kinds:
            if registered(section)[kind].config is not None:
                assert (section, kind) in documented, (section, kind)
    for _, section, kind in make_keys.TABLES:
        for row in describe_kind(section, kind):
            assert row["doc"], f"{section} kind {kind!r}: key `{row['key']}` has no numpydoc entry"
            leaf = row["key"].rsplit(".", 1)[-1]
            assert f"`{row['key']}`" in docs, (section, kind, row["key"])
            if leaf != "<output name>":
                pattern = rf"^(# )?({re.escape(leaf)} = |\[\S*\b{re.escape(leaf)}\])"   # a key or its table
                assert re.search(pattern, reference, re.M), (section, kind, row["key"])


def test_the_key_reference_names_a_missing_entry():
    """The documentation check is not vacuous: a field without a numpydoc entry has an empty ``doc``."""
    import dataclasses

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Half:
        """A config.

        Parameters
        ----------
        a, b : float
            Two documented keys, on one line.
        """

        a: float = 1.0
        b: float = 2.0
        c: float = 3.0

    docs = parameter_docs(Half)
    assert docs == {"a": "Two documented keys, on one line.", "b": "Two documented keys, on one line."}
    assert "c" not in docs
