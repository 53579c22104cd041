"""The README's Python snippets run as written and do what the text says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_quick_start_flies_the_hover_task(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "the README has no Python snippet"
    monkeypatch.chdir(tmp_path)                 # the snippet writes hover.png into the working folder
    namespace = {"__name__": "readme"}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.metrics["success"] is True    # the text: "flies 30 s ... to 140 rad/s and 1 m"
    assert capsys.readouterr().out.startswith("True ")
    assert (tmp_path / "hover.png").stat().st_size > 0


def test_own_plant_snippet_flies_a_three_by_three_plant_with_nothing_set_for_it(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 2, "the README's snippet for your own plant is missing"
    namespace = {"__name__": "readme"}
    exec(compile(blocks[1], "README.md", "exec"), namespace)
    assert namespace["result"].metrics["success"] is True     # the text: tracked with nothing set for the plant
    assert namespace["controller"].config.reference_bandwidth == (4.0, 5.0, 5.0)     # the defaults fitted to 3
    assert capsys.readouterr().out.startswith("True 20")      # 1 s of warm-up at 50 ms


def test_the_two_setup_commands_are_there():
    for marker in ("main-command", "test-command"):
        block = re.search(rf"<!-- {marker} -->\n```\n(.*?)\n```\n<!-- /{marker} -->", README, re.S)
        assert block and block.group(1).count("\n") == 0, marker
        assert block.group(1).startswith("python3 -m venv .venv && .venv/bin/pip install -q -e ")
