"""Every shipped scenario, seeds 0-4, reproduces its recorded time series and metrics bit for bit.

The record (tests/golden/scenario_hashes.json) is the behaviour a refactor must
keep. A deliberate change of behaviour re-records it with
``python -m tests.golden.hashes --write`` in the same commit, which says why.
"""

from __future__ import annotations

import json

import pytest
from golden.hashes import RECORD, SEEDS, digest, scenario_files

RECORDED = json.loads(RECORD.read_text())


def test_the_record_covers_every_shipped_scenario():
    assert sorted(RECORDED) == sorted(p.name for p in scenario_files())
    assert all(sorted(v) == [str(s) for s in SEEDS] for v in RECORDED.values())


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.stem)
def test_shipped_scenario_reproduces_its_record(path):
    got = {str(s): digest(path, s) for s in SEEDS}
    assert got == RECORDED[path.name]
