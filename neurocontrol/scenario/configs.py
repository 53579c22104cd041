"""The plant-independent tables of a scenario file: ``[run]``, ``[ilc]`` and ``[tune]``, and seed lists."""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field

from neurocontrol._validation import check_int, check_positive, check_real
from neurocontrol.exceptions import ParameterError

__all__ = ["RunConfig", "ILCSpec", "TuneParam", "TuneSpec", "parse_seeds", "check_seeds"]


# =========================================================================== seeds


def check_seeds(seeds) -> tuple[int, ...]:
    """Check a collection of seeds: non-empty, non-negative integers, unique.

    Parameters
    ----------
    seeds : iterable of int
        The seeds, one run each.

    Returns
    -------
    tuple of int

    Raises
    ------
    ParameterError
        On a non-iterable, an empty collection, a bad seed or duplicates.
    """
    try:
        seeds = tuple(seeds)
    except TypeError:
        raise ParameterError(f"`seeds` must be an iterable of non-negative integers, got {seeds!r}.") from None
    if not seeds:
        raise ParameterError("`seeds` must hold at least one seed, e.g. range(10).")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise ParameterError(f"`seeds` must hold non-negative integers, got {s!r}.")
    if len(set(seeds)) != len(seeds):
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ParameterError(f"`seeds` must be unique (one run per seed), got duplicates {dup}.")
    return tuple(int(s) for s in seeds)


def parse_seeds(text: str) -> tuple[int, ...]:
    """Parse a seed list: ``"A:B"`` (A..B-1, like a Python range), ``"N"``, or ``"1,5,7"`` (items may be ranges).

    Parameters
    ----------
    text : str
        The seed list as written on the command line or in ``[tune] seeds``.

    Returns
    -------
    tuple of int

    Raises
    ------
    ParameterError
        On a malformed item, a negative seed, an empty range or duplicates.

    Examples
    --------
    >>> parse_seeds("0:4"), parse_seeds("7"), parse_seeds("1,5,10:12")
    ((0, 1, 2, 3), (7,), (1, 5, 10, 11))
    """
    seeds: list[int] = []
    for item in str(text).split(","):
        item = item.strip()
        try:
            bounds = [int(x) for x in item.split(":")]
        except ValueError:
            bounds = []
        if len(bounds) not in (1, 2):
            raise ParameterError(f"seeds must look like 0:20, 7 or 1,5,7 (non-negative integers), got {text!r}.")
        if len(bounds) == 2:
            if bounds[1] <= bounds[0]:
                raise ParameterError(f"seed range {item!r} is empty: write A:B with B > A (B excluded).")
            seeds.extend(range(*bounds))
        else:
            seeds.append(bounds[0])
    return check_seeds(seeds)


