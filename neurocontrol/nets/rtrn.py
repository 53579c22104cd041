r"""The real-time recurrent network object (:class:`RTRN`): weights, state and a learning rule in one place.

An RTRN has N = n_outputs + n_hidden fully recurrent units and m external
inputs. With the concatenated input

.. math:: z(t) = [y(t);\ u(t);\ 1] \in \mathbb{R}^{N + m + b}

(the trailing 1 only when ``bias``), one step is

.. math:: y(t+1) = f(W z(t)),\qquad W \in \mathbb{R}^{N \times (N + m + b)}.

Only the first ``n_outputs`` units are compared with targets (plant outputs
or a desired response); the others are hidden units in the sense of
Williams & Zipser (1989). With ``n_hidden = 0`` this is the output-recurrent
network of Chow & Fang (1998), W = [W1 W2 (b)].

The top of :mod:`neurocontrol.nets`; the layers below it, each importing only
the ones before it, are

1. :mod:`~neurocontrol.nets.activations` (tanh, logistic),
2. :mod:`~neurocontrol.nets.structure` (:class:`RTRNConfig`, :func:`init_weights`),
3. :mod:`~neurocontrol.nets.normalizer` and :mod:`~neurocontrol.nets.forward`
   (pure forward passes),
4. :mod:`~neurocontrol.nets.rtrl` (sensitivities),
5. :mod:`~neurocontrol.nets.rules` (learning rules).

The pure functions and the configuration are re-exported here, so
``from neurocontrol.nets.rtrn import RTRNConfig, predict`` keeps working.
"""

from __future__ import annotations

import numpy as np

import neurocontrol.nets._kernels as _kernels
from neurocontrol.exceptions import ParameterError
from neurocontrol.nets.activations import ACTIVATIONS, AbstractActivation, Logistic, Tanh, get_activation
from neurocontrol.nets.forward import forward, predict, stack_z
from neurocontrol.nets.normalizer import Normalizer
from neurocontrol.nets.rtrl import InputSensitivities, input_sensitivities
from neurocontrol.nets.rules import AbstractLearningRule, RuleState, UpdateInfo
from neurocontrol.nets.structure import RTRNConfig, _check_vector, init_weights

__all__ = [
    "AbstractActivation",
    "Tanh",
    "Logistic",
    "ACTIVATIONS",
    "get_activation",
    "RTRNConfig",
    "init_weights",
    "Normalizer",
    "stack_z",
    "forward",
    "predict",
    "RTRN",
]


