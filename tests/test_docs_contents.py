"""The contents list at the top of docs/neural_controller.md names every section once, by its GitHub anchor."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "neural_controller.md"


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, only word characters, hyphens and spaces kept, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_contents_list_names_every_section_once():
    text = DOC.read_text()
    block = text.split("<!-- contents -->", 1)[1].split("<!-- /contents -->", 1)[0]
    listed = re.findall(r"\]\(#([^)]+)\)", block)
    sections = [github_anchor(line[3:]) for line in text.splitlines() if line.startswith("## ")]
    assert sorted(listed) == sorted(sections), (set(listed) ^ set(sections))
    assert len(set(listed)) == len(listed)


def test_github_anchor_of_a_heading_with_code_and_punctuation():
    assert github_anchor("The quadruple tank at P+: the inputs drift apart") == "the-quadruple-tank-at-p-the-inputs-drift-apart"
    assert github_anchor("Rate lags (`lag_signals = \"rates\"`; x)") == "rate-lags-lag_signals--rates-x"
