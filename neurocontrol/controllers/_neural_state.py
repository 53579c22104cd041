"""Checkpoints of the neural controller: the arrays that change during an episode, saved and restored in place."""

from __future__ import annotations

import numpy as np

from neurocontrol._validation import as_float_array
from neurocontrol.exceptions import ParameterError

__all__ = ["NeuralStateIO"]


class NeuralStateIO:
    """get_state/set_state of :class:`~neurocontrol.controllers.neural.NeuralController` (a mixin).

    Uses the controller's identifier, imitator, measurement filter, input
    history, reference model, plan and the step's Jacobian buffer.
    """

    _NET_ARRAYS = ("_theta", "_P", "_h", "_Sh", "_y_hat", "_good_theta", "_good_P", "_R", "_change")
    _FILTER_ARRAYS = ("_raw", "_d2", "_sorted", "_S", "noise_var", "gain", "_rise")  # fast_var: recomputed
    _OWN_ARRAYS = ("_y_prev", "_u_prev", "_x", "_rm", "_plan", "_excitation", "_nominal", "_lags", "_hold", "_blend",
                   "_caution")
    _MODES = ("warmup", "predictive")

    @property
    def identifier_weights(self) -> np.ndarray:
        """The identifier's weight vector, normalised units (read-only view; the guard checks its norm)."""
        return self.identifier.weights

    @property
    def in_warmup(self) -> bool:
        """True while the warm-up runs (its controller or the nominal input flies the plant), False after it."""
        return not self._ready or self._mode == "warmup"

    def _state_arrays(self):
        """(key, owner, attribute) of every array that changes during an episode."""
        out = [(f"identifier.{a}", self.identifier, a) for a in self._NET_ARRAYS]
        if self._imitator is not None:
            out += [(f"imitator.{a}", self._imitator.network, a) for a in self._NET_ARRAYS]
        out += [(f"filter.{a}", self.filter, a) for a in self._FILTER_ARRAYS]
        out += [(a.lstrip("_"), self, a) for a in self._OWN_ARRAYS]
        if self._wu_x.shape[0]:                          # the warm-up check's records (warmup_check > 0)
            out += [(f"warmup_check.{a}", self, f"_wu_{a}") for a in ("x", "u", "h")]
        if self._probe is not None:                     # probing a steady offset (``probe``)
            out += [(f"probe.{a}", self._probe, a) for a in ("state", "err", "key")]
        if self._ff_gain is not None:                   # the feed-forward's reference at reset
            out.append(("feedforward.r0", self, "_ff_r0"))
        if self._reid is not None:                       # re-identification after a change (change_reidentify)
            out += self._reid.state_arrays()
        out.append(("jacobian", self._synth_buf, 5))     # reused between refreshes when jacobian_every > 1
        return out

    def get_state(self) -> dict:
        """Everything that changes during an episode (see :meth:`AbstractController.get_state`).

        The two networks' weights, covariances, hidden states and sensitivities,
        the measurement filter, the reference model, the plan and the input
        history; restoring it continues the run bit-identically.
        """
        if not self._ready:
            raise ParameterError("call reset(observation, reference) before get_state(): there is no state yet.")
        state = {}
        for key, owner, attr in self._state_arrays():
            value = owner[attr] if isinstance(owner, tuple) else getattr(owner, attr)
            state[key] = np.array(value, dtype=np.float64, copy=True)
        state.update(k=self._k, n_warmup=self._n_warmup, mode=self._MODES.index(self._mode),
                     filter_count=self.filter._count,
                     last_input=np.full(self.n_inputs, np.nan) if self._last_u is None else self._last_u.copy())
        for name, net in (("identifier", self.identifier), ("imitator", self.imitator)):
            if net is not None:
                state.update({f"{name}.counts.{k}": v for k, v in net.counts.items()})
        if self._stabiliser is not None:
            state.update({f"identified.{k}": v for k, v in self._stabiliser.get_state().items()})
        return self._with_warmup_state(state)

    #: Keys added after checkpoints were first written, with the value a controller of that time had (no hold).
    _LATER_KEYS = {"hold": lambda: np.zeros(2), "blend": lambda: np.zeros(1), "caution": lambda: np.zeros(1),
                   "identifier.counts.onset": lambda: 0, "identifier.counts.held": lambda: 0,
                   "imitator.counts.onset": lambda: 0, "imitator.counts.held": lambda: 0}

    def _with_later_keys(self, state: dict) -> dict:
        """Return ``state`` with the keys of :attr:`_LATER_KEYS` it lacks (a checkpoint of an earlier version).

        Also drops ``identified.law``, which an earlier identified warm-up wrote (its ``engaged_at`` tells it now).
        """
        state = {k: v for k, v in state.items() if k != "identified.law"}
        missing = {k: make() for k, make in self._LATER_KEYS.items()
                   if k not in state and (not k.startswith("imitator.") or self.imitator is not None)}
        if self._ff_gain is not None and "feedforward.r0" not in state:    # before warmup_feedforward: none
            missing["feedforward.r0"] = self._ff_r0.copy()
        if self._wu_x.shape[0] and "warmup_check.x" not in state:   # before warmup_replay: no records to replay
            missing.update({f"warmup_check.{a}": np.full_like(getattr(self, f"_wu_{a}"), np.nan) for a in "xuh"})
        if self._reid is not None and "reidentify.counters" not in state:    # before change_reidentify: no trip
            missing.update(self._reid.fresh_state())
        elif self._reid is not None and "reidentify.gain" not in state:    # before its "gains" mode: none learned
            missing.update({k: v for k, v in self._reid.fresh_state().items()
                            if k[len("reidentify."):] in self._reid.GAIN_NAMES})
        if self._probe is not None and "probe.state" not in state:    # before the probe: none applied yet
            missing.update({f"probe.{a}": np.zeros_like(getattr(self._probe, a)) for a in ("state", "err", "key")})
        return {**state, **missing} if missing else state

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned, in place.

        Parameters
        ----------
        state : dict
            A :meth:`get_state` dict of a controller with the same settings
            (reset once, so the buffers exist).
        """
        if not self._ready:
            raise ParameterError("call reset(observation, reference) once before set_state(), to build the buffers.")
        state = self._with_later_keys(state)
        self._check_state_keys(state)
        for key, owner, attr in self._state_arrays():
            cur = owner[attr] if isinstance(owner, tuple) else getattr(owner, attr)
            new = as_float_array(state[key], key, cur.shape, finite=False)
            cur[...] = new                       # in place: the kernels hold views of these buffers
        self._k, self._n_warmup = int(state["k"]), int(state["n_warmup"])
        self._mode = self._MODES[int(state["mode"])]
        self._rate_limit = self._law_rate if self._mode == "predictive" else self._no_rate_limit
        self.filter._count = int(state["filter_count"])
        last = np.asarray(state["last_input"], dtype=np.float64)
        self._last_u = None if not np.all(np.isfinite(last)) else last.copy()
        for name, net in (("identifier", self.identifier), ("imitator", self.imitator)):
            if net is not None:
                net._counts.update({k: int(state[f"{name}.counts.{k}"]) for k in net._counts})
        self._preview_cache, self._preview_k0 = np.empty((0, 0)), 0
        if self._stabiliser is not None:
            self._stabiliser.set_state({k[len("identified."):]: v for k, v in state.items()
                                        if k.startswith("identified.")})
        self._restore_warmup_state(state)
