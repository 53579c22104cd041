"""The structure of an RTRN: its configuration (sizes, activation, bias), initial weights and array checks.

Imports only :mod:`neurocontrol.nets.activations` below it; every other
module of :mod:`neurocontrol.nets` builds on :class:`RTRNConfig`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neurocontrol._validation import as_float_array, check_int, check_real
from neurocontrol.exceptions import ParameterError, ShapeError
from neurocontrol.nets.activations import AbstractActivation, get_activation

__all__ = ["RTRNConfig", "init_weights"]

_F64 = np.dtype(np.float64)


def _c(x: np.ndarray) -> np.ndarray:
    """Return a C-contiguous, writeable float64 array (one numba specialisation per kernel)."""
    if x.dtype == _F64:
        flags = x.flags
        if flags.c_contiguous and flags.writeable:
            return x
    return np.array(x, dtype=np.float64, order="C")


def _check_vector(x, name: str, n: int) -> np.ndarray:
    """Return ``as_float_array(x, name, (n,))``, with a fast path for the per-step hot paths.

    A float64 (n,) array whose dot product with itself is finite holds no NaN
    or inf; anything else (including overflow) takes the full check.
    """
    if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (n,) and math.isfinite(x @ x):
        return x
    return as_float_array(x, name, (n,))


def _check_config(config) -> RTRNConfig:
    """Return ``config`` if it is an :class:`RTRNConfig`, else raise :class:`ParameterError`."""
    if not isinstance(config, RTRNConfig):
        raise ParameterError(f"`config` must be an RTRNConfig, got {type(config).__name__}.")
    return config


@dataclasses.dataclass(frozen=True, kw_only=True)
class RTRNConfig:
    """Structure of an RTRN.

    Parameters
    ----------
    n_outputs : int
        Number p >= 1 of units compared with targets (the first p units).
    n_inputs : int
        Number m >= 0 of external inputs u.
    n_hidden : int, default 0
        Number of extra fully recurrent units not compared with targets.
    activation : str or AbstractActivation, default "tanh"
        Resolved through :data:`~neurocontrol.nets.activations.ACTIVATIONS`; the attribute holds the object.
    bias : bool, default True
        Append a constant 1 to z.
    init_scale : float, default 0.5
        Weights are drawn uniformly in ``±init_scale / sqrt(N + m + b)``.

    Attributes
    ----------
    n_units : int
        N = n_outputs + n_hidden.
    n_z : int
        Length N + m + b of z.
    weight_shape : tuple
        (N, N + m + b).
    n_weights : int
        N (N + m + b).

    Examples
    --------
    >>> cfg = RTRNConfig(n_outputs=5, n_inputs=2)
    >>> cfg.weight_shape, cfg.activation
    ((5, 8), Tanh())
    """

    n_outputs: int
    n_inputs: int
    n_hidden: int = 0
    activation: AbstractActivation = "tanh"  # type: ignore[assignment]
    bias: bool = True
    init_scale: float = 0.5

    def __post_init__(self):
        check_int(self.n_outputs, "n_outputs", low=1)
        check_int(self.n_inputs, "n_inputs", low=0)
        check_int(self.n_hidden, "n_hidden", low=0)
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ParameterError(f"`bias` must be True or False, got {self.bias!r}.")
        scale = check_real(self.init_scale, "init_scale", low=0.0)
        object.__setattr__(self, "activation", get_activation(self.activation))
        object.__setattr__(self, "bias", bool(self.bias))
        object.__setattr__(self, "init_scale", scale)

    @property
    def n_units(self) -> int:
        """N = n_outputs + n_hidden, the number of recurrent units."""
        return self.n_outputs + self.n_hidden

    @property
    def n_z(self) -> int:
        """Length N + m + b of the concatenated input z."""
        return self.n_units + self.n_inputs + int(self.bias)

    @property
    def weight_shape(self) -> tuple[int, int]:
        """Shape (N, N + m + b) of W."""
        return (self.n_units, self.n_z)

    @property
    def n_weights(self) -> int:
        """Number N (N + m + b) of weights."""
        return self.n_units * self.n_z

    # ---- argument checks shared by the public functions of the learning core

    def check_weights(self, W, name: str = "W") -> np.ndarray:
        """Return ``W`` as float64 of shape :attr:`weight_shape`, finite, or raise.

        Parameters
        ----------
        W : array_like
            Candidate weights.
        name : str, default "W"
            The argument's name, used in messages.
        """
        return as_float_array(W, name, self.weight_shape)

    def check_state(self, y, name: str = "y0") -> np.ndarray:
        """Return a full state (N,); a (n_outputs,) vector is padded with zero hidden units.

        Parameters
        ----------
        y : array_like, shape (N,) or (n_outputs,)
            Unit activations.
        name : str, default "y0"
            The argument's name, used in messages.
        """
        arr = np.asarray(y, dtype=np.float64) if not isinstance(y, np.ndarray) else y
        if arr.shape == (self.n_units,):
            return _check_vector(arr, name, self.n_units)
        if arr.ndim == 1 and arr.shape[0] == self.n_outputs and self.n_hidden:
            arr = np.concatenate([arr, np.zeros(self.n_hidden)])
        return as_float_array(arr, name, (self.n_units,))

    def check_inputs(self, inputs, name: str = "inputs") -> np.ndarray:
        """Return an input sequence (T, m), T >= 1, finite; a 1-D array is one input per step when m = 1.

        Parameters
        ----------
        inputs : array_like, shape (T, m), or (T,) when m = 1
            u(0), ..., u(T-1).
        name : str, default "inputs"
            The argument's name, used in messages.
        """
        arr = np.asarray(inputs, dtype=np.float64) if not isinstance(inputs, np.ndarray) else inputs
        if arr.ndim == 1 and self.n_inputs == 1:
            arr = arr[:, None]
        arr = as_float_array(arr, name, (None, self.n_inputs))
        if arr.shape[0] == 0:
            raise ShapeError(f"`{name}` must hold at least one time step, got shape {arr.shape}.")
        return arr

    def check_targets(self, targets, T: int | None, name: str = "targets") -> np.ndarray:
        """Return targets (T, n_outputs), finite and inside the activation's open range.

        Parameters
        ----------
        targets : array_like, shape (T, n_outputs)
            d(1), ..., d(T).
        T : int or None
            Required number of rows (None: any).
        name : str, default "targets"
            The argument's name, used in messages.
        """
        arr = as_float_array(targets, name, (T, self.n_outputs))
        self.activation.check_range(arr, name)
        return arr


def init_weights(config: RTRNConfig, rng=None) -> np.ndarray:
    """Draw initial weights.

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    rng : numpy.random.Generator or int or None
        Source of randomness (an int is a seed); ``None`` draws fresh entropy.

    Returns
    -------
    numpy.ndarray, shape (N, N + m + b)
        Uniform in ``±init_scale / sqrt(N + m + b)`` (rows have expected norm
        ``init_scale / sqrt(3)``, so f(Wz) starts unsaturated for ``|z_j| <= 1``).

    Examples
    --------
    >>> W = init_weights(RTRNConfig(n_outputs=2, n_inputs=1), 0)
    >>> W.shape
    (2, 4)
    """
    config = _check_config(config)
    gen = np.random.default_rng(rng)
    a = config.init_scale / math.sqrt(config.n_z)
    return gen.uniform(-a, a, size=config.weight_shape)
