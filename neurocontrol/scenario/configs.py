"""The ``[run]`` and ``[ilc]`` tables of a scenario file."""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field

from neurocontrol.exceptions import ParameterError

__all__ = ["RunConfig", "ILCSpec"]


# =========================================================================== builtin configs


def _finite(value, name: str, *, low: float | None = None, strict: bool = False, unit: str = "") -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        bound = "" if low is None else (f" > {low:g}" if strict else f" >= {low:g}")
        raise ParameterError(f"`{name}` must be a finite number{bound}{' ' + unit if unit else ''}, got {value!r}.")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """``[run]``: how long, which seed, and what counts as success.

    Parameters
    ----------
    duration : float
        Simulated time in s (> 0).
    seed : int, default 0
        Root seed of the run (>= 0); the command line's ``--seed`` overrides it.
    tolerance : dict of str to float, default {}
        Allowed final ``|output - reference|`` per controlled output, output
        units, e.g. ``{rotor_speed = 1.4, altitude = 0.02}``. Empty: 1 % of
        each output's largest set-point.
    final_window_s : float, default 5.0
        Window at the end over which success is judged, s (>= 0).
    """

    duration: float
    seed: int = 0
    tolerance: dict[str, float] = field(default_factory=dict)
    final_window_s: float = 5.0

    def __post_init__(self):
        _finite(self.duration, "duration", low=0.0, strict=True, unit="s")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ParameterError(f"`seed` must be a non-negative integer, got {self.seed!r}.")
        for name, tol in self.tolerance.items():
            if not (isinstance(tol, numbers.Real) and math.isfinite(tol) and tol > 0):
                raise ParameterError(f"`tolerance[{name!r}]` must be a positive number (output units), got {tol!r}.")
        _finite(self.final_window_s, "final_window_s", low=0.0, unit="s")


@dataclass(frozen=True, kw_only=True)
class ILCSpec:
    """``[ilc]``: trial-to-trial iterative learning on top of the closed loop (consumed by :mod:`neurocontrol.ilc`).

    Parameters
    ----------
    trials : int, default 10
        Number of trials (episodes), >= 1.
    law : str, default "p"
        The ILC law: a kind registered in section ``"ilc_law"``.
    gains : dict of str to float, default {}
        The law's gains by name (checked against the law's config when it
        registered one).
    """

    trials: int = 10
    law: str = "p"
    gains: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.trials, bool) or not isinstance(self.trials, numbers.Integral) or self.trials < 1:
            raise ParameterError(f"`trials` must be an integer >= 1, got {self.trials!r}.")
        if not isinstance(self.law, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", self.law):
            raise ParameterError(f"`law` must be a law name like 'pd', got {self.law!r}.")
        for name, g in self.gains.items():
            if not (isinstance(g, numbers.Real) and math.isfinite(g)):
                raise ParameterError(f"`gains[{name!r}]` must be a finite number, got {g!r}.")


