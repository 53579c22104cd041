"""The elementwise activations of an RTRN (tanh, logistic), their slopes, inverses and name registry.

The lowest layer of :mod:`neurocontrol.nets` after the kernels: it imports
only :mod:`neurocontrol.nets._kernels` (for the activation codes the kernels
switch on) and the package's errors.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np
import scipy.special

import neurocontrol.nets._kernels as _kernels
from neurocontrol.exceptions import OutOfRangeError, ParameterError

__all__ = ["AbstractActivation", "Tanh", "Logistic", "ACTIVATIONS", "get_activation"]


class AbstractActivation(abc.ABC):
    """An elementwise activation f with its derivative and inverse.

    Subclasses define ``name``, ``code`` (the integer the numba kernels switch
    on), the open output interval ``(low, high)``, ``max_slope`` (the supremum
    of f', which bounds every secant slope) and the three abstract methods.
    """

    name: ClassVar[str]
    code: ClassVar[int]
    low: ClassVar[float]
    high: ClassVar[float]
    max_slope: ClassVar[float]

    @abc.abstractmethod
    def f(self, s, out=None):
        """Evaluate f(s) elementwise.

        Parameters
        ----------
        s : array_like
            Net inputs.
        out : numpy.ndarray, optional
            Buffer of the same shape to write into.
        """

    @abc.abstractmethod
    def fprime_from_output(self, y, out=None):
        """Evaluate f'(s) from y = f(s), so no second transcendental call is needed.

        Parameters
        ----------
        y : array_like
            Outputs f(s).
        out : numpy.ndarray, optional
            Buffer of the same shape to write into.
        """

    def fprime(self, s):
        """Evaluate f'(s) elementwise.

        Parameters
        ----------
        s : array_like
            Net inputs.
        """
        return self.fprime_from_output(self.f(s))

    @abc.abstractmethod
    def inverse(self, y):
        """Evaluate f^-1(y) for y strictly inside (low, high).

        Parameters
        ----------
        y : array_like
            Outputs inside the open output range.
        """

    def check_range(self, values, name: str) -> None:
        """Raise :class:`OutOfRangeError` unless ``low < values < high`` elementwise.

        Parameters
        ----------
        values : array_like
            Values that must be reachable outputs (e.g. targets).
        name : str
            The argument's name, used in the message.
        """
        v = np.asarray(values)
        if v.size and v.min() > self.low and v.max() < self.high:
            return
        bad = ~((v > self.low) & (v < self.high))
        if np.any(bad):
            raise OutOfRangeError(
                f"`{name}` must lie strictly inside ({self.low:g}, {self.high:g}), the output range of the "
                f"{self.name} activation, got {v[bad].ravel()[:5].tolist()}; normalise the signal first "
                f"(e.g. with neurocontrol.nets.rtrn.Normalizer into (-0.9, 0.9) for tanh, (0.05, 0.95) for logistic).")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class Tanh(AbstractActivation):
    """f(s) = tanh(s), f' = 1 - f^2 <= 1, output range (-1, 1)."""

    name = "tanh"
    code = _kernels.TANH
    low = -1.0
    high = 1.0
    max_slope = 1.0

    def f(self, s, out=None):  # noqa: D102 - documented on the base class
        return np.tanh(s, out=out)

    def fprime_from_output(self, y, out=None):  # noqa: D102
        out = np.multiply(y, y, out=out)
        return np.subtract(1.0, out, out=out)

    def inverse(self, y):  # noqa: D102
        return np.arctanh(y)


class Logistic(AbstractActivation):
    """f(s) = 1 / (1 + exp(-s)), f' = f (1 - f) <= 1/4, output range (0, 1)."""

    name = "logistic"
    code = _kernels.LOGISTIC
    low = 0.0
    high = 1.0
    max_slope = 0.25

    def f(self, s, out=None):  # noqa: D102 - documented on the base class
        return scipy.special.expit(s, out=out)

    def fprime_from_output(self, y, out=None):  # noqa: D102
        out = np.subtract(1.0, y, out=out)
        return np.multiply(y, out, out=out)

    def inverse(self, y):  # noqa: D102
        y = np.asarray(y, dtype=np.float64)
        return np.log(y) - np.log1p(-y)


#: Registry resolving activation names (e.g. from TOML) to activation objects.
ACTIVATIONS: dict[str, AbstractActivation] = {"tanh": Tanh(), "logistic": Logistic()}


def get_activation(activation) -> AbstractActivation:
    """Resolve an activation name or object.

    Parameters
    ----------
    activation : str or AbstractActivation
        A key of :data:`ACTIVATIONS` ("tanh", "logistic") or an activation object.

    Returns
    -------
    AbstractActivation

    Raises
    ------
    ParameterError
        If the name is unknown.

    Examples
    --------
    >>> get_activation("tanh").f(0.5)
    np.float64(0.46211715726000974)
    """
    if isinstance(activation, AbstractActivation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ParameterError(f"`activation` must be one of {sorted(ACTIVATIONS)} or an AbstractActivation, "
                             f"got {activation!r}.") from None