class RTRN:
    """An RTRN that owns its weights, its state and (optionally) a learning rule.

    Parameters
    ----------
    config : RTRNConfig
        The structure.
    weights : array_like, shape (N, N + m + b), optional
        Initial weights (copied); drawn with :func:`init_weights` from ``seed`` if omitted.
    seed : int or numpy.random.Generator, optional
        Randomness for the initial weights.
    rule : AbstractLearningRule, optional
        Used by :meth:`learn`; see :mod:`neurocontrol.nets.rules`.

    Notes
    -----
    :meth:`learn` is the series-parallel (teacher-forced) identification step
    of Chow & Fang (1998): z(t) is built from the current state (compared
    units hold the last measurement), the rule updates W from z(t) and the
    target d(t+1), and the state then becomes ``y(t+1) = f(W z(t))`` with the
    compared units replaced by d(t+1). :attr:`weights` and :attr:`state` are
    read-only views; use :meth:`set_weights` and :meth:`reset` to change them.

    Examples
    --------
    >>> from neurocontrol.nets.rules import TwoDRule
    >>> net = RTRN(RTRNConfig(n_outputs=2, n_inputs=1), seed=0, rule=TwoDRule())
    >>> net.reset([0.1, -0.2])
    >>> info = net.learn([0.5], [0.2, 0.1])
    >>> info.error_norm_after < info.error_norm
    True
    """

    def __init__(self, config: RTRNConfig, weights=None, *, seed=None, rule: AbstractLearningRule | None = None):
        if not isinstance(config, RTRNConfig):
            raise ParameterError(f"`config` must be an RTRNConfig, got {type(config).__name__}.")
        self._config = config
        W = init_weights(config, seed) if weights is None else config.check_weights(weights, "weights")
        self._W = np.array(W, dtype=np.float64, order="C", copy=True)
        self._y = np.zeros(config.n_units)
        self._fp = np.zeros(config.n_units)
        self._z = np.empty(config.n_z)
        self._rule = None
        self._rule_state = None
        if rule is not None:
            self.set_rule(rule)

    @property
    def config(self) -> RTRNConfig:
        """The structure."""
        return self._config

    @property
    def weights(self) -> np.ndarray:
        """Current weights, shape (N, N + m + b), read-only view."""
        v = self._W.view()
        v.setflags(write=False)
        return v

    @property
    def state(self) -> np.ndarray:
        """Current unit activations y(t), shape (N,), read-only view."""
        v = self._y.view()
        v.setflags(write=False)
        return v

    @property
    def outputs(self) -> np.ndarray:
        """Compared units y(t)[:n_outputs], read-only view."""
        return self.state[: self._config.n_outputs]

    @property
    def rule(self) -> AbstractLearningRule | None:
        """The learning rule used by :meth:`learn` (None until set)."""
        return self._rule

    @property
    def rule_state(self) -> RuleState | None:
        """The learning rule's state object (covariance, moments, counters)."""
        return self._rule_state

    def set_rule(self, rule: AbstractLearningRule) -> None:
        """Attach a learning rule and start its state from the current weights.

        Parameters
        ----------
        rule : AbstractLearningRule
            The rule :meth:`learn` will call.
        """
        if not isinstance(rule, AbstractLearningRule):
            raise ParameterError(f"`rule` must be an AbstractLearningRule, got {type(rule).__name__}.")
        self._rule = rule
        self._rule_state = rule.init_state(self._config, self._W)

    def set_weights(self, weights) -> None:
        """Replace the weights (copied) and restart the rule state.

        Parameters
        ----------
        weights : array_like, shape (N, N + m + b)
            New weights.
        """
        self._W[...] = self._config.check_weights(weights, "weights")
        if self._rule is not None:
            self._rule_state = self._rule.init_state(self._config, self._W)

    def reset(self, y0=None) -> None:
        """Set the state y(0).

        Parameters
        ----------
        y0 : array_like, shape (N,) or (n_outputs,), optional
            Initial activations (zeros if omitted; hidden units zero when only outputs are given).
        """
        self._y[...] = 0.0 if y0 is None else self._config.check_state(y0)

    def step(self, u) -> np.ndarray:
        """Take a free-running step, state <- f(W [y; u; 1]), and return a copy of the new state.

        Parameters
        ----------
        u : array_like, shape (m,)
            u(t).
        """
        z = stack_z(self._config, self._y, u, out=self._z)
        self._config.activation.f(self._W @ z, out=self._y)
        return self._y.copy()

    def learn(self, u, target) -> UpdateInfo:
        """Learn from input u(t) and measured target d(t+1), teacher forced.

        Parameters
        ----------
        u : array_like, shape (m,)
            u(t).
        target : array_like, shape (n_outputs,)
            d(t+1), strictly inside the activation's output range.

        Returns
        -------
        UpdateInfo
            The rule's diagnostics (:class:`~neurocontrol.nets.rules.UpdateInfo`).
        """
        if self._rule is None:
            raise ParameterError("this RTRN has no learning rule; pass `rule=` or call set_rule() first.")
        cfg = self._config
        u = _check_vector(u, "u", cfg.n_inputs)
        z = self._z
        N, m = cfg.n_units, cfg.n_inputs
        z[:N] = self._y
        z[N:N + m] = u
        if cfg.bias:
            z[N + m] = 1.0
        info = self._rule.update(self._W, z, target, self._rule_state)
        _kernels.forward_kernel(self._W, z, self._y, self._fp, cfg.activation.code)
        self._y[: cfg.n_outputs] = target
        return info

    def predict(self, inputs, y0=None) -> np.ndarray:
        """Predict free running from the current state (or ``y0``), leaving the state unchanged.

        Parameters
        ----------
        inputs : array_like, shape (T, m)
            u(t), ..., u(t+T-1).
        y0 : array_like, shape (N,) or (n_outputs,), optional
            Start here instead of the current state.

        Returns
        -------
        numpy.ndarray, shape (T, N)
        """
        return predict(self._config, self._W, self._y if y0 is None else y0, inputs)

    def input_sensitivities(self, inputs, y0=None) -> InputSensitivities:
        """Compute :func:`~neurocontrol.nets.rtrl.input_sensitivities` from the current state (or ``y0``).

        Parameters
        ----------
        inputs : array_like, shape (H, m)
            u(t), ..., u(t+H-1).
        y0 : array_like, shape (N,) or (n_outputs,), optional
            Start here instead of the current state.

        Returns
        -------
        InputSensitivities
        """
        return input_sensitivities(self._config, self._W, self._y if y0 is None else y0, inputs)

    def __repr__(self) -> str:
        return f"RTRN({self._config!r}, rule={self._rule!r})"