# =========================================================================== [run] and [ilc]


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
        check_positive(self.duration, "duration", unit="s")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ParameterError(f"`seed` must be a non-negative integer, got {self.seed!r}.")
        for name, tol in self.tolerance.items():
            check_positive(tol, f"tolerance[{name!r}]", unit="(output units)")
        check_positive(self.final_window_s, "final_window_s", unit="s", allow_zero=True)


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
    exclude_excitation : bool, default True
        The law does not learn from the controller's warm-up excitation (and
        as long again of settling) when later trials skip it
        (:class:`~neurocontrol.ilc.ILCRunner`).
    """

    trials: int = 10
    law: str = "p"
    gains: dict[str, float] = field(default_factory=dict)
    exclude_excitation: bool = True

    def __post_init__(self):
        check_int(self.trials, "trials", low=1)
        if not isinstance(self.law, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", self.law):
            raise ParameterError(f"`law` must be a law name like 'pd', got {self.law!r}.")
        for name, g in self.gains.items():
            check_real(g, f"gains[{name!r}]")
        if not isinstance(self.exclude_excitation, bool):
            raise ParameterError(f"`exclude_excitation` must be true or false, got {self.exclude_excitation!r}.")


# =========================================================================== [tune]


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@dataclass(frozen=True, kw_only=True)
class TuneParam:
    """One tuned setting: a range ``[low, high]`` (``log`` scale, optional ``step``) or a list of ``choices``.

    Integer ``low`` and ``high`` (and ``step``) give an integer parameter.

    Parameters
    ----------
    low, high : int or float, optional
        Ends of the searched range (finite, ``low < high``).
    log : bool, default False
        Search the range on a log scale (needs ``low > 0``, no ``step``).
    step : int or float, optional
        Grid spacing of the range (> 0).
    choices : array of numbers, strings or booleans, optional
        The values to choose from, instead of a range.
    """

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: tuple[bool | int | float | str, ...] | None = None

    def __post_init__(self):
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ParameterError("a tuned parameter has either `choices` or `low`/`high` (with `log`, `step`), "
                                     "not both.")
            choices = tuple(self.choices)
            if not choices or any(not isinstance(c, (bool, int, float, str)) for c in choices):
                raise ParameterError(f"`choices` must be a non-empty array of numbers, strings or booleans, "
                                     f"got {self.choices!r}.")
            object.__setattr__(self, "choices", choices)
            return
        ok = _is_real(self.low) and _is_real(self.high)
        if not ok or not (abs(self.low) < float("inf") and abs(self.high) < float("inf")) or self.low >= self.high:
            raise ParameterError(f"a tuned range needs finite `low` < `high`, got low={self.low!r}, "
                                 f"high={self.high!r}.")
        if not isinstance(self.log, bool):
            raise ParameterError(f"`log` must be true or false, got {self.log!r}.")
        if self.log and self.low <= 0:
            raise ParameterError(f"a log-scale range needs `low` > 0, got {self.low!r}.")
        if self.step is not None and (not _is_real(self.step) or not self.step > 0 or self.log):
            raise ParameterError(f"`step` must be a positive number and cannot go with log = true, got {self.step!r}.")

    @property
    def is_int(self) -> bool:
        """True for an integer range (integer ``low``, ``high`` and ``step``)."""
        return self.choices is None and all(isinstance(v, numbers.Integral) for v in (self.low, self.high)) and \
            (self.step is None or isinstance(self.step, numbers.Integral))

    def suggest(self, trial, name: str):
        """Draw this parameter from an Optuna trial.

        Parameters
        ----------
        trial : optuna.trial.Trial
            The trial that samples the value.
        name : str
            The parameter's name in the study (the dotted scenario key).

        Returns
        -------
        bool or int or float or str
        """
        if self.choices is not None:
            return trial.suggest_categorical(name, list(self.choices))
        if self.is_int:
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)


@dataclass(frozen=True, kw_only=True)
class TuneSpec:
    """``[tune]``: the search space and objective of :func:`neurocontrol.experiments.tuning.tune`.

    Parameters
    ----------
    params : dict of str to TuneParam
        ``[tune.params]``: dotted scenario key -> range or choices, e.g.
        ``"controller.kp_alt" = {low = 0.03, high = 0.1, log = true}``.
    seeds : str, default "0:10"
        Seeds of each trial's sweep (``A:B``, ``N`` or ``1,5,7``).
    output : str, default ""
        For the ``"score"`` objective: the controlled output whose median
        IAE breaks ties ("" = sum of the medians over all outputs).
    failure_weight : float, default 1000.0
        For the ``"score"`` objective: weight of ``1 - success_rate``.
    trials : int, default 20
        Trials per call of ``tune`` when none are given.
    objective : str or tuple of str, default "score"
        What a trial is judged by: ``"score"`` (``failure_weight * (1 -
        success_rate) + median IAE``), ``"success_rate"``, a top-level
        metric of the result (``"control_effort"``, ``"saturation_fraction"``,
        ...), a per-output metric ``"<output>.<metric>"`` (``"altitude.iae"``,
        ``"rotor_speed.rmse"``), or a per-output metric name alone
        (``"iae"``: the sum over the outputs). Two or more names: a
        multi-objective study (Optuna's Pareto front).
    direction : str or tuple of str, default ""
        ``"minimize"`` or ``"maximize"``, one for all objectives or one per
        objective; "" = maximise ``success_rate``, minimise everything else.
    aggregate : str, default "median"
        How a metric's per-seed values combine: ``"median"``, ``"mean"``,
        ``"min"``, ``"max"`` or a percentile ``"pNN"`` (e.g. ``"p90"``).
        ``success_rate`` and ``score`` are defined over the seeds already.

    Examples
    --------
    >>> spec = TuneSpec.from_table({"params": {"run.final_window_s": {"low": 1.0, "high": 5.0}}, "seeds": "0:2"})
    >>> spec.params["run.final_window_s"]
    TuneParam(low=1.0, high=5.0, log=False, step=None, choices=None)
    """

    params: dict[str, TuneParam] = field(default_factory=dict)
    seeds: str = "0:10"
    output: str = ""
    failure_weight: float = 1000.0
    trials: int = 20
    objective: str | tuple[str, ...] = "score"
    direction: str | tuple[str, ...] = ""
    aggregate: str = "median"

    def __post_init__(self):
        if not self.params:
            raise ParameterError("`params` must name at least one setting to tune, e.g. "
                                 "\"controller.law.move_penalty\" = {low = 2.0, high = 60.0, log = true}.")
        try:
            parse_seeds(self.seeds)
        except ParameterError as exc:           # name the key (the loader prefixes its table)
            raise ParameterError(f"`seeds`: {exc}") from None
        if not isinstance(self.output, str):
            raise ParameterError(f"`output` must be a controlled output's name (or \"\"), got {self.output!r}.")
        check_real(self.failure_weight, "failure_weight", low=0.0)
        check_int(self.trials, "trials", low=1)
        objectives = self.objectives
        if not objectives or any(not isinstance(o, str) or not re.fullmatch(r"[A-Za-z_][\w.]*", o)
                                 for o in objectives):
            raise ParameterError(f"`objective` must be a metric name such as \"altitude.iae\" or a list of them, "
                                 f"got {self.objective!r}.")
        if len(set(objectives)) != len(objectives):
            raise ParameterError(f"`objective` must name distinct metrics, got {self.objective!r}.")
        directions = (self.direction,) if isinstance(self.direction, str) else tuple(self.direction)
        if any(d not in ("", "minimize", "maximize") for d in directions) or \
                len(directions) not in (1, len(objectives)):
            raise ParameterError(f"`direction` must be \"minimize\" or \"maximize\", one for all objectives or one "
                                 f"per objective ({len(objectives)}), got {self.direction!r}.")
        if not isinstance(self.aggregate, str) or not (self.aggregate in ("median", "mean", "min", "max") or (
                re.fullmatch(r"p\d+(\.\d+)?", self.aggregate) and float(self.aggregate[1:]) <= 100)):
            raise ParameterError(f"`aggregate` must be median, mean, min, max or a percentile like p90, "
                                 f"got {self.aggregate!r}.")

    @property
    def objectives(self) -> tuple[str, ...]:
        """The objective names as a tuple."""
        return (self.objective,) if isinstance(self.objective, str) else tuple(self.objective)

    @property
    def directions(self) -> tuple[str, ...]:
        """``"minimize"`` or ``"maximize"`` per objective (defaults resolved)."""
        given = (self.direction,) if isinstance(self.direction, str) else tuple(self.direction)
        given = given * len(self.objectives) if len(given) == 1 else given
        return tuple(d or ("maximize" if o == "success_rate" else "minimize") for d, o in zip(given, self.objectives))

    @classmethod
    def from_table(cls, table, source: str = "<tune>") -> "TuneSpec":
        """Decode a ``[tune]`` table (plain data from TOML) with the scenario decoder.

        Parameters
        ----------
        table : dict
            The ``[tune]`` table as ``tomllib`` returns it.
        source : str, default "<tune>"
            File name used in error messages.

        Returns
        -------
        TuneSpec

        Raises
        ------
        ScenarioError
            On an unknown key or a bad value (the message names the key).
        """
        from neurocontrol.scenario.decode import decode_table  # same layer; here to keep this module a leaf

        return decode_table(table, cls, "tune", source=source, label="[tune]")
