"""Events of a closed-loop run: things that happen to the plant at a given time (:class:`AbstractEvent`)."""

from __future__ import annotations

import abc
import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from neurocontrol._validation import check_real
from neurocontrol.exceptions import ParameterError

__all__ = ["AbstractEvent", "ParameterChange", "numeric_parameters"]


@dataclass(frozen=True, kw_only=True)
class AbstractEvent(abc.ABC):
    """A timed action on the plant, applied between two control steps.

    The runner applies an event before the first control step whose time
    ``t_k`` is at or after :attr:`time` (so an event at 0 s acts right after
    the reset). Subclasses are frozen keyword-only dataclasses with a
    ``kind`` class variable (their name in scenario files) and implement
    :meth:`_apply_impl`; :meth:`_check_impl` may validate the event against
    the env before the run starts.

    Parameters
    ----------
    time : float
        When the event acts, s from the start of the run (>= 0).
    """

    kind: ClassVar[str] = ""
    time: float

    def __post_init__(self):
        object.__setattr__(self, "time", check_real(self.time, "time", low=0.0, unit="s"))

    def check(self, env) -> None:
        """Raise a :class:`~neurocontrol.exceptions.ParameterError` if the event cannot act on ``env``.

        Parameters
        ----------
        env : gymnasium.Env
            The plant the event will act on (checked unwrapped).
        """
        self._check_impl(env.unwrapped)

    def apply(self, env) -> dict:
        """Act on ``env`` now; return a JSON-serialisable record of what changed.

        Parameters
        ----------
        env : gymnasium.Env
            The plant to act on (its unwrapped env is changed).

        Returns
        -------
        dict
            ``kind``, ``time`` and the event's own details.
        """
        self._check_impl(env.unwrapped)
        record = self._apply_impl(env.unwrapped)
        return {"kind": self.kind or type(self).__name__, "time": self.time, **(record or {})}

    def _check_impl(self, env) -> None:
        """Validate against the unwrapped env (default: nothing to check)."""

    @abc.abstractmethod
    def _apply_impl(self, env) -> dict | None:
        """Act on the unwrapped env; return details for the run record."""


def numeric_parameters(params) -> tuple[str, ...]:
    """Name the parameters of a plant that are real numbers (those a :class:`ParameterChange` can scale).

    Parameters
    ----------
    params : Mapping or object
        A plant's ``params``: a mapping of names to values, or an object
        (e.g. a frozen dataclass) whose attributes are the parameters.

    Returns
    -------
    tuple of str
        The names whose value is a real number (booleans excluded), sorted.

    Examples
    --------
    >>> numeric_parameters({"k": 2.0, "tau": 3, "name": "lag", "on": True})
    ('k', 'tau')
    """
    if isinstance(params, Mapping):
        items = params.items()
    elif dataclasses.is_dataclass(params):
        items = ((f.name, getattr(params, f.name)) for f in dataclasses.fields(params))
    else:
        items = vars(params).items() if hasattr(params, "__dict__") else ()
    return tuple(sorted(str(k) for k, v in items if isinstance(v, numbers.Real) and not isinstance(v, bool)))


@dataclass(frozen=True, kw_only=True)
class ParameterChange(AbstractEvent):
    """Multiply plant parameters by factors, e.g. a drag change or an actuator fault.

    Acts on any plant that declares its parameters: ``env.unwrapped.params``
    and a method ``env.unwrapped.set_params``. The parameters are either an
    object with ``replace`` (a frozen dataclass of the plant's constants:
    the event calls ``set_params(params.replace(name=factor * value, ...))``)
    or a mapping of names to numbers (e.g. the ``params`` dict of
    :class:`plants.iosys_env.IOSystemEnv`: the event calls
    ``set_params({name: factor * value, ...})`` with the changed names only,
    so ``set_params`` of such a plant must keep the names it is not given).
    The factors scale the parameters being simulated at that moment (so two
    changes of the same parameter compound); the change lasts until the
    next reset.

    Parameters
    ----------
    time : float
        When the change happens, s (>= 0).
    factors : dict of str to float
        ``{parameter name: factor}``, factors finite and >= 0, e.g.
        ``{"a8": 1.3, "a9": 1.3}`` (names of the plant's numeric parameters).

    Examples
    --------
    >>> ParameterChange(time=15.0, factors={"a8": 1.3, "a9": 1.3})
    ParameterChange(time=15.0, factors={'a8': 1.3, 'a9': 1.3})
    """

    kind: ClassVar[str] = "parameter_change"
    factors: dict[str, float]

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.factors, Mapping) or not self.factors:
            raise ParameterError(f"`factors` must be a non-empty dict {{parameter name: factor}}, "
                                 f"got {self.factors!r}.")
        clean = {}
        for name, value in self.factors.items():
            if not isinstance(name, str):
                raise ParameterError(f"`factors` keys must be parameter names (str), got {name!r}.")
            clean[name] = check_real(value, f"factors[{name!r}]", low=0.0)
        object.__setattr__(self, "factors", clean)

    def _check_impl(self, env) -> None:
        params = getattr(env, "params", None)
        declared = isinstance(params, Mapping) or hasattr(params, "replace")
        if params is None or not callable(getattr(env, "set_params", None)) or not declared:
            raise ParameterError(f"a parameter change needs a plant that declares its parameters: `params` (a "
                                 f"dataclass with .replace, or a mapping of numbers) and `set_params(...)`; "
                                 f"{type(env).__name__} has not; add them to the plant or use another event kind.")
        numeric = numeric_parameters(params)
        unknown = [n for n in self.factors if n not in numeric]
        if unknown:
            raise ParameterError(f"`factors` names unknown or non-numeric plant parameters {unknown}; "
                                 f"valid names: {', '.join(numeric)}.")

    def _apply_impl(self, env) -> dict:
        params = env.params
        if isinstance(params, Mapping):
            before = {n: float(params[n]) for n in self.factors}
            env.set_params({n: f * before[n] for n, f in self.factors.items()})
            after = env.params
            return {"before": before, "after": {n: float(after[n]) for n in self.factors}}
        before = {n: float(getattr(params, n)) for n in self.factors}
        env.set_params(params.replace(**{n: f * before[n] for n, f in self.factors.items()}))
        return {"before": before, "after": {n: float(getattr(env.params, n)) for n in self.factors}}
