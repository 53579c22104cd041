"""Every shipped scenario, seeds 0-4, reproduces its recorded time series and metrics bit for bit.

The record (tests/golden/scenario_hashes.json) is the behaviour a refactor must
keep. A deliberate change of behaviour re-records it with
``python -m tests.golden.hashes --write`` in the same commit, which says why.
The digests are computed in one subprocess with OpenBLAS's kernels pinned
(tests/golden/hashes.py: they are chosen by the CPU at run time otherwise, and
the last bits of a run differ between machines).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from golden.hashes import RECORD, ROOT, SEEDS, pinned_environment, scenario_files

RECORDED = json.loads(RECORD.read_text())


@pytest.fixture(scope="module")
def computed():
    """Every shipped scenario's digests, seeds 0-4, from ``python -m tests.golden.hashes`` (pinned kernels)."""
    proc = subprocess.run([sys.executable, "-m", "tests.golden.hashes"], cwd=ROOT, capture_output=True, text=True,
                          env={**pinned_environment(), "PYTHONPATH": str(ROOT)}, timeout=1200)
    if proc.returncode != 0:
        pytest.fail(f"computing the digests failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def test_the_record_covers_every_shipped_scenario():
    assert sorted(RECORDED) == sorted(p.name for p in scenario_files())
    assert all(sorted(v) == [str(s) for s in SEEDS] for v in RECORDED.values())


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.stem)
def test_shipped_scenario_reproduces_its_record(path, computed):
    assert computed[path.name] == RECORDED[path.name]
