"""Fly a shipped scenario with another controller: replace its ``[controller]`` table, keep everything else.

The plant (its faults, disturbances and initial-state ranges), the reference,
the events and the run settings stay as the scenario file has them; only the
``[controller]`` table is replaced. Settings that the scenario gives its own
controller beyond a baseline table (e.g. a fault scenario that changes
``controller.outlier_gate``) are carried over to the new table when the new
kind has a key of the same name that accepts the value, and dropped otherwise;
:class:`SwapReport` lists both, so a benchmark can say what it did.
"""

from __future__ import annotations

import copy
import json
from typing import NamedTuple

from neurocontrol.exceptions import ScenarioError
from neurocontrol.scenario import Scenario

__all__ = ["SwapReport", "flatten", "swap_controller"]

_MISSING = object()


class SwapReport(NamedTuple):
    """What :func:`swap_controller` did with the scenario's own controller settings."""

    from_kind: str
    to_kind: str
    carried: tuple      # ((dotted key under [controller], value), ...) set on the new table
    dropped: tuple      # ((dotted key, reason), ...) the new kind has no such key or rejects the value

    def describe(self) -> str:
        """One line for a benchmark's printed output."""
        if not self.carried and not self.dropped:
            return f"[controller] {self.from_kind} -> {self.to_kind}; no scenario-specific controller settings"
        parts = [f"[controller] {self.from_kind} -> {self.to_kind}"]
        if self.carried:
            parts.append("carried over: " + ", ".join(f"{k} = {v!r}" for k, v in self.carried))
        if self.dropped:
            parts.append(f"dropped (not settings of the {self.to_kind!r} kind): "
                         + ", ".join(k for k, _ in self.dropped))
        return "; ".join(parts)


def flatten(table: dict, prefix: str = "") -> dict:
    """Map every leaf of a nested table to its dotted key (arrays are leaves).

    Parameters
    ----------
    table : dict
        Nested plain data, as ``Scenario.to_dict()`` returns for one table.
    prefix : str, optional
        Prepended to every key (with a dot), for recursion.
    """
    out = {}
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out


def swap_controller(scenario: Scenario, table: dict, *, baseline: dict | None = None) -> tuple[Scenario, SwapReport]:
    """Return ``scenario`` with its ``[controller]`` table replaced by ``table``, and a report.

    Parameters
    ----------
    scenario : Scenario
        The scenario to fly with another controller.
    table : dict
        The new ``[controller]`` table (plain data with a ``kind``), e.g.
        ``Scenario.from_toml("scenarios/neural_hover.toml").to_dict()["controller"]``.
    baseline : dict, optional
        The ``[controller]`` table the scenario's own one was written from
        (plain data). Keys whose value in the scenario differs from the
        baseline (or are absent from it) are the scenario's own settings:
        each is set on the new table when the new kind accepts it, else
        dropped. None: every key of the scenario's table other than ``kind``
        counts as its own setting.

    Returns
    -------
    Scenario, SwapReport

    Raises
    ------
    ScenarioError
        If ``table`` is not a table with a ``kind``, or the scenario with the
        new table does not validate (the message names the scenario).
    """
    if not isinstance(table, dict) or not isinstance(table.get("kind"), str):
        raise ScenarioError(f"the new [controller] table must be a table with a `kind`, got {table!r}.")
    data = scenario.to_dict()
    old = data["controller"]
    base = flatten(baseline) if baseline is not None else {}
    own = {k: v for k, v in flatten(old).items() if k != "kind" and base.get(k, _MISSING) != v}
    data["controller"] = copy.deepcopy(table)
    swapped = Scenario.from_dict(data, source=f"{scenario.source} with [controller] kind {table['kind']!r}",
                                 default_name=scenario.name)
    carried, dropped = [], []
    # a sub-table's `kind` first: setting it replaces that sub-table by the kind's defaults
    for key in sorted(own, key=lambda k: not k.endswith(".kind")):
        value = own[key]
        try:
            swapped = swapped.set(f"controller.{key}", json.dumps(value) if isinstance(value, str) else value)
        except ScenarioError as exc:
            dropped.append((key, str(exc)))
        else:
            carried.append((key, value))
    return swapped, SwapReport(str(old.get("kind")), table["kind"], tuple(carried), tuple(dropped))
