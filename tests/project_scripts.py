"""Load the project's scripts (``docs/``, ``benchmarks/``, ``examples/`` hold scripts, not packages) as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(path: str, *, register: bool = False):
    """Return the script at ``path`` (relative to the project's root) imported as a module named by its stem.

    Parameters
    ----------
    path : str
        The script, e.g. ``"benchmarks/noise_bound.py"``.
    register : bool, default False
        Also enter it in ``sys.modules`` (so that pickled top-level functions resolve in worker processes).
    """
    name = Path(path).stem
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
