"""The runnable examples in the helicopter plant's docstrings (numpydoc Examples, env card)."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["plants.helicopter.params", "plants.helicopter.dynamics",
                                    "plants.helicopter.iosys", "plants.helicopter.env",
                                    "plants.helicopter.vector_env"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_env_card_has_the_gymnasium_sections():
    from plants.helicopter import HelicopterEnv

    doc = HelicopterEnv.__doc__
    for section in ("## Description", "## Action Space", "## Observation Space", "## Rewards", "## Starting State",
                    "## Episode End", "## Arguments", "Examples"):
        assert section in doc
