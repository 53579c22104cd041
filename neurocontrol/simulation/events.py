"""Events of a closed-loop run: things that happen to the plant at a given time (:class:`AbstractEvent`)."""

from __future__ import annotations

import abc
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from neurocontrol._validation import check_real
from neurocontrol.exceptions import ParameterError

__all__ = ["AbstractEvent", "ParameterChange"]


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


@dataclass(frozen=True, kw_only=True)
class ParameterChange(AbstractEvent):
    """Multiply plant parameters by factors, e.g. a drag change or an actuator fault.

    Calls ``env.unwrapped.set_params(params.replace(name=factor * value, ...))``
    on the parameters being simulated at that moment (so two changes of the
    same parameter compound). The change lasts until the next reset.

    Parameters
    ----------
    time : float
        When the change happens, s (>= 0).
    factors : dict of str to float
        ``{parameter name: factor}``, factors finite and >= 0, e.g.
        ``{"a8": 1.3, "a9": 1.3}`` (names of the plant's parameters).

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
        if params is None or not callable(getattr(env, "set_params", None)) or not hasattr(params, "replace"):
            raise ParameterError(f"a parameter change needs an env with `params` (having .replace) and "
                                 f"`set_params(...)`; {type(env).__name__} has not; use another event kind.")
        unknown = [n for n in self.factors if not isinstance(getattr(params, n, None), numbers.Real)]
        if unknown:
            numeric = sorted(n for n in vars(params) if isinstance(getattr(params, n), numbers.Real)) \
                if hasattr(params, "__dict__") else []
            raise ParameterError(f"`factors` names unknown or non-numeric plant parameters {unknown}; "
                                 f"valid names: {', '.join(numeric)}.")

    def _apply_impl(self, env) -> dict:
        params = env.params
        before = {n: float(getattr(params, n)) for n in self.factors}
        env.set_params(params.replace(**{n: f * before[n] for n, f in self.factors.items()}))
        return {"before": before, "after": {n: float(getattr(env.params, n)) for n in self.factors}}


