"""The Python snippets of the docs run as scripts, exactly as written (a main guard only where the docs have one).

Every snippet of docs/scenarios.md; of docs/ecosystem.md the complete scripts (those that start a sweep, a
comparison or a tuning; the others show fragments with placeholders).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_PY = re.compile(r"```python\n(.*?)```", flags=re.S)
_RUNS_MANY = re.compile(r"\b(sweep|compare|tune)\(")
SNIPPETS = _PY.findall((ROOT / "docs" / "scenarios.md").read_text()) + \
    [s for s in _PY.findall((ROOT / "docs" / "ecosystem.md").read_text()) if _RUNS_MANY.search(s)]


def test_the_docs_have_snippets_and_sweeping_ones_are_guarded():
    assert len(SNIPPETS) >= 3
    for text in SNIPPETS:
        if _RUNS_MANY.search(text):
            assert 'if __name__ == "__main__":' in text


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_as_a_script(tmp_path, index):
    # old behaviour: the sweep snippet had no guard; as a script its workers died and it ran serially
    path = tmp_path / f"snippet_{index}.py"
    path.write_text(SNIPPETS[index].replace('"runs/', f'"{tmp_path}/runs/'))   # outputs go to the test's folder
    proc = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "bootstrapping" not in proc.stderr
